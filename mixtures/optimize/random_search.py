"""RegMix's random search: many Dirichlet draws around the natural mixture, the best few averaged."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from mixtures.optimize.result import OptimizationResult, finish

if TYPE_CHECKING:
    from mixtures.optimize.law import LawLike


def dirichlet_draws(problem, count: int, rng: np.random.Generator, temperature: float = 0.5,
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


@dataclass(frozen=True)
class RandomSearch:
    """RegMix: ``samples`` Dirichlet draws around natural (``temperature``, ``strength``), the ``top_k``
    best averaged; predicted ``chunk`` rows at a time."""

    samples: int = 100_000
    top_k: int = 100
    temperature: float = 0.5
    strength: tuple[float, float] = (0.1, 5.0)
    chunk: int = 20_000

    pareto: ClassVar[bool] = False

    def minimize(self, problem, law: LawLike, seed: int = 0) -> OptimizationResult:
        started = time.perf_counter()
        evaluator = problem.evaluator(law)
        rng = np.random.default_rng(seed)
        draws = dirichlet_draws(problem, self.samples, rng, self.temperature, self.strength)
        values = np.concatenate([evaluator(draws[s:s + self.chunk]).sum(axis=1)
                                 for s in range(0, self.samples, self.chunk)])
        top = np.argsort(values, kind="stable")[: max(1, min(self.top_k, self.samples))]
        average = draws[top].mean(axis=0)
        return finish("random", problem, evaluator, average, started,
                      {"samples": self.samples, "top_k": len(top), "best_sample": float(values[top[0]])})
