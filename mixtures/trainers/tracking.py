"""One finished training run (proxy, validation or online) as an MLflow run, per the project's layout."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from mixtures.runs_table import weight_column


def log_training_run(run: Any, spec: Any, rows: pd.DataFrame, metrics: Mapping[str, float] | None = None) -> None:
    """Params ``w_<domain>``, ``model``, ``n_params``, ``n_tokens``, ``seed``, ``trainer``, ``mixture_name``,
    ``threads`` (and ``method``); metrics ``loss_<name>`` at every eval point (step = tokens seen) plus
    ``metrics``. ``run`` is a :class:`~mixtures.tracking.RunLogger`, ``rows`` the run's wide rows."""
    n_params = int(rows["n_params"].iloc[0]) if len(rows) else 0
    params = {**{weight_column(d): f"{w:.6f}" for d, w in spec.weights.items()}, "model": spec.model,
              "n_params": n_params, "n_tokens": spec.tokens, "seed": spec.seed, "trainer": spec.trainer,
              "mixture_name": spec.mixture_name, "threads": spec.threads}
    if spec.method:
        params["method"] = spec.method
    run.log_params(params)
    for row in rows.to_dict("records"):
        run.log_metrics({k: float(v) for k, v in row.items() if str(k).startswith("loss_") and k != "loss_unit"
                         and isinstance(v, (int, float)) and math.isfinite(v)}, step=int(row["n_tokens"]))
    finite = {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float)) and math.isfinite(v)}
    if finite:
        run.log_metrics(finite)
