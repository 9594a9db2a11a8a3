"""The mixtures the optimum is judged against, and the law's objective for each."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.corpus.catalog import natural_mixture
from mixtures.errors import TableError
from mixtures.mixture import uniform_mixture
from mixtures.objective import objective_of
from mixtures.runs_table import capped_rows, weight_column

OPTIMAL = "optimal"
BEST_PROXY = "best_proxy"


def best_observed(runs: pd.DataFrame, objective: Mapping[str, float], domains: list[str]) -> tuple[str, dict[str, float]]:
    """The proxy run with the lowest observed objective at its last eval point (largest ``n_tokens`` per
    ``run_id``) and its mixture: the ``best_proxy`` baseline. ``objective`` is ``{loss column: weight}``;
    runs missing one of those losses are skipped, and so are runs that capped a domain's data (``proxy.repeat_runs``:
    their losses are of repeated data, not of their mixture)."""
    missing = [c for c in [*objective, *(weight_column(d) for d in domains)] if c not in runs.columns]
    if missing:
        raise TableError(f"the run table lacks column(s) {missing} needed to pick the best observed run")
    runs = runs[~capped_rows(runs)]
    final = runs.sort_values(["run_id", "n_tokens"], kind="stable").groupby("run_id", sort=True).tail(1)
    final = final.dropna(subset=list(objective))
    if final.empty:
        raise TableError(f"no run in the table has every target loss {list(objective)}")
    row = final.loc[pd.Series(objective_of(final, objective), index=final.index).idxmin()]
    return str(row["run_id"]), {d: float(row[weight_column(d)]) for d in domains}


def baseline_mixtures(config: ProjectConfig, catalog: pd.DataFrame, optimal: Mapping[str, float],
                      proxy_results: pd.DataFrame, weights: Mapping[str, float]) -> tuple[dict[str, dict[str, float]], str]:
    """``optimal``, ``natural``, ``uniform``, the best observed proxy mixture (unless it is one of those) and
    the config's named ``validation.mixtures``; and the best proxy run's id."""
    mixtures = {OPTIMAL: dict(optimal), "natural": natural_mixture(catalog),
                "uniform": uniform_mixture(config.domain_names)}
    best_name, best = best_observed(proxy_results, weights, config.domain_names)
    same = [n for n, m in mixtures.items()
            if all(abs(m.get(d, 0.0) - best.get(d, 0.0)) < 1e-6 for d in config.domain_names)]
    if not same:  # the best proxy run is a mixture of its own, not natural or uniform again
        mixtures[BEST_PROXY] = best
    mixtures.update({name: dict(w) for name, w in config.validation.mixtures.items()})
    return mixtures, best_name


def _scale_frame(mixtures: Mapping[str, Mapping[str, float]], domains: list[str], scale: tuple[int, int]) -> pd.DataFrame:
    """The law's input rows: one per mixture, its ``w_<domain>`` columns, at ``scale`` (``(n_params, n_tokens)``)."""
    frame = pd.DataFrame([{weight_column(d): m.get(d, 0.0) for d in domains} for m in mixtures.values()])
    frame["n_params"], frame["n_tokens"] = float(scale[0]), float(scale[1])
    return frame


def predicted_objectives(law, mixtures: Mapping[str, Mapping[str, float]], domains: list[str],
                         scale: tuple[int, int], weights: Mapping[str, float]) -> dict[str, float]:
    """The law's objective for each mixture at ``scale`` (``(n_params, n_tokens)``)."""
    predicted = law.predict(_scale_frame(mixtures, domains, scale))
    return dict(zip(mixtures, (float(v) for v in objective_of(predicted, weights)), strict=True))


def predicted_task_accuracies(law, mixtures: Mapping[str, Mapping[str, float]], domains: list[str],
                              scale: tuple[int, int], level: float = 0.9) -> dict[str, dict[str, float]]:
    """``{mixture: {column: value}}``: every task's two-step prediction at ``scale`` by a law with tasks
    (:meth:`mixtures.laws.TaskLaw.predict_tasks`): ``taskloss_<t>``, ``acc_<t>`` and its ``level`` interval
    ``acc_<t>_lo`` / ``acc_<t>_hi``."""
    predicted = law.predict_tasks(_scale_frame(mixtures, domains, scale), level)
    return {name: {c: float(v) for c, v in row.items()} for name, row in zip(mixtures, predicted.to_dict("records"),
                                                                               strict=True)}
