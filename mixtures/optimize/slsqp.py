"""scipy's SLSQP from several seeded starts, with the law's analytic gradient where it has one, else batched
finite-difference gradients."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from mixtures.optimize.random_search import dirichlet_draws
from mixtures.optimize.result import OptimizationResult, finish
from mixtures.optimize.simplex import kl_gradient, kl_to_natural

if TYPE_CHECKING:
    from mixtures.optimize.law import LawLike


@dataclass(frozen=True)
class SLSQP:
    """Multi-start SLSQP: the starts are the anchor (closest to natural, or the centre) and the best
    ``starts - 1`` of ``screen`` Dirichlet draws evaluated in one batch; at most ``maxiter`` iterations to ``tol``.

    ``gradient``: ``"auto"`` differentiates the objective exactly where the law gives a gradient
    (:meth:`~mixtures.optimize.law.Evaluator.gradient`, e.g. the ``ot`` family), else by forward differences
    of ``step`` computed in ONE batched predict per iterate; ``"finite"`` always by forward differences.
    ``details["gradient"]`` says which it used."""

    starts: int = 8
    screen: int = 32
    step: float = 1e-6
    maxiter: int = 100
    tol: float = 1e-10
    gradient: Literal["auto", "finite"] = "auto"

    pareto: ClassVar[bool] = False

    def minimize(self, problem, law: LawLike, seed: int = 0) -> OptimizationResult:
        from scipy.optimize import minimize

        started = time.perf_counter()
        evaluator = problem.evaluator(law)
        rng = np.random.default_rng(seed)
        k = len(problem.domains)
        step = self.step
        candidates = np.vstack([problem.anchor[None, :], dirichlet_draws(problem, max(self.screen, 0), rng)])
        if self.screen > 0:
            values = evaluator(candidates).sum(axis=1)
            order = np.argsort(values[1:], kind="stable") + 1
            initial = [candidates[0]] + [candidates[i] for i in order[: max(self.starts - 1, 0)]]
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

        def finite_jac(x: np.ndarray) -> np.ndarray:
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

        exact = self.gradient == "auto"  # until the law turns out to have no gradient

        def jac(x: np.ndarray) -> np.ndarray:
            nonlocal exact
            if exact:
                points = on_simplex(x)[0]
                grad = evaluator.gradient(points)
                if grad is not None:
                    # the chain rule through on_simplex: d/dx_j G(x+ / s) = (g_j - x+/s . g) / s, 0 where x_j < 0
                    g = grad.sum(axis=1)[0]
                    return np.where(x >= 0, (g - points @ g) / np.maximum(x, 0.0).sum(), 0.0)
                exact = False
            return finite_jac(x)

        constraints = [{"type": "eq", "fun": lambda x: x.sum() - 1.0, "jac": lambda x: np.ones_like(x)}]
        if problem.kl_max is not None:
            natural, bound = problem.natural, problem.kl_max
            constraints.append({
                "type": "ineq",
                "fun": lambda x: bound - kl_to_natural(np.maximum(x, 1e-300), natural)[0],
                "jac": lambda x: -kl_gradient(x, natural)[0],
            })
        bounds = list(zip(problem.lower, problem.upper, strict=True))
        best_x, best_f, runs = None, np.inf, []
        for x0 in initial:
            res = minimize(fun, x0, jac=jac, method="SLSQP", bounds=bounds, constraints=constraints,
                           options={"maxiter": self.maxiter, "ftol": self.tol})
            x = problem.feasible(res.x)[0]
            f = fun(x)
            runs.append({"objective": f, "iterations": int(res.nit), "message": str(res.message)})
            if f < best_f:
                best_x, best_f = x, f
        return finish("slsqp", problem, evaluator, best_x, started,
                      {"starts": runs, "gradient": "exact" if exact else "finite"})
