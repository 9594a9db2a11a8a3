"""The optimal mixture: the law minimized under the project's constraints, with its uncertainty."""


import dagster as dg
import numpy as np
import pandas as pd

from assets.metadata import image, markdown_table
from mixtures.corpus import natural_mixture
from mixtures.objective import objective_weights
from mixtures.optimize import build_problem, compare_mixtures, log_optimization, optimum_uncertainty, solve
from mixtures.evaluation.baselines import best_observed
from mixtures.evaluation.decision import best_baseline, gain_statement, log_gain, noise_floor, with_repeats
from mixtures.evaluation.scale import validation_point
from mixtures.layout import OPTIMAL_MIXTURE, project_file
from mixtures.plots import mixture_bars
from mixtures.reuse import caps_from_tokens
from mixtures.reuse.decide import save_optimum_catalog
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
    from mixtures.reuse.law import ReusedLaw  # here, not at the top: scikit-learn would load in every run worker
    from mixtures.reuse.refit import component_problem

    config = project.load()
    n_params, n_tokens = validation_point(config)
    natural = natural_mixture(domain_catalog)
    weights = objective_weights(config, natural)
    budget = config.optimize.tokens or (config.dataset.size if config.dataset.unit == "tokens" else n_tokens)
    plan = mixing_laws.plan if isinstance(mixing_laws, ReusedLaw) else None
    law = mixing_laws.law if plan is not None else mixing_laws
    if plan is None:
        problem = build_problem(config, law, domain_catalog, targets=weights, n_params=n_params, tokens=budget)
    else:  # a reuse: over the virtual domain and the changed ones, each within its data availability
        train = domain_catalog[domain_catalog["role"] == "train"].set_index("domain")["train_tokens"]
        caps = caps_from_tokens({d: float(train[d]) for d in config.domain_names}, budget, config.constraints.max_epochs)
        problem = component_problem(plan, law, weights, caps=caps, natural=natural,
                                    kl_penalty=config.optimize.kl_penalty, n_params=n_params, n_tokens=budget)
    if law.uses_scale:  # predicted at the validation scale; availability stays at the final budget
        problem.n_tokens = float(n_tokens)
    result = solve(problem, law, solver=config.optimize.solver, seed=config.seed, **config.optimize.options)
    uncertainty = optimum_uncertainty(problem, law, result, seed=config.seed)
    best_name, best_weights = best_observed(proxy_results, weights, config.domain_names)
    comparison = compare_mixtures(problem, law, result.weights,
                                  {f"best_proxy ({best_name})": plan.reduce(best_weights) if plan else best_weights})
    violations = problem.violations(np.array([result.weights[d] for d in problem.domains]))
    optimum = plan.expand(result.weights) if plan is not None else result.weights
    floor = noise_floor(with_repeats(config, proxy_results), weights)[0]
    baseline, baseline_objective = best_baseline(comparison)
    optimum_objective = float(comparison.loc[comparison["mixture"] == "optimal", "objective"].iloc[0])
    above, statement = gain_statement(optimum_objective, baseline_objective, baseline, floor)
    with tracking.run(context, "optimal_mixture", config, tags={"mixtures.role": "optimization",
                                                                "mixtures.solver": result.solver}) as run:
        log_optimization(run, result, natural=plan.reduce(natural) if plan else natural, problem=problem,
                         uncertainty=uncertainty, comparison=comparison)
        if plan is not None:
            run.log_params({f"w_{d}": f"{w:.6f}" for d, w in optimum.items() if d not in result.weights})
            run.log_dict({"weights": optimum, "components": result.weights, "plan": plan.to_dict()}, "reuse.json")
            run.set_tags({"mixtures.reuse": plan.message()})
        log_gain(run, above, statement, baseline_objective - optimum_objective)
        run_id, url = run.run_id, run.url
    save_optimum_catalog(config, domain_catalog)
    document = {"weights": optimum, "predicted": result.predicted, "solver": result.solver,
                "evaluations": result.evaluations, "mlflow_run_id": run_id, "best_proxy": best_name,
                "uncertainty": uncertainty.to_dict(), "objective_weights": weights,
                "decision": {"above_noise_floor": above, "statement": statement,
                             "predicted_gain": baseline_objective - optimum_objective, "best_baseline": baseline},
                "scale": {"n_params": n_params, "n_tokens": n_tokens},
                **({"reuse": {**plan.to_dict(), "optimum_components": result.weights}} if plan is not None else {})}
    atomic_write_json(project_file(config, OPTIMAL_MIXTURE), document)
    yield dg.Output(document, metadata={
        "weights": dg.MetadataValue.json(optimum),
        "reuse": plan.message() if plan is not None else "full design",
        "predicted_objective": float(result.objective),
        "solver": result.solver,
        "evaluations": int(result.evaluations),
        "comparison": dg.MetadataValue.md(markdown_table(comparison)),
        "uncertainty": dg.MetadataValue.md(uncertainty.message),
        "well_determined": uncertainty.well_determined,
        "decision": dg.MetadataValue.md(statement),
        "mixtures_plot": image(mixture_bars({"optimal": optimum, "natural": natural,
                                             "uniform": {d: 1 / len(natural) for d in natural}},
                                            title="optimal vs baselines"), "optimal vs baselines"),
        "mlflow_run": dg.MetadataValue.url(url),
        "path": dg.MetadataValue.path(str(project_file(config, OPTIMAL_MIXTURE))),
    })
    yield dg.AssetCheckResult(check_name="constraints_hold", passed=not violations,
                              metadata={"violations": dg.MetadataValue.md("\n".join(f"- {v}" for v in violations) or "none")})
