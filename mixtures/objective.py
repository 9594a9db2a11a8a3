"""The target objective: a weighted sum of per-domain (and held-out set) losses minus a weighted sum of
task accuracies, lower is better.

``objective = sum_i w_i loss_i - sum_j v_j acc_j`` over the ``loss_<name>`` columns (minimised) and the
``acc_<task>`` columns of the tasks with ``weight > 0`` (maximised), the weights normalised so that
``sum w + sum v = 1``. One definition, used by the law's quality check, the optimizer and the validation
runs, so the number a mixture is chosen by is the number it is judged by.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.errors import MixturesError
from mixtures.runs_table import loss_column
from mixtures.tasks import ACC_PREFIX, acc_column

MAXIMISED_PREFIXES = (ACC_PREFIX,)  # columns that enter the objective with a minus sign


def sign_of(column: str) -> float:
    """+1 for a loss column (minimised), -1 for an accuracy column (maximised)."""
    return -1.0 if column.startswith(MAXIMISED_PREFIXES) else 1.0


def objective_weights(config: ProjectConfig, natural: Mapping[str, float] | None = None) -> dict[str, float]:
    """``{loss column: weight}`` normalised to sum to 1.

    From ``target.domains``, ``target.sets`` (each set's ``weight``) and the accuracies
    (``acc_<task>``) of ``target.tasks`` with ``weight > 0``; when all are empty, the training domains
    weighted by ``natural`` (their token shares), else equally. A task of weight 0 is only reported.
    """
    weights = {loss_column(d): float(w) for d, w in config.target.domains.items() if w > 0}
    weights.update({loss_column(s.name): float(s.weight) for s in config.target.sets})
    weights.update({acc_column(t.name): float(t.weight) for t in config.target.tasks if t.weight > 0})
    if not weights:
        shares = natural or {d: 1.0 for d in config.domain_names}
        weights = {loss_column(d): float(w) for d, w in shares.items() if w > 0}
    total = sum(weights.values())
    if total <= 0:
        raise MixturesError("target: every target weight is 0; give at least one positive weight.")
    return {k: v / total for k, v in weights.items()}


def objective_of(losses: pd.DataFrame | Mapping[str, float], weights: Mapping[str, float]) -> np.ndarray | float:
    """The objective of rows of losses (and accuracies) (DataFrame -> array) or of one ``{column: value}``
    mapping; accuracy columns count with a minus sign (:func:`sign_of`)."""
    missing = [c for c in weights if (c not in losses.columns if isinstance(losses, pd.DataFrame) else c not in losses)]
    if missing:
        raise MixturesError(f"the objective needs column(s) {missing}, which were not measured or predicted"
                            " (an acc_<task> column is predicted by a two-step law, mixtures.laws.two_step).")
    if isinstance(losses, pd.DataFrame):
        return sum(sign_of(c) * w * losses[c].to_numpy(dtype=float) for c, w in weights.items())
    return float(sum(sign_of(c) * w * float(losses[c]) for c, w in weights.items()))
