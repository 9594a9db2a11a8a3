"""Tokenized outputs: the Megatron-LM indexed dataset (read back by megatron-core's own
``IndexedDataset``, an independent reader) and a Hugging Face ``save_to_disk`` dataset (loaded with
``datasets.load_from_disk``); both hold the documents the parquet output holds, tokenized with the
project tokenizer, and the manifest's token counts are the tokens in the files."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow.parquet as pq
import pytest

from mixtures.resample.exports import parse_blend
from mixtures.resample.inputs import ConfigReader
from mixtures.resample.materialize import Request, materialize
from mixtures.tokenizers import ByteTokenizer
from tests.test_materialize import MIXTURE, WordTokenizer

SIZE = 20_000


def _request(fmt: str, size: int = SIZE, **kw) -> Request:
    return Request(mixture=MIXTURE, size=size, unit="tokens", seed=1, shard_mb=0.004, format=fmt, tolerance=0.3, **kw)


def _parquet_rows(project, tmp_path, tokenizer, size: int = SIZE) -> list[dict]:
    manifest = materialize(_request("parquet", size), tmp_path / "text", ConfigReader(project), tokenizer=tokenizer)
    return [row for s in manifest["shards"] for row in pq.read_table(tmp_path / "text" / s["path"]).to_pylist()]


def _indexed_dataset(monkeypatch):
    # megatron.core imports torch.utils.cpp_extension -> setuptools, whose distutils shim refuses to load
    # once another test has imported the standard library's distutils: let setuptools use that one
    monkeypatch.setenv("SETUPTOOLS_USE_DISTUTILS", "stdlib")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from megatron.core.datasets.indexed_dataset import IndexedDataset
        except ImportError as exc:
            pytest.skip(f"megatron-core is not installed ({exc}); pip install megatron-core")
    return IndexedDataset


@pytest.mark.parametrize(("tokenizer", "size"), [(ByteTokenizer(), SIZE), (WordTokenizer(), 3000)],
                         ids=["bytes-uint8", "words-uint16"])
def test_megatron_output_reads_back_with_megatron_core_and_matches_the_token_counts(project, tmp_path, tokenizer, size,
                                                                                   monkeypatch):
    IndexedDataset = _indexed_dataset(monkeypatch)
    manifest = materialize(_request("megatron", size), tmp_path / "mg", ConfigReader(project), tokenizer=tokenizer)
    rows = _parquet_rows(project, tmp_path, tokenizer, size)
    assert manifest["tokenizer"]["fingerprint"] == tokenizer.fingerprint
    blend = dict((prefix, weight) for weight, prefix in parse_blend((tmp_path / "mg" / "megatron_blend.txt").read_text()))
    assert set(blend) == set(MIXTURE) and abs(sum(blend.values()) - 1) < 1e-9
    total_written = sum(d["written_tokens"] for d in manifest["domains"].values())
    for name, info in manifest["domains"].items():
        dataset = IndexedDataset(str(tmp_path / "mg" / name), mmap=True)
        sequences = [np.asarray(dataset[i]) for i in range(len(dataset))]
        assert len(sequences) == info["drawn_documents"]
        assert all(seq[-1] == tokenizer.eod_id for seq in sequences)
        assert sum(len(s) for s in sequences) == info["written_tokens"] == info["drawn_tokens"] + info["drawn_documents"]
        assert blend[name] == pytest.approx(info["written_tokens"] / total_written, rel=1e-8)
        expected = [r["text"] for r in rows if r["domain"] == name]  # the same documents, in the same order
        assert [list(s[:-1]) for s in sequences] == [list(ids) for ids in tokenizer.encode_batch(expected)]
        assert abs(info["drawn_tokens"] - MIXTURE[name] * size) <= 0.3 * MIXTURE[name] * size
    files = {f["path"] for f in manifest["shards"]}
    assert files == {f"{d}.{ext}" for d in MIXTURE for ext in ("bin", "idx")}


def test_hf_output_loads_with_datasets_and_has_the_manifest_rows(project, tmp_path):
    import datasets

    tokenizer = ByteTokenizer()
    manifest = materialize(_request("hf"), tmp_path / "hf", ConfigReader(project), tokenizer=tokenizer)
    rows = _parquet_rows(project, tmp_path, tokenizer)
    loaded = datasets.load_from_disk(str(tmp_path / "hf"))
    assert loaded.num_rows == manifest["totals"]["documents"] == len(rows)
    assert loaded.column_names == ["input_ids", "domain", "doc_id", "epoch"]
    domains = loaded["domain"]
    for name, info in manifest["domains"].items():
        assert domains.count(name) == info["drawn_documents"]
        assert info["written_tokens"] == info["drawn_tokens"]
    assert [r["doc_id"] for r in rows] == loaded["doc_id"]
    assert tokenizer.decode(loaded[0]["input_ids"]) == rows[0]["text"]
    assert sum(len(ids) for ids in loaded["input_ids"]) == manifest["totals"]["written_tokens"]


def test_a_tokenized_format_without_a_tokenizer_is_refused(project, tmp_path):
    from mixtures.resample.materialize import MaterializeError

    with pytest.raises(MaterializeError, match="megatron.*tokenizer"):
        materialize(_request("megatron"), tmp_path / "x", ConfigReader(project))
    assert not (tmp_path / "x").exists()
