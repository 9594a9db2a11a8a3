"""The committed fixture corpus (tests/fixtures/corpus): readable in every format, small, attributed."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import zstandard

FIXTURE = Path(__file__).parent / "fixtures" / "corpus"


def _jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def read_fixture_domain(name: str) -> list[dict]:
    folder = FIXTURE / name
    if name == "speeches":
        return [{"id": p.stem, "text": p.read_text(encoding="utf-8")} for p in sorted(folder.glob("*.txt"))]
    if name in ("literature", "docs"):
        return _jsonl((folder / f"{name}.jsonl").read_bytes())
    if name == "code":
        return _jsonl(gzip.decompress((folder / "code.jsonl.gz").read_bytes()))
    if name == "legal":
        return _jsonl(zstandard.ZstdDecompressor().decompressobj().decompress((folder / "legal.jsonl.zst").read_bytes()))
    if name == "email":
        return pq.read_table(folder / "email.parquet").to_pylist()
    raise AssertionError(name)


DOMAINS = ["speeches", "literature", "code", "legal", "email", "docs"]


def test_every_domain_reads_with_ids_and_text_of_the_promised_size():
    assert sorted(p.name for p in FIXTURE.iterdir() if p.is_dir()) == sorted([*DOMAINS, "LICENSES"])
    for name in DOMAINS:
        records = read_fixture_domain(name)
        assert len(records) >= 20, name
        assert len({r["id"] for r in records}) == len(records), name
        assert all(r["text"].strip() for r in records), name
        size = sum(len(r["text"].encode("utf-8")) for r in records)
        assert 48_000 <= size <= 64_000, (name, size)


def test_domains_are_distinct_kinds_of_text():
    samples = {name: " ".join(r["text"] for r in read_fixture_domain(name)) for name in DOMAINS}
    assert "def " in samples["code"] and "import" in samples["code"]
    assert "Subject:" in samples["email"]
    assert ".. " in samples["docs"]  # reStructuredText directives
    assert "Congress" in samples["speeches"]
    assert "license" in samples["legal"].lower()


def test_small_attributed_and_free_of_restricted_sources():
    total = sum(p.stat().st_size for p in FIXTURE.rglob("*") if p.is_file())
    assert total < 500_000
    attribution = (FIXTURE / "ATTRIBUTION.md").read_text(encoding="utf-8")
    for name in DOMAINS:
        assert f"## {name}" in attribution
    for notice in ("sympy/LICENSE", "django/LICENSE", "licensedcode-data/NOTICE", "shakespeare/COPYING.txt"):
        assert f"LICENSES/{notice}" in attribution and (FIXTURE / "LICENSES" / notice).is_file()
    assert "pubmed" not in attribution.lower().replace("no pubmed text", "")
    assert "make_corpus_fixture.py" in (FIXTURE / "README.md").read_text(encoding="utf-8")
