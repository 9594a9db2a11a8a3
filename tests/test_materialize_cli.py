"""``mixtures materialize`` from the command line: a real config file, real corpus, real output."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from mixtures.cli import main
from tests.corpus_factory import corpus_config, make_corpus


def _config_file(root: Path) -> Path:
    make_corpus(root)
    path = root / "project.yaml"
    path.write_text(yaml.safe_dump(corpus_config(root, dataset={"size": 20000, "unit": "bytes", "shard_mb": 0.005})))
    return path


def test_weights_on_the_command_line_write_a_dataset(tmp_path, capsys):
    config = _config_file(tmp_path / "c")
    out = tmp_path / "ds"
    code = main(["materialize", "--config", str(config), "--weights", "prose=0.5", "code=0.5", "--out", str(out),
                 "--seed", "3"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "prose" in printed and "shards" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["mixture"] == {"prose": 0.5, "code": 0.5, "legal": 0.0, "speech": 0.0}
    assert manifest["seed"] == 3 and manifest["size"] == 20000 and manifest["unit"] == "bytes"
    domains = {r["domain"] for s in manifest["shards"] for r in pq.read_table(out / s["path"]).to_pylist()}
    assert domains == {"prose", "code"}


def test_mixture_file_records_its_mlflow_run_and_json_prints_the_manifest(tmp_path, capsys):
    config = _config_file(tmp_path / "c")
    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"weights": {"prose": 0.25, "code": 0.25, "legal": 0.25, "speech": 0.25},
                               "mlflow_run_id": "abc123"}))
    code = main(["materialize", "--config", str(config), "--mixture", str(mix), "--out", str(tmp_path / "ds"),
                 "--unit", "documents", "--size", "40", "--format", "jsonl", "--json"])
    assert code == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["mixture_run"] == "abc123"
    assert manifest["totals"]["documents"] == 40
    assert all(s["path"].endswith(".jsonl") for s in manifest["shards"])


def test_dsir_target_file_turns_dsir_on(tmp_path, capsys):
    config = _config_file(tmp_path / "c")
    code = main(["materialize", "--config", str(config), "--weights", "prose=0.5", "code=0.5",
                 "--out", str(tmp_path / "ds"), "--dsir-target", str(tmp_path / "c" / "mixed" / "m.jsonl"),
                 "--dsir-min-length", "5", "--json"])
    assert code == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["dsir"]["min_length"] == 5
    assert set(manifest["dsir"]["domains"]) == {"prose", "code"}


def test_bad_input_gets_one_clear_message(tmp_path, capsys):
    config = _config_file(tmp_path / "c")
    out = str(tmp_path / "ds")
    assert main(["materialize", "--config", str(config), "--weights", "prose:1", "--out", out]) == 2
    assert "not DOMAIN=WEIGHT" in capsys.readouterr().err
    assert main(["materialize", "--config", str(config), "--weights", "poetry=1", "--out", out]) == 2
    assert "unknown domain" in capsys.readouterr().err
    assert main(["materialize", "--config", str(config), "--weights", "speech=1", "--size", "10000000",
                 "--out", out]) == 2
    err = capsys.readouterr().err
    assert "speech" in err and "cap" in err and "Traceback" not in err
    assert main(["materialize", "--config", str(config), "--out", out]) == 2
    assert "give the mixture" in capsys.readouterr().err
    assert not Path(out).exists()
