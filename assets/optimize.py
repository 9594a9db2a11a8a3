"""The optimal mixture: the law minimized under the project's constraints, with its uncertainty."""


import dagster as dg
import numpy as np
import pandas as pd

from assets.metadata import image, markdown_table
from mixtures.corpus import natural_mixture
from mixtures.objective import objective_weights
from mixtures.optimize import build_problem, compare_mixtures, log_optimization, optimum_uncertainty, solve
from mixtures.evaluation.baselines import best_observed
from mixtures.evaluation.scale import validation_point
from mixtures.layout import OPTIMAL_MIXTURE, project_file
from mixtures.plots import mixture_bars
from mixtures.storage import atomic_write_json
from resources.project import ProjectResource
from resources.tracking import MlflowTracking


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
    n_params, n_tokens = validation_point(config)
    natural = natural_mixture(domain_catalog)
    weights = objective_weights(config, natural)
    problem = build_problem(config, mixing_laws, domain_catalog, targets=weights, n_params=n_params,
                            tokens=config.optimize.tokens or (config.dataset.size if config.dataset.unit == "tokens" else n_tokens))
    if mixing_laws.uses_scale:  # predicted at the validation scale; availability stays at the final budget
        problem.n_tokens = float(n_tokens)
    result = solve(problem, mixing_laws, solver=config.optimize.solver, seed=config.seed, **config.optimize.options)
    uncertainty = optimum_uncertainty(problem, mixing_laws, result, seed=config.seed)
    best_name, best_weights = best_observed(proxy_results, weights, config.domain_names)
    comparison = compare_mixtures(problem, mixing_laws, result.weights, {f"best_proxy ({best_name})": best_weights})
    violations = problem.violations(np.array([result.weights[d] for d in problem.domains]))
    with tracking.run(context, "optimal_mixture", config, tags={"mixtures.role": "optimization",
                                                                "mixtures.solver": result.solver}) as run:
        log_optimization(run, result, natural=natural, problem=problem, uncertainty=uncertainty, comparison=comparison)
        run_id, url = run.run_id, run.url
    document = {"weights": result.weights, "predicted": result.predicted, "solver": result.solver,
                "evaluations": result.evaluations, "mlflow_run_id": run_id, "best_proxy": best_name,
                "uncertainty": uncertainty.to_dict(), "objective_weights": weights,
                "scale": {"n_params": n_params, "n_tokens": n_tokens}}
    atomic_write_json(project_file(config, OPTIMAL_MIXTURE), document)
    yield dg.Output(document, metadata={
        "weights": dg.MetadataValue.json(result.weights),
        "predicted_objective": float(result.objective),
        "solver": result.solver,
        "evaluations": int(result.evaluations),
        "comparison": dg.MetadataValue.md(markdown_table(comparison)),
        "uncertainty": dg.MetadataValue.md(uncertainty.message),
        "well_determined": uncertainty.well_determined,
        "mixtures_plot": image(mixture_bars({"optimal": result.weights, "natural": natural,
                                             "uniform": {d: 1 / len(natural) for d in natural}},
                                            title="optimal vs baselines"), "optimal vs baselines"),
        "mlflow_run": dg.MetadataValue.url(url),
        "path": dg.MetadataValue.path(str(project_file(config, OPTIMAL_MIXTURE))),
    })
    yield dg.AssetCheckResult(check_name="constraints_hold", passed=not violations,
                              metadata={"violations": dg.MetadataValue.md("\n".join(f"- {v}" for v in violations) or "none")})
