"""``mixtures compare-methods`` end to end (tiny runs, a real MLflow store), config and CLI errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from mixtures.cli import main
from mixtures.config import parse_config
from mixtures.errors import ConfigError
from mixtures.trainers import get_preset
from tests.online_fixture import CORPUS, DOMAINS, online_cache  # noqa: F401 (a fixture)

METHODS = ["aioli", "reweight"]
TPS = get_preset("micro").tokens_per_step


@pytest.fixture(autouse=True)
def _own_instance(monkeypatch, tmp_path):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _write_config(tmp_path: Path, mlflow_uri: str, cache: Path) -> Path:
    domains = [{**d, "paths": [str(CORPUS / p) for p in d["paths"]]} for d in DOMAINS]
    data = {
        "project": "online-compare",
        "domains": domains,
        "target": {"sets": [{"name": "docs", "paths": [str(CORPUS / "docs")]}]},
        "corpus": {"val_fraction": 0.2},
        "storage": {"root": str(tmp_path / ".mixtures"), "cache": str(cache)},
        "tracking": {"uri": mlflow_uri, "experiment": "online-compare"},
        "proxy": {"scales": [{"model": "micro", "tokens": 9 * TPS}], "eval_points": 1, "n_mixtures": 4},
        "validation": {"scale": {"model": "micro", "tokens": 4 * TPS}, "seeds": [5]},
        "online": {"steps_per_update": 2, "aioli": {"probe_steps": 1}},
    }
    path = tmp_path / "project.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_compare_methods_reports_every_mixture_with_its_compute_and_logs_to_mlflow(tmp_path, mlflow_uri, capsys,
                                                                                   online_cache):
    config_path = _write_config(tmp_path, mlflow_uri, online_cache)
    root = tmp_path / ".mixtures"
    root.mkdir()
    offline = {"speeches": 0.1, "literature": 0.1, "code": 0.1, "legal": 0.1, "email": 0.6}
    (root / "optimal_mixture.json").write_text(json.dumps({"weights": offline, "solver": "slsqp"}))

    code = main(["compare-methods", str(config_path), "--methods", ",".join(METHODS), "--seeds", "0", "1", "--json"])
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert document == json.loads((root / "online" / "compare_methods.json").read_text())
    assert document["scale"] == {"model": "micro", "tokens": 4 * TPS} and document["seeds"] == [0, 1]
    assert set(document["methods"]) == {"natural", "uniform", "offline_optimal", *METHODS}
    for name, entry in document["methods"].items():
        assert entry["n"] == 2 and set(entry["objectives"]) == {"0", "1"}
        assert math.isfinite(entry["mean"]) and entry["std"] >= 0
        assert abs(sum(entry["mixture"].values()) - 1) < 1e-6
    assert document["methods"]["offline_optimal"]["mixture"] == pytest.approx(offline)
    assert document["methods"]["offline_optimal"]["compute"]["proxy_tokens"] == 4 * 9 * TPS
    for method in METHODS:
        compute = document["methods"][method]["compute"]
        assert compute["online_tokens"] >= 9 * TPS and compute["overhead_seconds"] > 0
    aioli = document["methods"]["aioli"]["mixture"]
    assert aioli != pytest.approx(document["methods"]["natural"]["mixture"])  # one update after step 7 of 9
    pairs = {(c["method"], c["baseline"]) for c in document["comparisons"]}
    assert pairs == {(m, b) for m in METHODS for b in ("natural", "uniform", "offline_optimal")}
    assert all(c["outcome"] in ("win", "loss", "tie") for c in document["comparisons"])
    best = min(entry["mean"] for entry in document["methods"].values())
    assert document["verdict"].startswith("Lowest target objective: ") and f"({best:.4f} +- " in document["verdict"]
    assert "aioli" in document["verdict"] and "reweight" in document["verdict"]
    assert f"offline_optimal {4 * 9 * TPS:,} proxy-sweep tokens" in document["verdict"]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment = client.get_experiment_by_name("online-compare")
    online = client.search_runs([experiment.experiment_id], "tags.`mixtures.role` = 'online_run'")
    assert sorted(r.data.tags["mixtures.online_method"] for r in online) == sorted(METHODS)
    for run in online:
        assert run.data.tags["mlflow.parentRunId"]
        assert {f"w_{d['name']}" for d in DOMAINS} <= set(run.data.params)
        assert {"objective", "compute_tokens", "overhead_seconds", "loss_docs"} <= set(run.data.metrics)
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"online.json", "weights_trajectory.png"} <= artifacts
    validation = client.search_runs([experiment.experiment_id], "tags.`mixtures.role` = 'validation_run'")
    assert len(validation) == 5 * 2 and all("objective" in r.data.metrics for r in validation)

    # every training was a Dagster partition: the online runs and the comparison's validation runs
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        online_keys = instance.get_materialized_partitions(dg.AssetKey("online_runs"))
        validation_keys = instance.get_materialized_partitions(dg.AssetKey("validation_runs"))
    assert online_keys == {f"online-{m}.micro.{9 * TPS}.s0" for m in METHODS}
    names = ["natural", "uniform", "optimal", *METHODS]
    assert validation_keys == {f"{n}.micro.{4 * TPS}.s{s}" for n in names for s in (0, 1)}


def test_compare_methods_refuses_an_unknown_method(tmp_path, mlflow_uri, capsys, online_cache):
    config_path = _write_config(tmp_path, mlflow_uri, online_cache)
    assert main(["compare-methods", str(config_path), "--methods", "doremi,magic"]) == 2
    assert "--methods: unknown method(s) ['magic']" in capsys.readouterr().err


def test_online_config_is_validated():
    base = {"domains": [{"name": "a", "paths": ["a"]}]}
    assert parse_config(base).online.methods == []
    with pytest.raises(ConfigError, match="online.methods"):
        parse_config({**base, "online": {"methods": ["doremi", "nope"]}})
    with pytest.raises(ConfigError, match="did you mean 'steps_per_update'"):
        parse_config({**base, "online": {"steps_per_updates": 3}})
    with pytest.raises(ConfigError, match="listed twice"):
        parse_config({**base, "online": {"methods": ["dga", "dga"]}})
