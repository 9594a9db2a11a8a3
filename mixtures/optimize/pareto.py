"""Several objective groups at once: the Pareto front of non-dominated mixtures (NSGA-II, multi-objective
TPE), through the ask/tell loop of :mod:`mixtures.optimize.optuna_search`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from mixtures.optimize.optuna_search import OptunaSearch, storage_url, trial_weights
from mixtures.optimize.result import OptimizationResult

if TYPE_CHECKING:
    from mixtures.optimize.law import LawLike


def non_dominated(values: np.ndarray) -> np.ndarray:
    """Boolean mask of rows no other row dominates (<= in every objective, < in one); duplicates
    of a front point are kept once."""
    values = np.asarray(values, dtype=np.float64)
    keep = np.ones(len(values), dtype=bool)
    for i in range(len(values)):
        if not keep[i]:
            continue
        dominated = np.all(values <= values[i], axis=1) & np.any(values < values[i], axis=1)
        same = np.all(values == values[i], axis=1)
        same[: i + 1] = False
        if np.any(dominated):
            keep[i] = False
        keep &= ~same
    return keep


@dataclass(frozen=True)
class _ParetoSearch(OptunaSearch):
    """Explore the objective groups with an Optuna multi-objective sampler; ``result.pareto`` is the front
    (``w_<domain>`` columns and one column per group, sorted by the first group) of every trial of the
    study; ``result.weights`` the front point with the smallest sum of the groups (a default pick). With
    one group, the front is that group's best mixture."""

    trials: int = 400
    batch: int = 20

    pareto: ClassVar[bool] = True

    def minimize(self, problem, law: LawLike, seed: int = 0) -> OptimizationResult:
        started = time.perf_counter()
        groups = list(problem.objectives)
        evaluator = problem.evaluator(law)
        study = self.study(problem, evaluator, seed, directions=len(groups))
        done = [t for t in study.trials if t.values is not None]
        weights = np.array([trial_weights(problem, t) for t in done])
        values = np.array([t.values for t in done], dtype=np.float64)
        mask = non_dominated(values)
        front = pd.DataFrame(weights[mask], columns=[f"w_{d}" for d in problem.domains])
        for j, g in enumerate(groups):
            front[g] = values[mask, j]
        front = front.sort_values(groups[0], kind="stable").reset_index(drop=True)
        pick = int(np.argmin(front[groups].sum(axis=1).to_numpy()))
        w = front.loc[pick, [f"w_{d}" for d in problem.domains]].to_numpy(dtype=np.float64)
        predicted = evaluator.predict(w[None, :])
        return OptimizationResult(
            solver=self.name, weights=problem.mixture(w),
            objective=float(front.loc[pick, groups].sum()),
            objectives={g: float(front.loc[pick, g]) for g in groups},
            predicted={c: float(v) for c, v in predicted.iloc[0].items()},
            evaluations=evaluator.evaluations, seconds=time.perf_counter() - started, pareto=front,
            details={"trials": len(study.trials), "front_size": len(front), "storage": storage_url(self.storage)},
        )


@dataclass(frozen=True)
class NSGA2(_ParetoSearch):
    """NSGA-II (population ``batch``)."""

    name: ClassVar[str] = "pareto-nsga2"

    def sampler(self, seed: int):
        import optuna

        return optuna.samplers.NSGAIISampler(seed=seed, population_size=self.batch)


@dataclass(frozen=True)
class MOTPE(_ParetoSearch):
    """Multi-objective TPE (multivariate)."""

    name: ClassVar[str] = "pareto-tpe"

    def sampler(self, seed: int):
        import optuna

        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
