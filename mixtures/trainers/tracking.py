"""One training run (proxy, validation or online comparison) as an MLflow run, per the project's layout."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mixtures.runs_table import weight_column


def log_training_run(run: Any, spec: Any, result: Any, trainer: str, metrics: Mapping[str, float] | None = None) -> None:
    """Params ``w_<domain>``, ``model``, ``n_params``, ``n_tokens``, ``seed``, ``trainer``, ``mixture_name``;
    metrics ``loss_<name>`` at every eval point (step = tokens seen) plus ``metrics``; a failed run gets
    its reason as the ``mixtures.failure`` tag. ``run`` is a :class:`~mixtures.tracking.RunLogger`."""
    run.log_params({**{weight_column(d): f"{w:.6f}" for d, w in spec.weights.items()}, "model": spec.model,
                    "n_params": result.n_params, "n_tokens": spec.tokens, "seed": spec.seed, "trainer": trainer,
                    "mixture_name": spec.mixture_name})
    table = result.table if result.table is not None else None
    for row in table.to_dict("records") if table is not None else []:
        run.log_metrics({k: float(v) for k, v in row.items() if str(k).startswith("loss_") and k != "loss_unit"
                         and isinstance(v, (int, float)) and math.isfinite(v)}, step=int(row["n_tokens"]))
    finite = {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float)) and math.isfinite(v)}
    if finite:
        run.log_metrics(finite)
    if result.status != "finished":
        run.set_tags({"mixtures.failure": str(result.reason)[:5000]})
