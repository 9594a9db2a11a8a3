"""Solvers behind one interface: ``solve(problem, law, solver=..., seed=...)``.

- ``slsqp``: scipy SLSQP from several seeded starts (the best of a batched screen of Dirichlet
  draws), gradients by forward differences computed in ONE batched predict per iterate.
- ``tpe`` / ``cmaes``: Optuna samplers over a simplex parameterisation (``x_i = -log u_i``,
  ``w = x / sum x``, then repaired onto the feasible set), trials asked and evaluated in batches;
  the study persists to sqlite when ``storage`` is given.
- ``random``: the RegMix baseline: many draws from a Dirichlet around the natural mixture,
  the top-k averaged.
Every solver is seeded and deterministic; outputs satisfy the constraints exactly, and weights below
``DUST`` (where the domain's lower bound allows 0) are set to 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from mixtures.errors import ConfigError
from mixtures.optimize.law import LawLike
from mixtures.optimize.problem import Problem
from mixtures.optimize.result import OptimizationResult
from mixtures.optimize.simplex import kl_divergence

SOLVERS = ("slsqp", "tpe", "cmaes", "random")
PARETO_SOLVERS = ("nsga2", "motpe")
DUST = 1e-3  # a solver's leftover weight below 0.1% is noise, and a share smaller than a document draws nothing


def solve(problem: Problem, law: LawLike, solver: str = "slsqp", seed: int = 0, **options) -> OptimizationResult:
    """Minimize the problem's objective with ``solver``.

    ``slsqp``, ``tpe``, ``cmaes`` and ``random`` minimize one objective (for several groups: their
    sum); ``nsga2`` and ``motpe`` return the Pareto front of the groups (``result.pareto``, see
    :func:`mixtures.optimize.pareto.pareto_front`).
    """
    if solver in PARETO_SOLVERS:
        from mixtures.optimize.pareto import pareto_front

        return pareto_front(problem, law, sampler="nsga2" if solver == "nsga2" else "tpe", seed=seed, **options)
    functions = {"slsqp": solve_slsqp, "tpe": solve_tpe, "cmaes": solve_cmaes, "random": solve_random}
    if solver not in functions:
        raise ConfigError(f"unknown solver {solver!r}; choose one of {list(SOLVERS + PARETO_SOLVERS)}")
    return functions[solver](problem, law, seed=seed, **options)


def _finish(name: str, problem: Problem, law: LawLike, evaluator, weights: np.ndarray, started: float,
            details: dict | None = None) -> OptimizationResult:
    """Repair ``weights`` exactly, drop dust, evaluate once more and package the result."""
    weights = drop_dust(problem, problem.feasible(weights)[0])
    predicted, values = evaluator.evaluate(weights[None, :])
    per_group = {g: float(v) for g, v in zip(problem.objectives, values[0], strict=True)}
    return OptimizationResult(
        solver=name,
        weights=problem.mixture(weights),
        objective=float(sum(per_group.values())),
        objectives=per_group,
        predicted={c: float(v) for c, v in predicted.iloc[0].items()},
        evaluations=evaluator.evaluations,
        seconds=time.perf_counter() - started,
        details=details or {},
    )


def drop_dust(problem: Problem, weights: np.ndarray) -> np.ndarray:
    """``weights`` with shares below ``DUST`` set to 0 (where the lower bound is 0) and the rest
    rescaled; unchanged if that would break a constraint."""
    dust = (weights < DUST) & (problem.lower <= 0) & (weights > 0)
    if not dust.any() or dust.all():
        return weights
    cleaned = np.where(dust, 0.0, weights)
    cleaned = problem.feasible((cleaned / cleaned.sum())[None, :])[0]
    cleaned[dust] = 0.0  # the projection's rounding may leave 1e-17 there
    top = int(np.argmax(cleaned))
    cleaned[top] += 1.0 - cleaned.sum()
    return weights if problem.violations(cleaned) else cleaned


def dirichlet_draws(problem: Problem, count: int, rng: np.random.Generator, temperature: float = 0.5,
                    strength: tuple[float, float] = (0.1, 5.0)) -> np.ndarray:
    """RegMix-style draws: ``Dirichlet(s * k * p)`` with ``p`` the natural mixture (uniform when
    unknown) at ``temperature`` and ``s`` log-uniform in ``strength``; repaired onto the feasible set."""
    k = len(problem.domains)
    base = problem.natural if problem.natural is not None else np.full(k, 1.0 / k)
    prior = np.maximum(base, 1e-6) ** temperature
    prior = prior / prior.sum()
    scale = np.exp(rng.uniform(np.log(strength[0]), np.log(strength[1]), size=count))
    alpha = np.maximum(scale[:, None] * k * prior[None, :], 1e-3)
    draws = rng.standard_gamma(alpha)
    draws = draws / np.maximum(draws.sum(axis=1, keepdims=True), 1e-300)
    return problem.feasible(draws)


# -- scipy SLSQP --------------------------------------------------------------------------------


def solve_slsqp(problem: Problem, law: LawLike, seed: int = 0, starts: int = 3, screen: int = 32,
                step: float = 1e-6, maxiter: int = 100, tol: float = 1e-10) -> OptimizationResult:
    """Seeded multi-start SLSQP; starts = the anchor (closest to natural / centre) and the best
    of ``screen`` Dirichlet draws evaluated in one batch."""
    from scipy.optimize import minimize

    started = time.perf_counter()
    evaluator = problem.evaluator(law)
    rng = np.random.default_rng(seed)
    k = len(problem.domains)
    candidates = np.vstack([problem.anchor[None, :], dirichlet_draws(problem, max(screen, 0), rng)])
    if screen > 0:
        values = evaluator(candidates).sum(axis=1)
        order = np.argsort(values[1:], kind="stable") + 1
        initial = [candidates[0]] + [candidates[i] for i in order[: max(starts - 1, 0)]]
    else:
        initial = [candidates[0]]

    cache: dict[bytes, float] = {}

    def on_simplex(points: np.ndarray) -> np.ndarray:
        # the law only ever sees mixtures: iterates and difference steps are clipped at 0 and
        # renormalised (on the plane sum = 1 this changes the gradient by a multiple of 1 only,
        # which the equality constraint's multiplier absorbs)
        points = np.maximum(np.atleast_2d(points), 0.0)
        return points / points.sum(axis=1, keepdims=True)

    def fun(x: np.ndarray) -> float:
        key = x.tobytes()
        if key not in cache:
            cache[key] = float(evaluator(on_simplex(x)).sum())
        return cache[key]

    def jac(x: np.ndarray) -> np.ndarray:
        key = x.tobytes()
        points = [x] if key not in cache else []
        # step inward where the upper bound is active
        steps = np.where(x + step > problem.upper, -step, step)
        points.extend(x + steps[i] * np.eye(k)[i] for i in range(k))
        values = evaluator(on_simplex(np.array(points))).sum(axis=1)
        if key not in cache:
            cache[key] = float(values[0])
            values = values[1:]
        return (values - cache[key]) / steps

    constraints = [{"type": "eq", "fun": lambda x: x.sum() - 1.0, "jac": lambda x: np.ones_like(x)}]
    if problem.kl_max is not None:
        natural, bound = problem.natural, problem.kl_max
        constraints.append({
            "type": "ineq",
            "fun": lambda x: bound - kl_divergence(np.maximum(x, 1e-300), natural)[0],
            "jac": lambda x: -(np.log(np.maximum(x, 1e-300) / natural) + 1.0),
        })
    bounds = list(zip(problem.lower, problem.upper, strict=True))
    best_x, best_f, runs = None, np.inf, []
    for x0 in initial:
        res = minimize(fun, x0, jac=jac, method="SLSQP", bounds=bounds, constraints=constraints,
                       options={"maxiter": maxiter, "ftol": tol})
        x = problem.feasible(res.x)[0]
        f = fun(x)
        runs.append({"objective": f, "iterations": int(res.nit), "message": str(res.message)})
        if f < best_f:
            best_x, best_f = x, f
    return _finish("slsqp", problem, law, evaluator, best_x, started, {"starts": runs})


# -- Optuna -------------------------------------------------------------------------------------

_U_MIN = 1e-6


def weights_from_params(params: dict, domains: Sequence[str]) -> np.ndarray:
    """The simplex parameterisation: ``x_i = -log u_i``, ``w = x / sum x`` (flat Dirichlet for uniform u)."""
    x = -np.log(np.array([params[f"u_{d}"] for d in domains]))
    return x / x.sum()


def _optuna_solve(name: str, sampler, problem: Problem, law: LawLike, trials: int, batch: int, seed: int,
                  storage: str | None, study_name: str | None, callbacks: Sequence[Callable] | None,
                  started: float) -> OptimizationResult:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    evaluator = problem.evaluator(law)
    storage_url = None
    if storage is not None:
        storage_url = storage if "://" in str(storage) else f"sqlite:///{storage}"
    study = optuna.create_study(
        direction="minimize", sampler=sampler, storage=storage_url,
        study_name=study_name or f"mixtures-{name}-s{seed}", load_if_exists=storage_url is not None,
    )
    distributions = {f"u_{d}": optuna.distributions.FloatDistribution(_U_MIN, 1.0) for d in problem.domains}
    done = len(study.trials)
    while done < trials:
        asked = [study.ask(distributions) for _ in range(min(batch, trials - done))]
        raw = np.array([weights_from_params(t.params, problem.domains) for t in asked])
        weights = problem.feasible(raw)
        values = evaluator(weights).sum(axis=1)
        for trial, w, value in zip(asked, weights, values, strict=True):
            trial.set_user_attr("weights", [float(v) for v in w])
            frozen = study.tell(trial, float(value))
            for callback in callbacks or ():
                callback(study, frozen)
        done += len(asked)
    best = study.best_trial
    best_w = np.array(best.user_attrs["weights"]) if "weights" in best.user_attrs else \
        problem.feasible(weights_from_params(best.params, problem.domains))[0]
    return _finish(name, problem, law, evaluator, best_w, started,
                   {"study": study.study_name, "trials": len(study.trials), "storage": storage_url})


def solve_tpe(problem: Problem, law: LawLike, seed: int = 0, trials: int = 300, batch: int = 8,
              storage: str | None = None, study_name: str | None = None,
              callbacks: Sequence[Callable] | None = None) -> OptimizationResult:
    """Optuna TPE (multivariate) over the simplex parameterisation."""
    import optuna

    started = time.perf_counter()
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=min(20, trials))
    return _optuna_solve("tpe", sampler, problem, law, trials, batch, seed, storage, study_name, callbacks, started)


def solve_cmaes(problem: Problem, law: LawLike, seed: int = 0, trials: int = 300, batch: int = 8,
                storage: str | None = None, study_name: str | None = None,
                callbacks: Sequence[Callable] | None = None) -> OptimizationResult:
    """Optuna CMA-ES over the simplex parameterisation (starting at the centre: the uniform mixture)."""
    import optuna

    started = time.perf_counter()
    sampler = optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=0, warn_independent_sampling=False)
    return _optuna_solve("cmaes", sampler, problem, law, trials, batch, seed, storage, study_name, callbacks, started)


# -- RegMix random search ------------------------------------------------------------------------


def solve_random(problem: Problem, law: LawLike, seed: int = 0, samples: int = 100_000, top_k: int = 100,
                 temperature: float = 0.5, strength: tuple[float, float] = (0.1, 5.0),
                 chunk: int = 20_000) -> OptimizationResult:
    """RegMix: ``samples`` Dirichlet draws around natural, the ``top_k`` best averaged."""
    started = time.perf_counter()
    evaluator = problem.evaluator(law)
    rng = np.random.default_rng(seed)
    draws = dirichlet_draws(problem, samples, rng, temperature, strength)
    values = np.concatenate([evaluator(draws[s:s + chunk]).sum(axis=1) for s in range(0, samples, chunk)])
    top = np.argsort(values, kind="stable")[: max(1, min(top_k, samples))]
    average = draws[top].mean(axis=0)
    return _finish("random", problem, law, evaluator, average, started,
                   {"samples": samples, "top_k": len(top), "best_sample": float(values[top[0]])})
