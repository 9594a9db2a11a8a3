"""The mixing-law asset: every law family fitted and cross-validated, the best per target chosen."""

import math

import dagster as dg
import pandas as pd

from assets.metadata import image, markdown_table
from mixtures.corpus import natural_mixture
from mixtures.evaluation.checks import extrapolation_report, law_quality_problem
from mixtures.evaluation.decision import decision_quality, log_decision, with_repeats
from mixtures.layout import LAW, project_file
from mixtures.objective import objective_weights
from mixtures.plots import predicted_vs_actual
from mixtures.reuse.decide import active_plan
from mixtures.runs_table import loss_columns
from mixtures.tasks import acc_column, task_chances
from resources.project import ProjectResource
from resources.tracking import MlflowTracking



def _number(value: float):
    """A float for the metadata, or the text ``unknown`` for NaN (Dagster shows NaN as an error)."""
    return float(value) if math.isfinite(value) else "unknown"


def _oof_figure(fit, targets: list[str]):
    """Out-of-fold predicted vs actual for the objective's targets (None without CV predictions)."""
    if not any(t in fit.oof for t in targets):
        return None
    actual = pd.DataFrame({t: fit.oof[t]["actual"].to_numpy() for t in targets if t in fit.oof})
    predicted = pd.DataFrame({t: fit.oof[t][fit.chosen[t]].to_numpy() for t in targets if t in fit.oof})
    return predicted_vs_actual(actual, predicted)


@dg.asset(
    group_name="laws",
    check_specs=[dg.AssetCheckSpec("cv_quality", asset="mixing_laws", blocking=True,
                                   description="cross-validated Spearman of the objective's targets >= laws.min_spearman")],
    description="Linear, LightGBM, exponential mixing law and scaling laws, K-fold cross-validated; "
                "the best family per target (or an ensemble); each task's two-step law (target.tasks).",
)
def mixing_laws(context: dg.AssetExecutionContext, proxy_results: pd.DataFrame, domain_catalog: pd.DataFrame,
                project: ProjectResource, tracking: MlflowTracking):
    from mixtures.laws import TaskLaw, fit_law, fit_task_laws  # here: scikit-learn would load in every run worker
    from mixtures.laws.context import law_context
    from mixtures.laws.tracking import log_law
    from mixtures.reuse.law import ReusedLaw

    config = project.load()
    plan = active_plan(config)
    # a reuse fits over its components (the virtual domain and the changed ones); a full design over every domain
    table = plan.component_table(proxy_results) if plan is not None else proxy_results
    targets = [c for c in loss_columns(table) if table[c].notna().any()]
    families_context = law_context(config, domain_catalog)
    family = config.laws.reuse_law if plan is not None else config.laws.law
    fit = fit_law(table, targets, law=family, folds=config.laws.folds,
                  bootstrap=config.laws.bootstrap, seed=config.seed, context=families_context)
    path = project_file(config, LAW)
    fit.law.save(path)
    # every task of target.tasks: its two-step law (step 1 in the project's family), its acc_<task> predicted beside
    tasks = fit_task_laws(table, task_chances(config), law=family, law_bootstrap=config.laws.bootstrap,
                          folds=config.laws.folds, seed=config.seed, context=families_context)
    law = TaskLaw(fit.law, tasks) if tasks else fit.law
    weights = objective_weights(config, natural_mixture(domain_catalog))
    extrapolation = extrapolation_report(table, targets, [t for t in weights if t in targets], law=family,
                                         uses_scale=fit.law.uses_scale, seed=config.seed, context=families_context)
    chosen = fit.best_metrics().reset_index()
    objective_rows = chosen[chosen["target"].isin(list(weights))]
    spearman = float(objective_rows["spearman"].mean()) if len(objective_rows) else float("nan")
    figure = _oof_figure(fit, list(weights))
    decision = decision_quality(fit, with_repeats(config, proxy_results), weights)
    with tracking.run(context, "mixing_laws", config, tags={"mixtures.role": "law_fit"}) as run:
        logged = log_law(run, fit.law, fit, registered_model=config.tracking.registered_model)
        log_decision(run, decision)
        if extrapolation is not None:
            run.log_table(extrapolation, "extrapolation.csv")
            run.log_metrics({f"extrapolation_mre.{r.target}": r.mre for r in extrapolation.itertuples()})
        url = run.url
    metadata = {
        "cv": dg.MetadataValue.md(markdown_table(fit.cv)),
        "chosen": dg.MetadataValue.json(fit.chosen),
        "objective_cv_spearman": spearman,
        "noise_floor": _number(decision.noise_floor),
        "oof_regret_at_1": _number(decision.oof_regret_at_1),
        "decision_quality": dg.MetadataValue.md(decision.message()),
        "runs": int(table["run_id"].nunique()),
        "mlflow_run": dg.MetadataValue.url(url),
        "registered_model_version": str(logged.get("version")),
        "path": dg.MetadataValue.path(str(path)),
    }
    if figure is not None:
        metadata["predicted_vs_actual"] = image(figure, "predicted vs actual (out of fold)")
    if extrapolation is not None:
        metadata["extrapolation"] = dg.MetadataValue.md(markdown_table(extrapolation))
    if plan is not None:
        metadata["reuse"] = plan.message()
    if tasks:
        metadata["tasks"] = dg.MetadataValue.json(
            {name: {"step1_family": law.families[acc_column(name)], "chance": task.accuracy.chance,
                    "sigmoid_b_k_L0": [float(v) for v in task.accuracy.theta_]} for name, task in tasks.items()})
    yield dg.Output(ReusedLaw(plan, law) if plan is not None else law, metadata=metadata)
    problem = law_quality_problem(spearman, config.laws.min_spearman)
    passed, advice = problem is None, problem or ""
    yield dg.AssetCheckResult(
        check_name="cv_quality", passed=passed, description=advice or None,
        metadata={"objective_cv_spearman": spearman, "laws.min_spearman": config.laws.min_spearman,
                  **({"what_to_do": advice} if advice else {}),
                  "per_target": dg.MetadataValue.md(markdown_table(objective_rows)) if len(objective_rows) else "none"},
    )
