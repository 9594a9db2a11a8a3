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


def best_observed(runs: pd.DataFrame, objective: Mapping[str, float], domains: list[str]) -> tuple[str, dict[str, float]]:
    """The proxy run with the lowest observed objective at its last eval point (largest
    ``n_tokens`` per ``run_id``) and its mixture: the ``best_proxy`` baseline.

    ``objective`` is ``{loss column: weight}``; runs missing one of those losses are skipped.
    """
    from mixtures.errors import TableError

    missing = [c for c in [*objective, *(f"w_{d}" for d in domains)] if c not in runs.columns]
    if missing:
        raise TableError(f"the run table lacks column(s) {missing} needed to pick the best observed run")
    final = runs.sort_values(["run_id", "n_tokens"], kind="stable").groupby("run_id", sort=True).tail(1)
    final = final.dropna(subset=list(objective))
    if final.empty:
        raise TableError(f"no run in the table has every target loss {list(objective)}")
    scores = pd.Series(objective_of(final, objective), index=final.index)
    row = final.loc[scores.idxmin()]
    return str(row["run_id"]), {d: float(row[f"w_{d}"]) for d in domains}
