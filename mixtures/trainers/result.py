"""What a proxy training run returns, and its rows in the wide run table."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.runs import RunSpec
from mixtures.runs_table import loss_column, unique_column, weight_column
from mixtures.tasks import acc_column, taskloss_column

STATUSES = ("finished", "failed")
BITS_PER_BYTE = "bits_per_byte"


@dataclass
class TrainResult:
    """The outcome of one proxy run.

    ``table`` holds one wide row per eval point (see :func:`run_rows`); it is empty when
    ``status`` is ``"failed"``, and ``reason`` says why. ``extra`` carries diagnostics
    (``tokens_per_s``, ``unigram_baseline``, ``weight_trajectory``, ...).
    """

    spec: RunSpec
    status: str
    reason: str
    table: pd.DataFrame
    seconds: float
    n_params: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    def summary(self) -> dict[str, Any]:
        """A small JSON-able summary (for logs and asset metadata)."""
        return {
            "run_id": self.spec.run_id, "status": self.status, "reason": self.reason,
            "seconds": round(self.seconds, 3), "n_params": self.n_params, "eval_points": len(self.table),
            "final_loss": self.final_losses(),
            "tokens_per_s": self.extra.get("tokens_per_s"),
        }

    def final_losses(self) -> dict[str, float]:
        """``{name: loss}`` at the last eval point (empty for a failed run)."""
        if self.table.empty:
            return {}
        last = self.table.iloc[-1]
        return {c[len("loss_"):]: float(last[c]) for c in self.table.columns
                if c.startswith("loss_") and c != "loss_unit"}


def eval_names(config: ProjectConfig) -> list[str]:
    """Every name a run is evaluated on: the training domains, then the held-out target sets."""
    return config.domain_names + [s.name for s in config.target.sets]


def run_rows(
    config: ProjectConfig,
    spec: RunSpec,
    evals: list[dict[str, Any]],
    *,
    n_params: int,
    trainer: str,
    loss_unit: str = BITS_PER_BYTE,
) -> pd.DataFrame:
    """The run's rows in the wide run-table format (:mod:`mixtures.runs_table`), one per eval point.

    ``evals``: ``[{"step": int, "n_tokens": int, "loss": {name: value},
    "tasks": {task: {"loss": bits per byte, "acc": accuracy}} (optional)}]``; names without a value
    get an empty (NaN) cell. Each of ``target.tasks`` adds the columns ``taskloss_<task>`` and ``acc_<task>``.
    """
    names = eval_names(config)
    rows = []
    for point in evals:
        row: dict[str, Any] = {"run_id": spec.run_id, "mixture_name": spec.mixture_name, "model": spec.model}
        row.update({weight_column(d): float(spec.weights.get(d, 0.0)) for d in config.domain_names})
        row.update({"n_params": int(n_params), "n_tokens": int(point["n_tokens"]), "seed": int(spec.seed),
                    "trainer": trainer, "step": int(point.get("step", len(rows) + 1))})
        losses = point.get("loss", {})
        row.update({loss_column(n): float(losses.get(n, math.nan)) for n in names})
        scores = point.get("tasks", {})
        for task in config.target.tasks:
            score = scores.get(task.name, {})
            row[taskloss_column(task.name)] = float(score.get("loss", math.nan))
            row[acc_column(task.name)] = float(score.get("acc", math.nan))
        row["loss_unit"] = loss_unit
        row.update({unique_column(d): int(n) for d, n in spec.unique_tokens.items()})  # capped runs only
        rows.append(row)
    return pd.DataFrame(rows)


def failed(spec: RunSpec, reason: str, *, seconds: float = 0.0, n_params: int = 0, **extra: Any) -> TrainResult:
    """A failed result with an empty table."""
    return TrainResult(spec=spec, status="failed", reason=reason, table=pd.DataFrame(), seconds=seconds,
                       n_params=n_params, extra=dict(extra))
