"""Validation runs: the optimal mixture against the baselines at a larger scale, several seeds each."""


import dagster as dg
import pandas as pd

from assets.metadata import image, markdown_table
from mixtures.corpus import natural_mixture
from mixtures.mixture import uniform_mixture
from mixtures.objective import objective_of, objective_weights
from mixtures.optimize.compare import best_observed
from mixtures.plots import validation_comparison
from mixtures.runs_table import weight_column
from mixtures.storage import atomic_write_json
from mixtures.trainers.tracking import log_training_run
from mixtures.validation import validation_verdict
from mixtures.validation_scale import (
    final_scale,
    run_validation,
    validation_scale,
    validation_specs,
)
from resources.project import ProjectResource
from resources.tracking import MlflowTracking

VERDICT_FILE = "validation.json"


def baseline_mixtures(config, catalog: pd.DataFrame, optimal: dict, proxy_results: pd.DataFrame,
                      weights: dict[str, float]) -> tuple[dict[str, dict[str, float]], str]:
    """optimal, natural, uniform, the best observed proxy mixture (unless it is one of those) and the
    user's named mixtures."""
    natural = natural_mixture(catalog)
    mixtures = {"optimal": optimal, "natural": natural, "uniform": uniform_mixture(config.domain_names)}
    best_name, best = best_observed(proxy_results, weights, config.domain_names)
    same = [n for n, m in mixtures.items() if all(abs(m.get(d, 0.0) - best.get(d, 0.0)) < 1e-6 for d in config.domain_names)]
    if not same:  # the best proxy run is a mixture of its own, not natural or uniform again
        mixtures["best_proxy"] = best
    mixtures.update({name: dict(w) for name, w in config.validation.mixtures.items()})
    return mixtures, best_name


def predicted_objectives(law, mixtures: dict[str, dict[str, float]], domains: list[str], scale: tuple[int, int],
                         weights: dict[str, float]) -> dict[str, float]:
    """The law's objective for each mixture at ``scale``."""
    frame = pd.DataFrame([{weight_column(d): m.get(d, 0.0) for d in domains} for m in mixtures.values()])
    frame["n_params"], frame["n_tokens"] = float(scale[0]), float(scale[1])
    predictions = law.predict(frame)
    return dict(zip(mixtures, objective_of(predictions, weights), strict=True))


@dg.asset(group_name="validation",
          description="The optimal mixture vs natural, uniform, the best proxy run and named mixtures, trained "
                      "at the validation scale with several seeds; the verdict, from measurement.")
def validation_runs(context: dg.AssetExecutionContext, optimal_mixture: dict, mixing_laws, domain_catalog: pd.DataFrame,
                    proxy_results: pd.DataFrame, project: ProjectResource, tracking: MlflowTracking):
    config = project.load()
    weights = objective_weights(config, natural_mixture(domain_catalog))
    mixtures, best_name = baseline_mixtures(config, domain_catalog, optimal_mixture["weights"], proxy_results, weights)
    scale = final_scale(config)
    predicted = predicted_objectives(mixing_laws, mixtures, config.domain_names, scale, weights)
    specs = validation_specs(config, mixtures)

    def log_run(spec, result) -> None:
        with tracking.run(context, f"validation {spec.run_id}", config, tags={
            "mixtures.role": "validation_run", "mixtures.mixture_name": spec.mixture_name,
            "mixtures.status": result.status}) as run:
            metrics = {"predicted_objective": predicted[spec.mixture_name]}
            if result.table is not None and len(result.table):
                final = result.table.sort_values("n_tokens").iloc[[-1]]
                metrics["objective"] = float(objective_of(final, weights)[0])
            log_training_run(run, spec, result, config.proxy.trainer, metrics=metrics)

    results = run_validation(config, domain_catalog, specs, weights, on_result=log_run, log=context.log.info)
    results["predicted"] = results["mixture_name"].map(predicted)
    verdict = validation_verdict(results[["mixture_name", "seed", "objective", "predicted"]])
    document = {**verdict.to_json(), "scale": {"model": validation_scale(config).model, "n_params": scale[0],
                                                "n_tokens": scale[1]},
                "best_proxy_run": best_name, "mixtures_weights": mixtures,
                "optimal_mlflow_run_id": optimal_mixture.get("mlflow_run_id")}
    atomic_write_json(config.root / VERDICT_FILE, document)
    figure = validation_comparison(results)
    with tracking.run(context, "validation verdict", config, tags={"mixtures.role": "validation"}) as run:
        run.log_dict(document, VERDICT_FILE)
        run.log_metrics({f"objective_mean.{n}": float(r["mean"]) for n, r in verdict.stats.iterrows()})
        run.log_metrics({"improvement_vs_best_baseline": verdict.improvement_vs_best_baseline,
                         "law_mre": verdict.law_mre})
        run.log_figure(figure, "validation.png")
        run.set_tags({"mixtures.optimal_wins": str(verdict.optimal_wins)})
        url = run.url
    failures = results[results["failure"] != ""]
    return dg.Output(document, metadata={
        "verdict": dg.MetadataValue.md(verdict.summary.replace("\n", "\n\n")),
        "stats": dg.MetadataValue.md(markdown_table(verdict.stats.reset_index(names="mixture"))),
        "optimal_wins": verdict.optimal_wins,
        "improvement_vs_best_baseline": float(verdict.improvement_vs_best_baseline),
        "law_mre": float(verdict.law_mre),
        "failed_runs": len(failures),
        "plot": image(figure, "validation objective per mixture"),
        "mlflow_run": dg.MetadataValue.url(url),
        "path": dg.MetadataValue.path(str(config.root / VERDICT_FILE)),
    })
