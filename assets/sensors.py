"""Sensors that keep the pipeline fresh, and the nightly schedule.

| sensor | watches | requests | default |
| --- | --- | --- | --- |
| ``corpus_files_sensor`` | the domain files (paths, sizes, mtimes) | ``corpus_job`` (the catalog; downstream then shows stale), or ``reuse_job`` (the catalog and the reuse design) with ``reuse`` on and a previous optimum | running |
| ``external_runs_sensor`` | ``<root>/external_runs/*.csv|parquet`` dropped by other jobs | ``refit_job`` | running |
| ``proxy_partitions_sensor`` | the proxy design's planned runs | ``proxy_job`` per missing run, then ``analysis_job`` | running |
| ``validation_partitions_sensor`` | the validation design's planned runs | ``validation_job`` per missing run, then ``verdict_job`` | running |
| ``dataset_partitions_sensor`` | the dataset plan's domains | ``dataset_job`` per domain, then ``finish_job`` | running |
| ``failure_sensor`` | failed runs of this code location | records them in ``<root>/failures.jsonl`` and MLflow | running |
| ``nightly_refit`` (schedule) | 03:00 every night | ``refit_job`` | stopped; ``MIXTURES_NIGHTLY=1`` turns it on |

Looking costs nothing: a sensor requests work only when its inputs changed since the last successful
materialization of what it would refresh (file fingerprints recorded in the catalog's metadata,
materialization times of the runs and of the analysis). Run keys make each change count once, and no
sensor acts while a ``mixtures run`` is driving the folder (its pipeline lock is held).
"""

import fcntl
import json
import os
import time

import dagster as dg

from assets.freshness import EXTERNAL_METADATA, FILES_METADATA, digest, external_state, files_digest
from assets.jobs import (
    analysis_job,
    corpus_job,
    dataset_job,
    finish_job,
    proxy_job,
    refit_job,
    reuse_job,
    validation_job,
    verdict_job,
)
from resources.project import ProjectResource

IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED]


def pipeline_running(config) -> bool:
    """Whether a ``mixtures run`` holds this project's pipeline lock."""
    from mixtures.layout import PIPELINE_LOCK, local_file

    path = local_file(config, PIPELINE_LOCK)
    if not path.exists():
        return False
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def _latest(instance: dg.DagsterInstance, asset: str):
    return instance.get_latest_materialization_event(dg.AssetKey(asset))


def _metadata(event, key: str):
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get(key)
    return None if value is None else value.value


@dg.sensor(jobs=[corpus_job, reuse_job], minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="New or changed domain files -> refresh the catalog (downstream assets then show stale); with "
                       "reuse on and a previous optimum, also design the reuse swarm (reuse_job).")
def corpus_files_sensor(context: dg.SensorEvaluationContext, project: ProjectResource):
    from mixtures.reuse.decide import previous_optimum

    config = project.load()
    if pipeline_running(config):
        return dg.SkipReason("a mixtures pipeline is driving this folder")
    key = files_digest(config)
    if _metadata(_latest(context.instance, "domain_catalog"), FILES_METADATA) == key:
        return dg.SensorResult(cursor=key, skip_reason="domain files unchanged since the catalog was built")
    if context.cursor == key:
        return dg.SkipReason("this change was already requested")
    tags = {"mixtures/files": key}
    if config.reuse != "never" and previous_optimum(config) is not None:
        # the design compares the new catalog's fingerprints with the optimum's and swarms only what changed
        request = dg.RunRequest(job_name=reuse_job.name, run_key=f"reuse-{key}",
                                tags={**tags, "mixtures/reuse": config.reuse})
    else:
        request = dg.RunRequest(job_name=corpus_job.name, run_key=f"corpus-{key}", tags=tags)
    return dg.SensorResult(run_requests=[request], cursor=key)


@dg.sensor(job=refit_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Proxy-run tables dropped into <root>/external_runs -> validate, register, refit the laws.")
def external_runs_sensor(context: dg.SensorEvaluationContext, project: ProjectResource):
    from mixtures.errors import MixturesError
    from mixtures.runs.imports import EXTERNAL_DIR, import_table

    config = project.load()
    if pipeline_running(config):
        return dg.SkipReason("a mixtures pipeline is driving this folder")
    folder = config.root / EXTERNAL_DIR
    state = external_state(config)
    used = _metadata(_latest(context.instance, "proxy_results"), EXTERNAL_METADATA) or {}
    seen = json.loads(context.cursor) if context.cursor else {}
    changed = sorted(n for n, stamp in state.items() if used.get(n) != stamp and seen.get(n) != stamp)
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
    key = digest({n: state[n] for n in good})
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"external-{key}", tags={"mixtures/external": ",".join(good)})],
                           cursor=cursor)


def _in_progress_partitions(instance: dg.DagsterInstance, job_name: str) -> set[str]:
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=IN_PROGRESS))
    return {r.tags.get("dagster/partition") for r in runs}


def partition_stage(context, config, *, partitioned: str, job, planned,
                    downstream, downstream_asset: str):
    """The shared rule of the partition sensors. ``planned()`` gives ``(keys, todo, version)``: the stage's keys,
    those not done yet, and a version string of the plan. Request each missing key not already running (run
    key = key + version, so a failure is not retried in a loop); once none is missing or running, request the
    downstream job if the newest partition materialization is newer than the downstream asset's."""
    if pipeline_running(config):
        return dg.SkipReason("a mixtures pipeline is driving this folder")
    try:
        keys, todo, version = planned()
    except (FileNotFoundError, KeyError, ValueError):
        return dg.SkipReason(f"nothing planned for {partitioned} yet")
    running = _in_progress_partitions(context.instance, job.name)
    missing = [k for k in todo if k not in running]
    if missing:
        return dg.SensorResult(run_requests=[
            dg.RunRequest(job_name=job.name, partition_key=k, run_key=f"{job.name}-{k}-{version(k)}") for k in missing])
    if todo:
        return dg.SkipReason(f"{len(todo)} {partitioned} partitions still running")
    newest = _latest(context.instance, partitioned)
    consumed = _latest(context.instance, downstream_asset)
    if newest is None or (consumed is not None and consumed.timestamp >= newest.timestamp):
        return dg.SkipReason(f"{downstream_asset} is up to date with the {partitioned} partitions")
    if context.instance.get_runs(filters=dg.RunsFilter(job_name=downstream.name, statuses=IN_PROGRESS)):
        return dg.SkipReason(f"{downstream.name} is running")
    return dg.SensorResult(run_requests=[dg.RunRequest(job_name=downstream.name,
                                                       run_key=f"{downstream.name}-{newest.timestamp}")])


def planned_runs(config, partitions: str):
    """``planned()`` for a training stage: its planned run ids, those the run store lacks, and each spec's digest."""
    from assets.jobs import Stage
    from assets.pipeline import stage_keys
    from mixtures.runs.store import RunStore

    def planned():
        keys, todo = stage_keys(Stage("sensor", partitions=partitions), config)
        store = RunStore(config.root)
        return keys, todo, lambda key: digest(store.spec(partitions, key).record())

    return planned


@dg.sensor(jobs=[proxy_job, analysis_job], minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="After a design is materialized (e.g. from the UI): run its missing proxy partitions, then the "
                       "analysis (laws, optimum, validation design).")
def proxy_partitions_sensor(context: dg.SensorEvaluationContext, project: ProjectResource):
    config = project.load()
    return partition_stage(context, config, partitioned="proxy_runs", job=proxy_job,
                           planned=planned_runs(config, "proxy"), downstream=analysis_job,
                           downstream_asset="mixing_laws")


@dg.sensor(jobs=[validation_job, verdict_job], minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="After the validation design: run its missing validation partitions, then the verdict.")
def validation_partitions_sensor(context: dg.SensorEvaluationContext, project: ProjectResource):
    config = project.load()
    return partition_stage(context, config, partitioned="validation_runs", job=validation_job,
                           planned=planned_runs(config, "validation"), downstream=verdict_job,
                           downstream_asset="validation_verdict")


@dg.sensor(jobs=[dataset_job, finish_job], minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="After the dataset plan: index each domain, then write the dataset and the report.")
def dataset_partitions_sensor(context: dg.SensorEvaluationContext, project: ProjectResource):
    from assets.dataset import dataset_keys

    config = project.load()
    plan = _latest(context.instance, "dataset_plan")
    if plan is None:
        return dg.SkipReason("no dataset plan yet")

    def planned():
        keys = dataset_keys(config)
        done = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("dataset_domains"), asset_partitions=keys,
                                  after_timestamp=plan.timestamp), limit=len(keys) * 4 or 1).records
        indexed = {r.partition_key for r in done}
        return keys, [k for k in keys if k not in indexed], lambda key: str(plan.timestamp)

    return partition_stage(context, config, partitioned="dataset_domains", job=dataset_job, planned=planned,
                           downstream=finish_job, downstream_asset="mixed_dataset")


def record_failure(root, run_id: str, job_name: str, message: str) -> dict:
    """Append a failed run to ``<root>/failures.jsonl`` (what ``failure_sensor`` does, testable alone); on
    object storage, which cannot append, to the local folder of :func:`mixtures.layout.local_root`."""
    from mixtures.layout import FAILURES, local_root

    root = local_root(root)
    root.mkdir(parents=True, exist_ok=True)
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "dagster_run_id": run_id,
              "job": job_name, "error": message}
    with open(root / FAILURES, "a", encoding="utf-8") as fh:
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

SENSORS = [corpus_files_sensor, external_runs_sensor, proxy_partitions_sensor, validation_partitions_sensor,
           dataset_partitions_sensor, failure_sensor]
SCHEDULES = [nightly_refit]
