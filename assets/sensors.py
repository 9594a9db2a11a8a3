"""Sensors that keep the pipeline fresh, and the nightly schedule.

| sensor | watches | requests | default |
| --- | --- | --- | --- |
| ``corpus_files_sensor`` | the domain files (paths, sizes, mtimes) | ``corpus_job`` (the catalog; downstream then shows stale) | running |
| ``external_runs_sensor`` | ``<root>/external_runs/*.csv|parquet`` dropped by other jobs | ``refit_job`` | running |
| ``proxy_partitions_sensor`` | the current design's partitions | ``proxy_job`` per missing partition, then ``analysis_job`` | running |
| ``failure_sensor`` | failed runs of this code location | records them in ``<root>/failures.jsonl`` and MLflow | running |
| ``nightly_refit`` (schedule) | 03:00 every night | ``refit_job`` | stopped; ``MIXTURES_NIGHTLY=1`` turns it on |

Cursors make each change count once: a sensor re-evaluated with the same files requests nothing.
"""


import hashlib
import json
import os
import time

import dagster as dg

from assets.jobs import analysis_job, corpus_job, proxy_job, refit_job
from assets.proxies import DESIGN_FILE
from resources.project import ProjectResource


def _digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dg.sensor(job=corpus_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="New or changed domain files -> refresh the catalog (downstream assets then show stale).")
def corpus_files_sensor(context: dg.SensorEvaluationContext, project: ProjectResource):
    from mixtures.corpus import files_fingerprint

    config = project.load()
    key = _digest(files_fingerprint(config))
    if context.cursor == key:
        return dg.SkipReason("domain files unchanged")
    if context.cursor is None and context.instance.get_latest_materialization_event(dg.AssetKey("domain_catalog")):
        return dg.SensorResult(cursor=key, skip_reason="first look: catalog already materialized; watching from now")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"corpus-{key}", tags={"mixtures/files": key})],
                           cursor=key)


def _external_state(folder) -> dict[str, str]:
    from mixtures.proxy_store import TABLE_SUFFIXES

    if not folder.is_dir():
        return {}
    return {p.name: f"{p.stat().st_mtime_ns}:{p.stat().st_size}" for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES}


@dg.sensor(job=refit_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Proxy-run tables dropped into <root>/external_runs -> validate, register, refit the laws.")
def external_runs_sensor(context: dg.SensorEvaluationContext, project: ProjectResource):
    from mixtures.errors import MixturesError
    from mixtures.proxy_store import EXTERNAL_DIR, import_table

    config = project.load()
    folder = config.root / EXTERNAL_DIR
    seen = json.loads(context.cursor) if context.cursor else {}
    state = _external_state(folder)
    changed = sorted(name for name, stamp in state.items() if seen.get(name) != stamp)
    if not changed:
        return dg.SkipReason(f"no new run tables in {folder}")
    good, bad = [], []
    for name in changed:
        try:
            import_table(config, folder / name)
            good.append(name)
        except MixturesError as exc:
            bad.append(f"{name}: {exc}")
            context.log.error(f"external run table refused: {exc}")
    cursor = json.dumps({**seen, **{n: state[n] for n in changed}}, sort_keys=True)
    if not good:
        return dg.SensorResult(cursor=cursor, skip_reason="refused: " + "; ".join(bad))
    key = _digest({n: state[n] for n in good})
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"external-{key}", tags={"mixtures/external": ",".join(good)})],
                           cursor=cursor)


@dg.sensor(jobs=[proxy_job, analysis_job], minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="After a design is materialized (e.g. from the UI): run its missing proxy partitions, then the analysis.")
def proxy_partitions_sensor(context: dg.SensorEvaluationContext, project: ProjectResource):
    import pandas as pd

    config = project.load()
    path = config.root / DESIGN_FILE
    if not path.is_file():
        return dg.SkipReason("no proxy design yet")
    keys = list(pd.read_parquet(path, columns=["run_id"])["run_id"].drop_duplicates())
    design = _digest(keys) + f"-{path.stat().st_mtime_ns}"
    done = context.instance.get_materialized_partitions(dg.AssetKey("proxy_runs"))
    missing = [k for k in keys if k not in done]
    requested = json.loads(context.cursor) if context.cursor else {}
    if requested.get("design") != design:
        requested = {"design": design, "partitions": [], "analysis": False}
    new = [k for k in missing if k not in requested["partitions"]]
    if new:
        requested["partitions"] += new
        return dg.SensorResult(
            run_requests=[dg.RunRequest(job_name="proxy_job", partition_key=k, run_key=f"{design}-{k}") for k in new],
            cursor=json.dumps(requested))
    if not missing and not requested["analysis"]:
        requested["analysis"] = True
        return dg.SensorResult(run_requests=[dg.RunRequest(job_name="analysis_job", run_key=f"{design}-analysis")],
                               cursor=json.dumps(requested))
    return dg.SkipReason(f"{len(missing)} proxy partitions still running" if missing else "design done")


def record_failure(root, run_id: str, job_name: str, message: str) -> dict:
    """Append a failed run to ``<root>/failures.jsonl`` (what ``failure_sensor`` does, testable alone)."""
    root.mkdir(parents=True, exist_ok=True)
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "dagster_run_id": run_id,
              "job": job_name, "error": message}
    with open(root / "failures.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
    return record


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Record every failed run in <root>/failures.jsonl and as an MLflow run (role failure).")
def failure_sensor(context: dg.RunFailureSensorContext):
    from resources.tracking import MlflowTracking

    config = ProjectResource().load()
    message = context.failure_event.message or "run failed"
    record_failure(config.root, context.dagster_run.run_id, context.dagster_run.job_name, message)
    try:
        tracker = MlflowTracking().tracker(config)
        with tracker.run(f"failed {context.dagster_run.job_name}", tags={
                "mixtures.role": "failure", "dagster.run_id": context.dagster_run.run_id,
                "mixtures.pipeline": config.fingerprint(), "mixtures.failure": message[:5000]}) as run:
            run.log_text(message, "failure.txt")
    except Exception as exc:  # the failure is on disk already; MLflow may be what failed
        context.log.warning(f"could not record the failure in MLflow: {exc}")


nightly_refit = dg.ScheduleDefinition(
    name="nightly_refit", job=refit_job, cron_schedule="0 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING if os.environ.get("MIXTURES_NIGHTLY") == "1"
    else dg.DefaultScheduleStatus.STOPPED,
    description="Refit the laws, re-optimize and refresh the report every night (off unless MIXTURES_NIGHTLY=1).",
)

SENSORS = [corpus_files_sensor, external_runs_sensor, proxy_partitions_sensor, failure_sensor]
SCHEDULES = [nightly_refit]
