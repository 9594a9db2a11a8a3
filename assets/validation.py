"""Validation: the optimal mixture against the baselines at the validation scale, several seeds each.

``validation_design`` chooses the mixtures (evaluation core: optimal, natural, uniform, the best proxy
run, named ones), predicts each one's objective, plans one run per mixture and seed and registers its
partition; ``validation_runs`` trains each partition like any other run; ``validation_verdict``
judges the measured objectives and writes ``validation.json`` (with ``target.tasks``, each task's two-step
accuracy of the optimum beside the measured one, key ``tasks``).
"""

import math

import dagster as dg
import pandas as pd

from assets.metadata import image, markdown_table
from assets.partitions import VALIDATION_PARTITIONS, register
from assets.training import training_asset
from mixtures.corpus import natural_mixture
from mixtures.evaluation.baselines import OPTIMAL, baseline_mixtures, predicted_objectives, predicted_task_accuracies
from mixtures.evaluation.scale import validation_point, validation_scale, validation_specs
from mixtures.evaluation.verdict import measured_objectives, task_accuracies, verdict_from_runs
from mixtures.layout import VALIDATION, VALIDATION_DESIGN, project_file
from mixtures.objective import objective_weights
from mixtures.plots import validation_comparison
from mixtures.runs import RunSpec
from mixtures.runs.store import RunStore
from mixtures.storage import atomic_write_json
from mixtures.tasks import task_chances
from resources.project import ProjectResource
from resources.tracking import MlflowTracking


@dg.asset(group_name="validation",
          description="The mixtures to validate (optimal, natural, uniform, the best proxy run, named ones) with "
                      "the law's predicted objective each; plans one validation_runs partition per mixture and seed.")
def validation_design(context: dg.AssetExecutionContext, optimal_mixture: dict, mixing_laws,
                      domain_catalog: pd.DataFrame, proxy_results: pd.DataFrame, project: ProjectResource) -> dict:
    config = project.load()
    weights = objective_weights(config, natural_mixture(domain_catalog))
    mixtures, best_name = baseline_mixtures(config, domain_catalog, optimal_mixture["weights"], proxy_results, weights)
    point = validation_point(config)
    predicted = predicted_objectives(mixing_laws, mixtures, config.domain_names, point, weights)
    specs = validation_specs(config, domain_catalog, mixtures)
    RunStore(config.root).plan(specs)
    new = register(context, VALIDATION_PARTITIONS, [s.run_id for s in specs])
    document = {"runs": [s.record() for s in specs], "mixtures_weights": mixtures, "predicted": predicted,
                "objective_weights": weights, "best_proxy_run": best_name,
                "scale": {"model": validation_scale(config).model, "n_params": point[0], "n_tokens": point[1]},
                "optimal_mlflow_run_id": optimal_mixture.get("mlflow_run_id")}
    if config.target.tasks:  # each task's two-step accuracy per mixture, for the verdict's accuracy line
        document["predicted_tasks"] = predicted_task_accuracies(mixing_laws, mixtures, config.domain_names, point)
    atomic_write_json(project_file(config, VALIDATION_DESIGN), document)
    context.add_output_metadata({"runs": len(specs), "new_partitions": len(new),
                                 "predicted": dg.MetadataValue.json(predicted)})
    return document


validation_runs = training_asset(
    "validation", name="validation_runs", group="validation", deps=["validation_design", "method_design"],
    description="One validation training run per partition (mixture x seed at the validation scale), launched "
                "like every other run.")


@dg.asset(group_name="validation", deps=[validation_runs],
          description="The verdict, from measurement: the optimal mixture vs each baseline over seeds, the law's "
                      "error at the validation scale (validation.json).")
def validation_verdict(context: dg.AssetExecutionContext, validation_design: dict, project: ProjectResource,
                       tracking: MlflowTracking) -> dict:
    config = project.load()
    store = RunStore(config.root)
    specs = [RunSpec.from_record(r) for r in validation_design["runs"]]
    results = measured_objectives(store, specs, validation_design["objective_weights"])
    results["predicted"] = results["mixture_name"].map(validation_design["predicted"])
    verdict = verdict_from_runs(results[["mixture_name", "seed", "objective", "predicted"]])
    document = {**verdict.to_json(), **{k: validation_design[k] for k in
                                        ("scale", "best_proxy_run", "mixtures_weights", "optimal_mlflow_run_id")}}
    predicted_tasks = validation_design.get("predicted_tasks", {}).get(OPTIMAL, {})
    tasks = task_accuracies(results, predicted_tasks, task_chances(config)) if config.target.tasks else []
    if tasks:  # an added key: without target.tasks validation.json is as it was
        document["tasks"] = [t.to_json() for t in tasks]
    atomic_write_json(project_file(config, VALIDATION), document)
    figure = validation_comparison(results)
    with tracking.run(context, "validation verdict", config, tags={"mixtures.role": "validation"}) as run:
        run.log_dict(document, VALIDATION)
        run.log_metrics({f"objective_mean.{n}": float(r["mean"]) for n, r in verdict.stats.iterrows()})
        run.log_metrics({"improvement_vs_best_baseline": verdict.improvement_vs_best_baseline,
                         "law_mre": verdict.law_mre})
        run.log_metrics({f"task_abs_error_points.{t.task}": abs(t.error_points) for t in tasks
                         if math.isfinite(t.error_points)})
        run.log_figure(figure, "validation.png")
        run.set_tags({"mixtures.optimal_wins": str(verdict.optimal_wins)})
        url = run.url
    context.add_output_metadata({
        "verdict": dg.MetadataValue.md(verdict.summary.replace("\n", "\n\n")),
        "stats": dg.MetadataValue.md(markdown_table(verdict.stats.reset_index(names="mixture"))),
        "optimal_wins": verdict.optimal_wins,
        "improvement_vs_best_baseline": float(verdict.improvement_vs_best_baseline),
        "law_mre": float(verdict.law_mre),
        "missing_runs": int(results["objective"].isna().sum()),
        **({"tasks": dg.MetadataValue.md("\n\n".join(t.sentence() for t in tasks))} if tasks else {}),
        "plot": image(figure, "validation objective per mixture"),
        "mlflow_run": dg.MetadataValue.url(url),
        "path": dg.MetadataValue.path(str(project_file(config, VALIDATION))),
    })
    return document
