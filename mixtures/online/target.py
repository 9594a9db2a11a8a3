"""The target objective as weights over eval names (training domains and held-out target sets)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.corpus.catalog import natural_mixture
from mixtures.objective import objective_weights


def target_weights(config: ProjectConfig, catalog: pd.DataFrame | None = None) -> dict[str, float]:
    """``{eval name: weight}`` summing to 1: :func:`mixtures.objective.objective_weights` keyed by eval
    name, so the number an online mixture is judged by is the offline optimizer's."""
    natural: Mapping[str, float] | None = natural_mixture(catalog) if catalog is not None else None
    return {c[len("loss_"):]: w for c, w in objective_weights(config, natural).items()}
