"""Training runs on a real single-node Slurm cluster (Debian slurm-wlm + munge, started by the fixture).

- The tiny pipeline's proxy sweep and validation runs on Slurm, 2 jobs at a time, give per-domain losses
  bitwise equal to the local launcher's for the same seeds and thread count; a proxy job cancelled with
  ``scancel`` while it trains is retried, resumes from its checkpoint and ends with the same losses;
  nothing is counted twice in ``proxy_results`` or MLflow.
- ``slurmd`` stopped mid-sweep: the runs it strands fail with a clear reason, and a rerun after it is back
  trains only the missing ones.

Under ``CI=true`` a cluster that cannot start is a failure, not a skip.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.servers import missing_server
from tests.engine_support import LOCAL_PIPELINE, cli_env, engine_config, loss_columns, mlflow_runs, stored
from tests.slurm_cluster import LocalSlurm, slurm_missing

pytestmark = [pytest.mark.slow, pytest.mark.slurm]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    why = slurm_missing()
    if why:
        missing_server(f"the local Slurm cluster cannot run: {why}")
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"), cpus=2, slurmd_timeout=10)
    try:
        cluster.start()
    except RuntimeError as exc:
        missing_server(f"the local Slurm cluster did not start: {exc}")
    yield cluster
    cluster.stop()


def _squeue(cluster) -> list[tuple[str, str, str]]:
    out = subprocess.run(["squeue", "-h", "-o", "%i|%T|%j"], env=cluster.env, capture_output=True, text=True)
    return [tuple(line.split("|")) for line in out.stdout.split()]


def _cancel_a_proxy_after_its_checkpoint(cluster, root, timeout: float = 300.0) -> str:
    """scancel the first proxy job that is running with a checkpoint on disk; returns its run id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job, state, name in _squeue(cluster):
            run_id = name.removeprefix("mixtures-")
            work = root / ".mixtures" / "runs" / "proxy" / run_id / "work"
            if state == "RUNNING" and (work / "checkpoint.pt").exists():
                subprocess.run(["scancel", job], env=cluster.env, check=True)
                return run_id
        time.sleep(0.1)
    raise AssertionError("no proxy job was seen running with a checkpoint")


def test_slurm_runs_match_local_bitwise_and_a_cancelled_job_resumes(slurm, local_pipeline, tmp_path, _migrated_mlflow_db):
    local_run = local_pipeline[0]
    import shutil

    root = tmp_path / "slurm"
    root.mkdir()
    shutil.copy(_migrated_mlflow_db, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    config = engine_config(root, uri, **LOCAL_PIPELINE, launcher="slurm", slurm={"poll_seconds": 0.3})
    env = cli_env(root, SLURM_CONF=str(slurm.conf))
    process = _pipeline(config, env, "validation_job", background=True)  # every training; not the dataset
    try:
        cancelled = _cancel_a_proxy_after_its_checkpoint(slurm, root)
        out, _ = process.communicate(timeout=900)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, out[-4000:]
    assert "launcher slurm" in out

    for kind in ("proxy", "validation"):
        mine, reference = stored(root, kind), stored(local_run, kind)
        assert mine.keys() == reference.keys() and len(mine) >= 4
        for run_id, rows in mine.items():
            columns = loss_columns(rows)
            pd.testing.assert_frame_equal(rows[columns], reference[run_id][columns], check_exact=True, obj=run_id)

    # the cancelled job was retried and resumed from its checkpoint; its losses are the uninterrupted ones
    folder = root / ".mixtures" / "runs" / "proxy" / cancelled
    result = json.loads((folder / "result.json").read_text())
    assert result["extra"]["resumed_from_step"] > 0
    jobs = [json.loads(p.read_text()) for p in (folder / "work").glob("slurm-*.json")]
    assert sorted(j["JobState"] for j in jobs) == ["CANCELLED", "COMPLETED"]

    # 2 jobs at a time: some pair of runs overlapped in time on the node
    spans = []
    for kind in ("proxy", "validation"):
        for path in (root / ".mixtures" / "runs" / kind).glob("*/work/slurm-*.json"):
            job = json.loads(path.read_text())
            if job["JobState"] == "COMPLETED":
                spans.append((pd.Timestamp(job["StartTime"]), pd.Timestamp(job["EndTime"])))
    spans.sort()
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), spans

    # nothing counted twice: one row per run and eval point, one MLflow run per proxy run
    results = pd.read_parquet(root / ".mixtures" / "proxy_results.parquet")
    assert not results.duplicated(["run_id", "n_tokens"]).any()
    proxy_runs = mlflow_runs(uri, "pipeline-test", "proxy_run")
    assert sorted(r.info.run_name for r in proxy_runs) == sorted(stored(root, "proxy"))


def _pipeline(config, env, stop_after: str = "proxy_job", background: bool = False):
    """The pipeline up to the stage ``stop_after`` (the driver ``mixtures run`` starts, stopped after that job)."""
    from mixtures.cli.run_cmd import ensure_instance

    ensure_instance(Path(env["DAGSTER_HOME"]))
    env = {**env, "MIXTURES_CONFIG": str(config), "MIXTURES_WORKDIR": str(config.parent)}
    command = [sys.executable, "-m", "assets.pipeline", "--stop-after", stop_after]
    if background:
        return subprocess.Popen(command, cwd=config.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
    return subprocess.run(command, cwd=config.parent, env=env, capture_output=True, text=True, timeout=900)


def test_a_stopped_slurmd_fails_the_stranded_runs_clearly_and_a_rerun_finishes_only_those(slurm, tmp_path,
                                                                                         _migrated_mlflow_db):
    import shutil

    root = tmp_path / "faults"
    root.mkdir()
    shutil.copy(_migrated_mlflow_db, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    config = engine_config(root, uri, launcher="slurm", slurm={"poll_seconds": 0.3, "node_down_timeout_s": 8})
    env = cli_env(root, SLURM_CONF=str(slurm.conf))
    process = _pipeline(config, env, background=True)
    runs = root / ".mixtures" / "runs" / "proxy"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not list(runs.glob("*/result.json")):
            time.sleep(0.2)
        slurm.stop_node()
        out, _ = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
        slurm.start_node()
    assert "had no usable node" in out and "Bring the nodes back" in out, out[-3000:]
    assert "failed and is left out" in out  # the sweep goes on without the stranded runs
    first = {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/result.parquet")}  # (logging rewrites the json)
    assert 0 < len(first) < 4, "slurmd should have been stopped mid-sweep"

    done = _pipeline(config, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    after = {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/result.parquet")}
    assert {k: after[k] for k in first} == first  # the finished runs were reused, not trained again
    assert len(after) == 4 and "all 4 runs reused" not in done.stdout
    results = pd.concat([pd.read_parquet(p) for p in sorted(runs.glob("*/result.parquet"))])  # proxy_job stops before the gather
    assert not results.duplicated(["run_id", "n_tokens"]).any() and results["run_id"].nunique() == 4
    proxy_runs = mlflow_runs(uri, "pipeline-test", "proxy_run")
    assert sorted(r.info.run_name for r in proxy_runs) == sorted(after)  # each logged once
