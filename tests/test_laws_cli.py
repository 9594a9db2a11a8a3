"""`mixtures fit` / `mixtures evaluate` end to end, on real files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from mixtures.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "laws"


def test_fit_then_evaluate_prints_metrics_per_target(tmp_path, capsys):
    runs = tmp_path / "train.parquet"
    pd.read_csv(FIXTURES / "train.csv").to_parquet(runs)
    out = tmp_path / "law.json"
    assert main(["fit", "--runs", str(runs), "--target", "loss_d0", "--target", "loss_d1",
                 "--law", "additive", "--folds", "3", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["families"] == {"loss_d0": "additive", "loss_d1": "additive"}
    capsys.readouterr()
    assert main(["evaluate", "--law", str(out), "--runs", str(FIXTURES / "test.csv"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) == {"loss_d0", "loss_d1"}
    test = pd.read_csv(FIXTURES / "test.csv")
    for metrics in result.values():
        assert set(metrics) == {"spearman", "pearson", "mae", "mre", "n"}
        assert metrics["n"] == len(test)  # a scaling law is scored on every row
        assert metrics["mre"] < 0.02 and metrics["spearman"] > 0.8


def test_non_scale_law_is_scored_at_its_scale_and_domains_must_match(tmp_path, capsys):
    shutil.copy(FIXTURES / "train.csv", tmp_path / "train.csv")
    out = tmp_path / "law.json"
    assert main(["fit", "--runs", str(tmp_path / "train.csv"), "--target", "loss_d0", "--law", "linear",
                 "--folds", "3", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--law", str(out), "--runs", str(FIXTURES / "test.csv"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    n_params = json.loads(out.read_text())["scale_rule"]["n_params"]
    test = pd.read_csv(FIXTURES / "test.csv")
    assert result["loss_d0"]["n"] == test[test["n_params"] == n_params]["run_id"].nunique()

    assert main(["evaluate", "--law", str(out), "--runs", str(FIXTURES / "test_3domains.csv"), "--json"]) == 2
    err = capsys.readouterr().err
    assert "test_3domains.csv" in err and "'d3'" in err and "differ from the law's domains" in err
    assert "Traceback" not in err


def test_fit_refuses_a_missing_target(tmp_path, capsys):
    code = main(["fit", "--runs", str(FIXTURES / "train.csv"), "--target", "loss_zzz", "--out",
                 str(tmp_path / "law.json")])
    assert code == 2
    assert "loss_zzz" in capsys.readouterr().err
    assert not (tmp_path / "law.json").exists()
