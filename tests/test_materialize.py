"""Materializing the mixed dataset: counts, epoch caps, determinism, atomicity and resume, DSIR."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from mixtures.config import parse_config
from mixtures.corpus import iter_batches
from mixtures.errors import InfeasibleError
from mixtures.resample.exports import hf_data_files, megatron_blend, read_dataset_manifest
from mixtures.resample.inputs import ConfigReader
from mixtures.resample.materialize import (
    DsirSpec,
    MaterializeError,
    Request,
    Workspace,
    materialize,
)
from mixtures.resample.plan import DomainIndex, Plan, _count_for, plan_draws, shard_layout
from tests.corpus_factory import make_texts, write_jsonl

REPO = Path(__file__).resolve().parents[1]
MIXTURE = {"prose": 0.4, "code": 0.3, "legal": 0.2, "speech": 0.1}


def _sha(manifest: dict) -> list[str]:
    return [s["sha256"] for s in manifest["shards"]]


def _rows(folder: Path) -> list[dict]:
    manifest = read_dataset_manifest(folder)
    rows = []
    for shard in manifest["shards"]:
        path = folder / shard["path"]
        if manifest["format"] == "parquet":
            rows += pq.read_table(path).to_pylist()
        else:
            rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return rows


def _index(sizes) -> DomainIndex:
    sizes = np.asarray(sizes, dtype=np.int64)
    return DomainIndex(sizes, sizes)


# -- planning --------------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["bytes", "tokens", "documents"])
def test_per_domain_amounts_match_the_mixture_within_one_document(unit):
    rng = np.random.default_rng(0)
    indexes = {name: _index(rng.integers(50, 2000, n)) for name, n in [("a", 400), ("b", 150), ("c", 900)]}
    mixture = {"a": 0.5, "b": 0.2, "c": 0.3}
    size = 600 if unit == "documents" else 700_000
    plan = plan_draws(indexes, mixture, size, unit, seed=3, max_epochs=4)
    for name, draw in plan.domains.items():
        largest = 1 if unit == "documents" else indexes[name].n_bytes.max()
        assert abs(draw.drawn_units - mixture[name] * size) <= largest, name
        assert draw.drawn_units == indexes[name].units(unit)[draw.positions].sum()
    assert plan.total_rows == sum(d.drawn_documents for d in plan.domains.values())
    all_slots = np.sort(np.concatenate([d.slots for d in plan.domains.values()]))
    assert np.array_equal(all_slots, np.arange(plan.total_rows))


def test_epochs_never_exceed_the_cap_and_a_mixture_needing_more_is_refused():
    indexes = {"small": _index([100] * 10), "big": _index([100] * 1000)}
    plan = plan_draws(indexes, {"small": 0.5, "big": 0.5}, 5_000, "bytes", max_epochs=2.5)
    small = plan.domains["small"]
    assert small.epochs_drawn <= 2.5 and small.drawn_documents == 25
    counts = np.bincount(small.positions, minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.max() == 3  # whole epochs first, then a partial one
    assert sorted(set(small.epochs.tolist())) == [0, 1, 2]
    with pytest.raises(InfeasibleError, match=r"small: needs 2500 bytes = 2.5 epochs.*over the cap of 2 epochs"):
        plan_draws(indexes, {"small": 0.5, "big": 0.5}, 5_000, "bytes", max_epochs=2.0)
    with pytest.raises(InfeasibleError, match="small"):
        plan_draws(indexes, {"small": 0.5, "big": 0.5}, 5_000, "bytes", max_epochs=4, max_epochs_per_domain={"small": 1})


def test_partial_epoch_rounding_never_crosses_the_cap():
    cumulative = np.cumsum([10, 10, 10])
    assert _count_for(14, cumulative, 100) == 1
    assert _count_for(16, cumulative, 100) == 2
    assert _count_for(16, cumulative, 15) == 1  # closer count would cross the cap
    assert _count_for(0, cumulative, 100) == 0


def test_shard_layout_cuts_by_bytes_and_plan_round_trips(tmp_path):
    starts = shard_layout(np.array([40, 40, 40, 40, 40]), 100)
    assert starts.tolist() == [0, 3, 5]
    plan = plan_draws({"a": _index([30] * 50), "b": _index([70] * 20)}, {"a": 0.5, "b": 0.5}, 2000, "bytes", shard_mb=0.0002)
    plan.save(tmp_path)
    loaded = Plan.load(tmp_path)
    assert list(loaded.domains) == list(plan.domains)
    for name in plan.domains:
        assert np.array_equal(loaded.domains[name].slots, plan.domains[name].slots)
    assert np.array_equal(loaded.shard_starts, plan.shard_starts) and plan.n_shards > 3


# -- writing ---------------------------------------------------------------------------------------------


def _request(**kw) -> Request:
    # a share here is a handful of documents: the closest count can be 10-20% off (the plan refuses more than
    # the tolerance: test_a_domain_of_one_huge_document_is_refused_or_split covers the default)
    fields = {"mixture": MIXTURE, "size": 20_000, "unit": "bytes", "seed": 1, "shard_mb": 0.004, "tolerance": 0.3}
    fields.update(kw)
    return Request(**fields)


def test_dataset_matches_plan_is_shuffled_and_has_a_manifest(project, tmp_path):
    out = tmp_path / "ds"
    manifest = materialize(_request(mixture_run="run-123"), out, ConfigReader(project))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [s["path"] for s in manifest["shards"]] + ["manifest.json", "megatron_blend.txt"]
    )
    assert not Workspace(out).work.exists()
    rows = _rows(out)
    assert len(rows) == manifest["totals"]["documents"]
    for name, info in manifest["domains"].items():
        got = [r for r in rows if r["domain"] == name]
        assert len(got) == info["drawn_documents"]
        assert sum(len(r["text"].encode()) for r in got) == info["drawn_bytes"]
        assert abs(info["drawn_units"] - info["requested_units"]) <= max(len(r["text"].encode()) for r in got)
    first = [r["domain"] for r in rows[:20]]
    assert len(set(first)) >= 3  # domains are interleaved, not in blocks
    assert manifest["mixture_run"] == "run-123" and manifest["seed"] == 1 and manifest["unit"] == "bytes"
    assert all(r["source"] and r["doc_id"] for r in rows)
    blend = (out / "megatron_blend.txt").read_text().split()
    assert len(blend) == 2 * len(manifest["shards"]) and abs(sum(map(float, blend[::2])) - 1) < 1e-6
    assert megatron_blend(manifest) == " ".join(blend)
    assert len(hf_data_files(manifest, out)) == len(manifest["shards"])


def test_only_the_train_split_is_drawn(project, tmp_path):
    manifest = materialize(_request(), tmp_path / "ds", ConfigReader(project))
    from mixtures.corpus import split_of

    rows = _rows(tmp_path / "ds")
    assert all(split_of(r["doc_id"], project.corpus.val_fraction) == "train" for r in rows)
    train_docs = sum(1 for _ in iter_batches(project, "speech", "train") for _ in _)
    assert manifest["domains"]["speech"]["documents"] == train_docs


def test_same_seed_gives_identical_shards_serial_or_parallel(project, tmp_path):
    a = materialize(_request(), tmp_path / "a", ConfigReader(project), n_jobs=1)
    b = materialize(_request(), tmp_path / "b", ConfigReader(project), n_jobs=2)
    c = materialize(_request(seed=2), tmp_path / "c", ConfigReader(project))
    assert _sha(a) == _sha(b)
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()
    assert _sha(a) != _sha(c)


def test_jsonl_format_and_documents_unit(project, tmp_path):
    manifest = materialize(_request(format="jsonl", unit="documents", size=60), tmp_path / "j", ConfigReader(project))
    rows = _rows(tmp_path / "j")
    assert len(rows) == 60 == manifest["totals"]["documents"]
    assert all(p["path"].endswith(".jsonl") for p in manifest["shards"])
    for name, weight in MIXTURE.items():
        assert abs(sum(r["domain"] == name for r in rows) - weight * 60) <= 1


def test_existing_output_is_refused_and_a_finished_one_is_reused(project, tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(MaterializeError, match="already exists"):
        materialize(_request(), out, ConfigReader(project))
    (out / "notes.txt").unlink()
    out.rmdir()
    first = materialize(_request(), out, ConfigReader(project))
    again = materialize(_request(), out, ConfigReader(project))
    assert again == first
    with pytest.raises(MaterializeError, match="already exists"):
        materialize(_request(seed=5), out, ConfigReader(project))


def test_infeasible_mixture_is_refused_before_writing(project, tmp_path):
    with pytest.raises(InfeasibleError, match="speech"):
        materialize(_request(size=200_000, max_epochs=1.0), tmp_path / "ds", ConfigReader(project))
    assert not (tmp_path / "ds").exists()


# -- killed and resumed ------------------------------------------------------------------------------------


class SlowReader(ConfigReader):
    """The corpus reader, slowed down so a test can kill a run half-way."""

    def __call__(self, domain):
        for batch in super().__call__(domain):
            time.sleep(0.05)
            yield batch

    def record_batches(self, domain):
        for batch in super().record_batches(domain):
            time.sleep(0.05)
            yield batch


def _big_project(root: Path):
    domains = []
    for i, kind in enumerate(["prose", "code", "legal", "speech"]):
        write_jsonl(root / kind / "docs.jsonl", make_texts(kind, 400, 10 + i))
        domains.append({"name": kind, "paths": [kind]})
    config = {"project": "kill", "domains": domains, "corpus": {"batch_docs": 16},
              "storage": {"root": str(root / ".mixtures")}}
    return config, parse_config(config, base_dir=root)


KILL_SCRIPT = """
import json, sys
from mixtures.config import parse_config
from mixtures.resample.materialize import Request, materialize
from tests.test_materialize import SlowReader
config = parse_config(json.loads(sys.argv[1]), base_dir=sys.argv[2])
request = Request.from_dict(json.loads(sys.argv[3]))
materialize(request, sys.argv[4], SlowReader(config))
"""


@pytest.mark.slow
def test_killed_run_leaves_no_dataset_and_a_rerun_completes_with_the_same_hashes(tmp_path):
    config_map, config = _big_project(tmp_path)
    request = _request(size=120_000, shard_mb=0.01)
    out = tmp_path / "ds"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, json.dumps(config_map), str(tmp_path), json.dumps(request.to_dict()), str(out)],
        env=env, cwd=str(REPO), stderr=subprocess.PIPE,
    )
    work = Workspace(out).work
    deadline = time.time() + 60
    while time.time() < deadline and not list(work.glob("index/*.npz")):
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(work.glob("index/*.npz")), "the run ended before a domain was indexed"
    assert not list(work.glob("shards/*.json")), "the run got too far before it was killed"
    assert not out.exists()
    assert not (work / "dataset" / "manifest.json").exists()
    resumed = materialize(request, out, ConfigReader(config))
    clean = materialize(request, tmp_path / "clean", ConfigReader(config))
    assert _sha(resumed) == _sha(clean)
    assert len(resumed["shards"]) > 2


def test_debris_of_a_killed_run_is_ignored_and_finished_stages_are_kept(project, tmp_path):
    from mixtures.resample.materialize import index_domain, make_plan, write_shard

    request = _request()
    out = tmp_path / "ds"
    reference = materialize(request, tmp_path / "ref", ConfigReader(project))
    ws = Workspace(out)
    ws.begin(request)
    reader = ConfigReader(project)
    for domain in request.domains:
        index_domain(ws, request, domain, reader)
    plan = make_plan(ws, request)
    first = write_shard(ws, request, plan, 0)
    # debris as a killed job leaves it: a half-written spill, a shard temp file, a shard without marker
    (ws.spill_path("code").with_name(".code.arrow.tmp")).write_bytes(b"partial")
    (ws.dataset / ".shard-00001.parquet.tmp").write_bytes(b"partial")
    (ws.dataset / "shard-00002.parquet").write_bytes(b"truncated")
    marker_time = ws.shard_marker(0).stat().st_mtime_ns
    resumed = materialize(request, out, ConfigReader(project))
    assert _sha(resumed) == _sha(reference)
    assert resumed["shards"][0] == first
    assert not any(p.name.startswith(".") for p in out.iterdir())
    assert marker_time  # shard 0 was reused, not rewritten: its hash is the one computed before


def test_a_spill_that_does_not_match_its_index_is_refused_by_domain(project, tmp_path):
    """Each text is copied straight to its row by the sizes the index holds: a spill that disagrees
    with them (a domain re-indexed behind the plan's back) is refused, not written garbled."""
    from mixtures.resample.materialize import MaterializeError, index_domain, make_plan, write_shard

    request = _request()
    ws = Workspace(tmp_path / "ds")
    ws.begin(request)
    for domain in request.domains:
        index_domain(ws, request, domain, ConfigReader(project))
    plan = make_plan(ws, request)
    index = DomainIndex.load(ws.index_path("code"))
    index.n_bytes = index.n_bytes + 1
    index.save(ws.index_path("code"))
    with pytest.raises(MaterializeError, match=r"domain 'code': its spill does not match its index; delete .* run again"):
        for shard in range(plan.n_shards):
            write_shard(ws, request, plan, shard)


# -- DSIR inside domains --------------------------------------------------------------------------------------


def test_dsir_inside_a_domain_prefers_target_like_documents(tmp_path):
    mixed = make_texts("code", 150, 1) + make_texts("legal", 150, 2)
    write_jsonl(tmp_path / "mixed" / "m.jsonl", mixed)
    write_jsonl(tmp_path / "prose" / "p.jsonl", make_texts("prose", 100, 3))
    write_jsonl(tmp_path / "target" / "t.jsonl", make_texts("legal", 40, 4))
    config = parse_config(
        {"project": "dsir", "domains": [{"name": "mixed", "paths": ["mixed"]}, {"name": "prose", "paths": ["prose"]}],
         "target": {"sets": [{"name": "target", "paths": ["target"]}]}},
        base_dir=tmp_path,
    )
    request = Request(mixture={"mixed": 0.5, "prose": 0.5}, size=120, unit="documents", seed=0, shard_mb=1,
                      dsir=DsirSpec(buckets=4096, min_length=25))
    target = ([d.text for d in batch] for batch in iter_batches(config, "target"))
    manifest = materialize(request, tmp_path / "ds", ConfigReader(config), target=target)
    rows = [r for r in _rows(tmp_path / "ds") if r["domain"] == "mixed"]
    assert len(rows) == 60
    assert sum(r["text"].startswith("legal") for r in rows) >= 55
    assert all(r["dsir_log_weight"] is not None for r in rows)
    report = manifest["dsir"]
    from mixtures.corpus import iter_documents

    short = sum(len(re.findall(r"\w+|[^\w\s]+", d.text.lower())) < 25 for d in iter_documents(config, "mixed", "train"))
    assert short > 0
    assert report["domains"]["mixed"]["min_length"] == 25
    assert report["domains"]["mixed"]["excluded_short"] == short
    assert manifest["domains"]["mixed"]["eligible_documents"] == manifest["domains"]["mixed"]["documents"] - short
    assert report["domains"]["mixed"]["kl_reduction"] > 0
    assert report["kl_reduction"] > 0


def test_a_partition_refuses_a_work_folder_begun_for_other_inputs(project, tmp_path):
    from mixtures.resample.materialize import index_domain

    ws = Workspace(tmp_path / "ds")
    ws.begin(_request(seed=1))
    with pytest.raises(MaterializeError, match="begun for other inputs"):
        index_domain(ws, _request(seed=2), "prose", ConfigReader(project))
    assert ws.begin(_request(seed=2)) is None  # beginning again discards the old work
    assert json.loads((ws.work / "request.json").read_text())["request"]["seed"] == 2


def test_dsir_pool_scope_fits_the_raw_distribution_on_every_drawn_domain(project, tmp_path):
    target = np.zeros(64, dtype=np.int64)
    target[:8] = 10  # bucket counts can be given directly
    request = _request(dsir=DsirSpec(buckets=64, scope="pool"))
    manifest = materialize(request, tmp_path / "ds", ConfigReader(project), target=target)
    from mixtures.resample.dsir import kl_divergence

    report = manifest["dsir"]
    assert report["scope"] == "pool"
    assert set(report["domains"]) == set(MIXTURE)
    assert report["kl_pool"] > 0 and np.isfinite(report["kl_dataset"])
    assert kl_divergence(target, target) == pytest.approx(0)
    from mixtures.resample.dsir import ImportanceModel, ngram_counts, score_documents

    pool = sum(ngram_counts(([d.text for d in b] for b in iter_batches(project, name, "train")), 64) for name in MIXTURE)
    model = ImportanceModel(pool, target)
    for row in _rows(tmp_path / "ds")[:5]:
        expected = score_documents(model, [[row["text"]]]).log_weight[0]
        assert row["dsir_log_weight"] == pytest.approx(expected)


class WordTokenizer:
    """A whitespace word tokenizer with the project's Tokenizer protocol (ids: word lengths)."""

    name = "words"
    vocab_size = 1 << 16
    eod_id = 0
    fingerprint = "words-v1"

    def encode_batch(self, texts):
        return [np.array([len(w) for w in t.split()], dtype=np.uint16) for t in texts]

    def decode(self, ids):
        return " ".join("x" * int(i) for i in ids)


def test_a_tokenizer_makes_tokens_a_different_unit_from_bytes(project, tmp_path):
    request = _request(unit="tokens", size=3000)
    manifest = materialize(request, tmp_path / "ds", ConfigReader(project), tokenizer=WordTokenizer())
    assert manifest["tokenizer"] == {"name": "words", "fingerprint": "words-v1", "vocab_size": 1 << 16, "eod_id": 0}
    rows = _rows(tmp_path / "ds")
    for name, info in manifest["domains"].items():
        got = [r for r in rows if r["domain"] == name]
        assert info["drawn_tokens"] == sum(len(r["text"].split()) for r in got)
        assert info["drawn_bytes"] == sum(len(r["text"].encode()) for r in got) > info["drawn_tokens"]
        assert abs(info["drawn_tokens"] - MIXTURE[name] * 3000) <= max(len(r["text"].split()) for r in got)


# -- the Arrow reading path of columnar domains ------------------------------------------------------------


def _columnar_project(tmp_path: Path, on_bad_line: str, id_field: str | None):
    import pyarrow as pa

    folder = tmp_path / "cols"
    folder.mkdir()
    texts = make_texts("prose", 300, seed=5)
    pq.write_table(pa.table({"text": texts[:150], "id": [f"s{i}" for i in range(150)]}), folder / "a.parquet",
                   row_group_size=40)
    pq.write_table(pa.table({"text": texts[150:], "id": pa.array(range(150), type=pa.int64())}), folder / "b.parquet")
    mixed = pa.table({  # binary texts (one not UTF-8), a null text, a null id
        "text": pa.array([t.encode() for t in texts[:20]] + [b"\xff\xfe"], type=pa.binary()),
        "id": pa.array([None] + [f"c{i}" for i in range(1, 21)], type=pa.string()),
    })
    pq.write_table(mixed, folder / "c.parquet")
    pq.write_table(pa.table({"text": pa.array(texts[:10] + [None]), "id": [f"d{i}" for i in range(11)]}),
                   folder / "d.parquet")
    return parse_config({
        "project": "cols", "seed": 0, "corpus": {"on_bad_line": on_bad_line, "batch_docs": 64},
        "domains": [{"name": "cols", "paths": [str(folder)], "format": "parquet",
                     **({"id_field": id_field} if id_field else {})}],
        "storage": {"root": str(tmp_path / ".mixtures")},
    }, source="test", base_dir=tmp_path)


@pytest.mark.parametrize("id_field", ["id", None])
@pytest.mark.parametrize("split", ["train", "val", None])
def test_record_batches_give_the_documents_of_iter_batches(tmp_path, id_field, split):
    from mixtures.corpus.domains import iter_record_batches

    project = _columnar_project(tmp_path, "skip", id_field)
    docs = list(iter_batches(project, "cols", split, 64))
    batches = list(iter_record_batches(project, "cols", split, 64))
    assert [len(b) for b in docs] == [b.num_rows for b in batches]
    rows = [(d.text, d.doc_id, d.source, d.line) for batch in docs for d in batch]
    got = [(r["text"], r["doc_id"], r["source"], r["line"]) for b in batches for r in b.to_pylist()]
    assert got == rows


def test_record_batches_refuse_bad_rows_like_iter_batches(tmp_path):
    from mixtures.corpus.domains import iter_record_batches
    from mixtures.errors import CorpusError

    project = _columnar_project(tmp_path, "fail", "id")
    with pytest.raises(CorpusError) as slow:
        list(iter_batches(project, "cols", "train", 64))
    with pytest.raises(CorpusError) as fast:
        list(iter_record_batches(project, "cols", "train", 64))
    assert str(fast.value) == str(slow.value)


def test_columnar_domains_materialize_the_same_bytes_through_arrow(tmp_path):
    project = _columnar_project(tmp_path, "skip", "id")

    class DocumentsOnly:  # the per-document path: no record_batches
        def __init__(self, reader):
            self.reader = reader

        def __call__(self, domain):
            return self.reader(domain)

    request = Request(mixture={"cols": 1.0}, size=20_000, unit="bytes", seed=1, shard_mb=0.005)
    a = materialize(request, tmp_path / "a", ConfigReader(project))
    b = materialize(request, tmp_path / "b", DocumentsOnly(ConfigReader(project)))
    assert len(a["shards"]) > 1
    assert _sha(a) == _sha(b)
    assert a == b


# -- the Arrow reading path of JSON lines ----------------------------------------------------------------


def _jsonl_project(tmp_path: Path, on_bad_line: str, id_field: str | None):
    from tests.corpus_factory import write_jsonl

    folder = tmp_path / "lines"
    texts = make_texts("legal", 400, seed=9)
    write_jsonl(folder / "a.jsonl", texts[:150], id_prefix="a")
    write_jsonl(folder / "b.jsonl.gz", texts[150:300], compress="gz", id_prefix="b")
    write_jsonl(folder / "c.jsonl.zst", texts[300:], compress="zst", id_prefix="c")
    bad = [json.dumps({"id": "d0", "text": texts[0]}), "", "   ", json.dumps({"id": 7, "text": texts[1]}),
           "{not json", json.dumps({"id": "d3", "text": 5}), json.dumps([1, 2]), json.dumps({"id": "d5"}),
           json.dumps({"id": "d6", "text": texts[2], "extra": {"nested": [1]}})]
    (folder / "d.jsonl").write_bytes(("\n".join(bad) + "\n").encode() + b'{"id": "d7", "text": "caf\xff"}\n'
                                     + json.dumps({"id": "d8", "text": texts[3]}).encode())
    return parse_config({
        "project": "lines", "seed": 0, "corpus": {"on_bad_line": on_bad_line, "batch_docs": 64},
        "domains": [{"name": "lines", "paths": [str(folder)], **({"id_field": id_field} if id_field else {})}],
    }, source="test", base_dir=tmp_path)


@pytest.mark.parametrize("id_field", ["id", None])
@pytest.mark.parametrize("block", [1 << 20, 997])  # one block per file, or many blocks cut mid-file
def test_jsonl_record_batches_give_the_documents_of_iter_batches(tmp_path, id_field, block, monkeypatch):
    from mixtures.corpus import readers
    from mixtures.corpus.domains import iter_record_batches

    monkeypatch.setattr(readers, "JSONL_BLOCK_BYTES", block)
    project = _jsonl_project(tmp_path, "skip", id_field)
    for split in ("train", None):
        docs = list(iter_batches(project, "lines", split, 64))
        batches = list(iter_record_batches(project, "lines", split, 64))
        assert [len(b) for b in docs] == [b.num_rows for b in batches]
        rows = [(d.text, d.doc_id, d.source, d.line) for batch in docs for d in batch]
        got = [(r["text"], r["doc_id"], r["source"], r["line"]) for b in batches for r in b.to_pylist()]
        assert got == rows and len(rows) > 300


def test_jsonl_record_batches_refuse_bad_lines_like_iter_batches(tmp_path):
    from mixtures.corpus.domains import iter_record_batches
    from mixtures.errors import CorpusError

    project = _jsonl_project(tmp_path, "fail", "id")
    with pytest.raises(CorpusError) as slow:
        list(iter_batches(project, "lines", "train", 64))
    with pytest.raises(CorpusError) as fast:
        list(iter_record_batches(project, "lines", "train", 64))
    assert str(fast.value) == str(slow.value) and "d.jsonl line 5" in str(fast.value)
