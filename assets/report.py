"""The comparison report: one self-contained HTML page built from the MLflow runs of this project."""


import dagster as dg

from mixtures.report import build_report, log_report
from mixtures import storage
from mixtures.layout import REPORT, local_file, project_file
from resources.project import ProjectResource
from resources.tracking import MlflowTracking


@dg.asset(group_name="report", deps=["validation_verdict", "mixed_dataset"],
          description="HTML comparison report from MLflow (mixtures, proxy runs, law quality, optimizer, "
                      "validation verdict), logged as an MLflow artifact.")
def mixture_report(context: dg.AssetExecutionContext, project: ProjectResource, tracking: MlflowTracking):
    config = project.load()
    tracker = tracking.tracker(config)
    from mixtures.tracking import with_retry

    runs = with_retry(lambda: tracker.client.search_runs(
        [tracker.experiment_id], filter_string=f"tags.`mixtures.pipeline` = '{config.fingerprint()}'",
        max_results=5000))
    run_ids = [r.info.run_id for r in runs if r.data.tags.get("mixtures.role") != "report"]
    path = build_report(tracker, config.tracking.experiment, run_ids=run_ids or None,  # a local file: MLflow logs it
                        out_path=local_file(config, REPORT), title=f"mixtures report: {config.project}")
    stored = project_file(config, REPORT)
    if storage.url_of(stored) != storage.url_of(path):  # storage.root on object storage
        storage.put_file(path, stored)
    with tracking.run(context, "mixture_report", config, tags={"mixtures.role": "report"}) as run:
        log_report(run, path)
        url = run.url
    return dg.Output(str(stored), metadata={
        "report": dg.MetadataValue.path(str(stored)),
        "mlflow_run": dg.MetadataValue.url(url),
        "bytes": path.stat().st_size,
    })
