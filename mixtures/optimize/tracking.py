"""Log an optimization to MLflow (role ``optimization``)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping

from mixtures.optimize.exports import write_exports
from mixtures.optimize.result import OptimizationResult


def weights_figure(result: OptimizationResult, natural: Mapping[str, float] | None = None):
    """A bar chart of the weights (beside natural when given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    domains = list(result.weights)
    x = np.arange(len(domains))
    fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(domains) + 2), 3.2))
    width = 0.4 if natural else 0.7
    ax.bar(x - (width / 2 if natural else 0), [result.weights[d] for d in domains], width, label=result.solver)
    if natural:
        ax.bar(x + width / 2, [natural.get(d, 0.0) for d in domains], width, label="natural", alpha=0.6)
        ax.legend()
    ax.set_xticks(x, domains, rotation=45, ha="right")
    ax.set_ylabel("weight")
    ax.set_title(f"optimal mixture (predicted objective {result.objective:.4g})")
    fig.tight_layout()
    return fig


def pareto_figure(result: OptimizationResult):
    """The front of the first two objective groups (the chosen point marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(result.objectives)
    front = result.pareto
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    ax.plot(front[groups[0]], front[groups[1]], "o-", ms=3, label="Pareto front")
    ax.plot([result.objectives[groups[0]]], [result.objectives[groups[1]]], "r*", ms=12, label="chosen")
    ax.set_xlabel(groups[0])
    ax.set_ylabel(groups[1])
    ax.legend()
    fig.tight_layout()
    return fig


def log_optimization(run_logger, result: OptimizationResult, natural: Mapping[str, float] | None = None,
                     prefixes: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None,
                     comparison=None, uncertainty=None, problem=None) -> None:
    """Params ``w_<domain>`` and ``solver``; tag ``mixtures.solver`` (+ ``tags``); metrics
    ``predicted_objective``, ``predicted.<target>``, ``evaluations``, ``seconds``; artifacts
    ``mixture.json``, ``megatron_blend.txt``, ``hf_probabilities.json``, ``mixture.yaml``,
    ``weights.png``, ``pareto.png`` (multi-objective); ``comparison.csv``, ``uncertainty.json`` +
    ``member_optima.csv`` and ``problem.json`` (objectives, bounds and why) when given."""
    import matplotlib.pyplot as plt

    run_logger.set_tags({"mixtures.role": "optimization", "mixtures.solver": result.solver, **(tags or {})})
    run_logger.log_params({**{f"w_{d}": f"{w:.6f}" for d, w in result.weights.items()}, "solver": result.solver})
    metrics = {"predicted_objective": result.objective, "evaluations": result.evaluations, "seconds": result.seconds}
    metrics.update({f"predicted.{t}": v for t, v in result.predicted.items()})
    if len(result.objectives) > 1:
        metrics.update({f"predicted_objective.{g}": v for g, v in result.objectives.items()})
    if uncertainty is not None:
        metrics.update({"optimum_objective_std": uncertainty.objective_std,
                        "optimum_near_spread": uncertainty.near_optimal_spread})
        run_logger.set_tags({"mixtures.well_determined": str(uncertainty.well_determined).lower()})
    run_logger.log_metrics(metrics)
    with tempfile.TemporaryDirectory() as tmp:
        # mixture.json names this run, so a materialized dataset can point back to it
        for path in write_exports(result, tmp, prefixes, extra={"mlflow_run_id": run_logger.run_id}).values():
            run_logger.log_artifact(path)
    for name, make in (("weights.png", lambda: weights_figure(result, natural)),
                       ("pareto.png", (lambda: pareto_figure(result)) if result.pareto is not None else None)):
        if make is None:
            continue
        fig = make()
        try:
            run_logger.log_figure(fig, name)
        finally:
            plt.close(fig)
    if comparison is not None:
        run_logger.log_table(comparison, "comparison.csv")
    if problem is not None:
        run_logger.log_dict(problem.to_dict(), "problem.json")
    if uncertainty is not None:
        run_logger.log_dict(uncertainty.to_dict(), "uncertainty.json")
        run_logger.log_table(uncertainty.member_weights, "member_optima.csv")


def trial_callback(run_logger, metric: str = "trial_objective"):
    """An Optuna callback ``(study, trial)`` logging each finished trial's value (step = trial
    number) and the best so far (``<metric>_best``) to one MLflow run, through the client (no global
    MLflow state; ``optuna_integration.mlflow.MLflowCallback`` also fits the ``callbacks`` slot if a
    run per trial is wanted). Pass it as ``solve(..., solver="tpe", callbacks=[trial_callback(run)])``."""

    def callback(study, trial) -> None:
        if trial.value is None:
            return
        best = min(t.value for t in study.trials if t.value is not None)
        run_logger.log_metrics({metric: trial.value, f"{metric}_best": best}, step=trial.number)

    return callback
