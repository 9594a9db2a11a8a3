"""The project config, the mixture contract and the wide run-table contract."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from mixtures.config import load_config, parse_config
from mixtures.errors import ConfigError, MixtureError, TableError
from mixtures.mixture import normalize, validate_mixture
from mixtures.runs_table import domains_of, load_runs, loss_columns, validate_runs

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "project.yaml"


def test_typo_in_a_key_gets_did_you_mean(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("domains:\n  - name: a\n    paths: [x]\n    text_feild: body\nproxy:\n  n_mixture: 4\nproxi: {}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "'domains.0.text_feild'; did you mean 'text_field'?" in msg
    assert "'proxy.n_mixture'; did you mean 'n_mixtures'?" in msg
    assert "'proxi'; did you mean 'proxy'?" in msg


def test_wrong_values_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"proxy.max_epochs: Input should be greater than 0"):
        parse_config({"domains": [{"name": "a", "paths": ["x"]}], "proxy": {"max_epochs": 0}})
    with pytest.raises(ConfigError, match=r"constraints.bounds names unknown domain\(s\) \['b'\]"):
        parse_config({"domains": [{"name": "a", "paths": ["x"]}], "constraints": {"bounds": {"b": [0, 1]}}})
    with pytest.raises(ConfigError, match=r"bounds of 'a' are \[0.5, 0.2\]"):
        parse_config({"domains": [{"name": "a", "paths": ["x"]}], "constraints": {"bounds": {"a": [0.5, 0.2]}}})
    with pytest.raises(ConfigError, match="trainer is 'command' but no 'command:' section"):
        parse_config({"domains": [{"name": "a", "paths": ["x"]}], "proxy": {"trainer": "command"}})


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("domains: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "p.yaml"
    path.write_text("domains:\n  - {name: a, paths: [x]}\ntracking: {uri: 'sqlite:///runs/m.db'}\n")
    cfg = load_config(path)
    assert cfg.root == (tmp_path / "sub" / ".mixtures").resolve()
    assert cfg.tracking_uri == f"sqlite:///{(tmp_path / 'sub' / 'runs' / 'm.db').resolve()}"


def test_documented_example_config_is_valid():
    cfg = load_config(EXAMPLE)
    assert len(cfg.domains) >= 2


def test_mixture_validation():
    assert validate_mixture({"a": 0.25, "b": 0.75}, ["a", "b", "c"]) == {"a": 0.25, "b": 0.75, "c": 0.0}
    with pytest.raises(MixtureError, match="unknown domain"):
        validate_mixture({"a": 0.5, "z": 0.5}, ["a", "b"])
    with pytest.raises(MixtureError, match="weight of 'a' is -0.1"):
        validate_mixture({"a": -0.1, "b": 1.1})
    with pytest.raises(MixtureError, match="weight of 'a' is nan"):
        validate_mixture({"a": math.nan, "b": 1.0})
    with pytest.raises(MixtureError, match="sum to 0.9"):
        validate_mixture({"a": 0.4, "b": 0.5})
    assert normalize({"a": 1, "b": 3}) == {"a": 0.25, "b": 0.75}


def test_run_table_validation_names_the_row(tmp_path):
    df = pd.DataFrame({
        "run_id": ["r0", "r1", "r2"],
        "w_a": [0.5, 0.2, 0.3], "w_b": [0.5, 0.8, 0.6],
        "n_params": [1e6, 1e6, 1e6], "loss_a": [2.0, 2.1, 2.2], "loss_b": [3.0, None, 3.1],
    })
    path = tmp_path / "runs.csv"
    df.to_csv(path, index=False)
    with pytest.raises(TableError, match=r"runs.csv: row 3 \(line 4\), run_id 'r2' has weights summing to 0.9"):
        load_runs(path)
    df.loc[2, "w_b"] = 0.7
    ok = validate_runs(df, source="t")
    assert domains_of(ok) == ["a", "b"] and loss_columns(ok) == ["loss_a", "loss_b"]
    assert math.isnan(ok.loc[1, "loss_b"])  # empty cells are "not measured"
    bad = df.copy()
    bad.loc[1, "loss_a"] = float("inf")
    with pytest.raises(TableError, match=r"row 2, run_id 'r1': loss_a = inf"):
        validate_runs(bad, source="t")
    with pytest.raises(TableError, match=r"unknown domain\(s\) \['b'\]"):
        validate_runs(df, domains=["a", "c"], source="t")
    bad = df.astype({"w_a": object})
    bad.loc[0, "w_a"] = "x"
    with pytest.raises(TableError, match=r"row 1, run_id 'r0': column 'w_a' holds 'x', not a number"):
        validate_runs(bad, source="t")
