"""The whole pipeline on a tiny config through ``mixtures run``, on its own Dagster instance and a real MLflow
sqlite store: every training (proxy and validation) is a Dagster partition launched by the local launcher,
every stage materializes with its checks passing, a rerun trains and logs nothing again, and the report shows
the verdict that ``validation.json`` holds."""

from __future__ import annotations

import json
import re

import dagster as dg
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.engine_support import run_cli
from tests.pipeline_config import DOMAINS

pytestmark = pytest.mark.slow


def test_whole_pipeline_runs_every_training_as_a_partition(local_pipeline, monkeypatch):
    root, config, env, first = local_pipeline
    mlflow_uri = f"sqlite:///{root / 'mlflow.db'}"
    out = root / "out"
    assert "validation.json:" in first.stdout and "report.html:" in first.stdout  # the verdict's files are named
    stores = root / ".mixtures" / "runs"
    stamps = {p: p.stat().st_mtime_ns for p in stores.glob("*/*/result.parquet")}
    again = run_cli(config, env, "--out", str(out))  # a rerun trains nothing again: every run is reused
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "proxy_job: all 4 runs reused" in again.stdout and "validation_job: all" in again.stdout
    assert stamps and stamps == {p: p.stat().st_mtime_ns for p in stores.glob("*/*/result.parquet")}

    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        design = pd.read_parquet(root / ".mixtures" / "proxy_design.parquet")
        assert set(design["run_id"]) == instance.get_materialized_partitions(dg.AssetKey("proxy_runs"))
        planned = json.loads((root / ".mixtures" / "validation_design.json").read_text())["runs"]
        assert {r["run_id"] for r in planned} == instance.get_materialized_partitions(dg.AssetKey("validation_runs"))
        trainings = [r for r in runs if r.job_name in ("proxy_job", "validation_job")]
        assert len(trainings) == len(design) + len(planned)  # one Dagster run per training, none twice
        assert all(r.tags.get("dagster/partition") for r in trainings)
        evaluations = [e.dagster_event.event_specific_data for r in runs
                       for e in instance.all_logs(r.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]
        names = {ev.check_name for ev in evaluations}
        assert {"domains_readable", "finite_and_below_unigram", "cv_quality", "constraints_hold",
                "manifest_matches_mixture"} <= names
        assert all(ev.passed for ev in evaluations), [ev.check_name for ev in evaluations if not ev.passed]
    assert {"natural", "uniform"} <= set(design["mixture_name"])

    verdict = json.loads((out / "validation.json").read_text())
    for name in ("optimal", "natural", "uniform"):
        assert verdict[name]["n"] == 2 and verdict[name]["mean"] > 0
    assert set(verdict) >= {"optimal", "natural", "uniform", "predicted_optimal", "improvement_vs_best_baseline"}
    report = (out / "report.html").read_text()
    assert report.count("<img") >= 1
    section = re.search(r'<section id="validation">(.*?)</section>', report, re.S).group(1)
    for comparison in verdict["comparisons"]:  # the report shows the stored outcome of each comparison
        assert re.search(rf"<td[^>]*>{comparison['baseline']}</td>.*?<td[^>]*>{comparison['outcome']}</td>", section)

    optimum = json.loads((root / ".mixtures" / "optimal_mixture.json").read_text())
    assert abs(sum(optimum["weights"].values()) - 1) < 1e-9
    manifest = json.loads((root / ".mixtures" / "dataset" / "manifest.json").read_text())
    assert manifest["mixture"] == pytest.approx(optimum["weights"])

    client = MlflowClient(tracking_uri=mlflow_uri)
    exp = client.get_experiment_by_name("pipeline-test")
    found = client.search_runs([exp.experiment_id], max_results=500)
    roles = pd.Series([r.data.tags.get("mixtures.role") for r in found]).value_counts().to_dict()
    assert roles["proxy_run"] == len(design)  # once each: the rerun logged nothing again
    assert roles["validation_run"] == len(planned)
    for role in ("pipeline", "domain_catalog", "law_fit", "optimization", "validation", "report"):
        assert roles.get(role, 0) >= 1, role
    chooser = client.get_run(manifest["mixture_run"])  # the optimization run that chose the dataset's mixture
    assert chooser.data.tags["mixtures.role"] == "optimization"
    assert {d: float(chooser.data.params[f"w_{d}"]) for d in DOMAINS} == pytest.approx(manifest["mixture"], abs=1e-6)
    proxy = next(r for r in found if r.data.tags.get("mixtures.role") == "proxy_run")
    assert {f"w_{d}" for d in DOMAINS} <= set(proxy.data.params) and proxy.data.params["threads"] == "1"
    assert proxy.data.tags["dagster.partition"] == proxy.info.run_name
    history = client.get_metric_history(proxy.info.run_id, "loss_docs")
    assert len(history) == 3  # three eval points along D
