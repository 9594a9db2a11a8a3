"""Benchmark: materialization throughput against the machine's I/O limit, measured in the same run.

The corpus is a folder of per-domain parquet files (``--corpus DIR`` with ``DIR/<domain>/*.parquet``
holding ``id`` and ``text``; default: a deterministic synthetic corpus of several GB, written once
under ``--work``). The I/O limit is a plain pyarrow read of every file and a parquet write of the
same rows (same writer settings: zstd; same number of processes), measured right before and right
after ours; the limit is the mean of the two speeds, so load that drifts during the run (the
machine is shared) affects both sides alike. Ours: ``materialize`` of one epoch of about 90% of
the corpus at its natural byte shares, through the project's corpus layer, in a subprocess whose
process tree's peak memory is sampled.

    python bench/materialize.py                      # ~4 GB synthetic corpus
    python bench/materialize.py --docs 200000        # a quick run (~0.5 GB)
    python bench/materialize.py --corpus DIR

Last line: ``{"mb_per_s": .., "io_limit_mb_per_s": .., "ratio": .., "peak_rss_mb": .., ...}``, where MB
are text bytes (1e6) and peak_rss_mb is the peak of the tree's summed PSS (its RSS with pages
shared between forked workers counted once).
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
    request = Request(mixture=json.loads(args.mixture), size=args.size, unit="bytes", seed=0, shard_mb=args.shard_mb)
    start = time.perf_counter()
    manifest = materialize(request, args.out, ConfigReader(config), n_jobs=args.jobs,
                           log=lambda m: print(f"[ours {time.perf_counter() - start:7.1f}s] {m}", file=sys.stderr, flush=True))
    print(json.dumps({"seconds": time.perf_counter() - start, "text_bytes": manifest["totals"]["bytes"],
                      "documents": manifest["totals"]["documents"], "shards": len(manifest["shards"])}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "mixtures-bench" / "materialize")
    parser.add_argument("--corpus", type=Path, help="folder of <domain>/*.parquet files with id and text columns")
    parser.add_argument("--docs", type=int, default=1_500_000, help="synthetic corpus size (without --corpus)")
    parser.add_argument("--files-per-domain", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--shard-mb", type=float, default=64.0)
    parser.add_argument("--fraction", type=float, default=0.9, help="dataset size as a share of the corpus bytes")
    parser.add_argument("--run-ours", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--domains", help=argparse.SUPPRESS)
    parser.add_argument("--mixture", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_ours:
        run_ours(args)
        return 0

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.corpus:
        corpus = args.corpus.resolve()
    else:
        corpus = work / f"corpus-{args.docs}-{args.files_per_domain}"
        if not (corpus / "corpus.json").exists():
            print(f"[bench] writing the synthetic corpus {corpus}", file=sys.stderr, flush=True)
            from synthetic_corpus import write_corpus

            write_corpus(corpus, args.docs, 10, fmt="parquet", files_per_domain=args.files_per_domain)
    limit_s, per_domain = io_limit(corpus, work / "io-limit-scratch", args.jobs)
    total = sum(per_domain.values())
    print(f"[bench] I/O limit: {total / 1e6:.0f} MB read and written in {limit_s:.1f} s = {total / 1e6 / limit_s:.1f} MB/s",
          file=sys.stderr, flush=True)

    out = work / "dataset"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(work / ".dataset.partial", ignore_errors=True)
    mixture = {d: n / total for d, n in per_domain.items()}
    size = int(total * args.fraction)
    cpu_before = _children_cpu()
    run = run_measured(
        [sys.executable, __file__, "--run-ours", "--corpus", str(corpus), "--domains", json.dumps(sorted(per_domain)),
         "--mixture", json.dumps(mixture), "--size", str(size), "--out", str(out), "--jobs", str(args.jobs),
         "--shard-mb", str(args.shard_mb)],
        env={**os.environ, "PYTHONPATH": str(REPO)}, log=work / "ours.log",
    )
    if run["returncode"] != 0:
        raise SystemExit(f"materialize failed; see {work / 'ours.log'}")
    ours_cpu = _children_cpu() - cpu_before
    ours = json.loads(run["stdout"].strip().splitlines()[-1])
    mb_per_s = ours["text_bytes"] / 1e6 / run["wall_s"]
    shutil.rmtree(out, ignore_errors=True)
    limit_after_s, _ = io_limit(corpus, work / "io-limit-scratch", args.jobs)
    print(f"[bench] I/O limit again: {limit_after_s:.1f} s", file=sys.stderr, flush=True)
    io_mb_per_s = (total / 1e6 / limit_s + total / 1e6 / limit_after_s) / 2
    print(json.dumps({
        "mb_per_s": mb_per_s,
        "io_limit_mb_per_s": io_mb_per_s,
        "ratio": mb_per_s / io_mb_per_s,
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
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
