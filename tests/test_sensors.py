"""Sensors and the schedule, driven by real contexts on real folders, a real Dagster instance and a
real MLflow sqlite store: each requests exactly the runs it should and advances its cursor."""

from __future__ import annotations

import json
import os

import dagster as dg
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from assets import defs
from assets.sensors import (
    corpus_files_sensor,
    external_runs_sensor,
    failure_sensor,
    nightly_refit,
    proxy_partitions_sensor,
)
from mixtures.config import load_config
from mixtures.layout import PROXY_DESIGN
from mixtures.runs import RunSpec
from mixtures.runs.store import RunStore
from resources import ProjectResource
from tests.corpus_factory import corpus_config


@pytest.fixture
def project_file(corpus, mlflow_uri, monkeypatch):
    root, _ = corpus
    cfg = corpus_config(root)
    cfg["tracking"] = {"uri": mlflow_uri, "experiment": "sensors"}
    path = root / "project.yaml"
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("MIXTURES_CONFIG", str(path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return path


def _context(instance, cursor=None, path=None):
    return dg.build_sensor_context(instance=instance, cursor=cursor,
                                   resources={"project": ProjectResource(config_path=str(path))},
                                   definitions=defs)


def _requests(result):
    return list(result.run_requests or []) if isinstance(result, dg.SensorResult) else []


def test_corpus_sensor_requests_once_per_change(project_file):
    with dg.instance_for_test() as instance:
        first = corpus_files_sensor(_context(instance, path=project_file))
        assert [r.job_name or "corpus_job" for r in _requests(first)] == ["corpus_job"]
        cursor = first.cursor
        again = corpus_files_sensor(_context(instance, cursor, project_file))
        assert isinstance(again, dg.SkipReason)
        code = project_file.parent / "code" / "code.jsonl.zst"
        os.utime(code, ns=(code.stat().st_atime_ns, code.stat().st_mtime_ns + 10**9))
        changed = corpus_files_sensor(_context(instance, cursor, project_file))
        assert len(_requests(changed)) == 1 and changed.cursor != cursor
        assert _requests(changed)[0].run_key != _requests(first)[0].run_key


def test_corpus_sensor_looking_at_a_built_catalog_costs_nothing(project_file):
    """A first look (no cursor, e.g. a new daemon) at a catalog built from these very files requests nothing."""
    from assets.freshness import FILES_METADATA, files_digest

    with dg.instance_for_test() as instance:
        key = files_digest(load_config(project_file))
        instance.report_runless_asset_event(dg.AssetMaterialization("domain_catalog", metadata={FILES_METADATA: key}))
        look = corpus_files_sensor(_context(instance, path=project_file))
        assert not _requests(look) and "unchanged" in str(look.skip_reason)


def _runs_table(config, n: int, bad: bool = False) -> pd.DataFrame:
    rows = []
    for i in range(n):
        weights = [0.25] * 4
        weights[i % 4] += 0.2
        weights = [w / sum(weights) for w in weights]
        row = {"run_id": f"ext-{i}", **{f"w_{d}": w for d, w in zip(config.domain_names, weights, strict=True)},
               "n_params": 1e5, "n_tokens": 1e6, "loss_prose": 2.0 + 0.1 * i, "loss_code": 1.5}
        rows.append(row)
    if bad:
        rows[1][f"w_{config.domain_names[0]}"] = -0.5
    return pd.DataFrame(rows)


def test_external_runs_sensor_registers_each_table_once_and_refuses_bad_ones(project_file):
    config = load_config(project_file)
    folder = config.root / "external_runs"
    folder.mkdir(parents=True)
    with dg.instance_for_test() as instance:
        assert isinstance(external_runs_sensor(_context(instance, None, project_file)), dg.SkipReason)
        _runs_table(config, 3).to_csv(folder / "a.csv", index=False)
        result = external_runs_sensor(_context(instance, None, project_file))
        requests = _requests(result)
        assert len(requests) == 1 and requests[0].tags["mixtures/external"] == "a.csv"
        assert isinstance(external_runs_sensor(_context(instance, result.cursor, project_file)), dg.SkipReason)
        _runs_table(config, 3, bad=True).to_csv(folder / "b.csv", index=False)
        refused = external_runs_sensor(_context(instance, result.cursor, project_file))
        assert not _requests(refused) and "b.csv" in json.loads(refused.cursor)
        message = refused.skip_reason.skip_message
        assert "row 2" in message and "negative weight" in message
        _runs_table(config, 4).to_csv(folder / "a.csv", index=False)  # a changed table counts again
        changed = external_runs_sensor(_context(instance, refused.cursor, project_file))
        assert len(_requests(changed)) == 1


def test_partitions_sensor_runs_missing_partitions_then_the_analysis_once(project_file):
    config = load_config(project_file)
    config.root.mkdir(parents=True, exist_ok=True)
    weights = {d: 1 / len(config.domain_names) for d in config.domain_names}
    specs = [RunSpec.create(name, weights, "micro", 1000, 0) for name in ("natural", "uniform")]
    keys = [s.run_id for s in specs]
    store = RunStore(config.root)
    store.plan(specs)
    pd.DataFrame({"run_id": keys}).to_parquet(config.root / PROXY_DESIGN)
    with dg.instance_for_test() as instance:
        first = proxy_partitions_sensor(_context(instance, None, project_file))
        assert sorted(r.partition_key for r in _requests(first)) == keys
        assert {r.job_name for r in _requests(first)} == {"proxy_job"}
        for spec in specs:  # the runs finish (stored and logged, as the training asset does)
            stored = store.save(spec, pd.DataFrame({"run_id": [spec.run_id], "n_tokens": [1000], "loss_code": [1.0]}))
            store.mark_logged(stored, f"mlflow-{spec.run_id}")
            instance.report_runless_asset_event(dg.AssetMaterialization("proxy_runs", partition=spec.run_id))
        done = proxy_partitions_sensor(_context(instance, None, project_file))
        assert [r.job_name for r in _requests(done)] == ["analysis_job"]
        instance.report_runless_asset_event(dg.AssetMaterialization("mixing_laws"))
        idle = proxy_partitions_sensor(_context(instance, None, project_file))
        assert isinstance(idle, dg.SkipReason) and "up to date" in str(idle.skip_message)


def test_failure_sensor_records_a_failed_run_on_disk_and_in_mlflow(project_file, mlflow_uri):
    config = load_config(project_file)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("analysis_job").execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        event = next(iter(instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)))
        context = dg.build_run_status_sensor_context(
            sensor_name="failure_sensor", dagster_event=event.dagster_event, dagster_instance=instance,
            dagster_run=run).for_run_failure()
        failure_sensor(context)
    records = [json.loads(line) for line in (config.root / "failures.jsonl").read_text().splitlines()]
    assert [(r["dagster_run_id"], r["job"]) for r in records] == [(result.run_id, "analysis_job")]
    client = MlflowClient(tracking_uri=mlflow_uri)
    exp = client.get_experiment_by_name("sensors")
    found = client.search_runs([exp.experiment_id], filter_string="tags.`mixtures.role` = 'failure'")
    assert len(found) == 1 and found[0].data.tags["dagster.run_id"] == result.run_id


def test_nightly_schedule_is_off_by_default_and_requests_the_refit():
    assert nightly_refit.default_status == dg.DefaultScheduleStatus.STOPPED
    with dg.instance_for_test() as instance:
        data = nightly_refit.evaluate_tick(dg.build_schedule_context(instance=instance))
    assert len(data.run_requests) == 1 and nightly_refit.job_name == "refit_job"


def test_corpus_sensor_launches_the_reuse_design_after_an_optimum(project_file):
    """With reuse on, a change after an optimum launches exactly the catalog and the reuse design (reuse_job); with
    reuse never, or before any optimum, only the catalog (corpus_job)."""
    from mixtures.layout import OPTIMAL_MIXTURE, OPTIMUM_CATALOG, project_file as stored

    cfg = yaml.safe_load(project_file.read_text())
    paths = {}
    for mode in ("never", "auto"):  # one file each: the resource caches a loaded config by its path
        paths[mode] = project_file.with_name(f"project-{mode}.yaml")
        paths[mode].write_text(yaml.safe_dump({**cfg, "reuse": mode}))

    def jobs(instance, mode):
        return [r.job_name for r in _requests(corpus_files_sensor(_context(instance, path=paths[mode])))]

    with dg.instance_for_test() as instance:
        assert jobs(instance, "never") == jobs(instance, "auto") == ["corpus_job"]  # no optimum yet
        config = load_config(paths["auto"])
        config.root.mkdir(parents=True, exist_ok=True)
        stored(config, OPTIMAL_MIXTURE).write_text(json.dumps({"weights": {d: 0.25 for d in config.domain_names}}))
        pd.DataFrame({"domain": config.domain_names, "role": "train", "content_sha256": "old",
                      "train_tokens": 1e6}).to_parquet(stored(config, OPTIMUM_CATALOG))
        request = _requests(corpus_files_sensor(_context(instance, path=paths["auto"])))
        assert [r.job_name for r in request] == ["reuse_job"] and request[0].tags["mixtures/reuse"] == "auto"
        assert request[0].run_key.startswith("reuse-")
        assert jobs(instance, "never") == ["corpus_job"]
