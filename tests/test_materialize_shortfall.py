"""Issue 19, defect 4: silent shortfalls. A domain that is one huge document drew 0 of its asked
tokens (and another overshot) with exit 0. Now the plan refuses such a mixture before anything is
written, names the domains and says how to fix it; ``dataset.split_documents`` / ``--split-documents``
cuts long documents so the shares are met."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mixtures.cli import main
from mixtures.config import parse_config
from mixtures.resample.checks import manifest_problems
from mixtures.resample.inputs import ConfigReader
from mixtures.resample.materialize import Request, ShortfallError, materialize
from mixtures.resample.materialize.spill import split_text
from tests.corpus_factory import make_texts, write_jsonl

pytestmark = pytest.mark.faults


def _project(root: Path) -> dict:
    write_jsonl(root / "wiki" / "w.jsonl", make_texts("prose", 600, 1))
    write_jsonl(root / "code" / "c.jsonl", make_texts("code", 600, 2))
    huge = "\n".join(make_texts("speech", 1200, 3))  # one document of ~300 KB
    write_jsonl(root / "email" / "e.jsonl", [huge])
    config = {"project": "shortfall", "seed": 0, "corpus": {"val_fraction": 0.01},
              "domains": [{"name": n, "paths": [n]} for n in ("wiki", "code", "email")],
              "dataset": {"size": 100_000, "unit": "tokens", "shard_mb": 0.05}}
    (root / "project.yaml").write_text(yaml.safe_dump(config))
    return config


def _run(root: Path, *flags: str) -> int:
    return main(["materialize", "--config", str(root / "project.yaml"), "--weights", "wiki=0.4", "code=0.4",
                 "email=0.2", "--out", str(root / "out"), *flags])


def test_a_domain_of_one_huge_document_is_refused_before_writing_and_split_documents_fixes_it(tmp_path, capsys):
    _project(tmp_path)
    assert _run(tmp_path) == 2  # today: exit 0, email 0 of 20000 tokens
    err = capsys.readouterr().err
    assert "email: drew 0 tokens, asked 20000" in err and "the tolerance is 5.0%, at least 200 tokens" in err
    assert "--split-documents" in err and "dataset.split_documents" in err
    assert not (tmp_path / "out").exists()

    assert _run(tmp_path, "--split-documents", "2000", "--json") == 0
    manifest = json.loads(capsys.readouterr().out)
    for name, weight in {"wiki": 0.4, "code": 0.4, "email": 0.2}.items():
        drawn = manifest["domains"][name]["drawn_tokens"]
        assert abs(drawn - weight * 100_000) <= 0.05 * weight * 100_000, name
    assert manifest["split_documents"] == 2000
    assert manifest_problems(manifest, manifest["mixture"]) == []


def test_the_config_key_splits_documents_and_the_tolerance_can_be_raised(tmp_path):
    config = parse_config({**_project(tmp_path), "dataset": {"size": 100_000, "split_documents": 4096}},
                          base_dir=tmp_path)
    request = Request.from_config(config, {"wiki": 0.4, "code": 0.4, "email": 0.2})
    assert request.split_documents == 4096
    manifest = materialize(request, tmp_path / "a", ConfigReader(config))
    assert manifest["domains"]["email"]["drawn_documents"] > 1
    loose = Request.from_config(parse_config(_project(tmp_path), base_dir=tmp_path),
                                {"wiki": 0.4, "code": 0.4, "email": 0.2}, tolerance=1.0)
    with_slack = materialize(loose, tmp_path / "b", ConfigReader(parse_config(_project(tmp_path), base_dir=tmp_path)))
    assert with_slack["domains"]["email"]["drawn_units"] == 0  # accepted, as asked, and the manifest says so
    assert with_slack["tolerance"] == 1.0


def test_an_overshoot_beyond_the_tolerance_is_refused(tmp_path):
    config = parse_config(_project(tmp_path), base_dir=tmp_path)
    # 0.9% of 100k = 900 tokens: email's one document overshoots by far, or draws nothing
    with pytest.raises(ShortfallError, match=r"email: drew \d+ tokens, asked 900"):
        materialize(Request.from_config(config, {"wiki": 0.5, "code": 0.491, "email": 0.009}), tmp_path / "x",
                    ConfigReader(config))


def test_split_text_cuts_at_line_breaks_and_never_inside_a_character():
    text = "é" * 30 + "\n" + "word " * 40
    pieces = split_text(text, 64)
    assert "".join(pieces) == text
    assert all(len(p.encode()) <= 64 for p in pieces)
    assert pieces[0].endswith("\n") or len(pieces[0].encode()) > 32
    assert split_text("x" * 10, 64) == ["x" * 10]
    assert "".join(split_text("€" * 100, 16)) == "€" * 100
