"""Write small multi-format corpora for tests, returning what was written so tests can check counts."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

WORDS = {
    "prose": "the of and a to in he was that it his her with as had for she on at by not".split(),
    "code": "def return self if else for in import from class none true false print len range".split(),
    "legal": "shall license software copyright notice permission warranty holder party terms".split(),
    "speech": "nation people congress government states united year our we must freedom great".split(),
}


def make_texts(kind: str, n: int, seed: int) -> list[str]:
    """``n`` short documents of one kind, seeded (some with non-ASCII characters)."""
    rng = random.Random(f"{kind}-{seed}")
    words = WORDS[kind]
    out = []
    for i in range(n):
        body = " ".join(rng.choice(words) for _ in range(rng.randint(20, 60)))
        out.append(f"{kind} doc {i}: {body}" + (" café – naïve" if i % 7 == 0 else ""))
    return out


def write_jsonl(path: Path, texts: list[str], compress: str | None = None, id_prefix: str | None = None) -> None:
    lines = "".join(
        json.dumps({"id": f"{id_prefix}{i}" if id_prefix else None, "text": t}, ensure_ascii=False) + "\n"
        for i, t in enumerate(texts)
    ).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress == "gz":
        path.write_bytes(gzip.compress(lines, mtime=0))
    elif compress == "zst":
        path.write_bytes(zstandard.ZstdCompressor().compress(lines))
    else:
        path.write_bytes(lines)


def make_corpus(root: Path) -> dict[str, list[str]]:
    """Five domains in five formats under ``root``; returns domain -> texts."""
    texts = {
        "prose": make_texts("prose", 40, 0),
        "code": make_texts("code", 30, 1),
        "legal": make_texts("legal", 25, 2),
        "speech": make_texts("speech", 12, 3),
        "mixed": make_texts("prose", 10, 4) + make_texts("code", 10, 5),
    }
    write_jsonl(root / "prose" / "a.jsonl", texts["prose"][:20])
    write_jsonl(root / "prose" / "b.jsonl.gz", texts["prose"][20:], compress="gz")
    write_jsonl(root / "code" / "code.jsonl.zst", texts["code"], compress="zst")
    (root / "legal").mkdir(parents=True)
    pq.write_table(pa.table({"id": [f"l{i}" for i in range(25)], "body": texts["legal"]}), root / "legal" / "l.parquet")
    (root / "speech").mkdir(parents=True)
    for i, t in enumerate(texts["speech"]):  # names that put one speech in the validation split at the
        (root / "speech" / f"speech{i:02d}.txt").write_text(t, encoding="utf-8")  # default val_fraction
    write_jsonl(root / "mixed" / "m.jsonl", texts["mixed"])
    return texts


def corpus_config(root: Path, **overrides) -> dict:
    """A project config mapping for :func:`make_corpus`'s output."""
    cfg = {
        "project": "test",
        "domains": [
            {"name": "prose", "paths": ["prose"]},
            {"name": "code", "paths": ["code/*.jsonl.zst"]},
            {"name": "legal", "paths": ["legal/l.parquet"], "text_field": "body", "id_field": "id"},
            {"name": "speech", "paths": ["speech"], "format": "text"},
        ],
        "target": {"sets": [{"name": "mixed", "paths": ["mixed/m.jsonl"]}]},
        "storage": {"root": str(root / ".mixtures")},
        "tracking": {"uri": f"sqlite:///{root / 'mlflow.db'}"},
    }
    cfg.update(overrides)
    return cfg
