"""The whole asset graph on a tiny config, on a real Dagster instance and a real MLflow sqlite store:
every stage (partitions included) materializes, every asset check passes, and what each stage
promised is on disk and in MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.pipeline_config import DOMAINS, tiny_pipeline_config

pytestmark = pytest.mark.slow

@pytest.fixture
def pipeline_env(mlflow_uri, monkeypatch, tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    path = root / "project.yaml"
    path.write_text(yaml.safe_dump(tiny_pipeline_config(root, mlflow_uri)))
    monkeypatch.setenv("MIXTURES_CONFIG", str(path))
    monkeypatch.setenv("MIXTURES_TRAIN_THREADS", "1")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return root, path, mlflow_uri


def test_whole_pipeline_materializes_with_every_check_passing(pipeline_env, tmp_path):
    from assets.launch import run_pipeline

    root, _, mlflow_uri = pipeline_env
    out = tmp_path / "out"
    with dg.instance_for_test() as instance:
        run_pipeline(out, instance=instance, n_workers=1)
        stamps = {p.name: p.stat().st_mtime_ns for p in (root / ".mixtures").glob("*_runs/*.parquet")}
        run_pipeline(out, instance=instance, n_workers=1)  # a rerun trains nothing again: every run is reused
        assert stamps and stamps == {p.name: p.stat().st_mtime_ns for p in (root / ".mixtures").glob("*_runs/*.parquet")}
        runs = instance.get_runs()
        assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        evaluations = [e.dagster_event.event_specific_data for r in runs
                       for e in instance.all_logs(r.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]
        names = {ev.check_name for ev in evaluations}
        assert {"domains_readable", "finite_and_below_unigram", "cv_quality", "constraints_hold",
                "manifest_matches_mixture"} <= names
        assert all(ev.passed for ev in evaluations), [ev.check_name for ev in evaluations if not ev.passed]
        design = pd.read_parquet(root / ".mixtures" / "proxy_design.parquet")
        materialized = instance.get_materialized_partitions(dg.AssetKey("proxy_runs"))
        assert set(design["run_id"]) <= materialized
        assert {"natural", "uniform"} <= set(design["mixture_name"])

    verdict = json.loads((out / "validation.json").read_text())
    for name in ("optimal", "natural", "uniform"):
        assert verdict[name]["n"] == 2 and verdict[name]["mean"] > 0
    assert set(verdict) >= {"optimal", "natural", "uniform", "predicted_optimal", "improvement_vs_best_baseline"}

    optimum = json.loads((root / ".mixtures" / "optimal_mixture.json").read_text())
    assert abs(sum(optimum["weights"].values()) - 1) < 1e-9
    manifest = json.loads((root / ".mixtures" / "dataset" / "manifest.json").read_text())
    assert manifest["mixture"] == pytest.approx(optimum["weights"])
    assert (root / ".mixtures" / "report.html").read_text().count("<img") >= 1

    client = MlflowClient(tracking_uri=mlflow_uri)
    exp = client.get_experiment_by_name("pipeline-test")
    found = client.search_runs([exp.experiment_id], max_results=500)
    roles = pd.Series([r.data.tags.get("mixtures.role") for r in found]).value_counts().to_dict()
    assert roles["proxy_run"] == len(design)  # once each: the rerun logged nothing again
    assert roles["validation_run"] == 2 * verdict_mixtures(verdict)
    for role in ("pipeline", "domain_catalog", "law_fit", "optimization", "validation", "report"):
        assert roles.get(role, 0) >= 1, role
    chooser = client.get_run(manifest["mixture_run"])  # the optimization run that chose the dataset's mixture
    assert chooser.data.tags["mixtures.role"] == "optimization"
    assert {d: float(chooser.data.params[f"w_{d}"]) for d in DOMAINS} == pytest.approx(manifest["mixture"], abs=1e-6)
    proxy = next(r for r in found if r.data.tags.get("mixtures.role") == "proxy_run")
    assert {f"w_{d}" for d in DOMAINS} <= set(proxy.data.params)
    history = client.get_metric_history(proxy.info.run_id, "loss_docs")
    assert len(history) == 2  # two eval points along D


def verdict_mixtures(verdict: dict) -> int:
    return len(verdict["mixtures"])
