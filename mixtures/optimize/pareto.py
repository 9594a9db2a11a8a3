"""Several target groups at once: the Pareto front of non-dominated mixtures."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from mixtures.errors import ConfigError
from mixtures.optimize.law import LawLike
from mixtures.optimize.problem import Problem
from mixtures.optimize.result import OptimizationResult
from mixtures.optimize.solvers import weights_from_params


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


def pareto_front(problem: Problem, law: LawLike, sampler: str = "nsga2", trials: int = 400, batch: int = 20,
                 seed: int = 0, storage: str | None = None) -> OptimizationResult:
    """Explore a multi-objective problem with Optuna (``nsga2`` or multi-objective ``tpe``) and return
    the front: ``result.pareto`` has ``w_<domain>`` columns and one column per objective group,
    sorted by the first group. ``result.weights`` is the front point with the smallest sum of the
    groups' objectives (a default pick)."""
    import optuna

    if not problem.multi:
        raise ConfigError("a Pareto front needs at least two objective groups")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    if sampler == "nsga2":
        chosen = optuna.samplers.NSGAIISampler(seed=seed, population_size=batch)
    elif sampler == "tpe":
        chosen = optuna.samplers.TPESampler(seed=seed, multivariate=True)
    else:
        raise ConfigError(f"unknown Pareto sampler {sampler!r}; choose 'nsga2' or 'tpe'")
    storage_url = storage if storage is None or "://" in str(storage) else f"sqlite:///{storage}"
    groups = list(problem.objectives)
    study = optuna.create_study(directions=["minimize"] * len(groups), sampler=chosen, storage=storage_url,
                                study_name=f"mixtures-pareto-{sampler}-s{seed}", load_if_exists=storage_url is not None)
    distributions = {f"u_{d}": optuna.distributions.FloatDistribution(1e-6, 1.0) for d in problem.domains}
    evaluator = problem.evaluator(law)
    all_w, all_f = [], []
    done = 0
    while done < trials:
        asked = [study.ask(distributions) for _ in range(min(batch, trials - done))]
        weights = problem.feasible(np.array([weights_from_params(t.params, problem.domains) for t in asked]))
        values = evaluator(weights)
        for trial, row in zip(asked, values, strict=True):
            study.tell(trial, [float(v) for v in row])
        all_w.append(weights)
        all_f.append(values)
        done += len(asked)
    # the extremes of each group (one anchor + its own optimum) help the front's ends
    weights = np.vstack(all_w)
    values = np.vstack(all_f)
    mask = non_dominated(values)
    front = pd.DataFrame(weights[mask], columns=[f"w_{d}" for d in problem.domains])
    for j, g in enumerate(groups):
        front[g] = values[mask, j]
    front = front.sort_values(groups[0], kind="stable").reset_index(drop=True)
    pick = int(np.argmin(front[groups].sum(axis=1).to_numpy()))
    w = front.loc[pick, [f"w_{d}" for d in problem.domains]].to_numpy(dtype=np.float64)
    predicted = evaluator.predict(w[None, :])
    return OptimizationResult(
        solver=f"pareto-{sampler}", weights=problem.mixture(w),
        objective=float(front.loc[pick, groups].sum()),
        objectives={g: float(front.loc[pick, g]) for g in groups},
        predicted={c: float(v) for c, v in predicted.iloc[0].items()},
        evaluations=evaluator.evaluations, seconds=time.perf_counter() - started, pareto=front,
        details={"trials": trials, "front_size": len(front)},
    )
