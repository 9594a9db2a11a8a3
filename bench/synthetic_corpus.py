"""A deterministic multi-domain benchmark corpus from word-frequency models.

The vocabulary and the "general English" distribution come from real text: the words of
the Python standard library's source files (comments, docstrings and short identifiers) of the
interpreter running this script, ranked by frequency. Each domain draws a share of its words
from that general distribution and the rest from its own Zipf distribution over a permutation
of the vocabulary seeded by (seed, domain); one domain (``near``) borrows half of its own
share from the target domain's model, a hard negative for selection. Documents have
lognormal lengths (some are shorter than 100 words), sentences, commas and capitals.

Same arguments and same Python version: byte-identical files.

    python bench/synthetic_corpus.py OUT_DIR --docs 200000 --target-docs 5000
    python bench/synthetic_corpus.py OUT_DIR --docs 2000000 --format parquet  # several GB
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import sysconfig
from pathlib import Path

import numpy as np

DOMAINS = ("web", "code", "books", "papers", "news", "legal", "forum", "near")
TARGET_DOMAIN = "papers"
NEAR_DOMAIN = "near"
VOCAB_SIZE = 30_000
GENERAL_SHARE = 0.55
ZIPF_EXPONENT = 1.08
MEDIAN_WORDS = {"web": 260, "code": 300, "books": 420, "papers": 320, "news": 220, "legal": 380, "forum": 120, "near": 300}
LENGTH_SIGMA = 0.75
CHUNK_DOCS = 4000


def stdlib_vocabulary(size: int = VOCAB_SIZE) -> tuple[list[str], np.ndarray]:
    """The ``size`` most frequent words of the standard library's sources, with frequencies."""
    root = Path(sysconfig.get_paths()["stdlib"])
    counts: collections.Counter[str] = collections.Counter()
    word = re.compile(r"\b[A-Za-z]{2,12}\b")
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in ("test", "site-packages", "idlelib", "lib2to3") or "tests" in parts:
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        counts.update(w.lower() for w in word.findall(text))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
    words = [w for w, _ in ranked]
    freqs = np.array([c for _, c in ranked], dtype=np.float64)
    return words, freqs / freqs.sum()


class CorpusModel:
    """Word distributions of every domain, and a vectorized document generator."""

    def __init__(self, seed: int = 0, vocab_size: int = VOCAB_SIZE) -> None:
        words, general = stdlib_vocabulary(vocab_size)
        self.vocab_size = len(words)
        self.general = general
        v = self.vocab_size
        zipf = 1.0 / np.power(np.arange(1, v + 1) + 2.7, ZIPF_EXPONENT)
        zipf /= zipf.sum()
        self.domain_p = {}
        for i, name in enumerate(DOMAINS):
            perm = np.random.default_rng([seed, 1000 + i]).permutation(v)
            p = np.empty(v)
            p[perm] = zipf
            self.domain_p[name] = p
        self.domain_p[NEAR_DOMAIN] = 0.5 * self.domain_p[NEAR_DOMAIN] + 0.5 * self.domain_p[TARGET_DOMAIN]
        self.cdf = {name: np.cumsum(p) for name, p in self.domain_p.items()}
        self.general_cdf = np.cumsum(general)
        plain = np.array(words, dtype=object)
        capital = np.array([w.capitalize() for w in words], dtype=object)
        # variants: 0 plain, 1 comma, 2 period, 3 Capital, 4 Capital+comma, 5 Capital+period
        self.table = np.concatenate([plain, plain + ",", plain + ".", capital, capital + ",", capital + "."])

    def _draw(self, cdf: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
        idx = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
        return np.minimum(idx, self.vocab_size - 1)

    def documents(self, domain: str, n: int, seed: int) -> list[str]:
        """``n`` documents of ``domain``; the same (domain, n, seed) gives the same texts."""
        rng = np.random.default_rng([seed, DOMAINS.index(domain), n])
        lengths = np.clip(rng.lognormal(np.log(MEDIAN_WORDS[domain]), LENGTH_SIGMA, n), 3, 4000).astype(np.int64)
        total = int(lengths.sum())
        general = rng.random(total) < GENERAL_SHARE
        words = np.empty(total, dtype=np.int64)
        words[general] = self._draw(self.general_cdf, rng, int(general.sum()))
        words[~general] = self._draw(self.cdf[domain], rng, int((~general).sum()))
        ends = np.cumsum(lengths)
        period = rng.random(total) < 1 / 16
        period[ends - 1] = True
        comma = (rng.random(total) < 0.07) & ~period
        capital = np.zeros(total, dtype=bool)
        capital[1:] = period[:-1]
        capital[ends[:-1]] = True
        capital[0] = True
        variant = comma.astype(np.int64) + 2 * period + 3 * capital
        tokens = self.table[variant * self.vocab_size + words]
        starts = ends - lengths
        return [" ".join(tokens[s:e].tolist()) for s, e in zip(starts, ends)]


def domain_counts(docs: int) -> dict[str, int]:
    """Documents per domain: equal shares, the remainder to the first domains."""
    base, extra = divmod(docs, len(DOMAINS))
    return {d: base + (1 if i < extra else 0) for i, d in enumerate(DOMAINS)}


def write_corpus(out: Path, docs: int, target_docs: int, seed: int = 0, fmt: str = "jsonl",
                 files_per_domain: int = 1) -> dict:
    """Write ``raw.jsonl`` (domains interleaved) or ``<domain>/part-*.parquet``, plus ``target.jsonl``.

    Returns the metadata written to ``corpus.json``. Rows have ``id``, ``domain`` and ``text``.
    """
    out.mkdir(parents=True, exist_ok=True)
    model = CorpusModel(seed)
    counts = domain_counts(docs)
    meta = {"docs": docs, "target_docs": target_docs, "seed": seed, "format": fmt, "domains": counts,
            "target_domain": TARGET_DOMAIN, "python": sys.version.split()[0], "files_per_domain": files_per_domain}
    if fmt == "jsonl":
        _write_interleaved_jsonl(out / "raw.jsonl", model, counts, seed)
    elif fmt == "parquet":
        _write_parquet_domains(out, model, counts, seed, files_per_domain)
    else:
        raise SystemExit(f"unknown format {fmt!r}; use jsonl or parquet")
    target = model.documents(TARGET_DOMAIN, target_docs, seed + 7919)
    with open(out / "target.jsonl", "w", encoding="utf-8") as fh:
        for i, text in enumerate(target):
            fh.write(json.dumps({"id": f"target/{i}", "domain": "target", "text": text}) + "\n")
    (out / "corpus.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def _write_interleaved_jsonl(path: Path, model: CorpusModel, counts: dict[str, int], seed: int) -> None:
    """Domains interleaved chunk by chunk, so no domain sits at the file's start or end."""
    made = dict.fromkeys(counts, 0)
    with open(path, "w", encoding="utf-8") as fh:
        while any(made[d] < counts[d] for d in counts):
            for domain in DOMAINS:
                n = min(CHUNK_DOCS, counts[domain] - made[domain])
                if n <= 0:
                    continue
                texts = model.documents(domain, n, seed * 1_000_003 + made[domain])
                lines = [
                    json.dumps({"id": f"{domain}/{made[domain] + i}", "domain": domain, "text": t})
                    for i, t in enumerate(texts)
                ]
                fh.write("\n".join(lines) + "\n")
                made[domain] += n


def _write_parquet_domains(out: Path, model: CorpusModel, counts: dict[str, int], seed: int, files: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for domain in DOMAINS:
        folder = out / domain
        folder.mkdir(parents=True, exist_ok=True)
        per_file = -(-counts[domain] // files)
        made = 0
        for f in range(files):
            n_file = min(per_file, counts[domain] - made)
            if n_file <= 0:
                break
            schema = pa.schema([("id", pa.string()), ("text", pa.string())])
            with pq.ParquetWriter(folder / f"part-{f:04d}.parquet", schema) as writer:
                done = 0
                while done < n_file:
                    n = min(CHUNK_DOCS, n_file - done)
                    texts = model.documents(domain, n, seed * 1_000_003 + made + done)
                    ids = [f"{domain}/{made + done + i}" for i in range(n)]
                    writer.write_table(pa.table({"id": ids, "text": texts}, schema=schema))
                    done += n
            made += n_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--target-docs", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    parser.add_argument("--files-per-domain", type=int, default=1)
    args = parser.parse_args(argv)
    meta = write_corpus(args.out, args.docs, args.target_docs, args.seed, args.format, args.files_per_domain)
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
