"""The target objective: a weighted sum of per-domain (and held-out set) losses, lower is better.

One definition, used by the law's quality check, the optimizer and the validation runs, so the
number a mixture is chosen by is the number it is judged by.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.errors import MixturesError
from mixtures.runs_table import loss_column


def objective_weights(config: ProjectConfig, natural: Mapping[str, float] | None = None) -> dict[str, float]:
    """``{loss column: weight}`` normalised to sum to 1.

    From ``target.domains`` and ``target.sets`` (each set's ``weight``); when both are empty,
    the training domains weighted by ``natural`` (their token shares), else equally.
    """
    weights = {loss_column(d): float(w) for d, w in config.target.domains.items() if w > 0}
    weights.update({loss_column(s.name): float(s.weight) for s in config.target.sets})
    if not weights:
        shares = natural or {d: 1.0 for d in config.domain_names}
        weights = {loss_column(d): float(w) for d, w in shares.items() if w > 0}
    total = sum(weights.values())
    if total <= 0:
        raise MixturesError("target: every target weight is 0; give at least one positive weight.")
    return {k: v / total for k, v in weights.items()}


def objective_of(losses: pd.DataFrame | Mapping[str, float], weights: Mapping[str, float]) -> np.ndarray | float:
    """The objective of rows of losses (DataFrame -> array) or of one ``{column: loss}`` mapping."""
    missing = [c for c in weights if (c not in losses.columns if isinstance(losses, pd.DataFrame) else c not in losses)]
    if missing:
        raise MixturesError(f"the objective needs loss column(s) {missing}, which were not measured or predicted.")
    if isinstance(losses, pd.DataFrame):
        return sum(w * losses[c].to_numpy(dtype=float) for c, w in weights.items())
    return float(sum(w * float(losses[c]) for c, w in weights.items()))
