"""Corpora and datasets on object storage, against a real S3 API server (moto in server mode on
127.0.0.1, IAM signatures required; no client is mocked): the catalog and materialize read
``s3://`` globs and write ``s3://`` outputs byte-identical to the same run on local disk, with
manifest hashes that match the objects. Faults: a missing bucket, a wrong key, a glob matching
nothing, a connection dropped mid-write; each is one error naming the URL, no manifest is left,
and a rerun completes.

The server (``s3``) and the environment that points at it (``s3_env``) are conftest's fixtures, shared
with the pipeline on S3 (tests/test_pipeline_s3.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mixtures import storage
from mixtures.config import parse_config
from mixtures.corpus import build_catalog
from mixtures.errors import CorpusError, MixturesError
from mixtures.resample.inputs import ConfigReader
from mixtures.resample.materialize import MaterializeError, Request, materialize
from mixtures.tokenizers import ByteTokenizer
from tests.corpus_factory import corpus_config, make_corpus, make_texts, write_jsonl
from tests.s3_support import start_s3

pytestmark = pytest.mark.faults
BUCKET = "corpus-bucket"
MIXTURE = {"prose": 0.4, "code": 0.3, "legal": 0.2, "speech": 0.1}


def _upload(s3, folder: Path, bucket: str, prefix: str) -> None:
    client = s3.client()
    if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=bucket)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        client.put_object(Bucket=bucket, Key=f"{prefix}/{path.relative_to(folder).as_posix()}", Body=path.read_bytes())


def _configs(tmp_path: Path, s3, prefix: str):
    """The same corpus on local disk (outside the config's folder) and under s3://BUCKET/prefix."""
    root = tmp_path / "corpus"
    make_corpus(root)
    _upload(s3, root, BUCKET, prefix)
    local = corpus_config(root)
    local["corpus"] = {**local.get("corpus", {}), "val_fraction": 0.2}  # every small domain gets validation documents
    remote = json.loads(json.dumps(local))
    for source in [*local["domains"], *local["target"]["sets"]]:
        source["paths"] = [str(root / p) for p in source["paths"]]
    for source in [*remote["domains"], *remote["target"]["sets"]]:
        source["paths"] = [f"s3://{BUCKET}/{prefix}/{p}" for p in source["paths"]]
    (tmp_path / "cfg").mkdir()
    return (parse_config(local, base_dir=tmp_path / "cfg"), parse_config(remote, base_dir=tmp_path / "cfg"))


def _request(**kw) -> Request:
    return Request(**{"mixture": MIXTURE, "size": 20_000, "unit": "bytes", "seed": 1, "shard_mb": 0.004,
                      "tolerance": 0.3, **kw})


def test_the_catalog_reads_s3_globs_like_local_files(tmp_path, s3, s3_env):
    local, remote = _configs(tmp_path, s3, "catalog")
    a, b = build_catalog(local), build_catalog(remote)
    columns = ["domain", "files", "documents", "bytes", "train_docs", "val_docs", "tokens", "content_sha256"]
    assert a[columns].to_dict("records") == b[columns].to_dict("records")
    assert int(b.set_index("domain").loc["code", "documents"]) == 30
    from mixtures.corpus import files_fingerprint

    before = files_fingerprint(remote)  # what the sensors compare: changes when an object changes
    assert "missing" not in before.values()
    client = s3.client()
    key = "catalog/prose/a.jsonl"
    client.put_object(Bucket=BUCKET, Key=key, Body=client.get_object(Bucket=BUCKET, Key=key)["Body"].read() + b"\n")
    after = files_fingerprint(remote)
    assert after["prose"] != before["prose"] and {k: v for k, v in after.items() if k != "prose"} == {
        k: v for k, v in before.items() if k != "prose"}


@pytest.mark.parametrize("fmt", ["parquet", "megatron"])
def test_materialize_to_s3_is_byte_identical_to_local_disk_and_the_manifest_hashes_the_objects(tmp_path, s3, s3_env, fmt):
    local, remote = _configs(tmp_path, s3, f"mat-{fmt}")
    s3.client().create_bucket(Bucket=f"out-{fmt}")
    out = f"s3://out-{fmt}/runs/ds"
    logs: list[str] = []
    request = _request(format=fmt)
    manifest = materialize(request, out, ConfigReader(remote), tokenizer=ByteTokenizer(), scratch=tmp_path / "scratch",
                           log=logs.append)
    reference = materialize(request, tmp_path / "local-ds", ConfigReader(local), tokenizer=ByteTokenizer())
    keys = s3.keys(f"out-{fmt}", "runs/ds/")
    local_files = sorted(p.name for p in (tmp_path / "local-ds").iterdir())
    assert keys == [f"runs/ds/{name}" for name in local_files]  # nothing else: no temporary key, no marker
    client = s3.client()
    for name in local_files:
        body = client.get_object(Bucket=f"out-{fmt}", Key=f"runs/ds/{name}")["Body"].read()
        assert body == (tmp_path / "local-ds" / name).read_bytes(), name
    for entry in manifest["shards"]:
        body = client.get_object(Bucket=f"out-{fmt}", Key=f"runs/ds/{entry['path']}")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
    assert manifest == reference
    assert not any((tmp_path / "scratch").glob("*.partial"))
    text = json.dumps(manifest) + "\n".join(logs)
    assert s3.secret not in text and s3.key not in text  # credentials never reach the manifest or the log
    again = materialize(request, out, ConfigReader(remote), tokenizer=ByteTokenizer(), scratch=tmp_path / "scratch")
    assert again == manifest  # a finished dataset on S3 is found and reused


def test_a_missing_bucket_is_named_before_any_work(tmp_path, s3, s3_env):
    local, remote = _configs(tmp_path, s3, "missing")
    with pytest.raises(MixturesError, match=r"s3://no-such-bucket/ds.*the bucket does not exist"):
        materialize(_request(), "s3://no-such-bucket/ds", ConfigReader(local), scratch=tmp_path / "scratch")
    assert not any((tmp_path / "scratch").glob("*/index/*"))
    broken = parse_config({**corpus_config(tmp_path), "domains": [{"name": "web", "paths": ["s3://no-such-bucket/web/*.jsonl"]}]},
                          base_dir=tmp_path)
    with pytest.raises(CorpusError, match=r"s3://no-such-bucket/web/\*\.jsonl"):
        build_catalog(broken)


def test_a_wrong_key_is_access_denied_naming_the_url_and_never_printing_the_secret(tmp_path, s3, s3_env):
    local, remote = _configs(tmp_path, s3, "denied")
    s3.client().create_bucket(Bucket="out-denied")
    s3_env(key="AKIAIOSFODNN7WRONGKEY", secret="wrong-secret-value-123")
    with pytest.raises(CorpusError) as reading:
        build_catalog(remote)
    assert f"s3://{BUCKET}/denied/" in str(reading.value) and "access denied" in str(reading.value)
    with pytest.raises(MixturesError) as writing:
        materialize(_request(), "s3://out-denied/ds", ConfigReader(local), scratch=tmp_path / "scratch")
    assert "s3://out-denied/ds" in str(writing.value) and "access denied" in str(writing.value)
    assert "wrong-secret-value-123" not in str(reading.value) + str(writing.value)
    s3_env()
    assert s3.keys("out-denied") == []


def test_a_glob_matching_nothing_names_the_pattern(tmp_path, s3, s3_env):
    _upload(s3, tmp_path, BUCKET, "empty-glob")  # the bucket exists; the pattern matches nothing
    config = parse_config({**corpus_config(tmp_path), "domains": [{"name": "web", "paths": [f"s3://{BUCKET}/nothing/*.jsonl.zst"]}]},
                          base_dir=tmp_path)
    with pytest.raises(CorpusError, match=rf"domain 'web': path 's3://{BUCKET}/nothing/\*\.jsonl\.zst' matches no file"):
        build_catalog(config)


@pytest.fixture
def own_s3(monkeypatch):
    """A server of its own, for the test that cuts connections (what a cut leaves behind in the
    server must not reach the other tests)."""
    import s3fs

    server = start_s3()
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()

    def use(**kwargs):
        for key, value in server.env(**kwargs).items():
            monkeypatch.setenv(key, value)
        s3fs.S3FileSystem.clear_instance_cache()

    try:
        yield server, use
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.relay.close()
        server.server.stop()


def test_a_connection_dropped_mid_write_leaves_no_manifest_and_a_rerun_completes(tmp_path, own_s3):
    s3, s3_env = own_s3
    root = tmp_path / "big"
    for i, kind in enumerate(["prose", "code", "legal", "speech"]):
        write_jsonl(root / kind / "docs.jsonl", make_texts(kind, 400, 10 + i))
    config = parse_config({"project": "drop", "domains": [{"name": k, "paths": [k]} for k in MIXTURE]}, base_dir=root)
    s3.client().create_bucket(Bucket="out-drop")
    request = _request(size=200_000, shard_mb=0.03, tolerance=0.05)
    reference = materialize(request, tmp_path / "reference", ConfigReader(config))
    assert len(reference["shards"]) >= 6
    s3_env(via_relay=True)
    s3.relay.cut_after(3 * 30_000)  # the marker and a few shards get through, then every connection drops
    with pytest.raises(MixturesError) as dropped:
        materialize(request, "s3://out-drop/ds", ConfigReader(config), scratch=tmp_path / "scratch")
    message = str(dropped.value)
    assert "s3://out-drop/ds/" in message and "cannot write" in message
    keys = s3.keys("out-drop", "ds/")
    assert "ds/manifest.json" not in keys and "ds/.mixtures-partial" in keys
    assert 0 < len([k for k in keys if k.startswith("ds/shard-")]) < len(reference["shards"])
    s3.relay.restore()
    s3_env()
    manifest = materialize(request, "s3://out-drop/ds", ConfigReader(config), scratch=tmp_path / "scratch")
    assert manifest == reference
    keys = s3.keys("out-drop", "ds/")
    assert "ds/manifest.json" in keys and "ds/.mixtures-partial" not in keys
    assert not [k for k in keys if k.endswith(".tmp")]


def test_redact_strips_user_info_and_signatures():
    assert storage.redact("s3://AKIA123:secret@bucket/x") == "s3://***@bucket/x"
    assert storage.redact("https://h/x?X-Amz-Signature=abc&X-Amz-Credential=AKIA/2026&a=1") == (
        "https://h/x?X-Amz-Signature=***&X-Amz-Credential=***&a=1")
    with pytest.raises(MaterializeError):
        Request(mixture=MIXTURE, size=10, format="parquett")


def test_storage_helpers_on_s3_and_local_paths_agree(tmp_path, own_s3):
    s3, _ = own_s3
    s3.client().create_bucket(Bucket="helpers")
    for base in (f"s3://helpers/h", f"file://{tmp_path}/h", str(tmp_path / "h2")):
        storage.atomic_write_json(storage.join(base, "a", "x.json"), {"b": 1, "a": [2]})
        storage.atomic_write_bytes(storage.join(base, "a", "y.bin"), b"\0\1")
        assert storage.read_json(storage.join(base, "a", "x.json")) == {"a": [2], "b": 1}
        assert storage.read_text(storage.join(base, "a", "x.json")) == '{\n  "a": [\n    2\n  ],\n  "b": 1\n}\n'
        assert [storage.name(p) for p in storage.glob(storage.join(base, "a", "*.json"))] == ["x.json"]
        assert storage.listdir(storage.join(base, "a")) == ["x.json", "y.bin"]
        assert storage.size(storage.join(base, "a", "y.bin")) == 2 and storage.isdir(storage.join(base, "a"))
        copy = storage.local_copy(storage.join(base, "a", "y.bin"), tmp_path / "copies")
        assert copy.read_bytes() == b"\0\1"
        storage.remove(storage.join(base, "a"), recursive=True)
        assert not storage.exists(storage.join(base, "a", "x.json"))
    assert s3.keys("helpers") == []


def test_a_runs_local_work_folder_reaches_the_store_and_comes_back_on_another_machine(tmp_path, s3, s3_env, monkeypatch):
    from mixtures.runs import RunSpec
    from mixtures.runs.store import RunStore

    s3.client().create_bucket(Bucket="work-store")
    spec = RunSpec(RunSpec.make_run_id("uniform", "micro", 1000, 0), "uniform", {"prose": 1.0}, "micro", 1000, 0)
    monkeypatch.setenv("MIXTURES_SCRATCH", str(tmp_path / "first"))
    store = RunStore("s3://work-store/p")
    here = store.local_workdir(spec)
    assert str(tmp_path / "first") in str(here)
    (here / "ckpt").mkdir(parents=True)
    (here / "output.json").write_text('{"done": false}')
    (here / "ckpt" / "state.bin").write_bytes(b"\0\1\2")
    (here / ".output.json.x.tmp").write_text("half")  # a temporary file is never copied
    store.push_work(spec)
    work = f"p/runs/proxy/{spec.run_id}/work"
    assert s3.keys("work-store", "p/") == [f"{work}/ckpt/state.bin", f"{work}/output.json"]

    monkeypatch.setenv("MIXTURES_SCRATCH", str(tmp_path / "second"))
    other = RunStore("s3://work-store/p")
    there = other.pull_work(spec)
    assert str(tmp_path / "second") in str(there)
    assert sorted(p.relative_to(there).as_posix() for p in there.rglob("*") if p.is_file()) == ["ckpt/state.bin",
                                                                                               "output.json"]
    assert (there / "ckpt" / "state.bin").read_bytes() == b"\0\1\2"
    (there / "output.json").write_text('{"done": true}')
    other.pull_work(spec)  # what this machine has written is kept
    assert (there / "output.json").read_text() == '{"done": true}'
    local = RunStore(tmp_path / "local-root")  # on local disk the work folder is the store's own
    assert local.local_workdir(spec) == local.workdir(spec) and local.pull_work(spec).is_dir()
