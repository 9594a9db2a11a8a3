"""An online run in MLflow (role ``online_run``)."""

from __future__ import annotations

import math
import time
from typing import Any

from mixtures.online.plot import trajectory_figure
from mixtures.runs_table import weight_column


def log_online(run: Any, stored: Any) -> None:
    """Log a stored online run (:class:`mixtures.runs.store.StoredRun` whose ``extra["online"]`` is the run's
    :meth:`~mixtures.online.runner.OnlineResult.to_json`) to the MLflow run ``run``.

    Tags ``mixtures.online_method``; params ``w_<domain>`` (the run's mixture, 6 decimals), ``model``,
    ``n_params``, ``n_tokens``, ``seed``, ``trainer``, ``mixture_name``, ``method``; metrics ``loss_<name>`` at
    each eval point (step = tokens seen), ``objective``, ``overhead_seconds``, ``compute_tokens`` (and ``ess_mean``
    for reweighting), ``weight.<domain>`` at each update (step = training step); artifacts ``online.json`` and
    ``weights_trajectory.png``.
    """
    spec, rows, online = stored.spec, stored.rows, stored.extra["online"]
    mixture = online["mixture"]
    run.set_tags({"mixtures.online_method": online["method"]})
    run.log_params({**{weight_column(d): f"{w:.6f}" for d, w in mixture.items()}, "model": spec.model,
                    "n_params": int(rows["n_params"].iloc[0]), "n_tokens": spec.tokens, "seed": spec.seed,
                    "trainer": "builtin", "mixture_name": spec.mixture_name, "method": online["method"]})
    for row in rows.to_dict("records"):
        losses = {k: v for k, v in row.items() if str(k).startswith("loss_") and k != "loss_unit"
                  and isinstance(v, float) and math.isfinite(v)}
        run.log_metrics(losses, step=int(row["n_tokens"]))
    summary = {k: online[k] for k in ("overhead_seconds", "compute_tokens", "probe_tokens", "reference_tokens", "seconds")}
    if online.get("objective") is not None:
        summary["objective"] = online["objective"]
    if "ess_mean" in online.get("details", {}):
        summary["ess_mean"] = online["details"]["ess_mean"]
    run.log_metrics(summary)
    _log_trajectory(run, online["trajectory"], list(mixture))
    run.log_dict(online, "online.json")
    figure = trajectory_figure(online["trajectory"], list(mixture), f"{online['method']}: {spec.run_id}",
                               mixture=mixture)
    run.log_figure(figure, "weights_trajectory.png")


def _log_trajectory(run: Any, trajectory: list[dict[str, Any]], domains: list[str]) -> None:
    """``weight.<domain>`` at every update (step = training step), in batches of 500 metrics."""
    from mlflow.entities import Metric

    from mixtures.tracking import with_retry

    now = int(time.time() * 1000)
    items = [Metric(f"weight.{d}", float(w), now, int(point["step"]))
             for point in trajectory for d, w in zip(domains, point["weights"], strict=True)]
    for start in range(0, len(items), 500):
        with_retry(lambda s=start: run.tracker.client.log_batch(run.run_id, metrics=items[s:s + 500]))
