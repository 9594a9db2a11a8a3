"""The MLflow plumbing against a real sqlite store in a temp dir."""

from __future__ import annotations

import pandas as pd
import pytest

from mixtures.errors import TrackingError
from mixtures.tracking import Tracker


def test_runs_params_metrics_artifacts_and_parent(tmp_path, mlflow_uri):
    tracker = Tracker(mlflow_uri, "exp")
    with tracker.parent_run("pipeline", {"mixtures.pipeline": "p1"}) as parent:
        pass
    with tracker.parent_run("pipeline", {"mixtures.pipeline": "p1"}) as again:
        assert again.run_id == parent.run_id  # found, not created twice
    with tracker.run("child", tags={"dagster.run_id": "abc"}, parent_run_id=parent.run_id) as run:
        run.log_params({"w_a": 0.25, "n_params": 1000})
        run.log_metrics({"loss_a": 1.5}, step=10)
        run.log_metrics({"loss_a": 1.25}, step=20)
        run.log_table(pd.DataFrame({"x": [1, 2]}), "tables/t.csv")
    client = tracker.client
    got = client.get_run(run.run_id)
    assert got.data.params == {"w_a": "0.25", "n_params": "1000"}
    assert got.data.tags["mlflow.parentRunId"] == parent.run_id
    assert got.info.status == "FINISHED"
    history = [(m.step, m.value) for m in client.get_metric_history(run.run_id, "loss_a")]
    assert history == [(10, 1.5), (20, 1.25)]
    artifacts = [a.path for a in client.list_artifacts(run.run_id, "tables")]
    assert artifacts == ["tables/t.csv"]
    assert (tmp_path / "mlartifacts").is_dir()  # artifacts beside the store, not in the cwd
    assert tracker.find_run({"dagster.run_id": "abc"}) == run.run_id


def test_failed_block_marks_the_run_failed(mlflow_uri):
    tracker = Tracker(mlflow_uri, "exp")
    with pytest.raises(ValueError):
        with tracker.run("boom") as run:
            raise ValueError("x")
    assert tracker.client.get_run(run.run_id).info.status == "FAILED"


def test_unreachable_server_names_the_uri():
    tracker = Tracker("http://127.0.0.1:9", "exp")
    with pytest.raises(TrackingError, match=r"http://127.0.0.1:9 is unreachable"):
        tracker.experiment_id
