"""The chosen mixture beside natural, uniform and named baselines, as predicted by the law."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mixtures.mixture import validate_mixture
from mixtures.objective import objective_of
from mixtures.optimize.law import LawLike
from mixtures.optimize.problem import Problem


def compare_mixtures(problem: Problem, law: LawLike, chosen: Mapping[str, float] | None = None,
                     named: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """One row per mixture: ``mixture``, ``w_<domain>``, predicted ``loss_<target>``, each group's
    objective, ``objective`` (their sum) and ``feasible``. Rows: ``optimal`` (when given),
    ``natural`` (when known), ``uniform``, then ``named`` in order."""
    mixtures: dict[str, dict[str, float]] = {}
    if chosen is not None:
        mixtures["optimal"] = dict(chosen)
    if problem.natural is not None:
        mixtures["natural"] = problem.mixture(problem.natural)
    mixtures["uniform"] = {d: 1.0 / len(problem.domains) for d in problem.domains}
    for name, weights in (named or {}).items():
        mixtures[name] = validate_mixture(weights, problem.domains, where=f"mixture {name!r}")
    matrix = np.array([[m.get(d, 0.0) for d in problem.domains] for m in mixtures.values()])
    evaluator = problem.evaluator(law)
    predicted = evaluator.predict(matrix).reset_index(drop=True)
    values = evaluator(matrix)
    table = pd.DataFrame(matrix, columns=[f"w_{d}" for d in problem.domains])
    table.insert(0, "mixture", list(mixtures))
    table = pd.concat([table, predicted], axis=1)
    for j, group in enumerate(problem.objectives):
        if problem.multi:
            table[group] = values[:, j]
    table["objective"] = values.sum(axis=1)
    table["feasible"] = [not problem.violations(row) for row in matrix]
    return table
