"""The mixing-law asset: every law family fitted and cross-validated, the best per target chosen."""


import dagster as dg
import pandas as pd

from assets.metadata import image, markdown_table
from mixtures.corpus import natural_mixture
from mixtures.errors import TableError
from mixtures.laws import extrapolation_check, fit_law
from mixtures.laws.tracking import log_law
from mixtures.objective import objective_weights
from mixtures.plots import predicted_vs_actual
from mixtures.runs_table import loss_columns
from resources.project import ProjectResource
from resources.tracking import MlflowTracking

LAW_FILE = "law.json"


def _oof_figure(fit, targets: list[str]):
    """Out-of-fold predicted vs actual for the objective's targets (None without CV predictions)."""
    if not any(t in fit.oof for t in targets):
        return None
    actual = pd.DataFrame({t: fit.oof[t]["actual"].to_numpy() for t in targets if t in fit.oof})
    predicted = pd.DataFrame({t: fit.oof[t][fit.chosen[t]].to_numpy() for t in targets if t in fit.oof})
    return predicted_vs_actual(actual, predicted)


def _extrapolation(proxy_results: pd.DataFrame, targets: list[str], objective: list[str], fit, config):
    """How well the law extrapolates within the proxies: fit on the smaller model sizes and predict the
    largest (every target); with one model size, fit on the first half of each run's curve along D and
    predict its end (the objective's targets). None when neither applies."""
    if not fit.law.uses_scale:
        return None
    if proxy_results["n_params"].nunique() > 1:
        return extrapolation_check(proxy_results, targets, law=config.laws.law, seed=config.seed)
    if proxy_results["n_tokens"].nunique() >= 3 and objective:
        try:
            return extrapolation_check(proxy_results, objective, law=config.laws.law, by="n_tokens",
                                       fit_fraction=0.5, seed=config.seed)
        except TableError:  # too few eval points in the first half of the curves
            return None
    return None


@dg.asset(
    group_name="laws",
    check_specs=[dg.AssetCheckSpec("cv_quality", asset="mixing_laws", blocking=True,
                                   description="cross-validated Spearman of the objective's targets >= laws.min_spearman")],
    description="Linear, LightGBM, exponential mixing law and scaling laws, K-fold cross-validated; "
                "the best family per target (or an ensemble).",
)
def mixing_laws(context: dg.AssetExecutionContext, proxy_results: pd.DataFrame, domain_catalog: pd.DataFrame,
                project: ProjectResource, tracking: MlflowTracking):
    config = project.load()
    targets = [c for c in loss_columns(proxy_results) if proxy_results[c].notna().any()]
    fit = fit_law(proxy_results, targets, law=config.laws.law, folds=config.laws.folds,
                  bootstrap=config.laws.bootstrap, seed=config.seed)
    path = config.root / LAW_FILE
    fit.law.save(path)
    weights = objective_weights(config, natural_mixture(domain_catalog))
    extrapolation = _extrapolation(proxy_results, targets, [t for t in weights if t in targets], fit, config)
    chosen = fit.best_metrics().reset_index()
    objective_rows = chosen[chosen["target"].isin(list(weights))]
    spearman = float(objective_rows["spearman"].mean()) if len(objective_rows) else float("nan")
    figure = _oof_figure(fit, list(weights))
    with tracking.run(context, "mixing_laws", config, tags={"mixtures.role": "law_fit"}) as run:
        logged = log_law(run, fit.law, fit, registered_model=config.tracking.registered_model)
        if extrapolation is not None:
            run.log_table(extrapolation, "extrapolation.csv")
            run.log_metrics({f"extrapolation_mre.{r.target}": r.mre for r in extrapolation.itertuples()})
        url = run.url
    metadata = {
        "cv": dg.MetadataValue.md(markdown_table(fit.cv)),
        "chosen": dg.MetadataValue.json(fit.chosen),
        "objective_cv_spearman": spearman,
        "runs": int(proxy_results["run_id"].nunique()),
        "mlflow_run": dg.MetadataValue.url(url),
        "registered_model_version": str(logged.get("version")),
        "path": dg.MetadataValue.path(str(path)),
    }
    if figure is not None:
        metadata["predicted_vs_actual"] = image(figure, "predicted vs actual (out of fold)")
    if extrapolation is not None:
        metadata["extrapolation"] = dg.MetadataValue.md(markdown_table(extrapolation))
    yield dg.Output(fit.law, metadata=metadata)
    yield dg.AssetCheckResult(
        check_name="cv_quality", passed=bool(spearman >= config.laws.min_spearman),
        metadata={"objective_cv_spearman": spearman, "bar": config.laws.min_spearman,
                  "per_target": dg.MetadataValue.md(markdown_table(objective_rows)) if len(objective_rows) else "none"},
    )
