"""Optuna's samplers over the simplex: the one ask/tell loop (:func:`run_study`), and the TPE and
CMA-ES solvers built on it (the Pareto solvers are in :mod:`mixtures.optimize.pareto`).

A trial's parameters ``u_<domain>`` in ``[1e-6, 1]`` map to a mixture by ``x_i = -log u_i``,
``w = x / sum x`` (a flat Dirichlet for uniform ``u``), then repaired onto the feasible set. Trials are
asked and evaluated in batches; a study persists to sqlite (or any Optuna storage URL) when
``storage`` is given, and a rerun with the same study name resumes it up to ``trials``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from mixtures.optimize.result import OptimizationResult, finish

if TYPE_CHECKING:
    from mixtures.optimize.law import LawLike

U_MIN = 1e-6


def weights_from_params(params: dict, domains: Sequence[str]) -> np.ndarray:
    """The simplex parameterisation: ``x_i = -log u_i``, ``w = x / sum x`` (flat Dirichlet for uniform u)."""
    x = -np.log(np.array([params[f"u_{d}"] for d in domains]))
    return x / x.sum()


def storage_url(storage: str | None) -> str | None:
    """An Optuna storage URL: a bare path is a sqlite file."""
    if storage is None:
        return None
    return storage if "://" in str(storage) else f"sqlite:///{storage}"


def run_study(problem, objective: Callable[[np.ndarray], np.ndarray], sampler, *, directions: int,
              trials: int, batch: int, study_name: str, storage: str | None,
              callbacks: Sequence[Callable] = ()):
    """Ask, evaluate (``objective(weights) -> (rows, directions)`` values, minimized) and tell trials
    in batches of ``batch`` until the study holds ``trials``; each trial keeps its repaired mixture as
    the user attribute ``weights``. Returns the study."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage_url(storage)
    study = optuna.create_study(directions=["minimize"] * directions, sampler=sampler, storage=url,
                                study_name=study_name, load_if_exists=url is not None)
    distributions = {f"u_{d}": optuna.distributions.FloatDistribution(U_MIN, 1.0) for d in problem.domains}
    done = len(study.trials)
    while done < trials:
        asked = [study.ask(distributions) for _ in range(min(batch, trials - done))]
        weights = problem.feasible(np.array([weights_from_params(t.params, problem.domains) for t in asked]))
        values = objective(weights)
        for trial, w, row in zip(asked, weights, values, strict=True):
            trial.set_user_attr("weights", [float(v) for v in w])
            frozen = study.tell(trial, float(row[0]) if directions == 1 else [float(v) for v in row])
            for callback in callbacks:
                callback(study, frozen)
        done += len(asked)
    return study


def trial_weights(problem, trial) -> np.ndarray:
    """The mixture a finished trial stands for (recomputed for trials saved without it)."""
    if "weights" in trial.user_attrs:
        return np.array(trial.user_attrs["weights"])
    return problem.feasible(weights_from_params(trial.params, problem.domains))[0]


@dataclass(frozen=True)
class OptunaSearch:
    """What every Optuna solver declares: ``trials`` (the study's total), asked ``batch`` at a time,
    an optional ``storage`` (a sqlite file or an Optuna URL) and ``study_name`` (default
    ``mixtures-<name>-s<seed>``), and ``callbacks(study, trial)`` after each trial. A subclass gives
    ``sampler(seed)`` and ``minimize``."""

    trials: int = 300
    batch: int = 8
    storage: str | None = None
    study_name: str | None = None
    callbacks: tuple[Callable, ...] = ()

    pareto: ClassVar[bool] = False
    name: ClassVar[str]

    def sampler(self, seed: int):
        raise NotImplementedError

    def study(self, problem, objective: Callable[[np.ndarray], np.ndarray], seed: int, directions: int):
        """:func:`run_study` with these options."""
        return run_study(problem, objective, self.sampler(seed), directions=directions, trials=self.trials,
                         batch=self.batch, study_name=self.study_name or f"mixtures-{self.name}-s{seed}",
                         storage=self.storage, callbacks=self.callbacks)


@dataclass(frozen=True)
class _SingleObjective(OptunaSearch):
    """An Optuna solver of one objective (the groups' objectives summed): the best trial's mixture."""

    def minimize(self, problem, law: LawLike, seed: int = 0) -> OptimizationResult:
        started = time.perf_counter()
        evaluator = problem.evaluator(law)
        study = self.study(problem, lambda w: evaluator(w).sum(axis=1, keepdims=True), seed, directions=1)
        return finish(self.name, problem, evaluator, trial_weights(problem, study.best_trial), started,
                      {"study": study.study_name, "trials": len(study.trials), "storage": storage_url(self.storage)})


@dataclass(frozen=True)
class TPE(_SingleObjective):
    """Optuna TPE (multivariate, ``min(20, trials)`` random startup trials) over the simplex."""

    name: ClassVar[str] = "tpe"

    def sampler(self, seed: int):
        import optuna

        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=min(20, self.trials))


@dataclass(frozen=True)
class CMAES(_SingleObjective):
    """Optuna CMA-ES over the simplex, starting at the centre (the uniform mixture)."""

    name: ClassVar[str] = "cmaes"

    def sampler(self, seed: int):
        import optuna

        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=0, warn_independent_sampling=False)
