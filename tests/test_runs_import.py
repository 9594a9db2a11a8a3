"""Importing finished runs from a wide table: validated against the config, bad rows named."""

from __future__ import annotations

import pandas as pd
import pytest

from mixtures.errors import TableError
from mixtures.runs_import import import_runs, import_runs_frame
from tests.proxy_fixture import fixture_config

DOMAINS = ["speeches", "literature", "code", "legal", "email"]


def _table(n=3):
    rows = []
    for i in range(n):
        w = [0.2] * 5
        w[i % 5], w[(i + 1) % 5] = 0.3, 0.1
        rows.append({"run_id": f"ext-{i}", **{f"w_{d}": x for d, x in zip(DOMAINS, w, strict=True)},
                     "n_params": 1e6, "n_tokens": 2e7, "seed": 0,
                     "loss_code": 2.0 + i / 10, "loss_docs": 3.0 - i / 10})
    return pd.DataFrame(rows)


def test_import_csv_marks_trainer_and_keeps_rows(tmp_path):
    config = fixture_config(tmp_path, runs_table="external.csv")
    table = _table()
    table.to_csv(tmp_path / "external.csv", index=False)
    config = config.model_copy(update={"base_dir": str(tmp_path)})
    runs = import_runs(config)
    assert len(runs) == 3
    assert set(runs["trainer"]) == {"imported"}
    assert runs["mixture_name"].tolist() == ["ext-0", "ext-1", "ext-2"]
    assert runs["loss_code"].tolist() == [2.0, 2.1, 2.2]
    table.to_parquet(tmp_path / "external.parquet")
    table["trainer"] = ["mine", None, "mine"]
    parquet = import_runs_frame(table, config, source="t.parquet")
    assert parquet["trainer"].tolist() == ["mine", "imported", "mine"]


def test_a_bad_row_is_named_with_its_csv_line(tmp_path):
    config = fixture_config(tmp_path)
    table = _table(4)
    table.loc[2, "w_code"] = 0.9
    path = tmp_path / "bad.csv"
    table.to_csv(path, index=False)
    with pytest.raises(TableError, match=r"bad\.csv: row 3 \(line 4\), run_id 'ext-2' has weights summing to"):
        import_runs(config, path)
    table = _table(4)
    table["loss_docs"] = table["loss_docs"].astype(object)
    table.loc[1, "loss_docs"] = "1.2.3"
    table.to_csv(path, index=False)
    with pytest.raises(TableError, match=r"row 2 \(line 3\).*'loss_docs' holds '1.2.3'"):
        import_runs(config, path)


def test_domains_must_match_the_config(tmp_path):
    config = fixture_config(tmp_path)
    missing = _table().drop(columns=["w_email"])
    with pytest.raises(TableError, match=r"missing weight column\(s\) \['w_email'\]"):
        import_runs_frame(missing, config)
    extra = _table().assign(w_wiki=0.0)
    with pytest.raises(TableError, match=r"unknown domain\(s\) \['wiki'\]"):
        import_runs_frame(extra, config)
    with pytest.raises(TableError, match="no 'run_id'"):
        import_runs_frame(_table().drop(columns=["run_id"]), config)
    with pytest.raises(TableError, match="proxy.runs_table"):
        import_runs(config)
