"""Corpus ingestion: every format read, counts right, splits stable, bad input named clearly."""

from __future__ import annotations

import gzip
import json

import pytest

from mixtures.config import parse_config
from mixtures.corpus import build_catalog, iter_batches, iter_documents, natural_mixture, split_of
from mixtures.errors import ConfigError, CorpusError
from tests.corpus_factory import corpus_config, make_texts, write_jsonl


def test_every_format_reads_all_documents(project, corpus):
    _, texts = corpus
    for name in ["prose", "code", "legal", "speech", "mixed"]:
        got = sorted(d.text for d in iter_documents(project, name))
        assert got == sorted(texts[name]), name


def test_catalog_counts_match_the_files(project, corpus):
    _, texts = corpus
    cat = build_catalog(project).set_index("domain")
    for name, docs in texts.items():
        row = cat.loc[name]
        assert row["documents"] == len(docs)
        assert row["bytes"] == sum(len(t.encode("utf-8")) for t in docs)
        assert row["tokens"] == row["bytes"]  # byte-level tokens
        assert row["train_docs"] + row["val_docs"] == len(docs)
        assert row["train_bytes"] + row["val_bytes"] == row["bytes"]
    assert cat.loc["prose", "files"] == 2 and cat.loc["speech", "files"] == 12
    assert cat.loc["mixed", "role"] == "target" and cat.loc["code", "role"] == "train"
    nat = natural_mixture(build_catalog(project))
    assert set(nat) == {"prose", "code", "legal", "speech"}
    assert abs(sum(nat.values()) - 1) < 1e-12


def test_catalog_with_a_token_counter(project):
    cat = build_catalog(project, token_counter=lambda texts: [len(t.split()) for t in texts]).set_index("domain")
    words = sum(len(d.text.split()) for d in iter_documents(project, "code"))
    assert cat.loc["code", "tokens"] == words


def test_split_is_deterministic_and_partitions_documents(project):
    train = [d.doc_id for d in iter_documents(project, "prose", split="train")]
    val = [d.doc_id for d in iter_documents(project, "prose", split="val")]
    assert set(train).isdisjoint(val) and len(train) + len(val) == 40
    assert [d.doc_id for d in iter_documents(project, "prose", split="val")] == val
    ids = [f"doc-{i}" for i in range(20000)]
    share = sum(split_of(i, 0.05) == "val" for i in ids) / len(ids)
    assert 0.04 < share < 0.06


def test_ids_come_from_the_id_field_or_the_file_and_line(project):
    legal = [d.doc_id for d in iter_documents(project, "legal")]
    assert legal[:3] == ["l0", "l1", "l2"]
    prose = [d.doc_id for d in iter_documents(project, "prose")]
    assert prose[0] == "prose/a.jsonl:1" and prose[-1] == "prose/b.jsonl.gz:20"


def test_batches_cover_the_domain(project):
    batches = list(iter_batches(project, "prose", batch_docs=7))
    assert [len(b) for b in batches] == [7, 7, 7, 7, 7, 5]


def test_hugging_face_dataset_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    texts = make_texts("legal", 9, 7)
    datasets.Dataset.from_dict({"text": texts, "n": list(range(9))}).save_to_disk(str(tmp_path / "hf"))
    cfg = parse_config({"domains": [{"name": "hf", "paths": ["hf"]}]}, base_dir=tmp_path)
    assert [d.text for d in iter_documents(cfg, "hf")] == texts


# -- bad input: each error names the file, line or field -------------------------------------


def _cfg(tmp_path, domains, **extra):
    return parse_config({"domains": domains, **extra}, source="p.yaml", base_dir=tmp_path)


def test_missing_path_is_named(tmp_path):
    cfg = _cfg(tmp_path, [{"name": "web", "paths": ["nowhere/*.jsonl"]}])
    with pytest.raises(CorpusError, match=r"domain 'web': path 'nowhere/\*.jsonl' matches no file"):
        list(iter_documents(cfg, "web"))


def test_empty_domain_is_refused(tmp_path):
    (tmp_path / "e.jsonl").write_text("\n\n")
    cfg = _cfg(tmp_path, [{"name": "empty", "paths": ["e.jsonl"]}])
    with pytest.raises(CorpusError, match="domain 'empty' has no documents.*e.jsonl"):
        build_catalog(cfg)


def test_malformed_json_line_names_file_and_line(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": "oops"\n{"text": "fine"}\n')
    cfg = _cfg(tmp_path, [{"name": "d", "paths": ["bad.jsonl"]}])
    with pytest.raises(CorpusError, match=r"bad.jsonl line 2: malformed JSON"):
        list(iter_documents(cfg, "d"))


def test_skip_policy_counts_bad_lines(tmp_path):
    (tmp_path / "bad.jsonl").write_bytes(b'{"text": "ok"}\n{"text": "oops"\n{"text": "\xff"}\n{"body": 1}\n{"text": "fine"}\n')
    cfg = _cfg(tmp_path, [{"name": "d", "paths": ["bad.jsonl"]}], corpus={"on_bad_line": "skip", "val_fraction": 0.1})
    cat = build_catalog(cfg)  # (line 5 is the validation document at this val_fraction)
    assert cat.loc[0, "documents"] == 2 and cat.loc[0, "skipped_lines"] == 3


def test_non_utf8_names_file_and_line(tmp_path):
    (tmp_path / "x.jsonl").write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.txt").write_bytes(b"line one\nline two \xff\n")
    cfg = _cfg(tmp_path, [{"name": "j", "paths": ["x.jsonl"]}, {"name": "t", "paths": ["t"]}])
    with pytest.raises(CorpusError, match=r"x.jsonl line 2: bytes are not valid UTF-8"):
        list(iter_documents(cfg, "j"))
    with pytest.raises(CorpusError, match=r"a.txt line 2: bytes are not valid UTF-8"):
        list(iter_documents(cfg, "t"))


def test_missing_text_field_is_named(tmp_path):
    write_jsonl(tmp_path / "c.jsonl", ["a", "b"])
    gz = tmp_path / "c2.jsonl.gz"
    gz.write_bytes(gzip.compress(json.dumps({"content": "x"}).encode() + b"\n", mtime=0))
    cfg = _cfg(tmp_path, [{"name": "c", "paths": ["c.jsonl"], "text_field": "body"},
                          {"name": "g", "paths": ["c2.jsonl.gz"]}])
    with pytest.raises(CorpusError, match=r"c.jsonl line 1: no field 'body'"):
        list(iter_documents(cfg, "c"))
    with pytest.raises(CorpusError, match=r"c2.jsonl.gz line 1: no field 'text' \(fields: \['content'\]\)"):
        list(iter_documents(cfg, "g"))


def test_missing_parquet_column_is_named(project, corpus, tmp_path):
    root, _ = corpus
    cfg = _cfg(root, [{"name": "legal", "paths": ["legal/l.parquet"]}])
    with pytest.raises(CorpusError, match=r"l.parquet: no column\(s\) \['text'\]"):
        list(iter_documents(cfg, "legal"))


def test_truncated_gzip_is_refused(tmp_path):
    data = gzip.compress(b'{"text": "a"}\n' * 1000, mtime=0)
    (tmp_path / "t.jsonl.gz").write_bytes(data[: len(data) // 2])
    cfg = _cfg(tmp_path, [{"name": "t", "paths": ["t.jsonl.gz"]}])
    with pytest.raises(CorpusError, match=r"t.jsonl.gz: cannot be read as jsonl.gz"):
        list(iter_documents(cfg, "t"))


def test_duplicate_domain_names_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"(?s)p.yaml: .*domains: duplicate domain name\(s\) \['web'\]"):
        _cfg(tmp_path, [{"name": "web", "paths": ["a"]}, {"name": "web", "paths": ["b"]}])


def test_domain_name_cannot_escape_the_output_folder(tmp_path):
    for bad in ["../etc", "a/b", "..", "x/../../y"]:
        with pytest.raises(ConfigError, match="domains.0.name"):
            _cfg(tmp_path, [{"name": bad, "paths": ["a"]}])


def test_unknown_format_is_refused_with_advice(tmp_path):
    (tmp_path / "data.xml").write_text("<x/>")
    cfg = _cfg(tmp_path, [{"name": "x", "paths": ["data.xml"]}])
    with pytest.raises(CorpusError, match="cannot tell the format of .*data.xml; set the domain's 'format'"):
        list(iter_documents(cfg, "x"))


def test_config_in_tmp_corpus_parses(corpus):
    root, _ = corpus
    cfg = parse_config(corpus_config(root), base_dir=root)
    assert cfg.domain_names == ["prose", "code", "legal", "speech"]


def test_catalog_can_record_every_broken_domain(tmp_path):
    (tmp_path / "ok.jsonl").write_text('{"text": "fine"}\n')
    (tmp_path / "e.jsonl").write_text("")
    cfg = _cfg(tmp_path, [{"name": "ok", "paths": ["ok.jsonl"]}, {"name": "gone", "paths": ["gone/"]},
                          {"name": "empty", "paths": ["e.jsonl"]}], corpus={"val_fraction": 0.1})
    cat = build_catalog(cfg, on_error="record").set_index("domain")  # (ok's one document is in val at 0.1)
    assert cat.loc["ok", "error"] == "" and cat.loc["ok", "documents"] == 1
    assert "matches no file" in cat.loc["gone", "error"]
    assert "has no documents" in cat.loc["empty", "error"] and cat.loc["empty", "documents"] == 0


def test_files_fingerprint_notices_changes(project, corpus):
    from mixtures.corpus import files_fingerprint

    root, _ = corpus
    before = files_fingerprint(project)
    assert files_fingerprint(project) == before
    write_jsonl(root / "prose" / "c.jsonl", ["a new document"])
    after = files_fingerprint(project)
    assert [d for d in after if after[d] != before[d]] == ["prose"]
