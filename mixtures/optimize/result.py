"""What a solver returns, and how a solver packages its chosen mixture (:func:`finish`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mixtures.optimize.law import Evaluator

DUST = 1e-3  # a solver's leftover weight below 0.1% is noise, and a share smaller than a document draws nothing


@dataclass
class OptimizationResult:
    """The chosen mixture and how it was found.

    ``objective`` is the predicted objective (penalty included) of ``weights``; ``predicted`` the
    law's predicted target losses there; ``evaluations`` the rows the law predicted; ``pareto``
    the non-dominated mixtures of a multi-objective problem (``w_<domain>`` + one column per group).
    """

    solver: str
    weights: dict[str, float]
    objective: float
    predicted: dict[str, float]
    evaluations: int
    seconds: float
    objectives: dict[str, float] = field(default_factory=dict)
    pareto: pd.DataFrame | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready summary (the CLI's keys)."""
        out = {
            "solver": self.solver,
            "weights": self.weights,
            "objective": self.objective,
            "objectives": self.objectives,
            "predicted": self.predicted,
            "evaluations": self.evaluations,
            "seconds": self.seconds,
        }
        if self.pareto is not None:
            out["pareto"] = self.pareto.to_dict(orient="records")
        return out


def finish(name: str, problem, evaluator: Evaluator, weights: np.ndarray, started: float,
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


def drop_dust(problem, weights: np.ndarray) -> np.ndarray:
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
