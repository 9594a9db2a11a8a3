"""MLflow faults: an unreachable tracking server, and several processes writing one sqlite store at once.

Already covered, and not repeated here: tests/test_tracking.py (``Tracker`` refuses an unreachable
server naming the URI, at the library level; a failed block marks its run FAILED).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mixtures.config import load_config
from mixtures.corpus import build_catalog
from tests.corpus_factory import corpus_config, make_corpus

pytestmark = pytest.mark.faults
REPO = Path(__file__).resolve().parents[1]


def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_unreachable_server_is_named_and_the_catalog_is_kept(tmp_path):
    root = tmp_path / "c"
    make_corpus(root)
    uri = f"http://127.0.0.1:{closed_port()}"
    config = root / "p.yaml"
    config.write_text(yaml.safe_dump(corpus_config(root, tracking={"uri": uri})))
    env = {**os.environ, "PYTHONPATH": str(REPO), "DAGSTER_HOME": str(tmp_path / "dh")}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MIXTURES_ENV", None)
    done = subprocess.run([sys.executable, "-m", "mixtures", "run", str(config)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert f"MLflow tracking server {uri} is unreachable" in done.stderr
    assert "step domain_catalog failed" in done.stderr
    # the work done before tracking failed is on disk, complete, and equal to a fresh computation
    written = pd.read_parquet(root / ".mixtures" / "catalog.parquet")
    expected = build_catalog(load_config(config), on_error="record")
    pd.testing.assert_frame_equal(written, expected)
    assert not [p for p in (root / ".mixtures").iterdir() if p.name.startswith(".")]  # no temp debris


# -- concurrency ----------------------------------------------------------------------------------------

WORKERS = 4
RUNS = 4
STEPS = 5
METRICS = 4

WRITER = """
import sys, time
from pathlib import Path
from mixtures.tracking import Tracker
uri, worker, barrier = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
workers, runs, steps, metrics = (int(a) for a in sys.argv[4:8])
tracker = Tracker(uri, "concurrent")
tracker.client  # opening the store takes seconds; do it before the barrier
(barrier / f"ready-{worker}").touch()
while len(list(barrier.glob("ready-*"))) < workers:  # every writer starts together
    time.sleep(0.01)
with tracker.parent_run("pipeline", {"mixtures.pipeline": "shared"}) as parent:
    parent_id = parent.run_id
for r in range(runs):
    with tracker.run(f"w{worker}-r{r}", tags={"worker": worker, "mixtures.role": "proxy_run"},
                     parent_run_id=parent_id) as run:
        run.log_params({"worker": worker, "run": r, "w_a": 0.25})
        for step in range(steps):
            run.log_metrics({f"loss_{m}": worker + r / 10 + step / 100 + m / 1000 for m in range(metrics)},
                            step=step * 1000)
print(parent_id)
"""


@pytest.mark.slow
def test_parallel_writers_lose_no_run_and_no_metric(tmp_path, mlflow_uri):
    """Four processes create the experiment and the pipeline's parent run, then log runs and metric
    histories into one sqlite store, all at the same moment."""
    from mlflow.tracking import MlflowClient

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, mlflow_uri, str(w), str(barrier),
                               str(WORKERS), str(RUNS), str(STEPS), str(METRICS)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(WORKERS)]
    outputs = [p.communicate(timeout=240) for p in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiments = [e for e in client.search_experiments() if e.name == "concurrent"]
    assert len(experiments) == 1  # created once although four processes asked for it together
    runs = client.search_runs([experiments[0].experiment_id], max_results=1000)
    children = [r for r in runs if r.data.tags.get("mixtures.role") == "proxy_run"]
    assert len(children) == WORKERS * RUNS
    assert sorted(r.info.run_name for r in children) == sorted(
        f"w{w}-r{r}" for w in range(WORKERS) for r in range(RUNS))
    points = 0
    for run in children:
        worker, r = int(run.data.params["worker"]), int(run.data.params["run"])
        assert run.info.status == "FINISHED" and run.data.tags["worker"] == str(worker)
        assert len(run.data.params) == 3
        for m in range(METRICS):
            history = client.get_metric_history(run.info.run_id, f"loss_{m}")
            assert sorted(p.step for p in history) == [s * 1000 for s in range(STEPS)]
            assert all(abs(p.value - (worker + r / 10 + p.step / 100_000 + m / 1000)) < 1e-9 for p in history)
            points += len(history)
    assert points == WORKERS * RUNS * STEPS * METRICS
    # one pipeline run, shared by every writer (find-or-create is not raced into duplicates)
    parents = [r for r in runs if r.data.tags.get("mixtures.pipeline") == "shared"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert {out.strip() for out, _ in outputs} == {parents[0].info.run_id}
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    print(json.dumps({"runs": len(children), "metric_points": points, "parent_runs": len(parents)}))


def test_racing_creators_on_a_server_converge_on_the_oldest_run(mlflow_uri, monkeypatch):
    """On a tracking server there is no file to lock: two creators that both searched before either
    created (the race, forced here by hiding the first search's result; the store is real) end up
    sharing the older run, and the newer one is deleted."""
    from contextlib import nullcontext

    from mixtures.tracking import Tracker

    first, second = Tracker(mlflow_uri, "race"), Tracker(mlflow_uri, "race")
    for tracker in (first, second):
        monkeypatch.setattr(tracker, "_store_lock", nullcontext)  # behave as against a server
        monkeypatch.setattr(tracker, "find_run", lambda tags: None)  # both missed the other's run
    with first.parent_run("pipeline", {"mixtures.pipeline": "p"}) as a:
        pass
    with second.parent_run("pipeline", {"mixtures.pipeline": "p"}) as b:
        pass
    assert a.run_id == b.run_id
    client = first.client
    active = client.search_runs([first.experiment_id], filter_string="tags.`mixtures.pipeline` = 'p'")
    assert [r.info.run_id for r in active] == [a.run_id]
    from mlflow.entities import ViewType

    every = client.search_runs([first.experiment_id], run_view_type=ViewType.ALL)
    assert len(every) == 2 and sum(r.info.lifecycle_stage == "deleted" for r in every) == 1
