"""The comparison report: one self-contained HTML page built from the MLflow runs of this project."""

from __future__ import annotations

import dagster as dg

from mixtures.report import build_report, log_report
from resources.project import ProjectResource
from resources.tracking import MlflowTracking

REPORT_FILE = "report.html"


@dg.asset(group_name="report", deps=["validation_runs", "mixed_dataset"],
          description="HTML comparison report from MLflow (mixtures, proxy runs, law quality, optimizer, "
                      "validation verdict), logged as an MLflow artifact.")
def mixture_report(context: dg.AssetExecutionContext, project: ProjectResource, tracking: MlflowTracking):
    config = project.load()
    tracker = tracking.tracker(config)
    path = build_report(tracker, config.tracking.experiment, out_path=config.root / REPORT_FILE,
                        pipeline=config.fingerprint())
    with tracking.run(context, "mixture_report", config, tags={"mixtures.role": "report"}) as run:
        log_report(run, path)
        url = run.url
    return dg.Output(str(path), metadata={
        "report": dg.MetadataValue.path(str(path)),
        "mlflow_run": dg.MetadataValue.url(url),
        "bytes": path.stat().st_size,
    })
