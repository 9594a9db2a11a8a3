"""Benchmark: materialization throughput against the machine's I/O limit, measured in the same run.

The corpus is a folder of per-domain parquet files (``--corpus DIR`` with ``DIR/<domain>/*.parquet``
holding ``id`` and ``text``; default: a deterministic synthetic corpus, written once under
``--work``). The I/O limit is a plain pyarrow read of every file and a parquet write of the
same rows (same writer settings: zstd; same number of processes), measured right before and right
after ours; the limit is the mean of the two speeds, so load that drifts during the run (the
machine is shared) affects both sides alike. Ours: ``materialize`` of one epoch of about 90% of
the corpus at its natural byte shares, through the project's corpus layer, in a subprocess whose
process tree's peak memory is sampled. ``ratio`` times ``materialize`` inside that subprocess, as the limit is
timed inside this one; ``ratio_wall`` adds the subprocess's interpreter start and imports (~1.5 s).

Two more measurements (each skipped with 0):

- ``--large-docs N``: peak memory of ``materialize`` on a corpus of N documents (2,000,000 is about
  5.3 GB of text) streamed from local disk; the goal is < 1 GB whatever the corpus size.
- ``--token-docs N``: the ``megatron`` (tokenized) output's MB/s with a byte-level BPE tokenizer
  (``tokenizers``, trained here on the corpus, behind the project's Tokenizer protocol) against that
  tokenizer's own ``encode_batch`` on the same texts in batches of 1024 (its Rust threads use every core).
  Like for like, ``tokenized_ratio`` times ``materialize`` itself (read, sample, encode, write, hash) against the
  encode calls alone; ``tokenized_ratio_wall`` adds our subprocess's interpreter start and imports.

    python bench/materialize.py --docs 200000 --large-docs 2000000 --token-docs 20000

Last line: one JSON object: ``mb_per_s``, ``io_limit_mb_per_s``, ``ratio``, ``peak_rss_mb``, ... (MB are
text bytes, 1e6; peak memory is the tree's summed PSS: its RSS with pages shared between forked workers
counted once), then ``large_*`` and ``tokenized_*`` for the two extra measurements.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from _procmon import run_measured  # noqa: E402

from mixtures.resample.materialize import PARQUET_COMPRESSION  # noqa: E402  (same writer settings)

BPE_VOCAB = 8192
EOD = "<eod>"


class BenchBpe:
    """A ``tokenizers`` byte-level BPE behind the project's Tokenizer protocol (picklable)."""

    name = "bench-bpe"

    def __init__(self, path: str) -> None:
        import hashlib

        from tokenizers import Tokenizer

        from mixtures.tokenizers import token_dtype

        self.path = path
        self.tok = Tokenizer.from_file(path)
        self.vocab_size = self.tok.get_vocab_size()
        self.eod_id = self.tok.token_to_id(EOD)
        self.dtype = token_dtype(self.vocab_size)
        self.fingerprint = hashlib.sha256(Path(path).read_bytes()).hexdigest()

    def encode_batch(self, texts):
        import numpy as np

        return [np.array(e.ids, dtype=self.dtype) for e in self.tok.encode_batch_fast(list(texts))]

    def decode(self, ids) -> str:
        return self.tok.decode([int(i) for i in ids])

    def __reduce__(self):
        return (BenchBpe, (self.path,))


def train_bpe(corpus: Path, out: Path) -> Path:
    """A byte-level BPE (vocab BPE_VOCAB) trained on the first 2000 documents of every domain; cached."""
    if out.exists():
        return out
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = []
    for folder in sorted(p for p in corpus.iterdir() if p.is_dir()):
        texts += pq.read_table(sorted(folder.glob("*.parquet"))[0], columns=["text"]).column("text").to_pylist()[:2000]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=BPE_VOCAB, special_tokens=[EOD],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.save(str(out))
    return out


def encode_batch_speed(corpus: Path, tokenizer_path: Path) -> tuple[float, float]:
    """Seconds and text MB of ``tokenizers``' own ``encode_batch`` over every text of the corpus."""
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    seconds, text_bytes = 0.0, 0
    for path in sorted(corpus.glob("*/*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024, columns=["text"]):
            texts = batch.column(0).to_pylist()
            text_bytes += sum(len(t.encode("utf-8")) for t in texts)
            start = time.perf_counter()
            tok.encode_batch(texts)
            seconds += time.perf_counter() - start
    return seconds, text_bytes / 1e6


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _copy_file(args: tuple[str, str]) -> int:
    """Read a parquet file in batches and write the same rows to another parquet file."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    source, dest = args
    text_bytes = 0
    pf = pq.ParquetFile(source)
    with pq.ParquetWriter(dest, pf.schema_arrow, compression=PARQUET_COMPRESSION) as writer:
        for batch in pf.iter_batches(batch_size=2048):
            text_bytes += int(pc.sum(pc.binary_length(batch.column("text"))).as_py() or 0)
            writer.write_batch(batch)
    return text_bytes


IO_CPU: list[float] = []  # CPU seconds of each I/O-limit measurement (its worker processes)


def io_limit(corpus: Path, scratch: Path, jobs: int) -> tuple[float, dict[str, int]]:
    """Seconds for the plain read-and-write of every file, and text bytes per domain."""
    files = sorted(corpus.glob("*/*.parquet"))
    scratch.mkdir(parents=True, exist_ok=True)
    tasks = [(str(f), str(scratch / f"{f.parent.name}-{f.name}")) for f in files]
    start = time.perf_counter()
    cpu = _children_cpu()
    with ProcessPoolExecutor(jobs) as pool:
        sizes = list(pool.map(_copy_file, tasks))
    seconds = time.perf_counter() - start
    IO_CPU.append(_children_cpu() - cpu)
    shutil.rmtree(scratch)
    per_domain: dict[str, int] = {}
    for f, n in zip(files, sizes, strict=True):
        per_domain[f.parent.name] = per_domain.get(f.parent.name, 0) + n
    return seconds, per_domain


def run_ours(args: argparse.Namespace) -> None:
    from mixtures.config import parse_config
    from mixtures.resample.materialize import ConfigReader, Request, materialize

    corpus = Path(args.corpus)
    domains = json.loads(args.domains)
    config = parse_config(
        {"project": "bench-materialize", "seed": 0,
         "domains": [{"name": d, "paths": [str(corpus / d)], "format": "parquet", "id_field": "id"} for d in domains],
         "storage": {"root": str(Path(args.out).parent / ".mixtures")}},
        source="bench", base_dir=corpus,
    )
    request = Request(mixture=json.loads(args.mixture), size=args.size, unit="bytes", seed=0, shard_mb=args.shard_mb,
                      format=args.format)
    tokenizer = BenchBpe(args.tokenizer) if args.tokenizer else None
    start = time.perf_counter()
    manifest = materialize(request, args.out, ConfigReader(config), n_jobs=args.jobs, tokenizer=tokenizer,
                           log=lambda m: print(f"[ours {time.perf_counter() - start:7.1f}s] {m}", file=sys.stderr, flush=True))
    print(json.dumps({"seconds": time.perf_counter() - start, "text_bytes": manifest["totals"]["bytes"],
                      "documents": manifest["totals"]["documents"], "shards": len(manifest["shards"]),
                      "written_tokens": manifest["totals"]["written_tokens"]}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "mixtures-bench" / "materialize")
    parser.add_argument("--corpus", type=Path, help="folder of <domain>/*.parquet files with id and text columns")
    parser.add_argument("--docs", type=int, default=200_000, help="synthetic corpus size (without --corpus)")
    parser.add_argument("--files-per-domain", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--shard-mb", type=float, default=64.0)
    parser.add_argument("--fraction", type=float, default=0.9, help="dataset size as a share of the corpus bytes")
    parser.add_argument("--run-ours", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--domains", help=argparse.SUPPRESS)
    parser.add_argument("--mixture", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--format", default="parquet", help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    parser.add_argument("--large-docs", type=int, default=0, help="peak memory on a corpus this large (0: skip)")
    parser.add_argument("--large-files-per-domain", type=int, default=8)
    parser.add_argument("--token-docs", type=int, default=20_000, help="tokenized-output corpus size (0: skip)")
    args = parser.parse_args(argv)
    if args.run_ours:
        run_ours(args)
        return 0

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    corpus = args.corpus.resolve() if args.corpus else synthetic(work, args.docs, args.files_per_domain)
    limit_s, per_domain = io_limit(corpus, work / "io-limit-scratch", args.jobs)
    total = sum(per_domain.values())
    print(f"[bench] I/O limit: {total / 1e6:.0f} MB read and written in {limit_s:.1f} s = {total / 1e6 / limit_s:.1f} MB/s",
          file=sys.stderr, flush=True)
    cpu_before = _children_cpu()
    run, ours = run_ours_measured(args, corpus, per_domain, work)
    ours_cpu = _children_cpu() - cpu_before
    # like for like: the I/O limit is timed in this process (its pool's start included), ours inside its process
    # (materialize's own pool included), not the ~1.5 s of a fresh interpreter's start and imports (ratio_wall has them)
    mb_per_s = ours["text_bytes"] / 1e6 / ours["seconds"]
    wall_mb_per_s = ours["text_bytes"] / 1e6 / run["wall_s"]
    limit_after_s, _ = io_limit(corpus, work / "io-limit-scratch", args.jobs)
    print(f"[bench] I/O limit again: {limit_after_s:.1f} s", file=sys.stderr, flush=True)
    io_mb_per_s = (total / 1e6 / limit_s + total / 1e6 / limit_after_s) / 2
    result = {
        "mb_per_s": mb_per_s,
        "io_limit_mb_per_s": io_mb_per_s,
        "ratio": mb_per_s / io_mb_per_s,
        "wall_mb_per_s": wall_mb_per_s,
        "ratio_wall": wall_mb_per_s / io_mb_per_s,
        "seconds": ours["seconds"],
        "peak_rss_mb": run["peak_mb"],
        "corpus_mb": total / 1e6,
        "dataset_mb": ours["text_bytes"] / 1e6,
        "documents": ours["documents"],
        "shards": ours["shards"],
        "wall_s": run["wall_s"],
        "io_limit_s": [limit_s, limit_after_s],
        "jobs": args.jobs,
        "cpu_s": {"ours": ours_cpu, "io_limit": IO_CPU,
                  "note": "CPU seconds (user+sys) of the process trees; less sensitive than wall time to other load"},
        "cpu_ratio": (sum(IO_CPU) / len(IO_CPU)) * (ours["text_bytes"] / total) / ours_cpu if ours_cpu else None,
    }
    if args.large_docs:
        large = synthetic(work, args.large_docs, args.large_files_per_domain)
        sizes = domain_text_bytes(large)
        run, ours = run_ours_measured(args, large, sizes, work)
        result.update({"large_corpus_mb": sum(sizes.values()) / 1e6, "large_peak_rss_mb": run["peak_mb"],
                       "large_mb_per_s": ours["text_bytes"] / 1e6 / ours["seconds"], "large_wall_s": run["wall_s"],
                       "large_dataset_mb": ours["text_bytes"] / 1e6, "large_shards": ours["shards"],
                       "large_peak_rss_goal_mb": 1000})
    if args.token_docs:
        small = synthetic(work, args.token_docs, 1)
        tokenizer = train_bpe(small, work / f"bpe-{BPE_VOCAB}-{args.token_docs}.json")
        encode_s, encode_mb = encode_batch_speed(small, tokenizer)
        run, ours = run_ours_measured(args, small, domain_text_bytes(small), work, fmt="megatron", tokenizer=tokenizer)
        # like for like: the peer's seconds are its encode calls alone, so ours are materialize()'s own (reading,
        # sampling, encoding, writing and hashing the .bin/.idx), not the interpreter's start and imports
        tokenized = ours["text_bytes"] / 1e6 / ours["seconds"]
        tokenized_wall = ours["text_bytes"] / 1e6 / run["wall_s"]
        peer = encode_mb / encode_s
        result.update({"tokenized_mb_per_s": tokenized, "tokenizer_encode_batch_mb_per_s": peer,
                       "tokenized_ratio": tokenized / peer, "tokenized_corpus_mb": encode_mb,
                       "tokenized_wall_mb_per_s": tokenized_wall, "tokenized_ratio_wall": tokenized_wall / peer,
                       "tokenized_seconds": ours["seconds"], "tokenized_wall_s": run["wall_s"],
                       "tokenized_tokens_written": ours["written_tokens"], "tokenized_peak_rss_mb": run["peak_mb"],
                       "tokenizer": f"tokenizers byte-level BPE, vocab {BPE_VOCAB}"})
    print(json.dumps(result))
    return 0


def synthetic(work: Path, docs: int, files_per_domain: int) -> Path:
    """The synthetic parquet corpus of ``docs`` documents (written once, then reused)."""
    corpus = work / f"corpus-{docs}-{files_per_domain}"
    if not (corpus / "corpus.json").exists():
        print(f"[bench] writing the synthetic corpus {corpus}", file=sys.stderr, flush=True)
        from synthetic_corpus import write_corpus

        write_corpus(corpus, docs, 10, fmt="parquet", files_per_domain=files_per_domain)
    return corpus


def domain_text_bytes(corpus: Path) -> dict[str, int]:
    """Text bytes per domain folder (read from the parquet files' text column)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    sizes: dict[str, int] = {}
    for path in sorted(corpus.glob("*/*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=8192, columns=["text"]):
            sizes[path.parent.name] = sizes.get(path.parent.name, 0) + int(pc.sum(pc.binary_length(batch.column(0))).as_py() or 0)
    return sizes


def run_ours_measured(args, corpus: Path, per_domain: dict[str, int], work: Path, fmt: str = "parquet",
                      tokenizer: Path | None = None) -> tuple[dict, dict]:
    """``materialize`` of ``args.fraction`` of the corpus at its natural shares, in a measured subprocess."""
    out = work / "dataset"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(work / ".dataset.partial", ignore_errors=True)
    total = sum(per_domain.values())
    mixture = {d: n / total for d, n in per_domain.items()}
    cmd = [sys.executable, __file__, "--run-ours", "--corpus", str(corpus), "--domains", json.dumps(sorted(per_domain)),
           "--mixture", json.dumps(mixture), "--size", str(int(total * args.fraction)), "--out", str(out),
           "--jobs", str(args.jobs), "--shard-mb", str(args.shard_mb), "--format", fmt]
    if tokenizer is not None:
        cmd += ["--tokenizer", str(tokenizer)]
    run = run_measured(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, log=work / "ours.log")
    if run["returncode"] != 0:
        raise SystemExit(f"materialize failed; see {work / 'ours.log'}")
    shutil.rmtree(out, ignore_errors=True)
    return run, json.loads(run["stdout"].strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
