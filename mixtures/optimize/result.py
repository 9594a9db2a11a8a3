"""What a solver returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


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
