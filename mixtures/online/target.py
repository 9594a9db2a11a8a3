"""The target objective as weights over eval names (training domains and held-out target sets)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.corpus.catalog import natural_mixture
from mixtures.errors import ConfigError


def target_weights(config: ProjectConfig, catalog: pd.DataFrame | None = None) -> dict[str, float]:
    """``{eval name: weight}`` summing to 1: ``target.domains`` and ``target.sets`` (their
    ``weight``); when both are empty, the training domains' natural token shares (equal shares
    without a catalog). Uses ``mixtures.objective.objective_weights`` when the repository has it,
    so the number an online mixture is judged by is the offline optimizer's."""
    natural: Mapping[str, float] | None = natural_mixture(catalog) if catalog is not None else None
    try:
        from mixtures.objective import objective_weights  # the shared definition, once merged
    except ImportError:
        objective_weights = None
    if objective_weights is not None:
        columns = objective_weights(config, natural)
        return {c[len("loss_"):]: w for c, w in columns.items()}
    weights = {d: float(w) for d, w in config.target.domains.items() if w > 0}
    weights.update({s.name: float(s.weight) for s in config.target.sets})
    if not weights:
        shares = natural or {d: 1.0 for d in config.domain_names}
        weights = {d: float(w) for d, w in shares.items() if w > 0}
    total = sum(weights.values())
    if total <= 0:
        raise ConfigError("target: every target weight is 0; give at least one positive weight.")
    return {k: v / total for k, v in weights.items()}


def objective(losses: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """The weighted target loss of one run's ``{name: loss}`` (lower is better); NaN if one is missing."""
    missing = [n for n in weights if n not in losses]
    if missing:
        return float("nan")
    return float(sum(w * float(losses[n]) for n, w in weights.items()))

