"""The optimal mixture: the law minimized under the project's constraints, with its uncertainty."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from assets.metadata import image, markdown_table
from mixtures.optimize import (
    build_problem,
    check_constraints,
    compare_mixtures,
    log_optimization,
    optimize,
    optimum_uncertainty,
)
from mixtures.plots import mixture_bars_figure
from mixtures.storage import atomic_write_json
from mixtures.validation_scale import best_proxy_mixture, final_scale
from resources.project import ProjectResource
from resources.tracking import MlflowTracking

MIXTURE_FILE = "optimal_mixture.json"


@dg.asset(
    group_name="optimize",
    check_specs=[dg.AssetCheckSpec("constraints_hold", asset="optimal_mixture", blocking=True,
                                   description="simplex, per-domain bounds, data availability (epochs), KL bound")],
    description="Weights that minimize the law's predicted target objective under the constraints; "
                "bootstrap spread; predicted losses beside natural, uniform and the best proxy run.",
)
def optimal_mixture(context: dg.AssetExecutionContext, mixing_laws, domain_catalog: pd.DataFrame,
                    proxy_results: pd.DataFrame, project: ProjectResource, tracking: MlflowTracking):
    config = project.load()
    n_params, n_tokens = final_scale(config)
    problem = build_problem(config, mixing_laws, domain_catalog, n_params=n_params, tokens=n_tokens)
    result = optimize(mixing_laws, problem, solver=config.optimize.solver, seed=config.seed,
                      trials=config.optimize.trials, starts=config.optimize.starts)
    uncertainty = optimum_uncertainty(mixing_laws, problem, seed=config.seed)
    best_name, best_weights = best_proxy_mixture(proxy_results, problem.targets, config.domain_names)
    comparison = compare_mixtures(mixing_laws, problem, {
        "optimal": result.weights, "natural": problem.natural_mixture, "uniform": problem.uniform_mixture,
        f"best_proxy ({best_name})": best_weights,
    })
    violations = check_constraints(problem, result.weights)
    with tracking.run(context, "optimal_mixture", config, tags={"mixtures.role": "optimization",
                                                                "mixtures.solver": result.solver}) as run:
        log_optimization(run, result, problem=problem, uncertainty=uncertainty, comparison=comparison)
        run_id, url = run.run_id, run.url
    document = {"weights": result.weights, "predicted": result.predicted, "solver": result.solver,
                "evaluations": result.evaluations, "mlflow_run_id": run_id, "best_proxy": best_name,
                "uncertainty": uncertainty.to_dict() if hasattr(uncertainty, "to_dict") else uncertainty,
                "scale": {"n_params": n_params, "n_tokens": n_tokens}}
    atomic_write_json(config.root / MIXTURE_FILE, document)
    yield dg.Output(document, metadata={
        "weights": dg.MetadataValue.json(result.weights),
        "predicted_objective": float(result.objective),
        "solver": result.solver,
        "evaluations": int(result.evaluations),
        "comparison": dg.MetadataValue.md(markdown_table(comparison.reset_index())),
        "uncertainty": dg.MetadataValue.md(getattr(uncertainty, "message", str(uncertainty))),
        "mixtures_plot": image(mixture_bars_figure({
            "optimal": result.weights, "natural": problem.natural_mixture, "uniform": problem.uniform_mixture}),
            "optimal vs baselines"),
        "mlflow_run": dg.MetadataValue.url(url),
        "path": dg.MetadataValue.path(str(config.root / MIXTURE_FILE)),
    })
    yield dg.AssetCheckResult(check_name="constraints_hold", passed=not violations,
                              metadata={"violations": dg.MetadataValue.md("\n".join(f"- {v}" for v in violations) or "none")})
