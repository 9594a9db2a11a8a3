"""Run the whole pipeline from the command line on a persistent Dagster instance.

``mixtures run`` calls this module in a subprocess (the library never imports Dagster). Each
stage runs as a real Dagster run of this code location's jobs, on ``$DAGSTER_HOME`` (project-local
by default), so ``dagster dev`` shows afterwards what the CLI ran, and ``mlflow ui`` its runs.

Usage: ``python -m assets.launch [--out DIR]`` with ``MIXTURES_CONFIG`` (empty: the embedded demo).
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import dagster as dg

from mixtures.errors import MixturesError

# MLflow nags about type hints on the law's pyfunc model; its signature is logged explicitly.
warnings.filterwarnings("ignore", message="Add type hints to the `predict` method", category=UserWarning)
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # failures are summarised by us


class StageFailed(Exception):
    """A Dagster run of the pipeline failed; the message says which step and why."""


def _failure_summary(result: dg.ExecuteInProcessResult) -> str:
    lines = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            cause = error.cause or error
            message = (cause.message or error.message).strip().splitlines()
            lines.append(f"step {event.step_key} failed: {message[-1] if message else error.cls_name}")
    for check in result.get_asset_check_evaluations():
        if not check.passed and check.severity != dg.AssetCheckSeverity.WARN:
            details = "; ".join(f"{k}: {v.value}" for k, v in check.metadata.items())
            lines.append(f"check {check.asset_key.to_user_string()}.{check.check_name} failed: {details}")
    return "\n".join(lines) or "the run failed (see `dagster dev` for its logs)"


def execute(job: dg.JobDefinition, instance: dg.DagsterInstance, partition_key: str | None = None) -> dg.ExecuteInProcessResult:
    """One Dagster run of ``job``; raises :class:`StageFailed` with a readable summary."""
    result = job.execute_in_process(
        instance=instance, partition_key=partition_key, run_config=QUIET_LOGS, raise_on_error=False,
        tags={"mixtures/launched_by": "cli"},
    )
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    for check in failed:
        if check.severity == dg.AssetCheckSeverity.WARN:
            print(f"[mixtures] warning: check {check.asset_key.to_user_string()}.{check.check_name} failed"
                  f"{f' [{partition_key}]' if partition_key else ''}: "
                  + "; ".join(f"{k}: {v.value}" for k, v in check.metadata.items()), flush=True)
    failed_checks = [c for c in failed if c.severity != dg.AssetCheckSeverity.WARN]
    if not result.success or failed_checks:
        raise StageFailed(f"{job.name}{f' [{partition_key}]' if partition_key else ''}:\n{_failure_summary(result)}")
    return result


def run_pipeline(out_dir: Path | None, instance: dg.DagsterInstance | None = None, n_workers: int | None = None) -> None:
    """Every stage of the pipeline, in order."""
    from assets import defs
    from assets.jobs import PIPELINE_STAGES

    if not os.environ.get("MIXTURES_CONFIG"):
        from mixtures.defaults import prepare_demo

        print("[mixtures] the embedded demo: building (or reusing) the demo corpus", flush=True)
        prepare_demo(Path(os.environ.get("MIXTURES_WORKDIR") or os.getcwd()), progress=True)
    instance = instance or dg.DagsterInstance.get()
    for stage in PIPELINE_STAGES:
        started = time.perf_counter()
        keys = stage.partition_keys(instance)
        if stage.partitioned and not keys:
            print(f"[mixtures] {stage.job_name}: no partitions", flush=True)
            continue
        if keys:
            count = min(n_workers, len(keys)) if n_workers else workers(len(keys))
            run_partitions(stage.job_name, keys, count, instance, tolerate_failures=stage.tolerate_failures)
        else:
            execute(defs.resolve_job_def(stage.job_name), instance)
        suffix = f" ({len(keys)} partitions)" if keys else ""
        print(f"[mixtures] {stage.job_name}{suffix} done in {time.perf_counter() - started:.1f}s", flush=True)
        if out_dir is not None:
            stage.export(out_dir)


def workers(tasks: int) -> int:
    """Processes for partitioned stages: ``$MIXTURES_WORKERS``, else one per core (at most ``tasks``)."""
    from mixtures.resample.parallel import available_cores

    wanted = int(os.environ.get("MIXTURES_WORKERS") or available_cores())
    return max(1, min(wanted, tasks))


def _partition_worker(args: tuple[str, str], instance: dg.DagsterInstance | None = None) -> tuple[str, str | None]:
    """Run one partition of a job (in a worker process: with its own Dagster instance handle)."""
    job_name, key = args
    from assets import defs

    try:
        execute(defs.resolve_job_def(job_name), instance or dg.DagsterInstance.get(), key)
    except StageFailed as exc:
        return key, str(exc)
    return key, None


def _init_worker(threads: int) -> None:
    os.environ["MIXTURES_TRAIN_THREADS"] = str(threads)


def run_partitions(job_name: str, keys: list[str], n_workers: int, instance: dg.DagsterInstance,
                   tolerate_failures: bool = False) -> None:
    """Every partition of ``job_name``, in ``n_workers`` processes (each with cores/n_workers torch
    threads). All partitions run even if some fail; then the failures are reported together, and
    raise unless ``tolerate_failures`` (and at least one partition succeeded)."""
    from mixtures.resample.parallel import available_cores

    failures: dict[str, str] = {}
    if n_workers <= 1:
        results = (_partition_worker((job_name, k), instance) for k in keys)
        pool = None
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        threads = max(1, available_cores() // n_workers)
        pool = ProcessPoolExecutor(n_workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                   initargs=(threads,))
        results = pool.map(_partition_worker, [(job_name, k) for k in keys])
    try:
        for done, (key, error) in enumerate(results, start=1):
            state = "FAILED" if error else "ok"
            print(f"[mixtures] {job_name} [{done}/{len(keys)}] {key} {state}", flush=True)
            if error:
                failures[key] = error
    finally:
        if pool is not None:
            pool.shutdown()
    if failures and (not tolerate_failures or len(failures) == len(keys)):
        raise StageFailed("\n".join(failures.values()))
    for key, error in failures.items():
        print(f"[mixtures] warning: partition {key} failed and is left out:\n{error}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assets.launch")
    parser.add_argument("--out", type=Path, default=None, help="also write the verdict files here")
    args = parser.parse_args(argv)
    if not os.environ.get("DAGSTER_HOME"):
        print("mixtures: error: DAGSTER_HOME is not set (mixtures run sets it)", file=sys.stderr)
        return 2
    try:  # a broken instance (e.g. its PostgreSQL down) gets one clear line, not a driver traceback
        dg.DagsterInstance.get().dispose()
    except Exception as exc:
        print(f"mixtures: error: cannot open the Dagster instance of DAGSTER_HOME={os.environ['DAGSTER_HOME']} "
              f"(its dagster.yaml): {type(exc).__name__}: {exc}; check its storage settings and that the "
              "database is up (README: Team deployment).", file=sys.stderr)
        return 2
    try:
        run_pipeline(args.out)
    except (MixturesError, StageFailed) as exc:
        print(f"mixtures: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
