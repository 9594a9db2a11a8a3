"""An online run in MLflow (role ``online_run``, CONVENTIONS.md)."""

from __future__ import annotations

import math
import time
from typing import Any

from mixtures.online.plot import trajectory_figure
from mixtures.online.runner import ROLE, OnlineResult
from mixtures.runs_table import weight_column


def log_online(run: Any, result: OnlineResult) -> None:
    """Log ``result`` to the MLflow run ``run`` (a :class:`mixtures.tracking.RunLogger`).

    Tags ``mixtures.role=online_run``, ``mixtures.mixture_name``, ``mixtures.online_method``;
    params ``w_<domain>`` (the run's mixture, 6 decimals), ``model``, ``n_params``, ``n_tokens``,
    ``seed``, ``trainer``, ``mixture_name``, ``method``; metrics ``loss_<name>`` at each eval point
    (step = tokens seen), ``objective``, ``overhead_seconds``, ``compute_tokens`` (and ``ess_mean``
    for reweighting), ``weight.<domain>`` at each update (step = training step); artifacts
    ``online.json`` and ``weights_trajectory.png``.
    """
    train = result.train
    spec = train.spec
    domains = list(result.mixture)
    run.set_tags({"mixtures.role": ROLE, "mixtures.mixture_name": spec.mixture_name,
                  "mixtures.online_method": result.method})
    run.log_params({**{weight_column(d): f"{w:.6f}" for d, w in result.mixture.items()}, "model": spec.model,
                    "n_params": train.n_params, "n_tokens": spec.tokens, "seed": spec.seed, "trainer": "builtin",
                    "mixture_name": spec.mixture_name, "method": result.method})
    for row in train.table.to_dict("records"):
        losses = {k: v for k, v in row.items() if str(k).startswith("loss_") and k != "loss_unit"
                  and isinstance(v, float) and math.isfinite(v)}
        run.log_metrics(losses, step=int(row["n_tokens"]))
    summary = {"overhead_seconds": result.overhead_seconds, "compute_tokens": result.compute_tokens,
               "probe_tokens": result.probe_tokens, "reference_tokens": result.reference_tokens,
               "seconds": train.seconds}
    if math.isfinite(result.objective):
        summary["objective"] = result.objective
    if "ess_mean" in result.details:
        summary["ess_mean"] = result.details["ess_mean"]
    run.log_metrics(summary)
    _log_trajectory(run, result.trajectory, domains)
    run.log_dict(result.to_json(), "online.json")
    figure = trajectory_figure(result.trajectory, domains, f"{result.method}: {spec.run_id}", mixture=result.mixture)
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


def tracking_hooks(config, tags: dict | None = None) -> dict:
    """MLflow loggers (``on_online``, ``on_validation`` for :func:`~mixtures.online.compare.compare_methods`)
    for the online and validation runs, nested under the pipeline's run; ``tags`` are added to each run."""
    from mixtures.trainers.tracking import log_training_run
    from mixtures.tracking import Tracker

    tracker = Tracker(config.tracking_uri, config.tracking.experiment)
    key = {"mixtures.pipeline": config.fingerprint(), "mixtures.role": "pipeline"}
    with tracker.parent_run(f"pipeline {config.project} {config.fingerprint()}", key) as parent:
        parent_id = parent.run_id
    base = {"mixtures.pipeline": config.fingerprint(), "mixtures.project": config.project, **(tags or {})}

    def on_online(result) -> None:
        with tracker.run(result.train.spec.run_id, tags={**base, "mixtures.role": "online_run"},
                         parent_run_id=parent_id) as run:
            log_online(run, result)

    def on_validation(spec, result, value) -> None:
        tags = {**base, "mixtures.role": "validation_run", "mixtures.mixture_name": spec.mixture_name,
                "mixtures.compare": "online"}
        with tracker.run(spec.run_id, tags=tags, parent_run_id=parent_id) as run:
            log_training_run(run, spec, result, "builtin", metrics={"objective": value})

    return {"on_online": on_online, "on_validation": on_validation}
