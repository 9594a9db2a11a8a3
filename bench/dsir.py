"""Benchmark: our DSIR against the reference ``data-selection`` 1.0.3 on the same data and cores.

Both run end to end as subprocesses on the same jsonl file (fit the raw and target n-gram
distributions, weight every document, Gumbel top-k, write the selected documents), with the
same number of worker processes, the same buckets (10,000) and the same eligibility (the
reference silently drops documents under 100 words; ours is run with ``min_length=100`` and
reports how many that excluded). Ours reads the file through the project's corpus layer.
The reference is installed into the benchmark's own virtual environment (created on first
use under ``--work``), never into the project's.

Measured: documents and MB (of the jsonl file) per second of wall time, the peak memory of
each process tree (PSS summed over processes, sampled every 50 ms), the share of selected
documents that come from the target-like domain, and the KL reduction of each selection,
both computed here with the same featurizer so they are comparable.

    python bench/dsir.py                         # 200k synthetic documents, 5k targets
    python bench/dsir.py --corpus DIR            # DIR/raw.jsonl and DIR/target.jsonl (id, domain, text)
    python bench/dsir.py --docs 20000 --skip-reference

The last line printed is one JSON object:
``{"ours": {"docs_per_s", "mb_per_s", "peak_mb", "target_share", "kl_reduction", ...},
"reference": {...}, "ratio": ours docs_per_s / reference docs_per_s, ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import venv
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from _procmon import run_measured  # noqa: E402

REFERENCE = "data-selection==1.0.3"
REFERENCE_MIN_WORDS = 100
BUCKETS = 10_000


# -- the reference's own environment ---------------------------------------------------------------


def ensure_reference_env(path: Path) -> Path:
    """A virtual environment with only the reference package; created once, then reused."""
    python = path / "bin" / "python"
    probe = [str(python), "-c", "import data_selection, nltk; print(data_selection.__version__)"]
    if python.exists() and subprocess.run(probe, capture_output=True, text=True).stdout.strip() == "1.0.3":
        return python
    print(f"[bench] creating the reference environment {path} ({REFERENCE})", file=sys.stderr, flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    subprocess.check_call([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", REFERENCE],
                          stderr=subprocess.DEVNULL)
    return python


# -- our pipeline (run in a subprocess: `--run-ours`) -----------------------------------------------


def run_ours(args: argparse.Namespace) -> None:
    import numpy as np

    from mixtures.config import parse_config
    from mixtures.corpus import iter_batches
    from mixtures.resample.dsir import dsir_select

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = parse_config(
        {
            "project": "bench-dsir",
            "domains": [{"name": "raw", "paths": [str(args.raw)], "id_field": "id"}],
            "target": {"sets": [{"name": "target", "paths": [str(args.target)], "id_field": "id"}]},
            "storage": {"root": str(out / ".mixtures")},
        },
        source="bench",
        base_dir=out,
    )

    def texts(name: str):
        return ([doc.text for doc in batch] for batch in iter_batches(config, name, batch_docs=2048))

    t0 = time.perf_counter()
    selection = dsir_select(lambda: texts("raw"), texts("target"), args.k, buckets=BUCKETS,
                            min_length=args.min_length, seed=args.seed, n_jobs=args.jobs, measure_kl=False)
    t1 = time.perf_counter()
    chosen = np.zeros(len(selection.scores), dtype=bool)
    chosen[selection.indices] = True
    weights = selection.scores.log_weight
    position = 0
    with open(out / "selected.jsonl", "w", encoding="utf-8") as fh:
        for batch in iter_batches(config, "raw", batch_docs=2048):
            for offset in np.flatnonzero(chosen[position: position + len(batch)]):
                doc = batch[offset]
                row = {"id": doc.doc_id, "text": doc.text, "source": doc.source, "line": doc.line,
                       "log_weight": float(weights[position + offset])}
                fh.write(json.dumps(row) + "\n")
            position += len(batch)
    t2 = time.perf_counter()
    print(json.dumps({"times": {"select_s": t1 - t0, "write_s": t2 - t1, "total_s": t2 - t0},
                      "selected": int(chosen.sum()), **selection.summary()}))


# -- comparison -----------------------------------------------------------------------------------


def kl_reductions(raw: Path, target: Path, selections: dict[str, set[str]], jobs: int) -> dict[str, float]:
    """KL(target || raw) - KL(target || selection) for each selection (by ids), one featurizer."""
    import numpy as np

    from mixtures.resample.dsir import StreamFeatures, fit_importance, selected_counts

    def column(path: Path, field: str, batch: int = 4096):
        rows = []
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                rows.append(json.loads(line)[field])
                if len(rows) == batch:
                    yield rows
                    rows = []
        if rows:
            yield rows

    model = fit_importance(column(raw, "text"), column(target, "text"), BUCKETS, n_jobs=jobs)
    ids = [i for batch in column(raw, "id") for i in batch]
    kl_raw = model.kl_from_target(model.raw_counts)
    out = {}
    for name, chosen_ids in selections.items():
        mask = np.array([i in chosen_ids for i in ids])
        features = StreamFeatures(lambda: column(raw, "text"), model.buckets, jobs)
        out[name] = kl_raw - model.kl_from_target(selected_counts(features, mask))
    return out


def domain_share(ids: list[str], domain_of: dict[str, str], target_domain: str) -> tuple[float, dict]:
    counts = Counter(domain_of[i] for i in ids)
    return (counts[target_domain] / len(ids) if ids else 0.0), dict(sorted(counts.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "mixtures-bench" / "dsir")
    parser.add_argument("--corpus", type=Path, help="a folder with raw.jsonl and target.jsonl (id, domain, text)")
    parser.add_argument("--target-domain", default="papers", help="the domain the target set resembles")
    parser.add_argument("--docs", type=int, default=200_000, help="synthetic corpus size (without --corpus)")
    parser.add_argument("--target-docs", type=int, default=5_000)
    parser.add_argument("--k", type=int, help="documents to select (default: 10%% of the raw documents)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes for both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-length", type=int, default=REFERENCE_MIN_WORDS, help="ours (the reference's is fixed at 100)")
    parser.add_argument("--skip-reference", action="store_true")
    # internal: run our side in a subprocess
    parser.add_argument("--run-ours", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--raw", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
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
        corpus = work / f"corpus-{args.docs}-{args.target_docs}-{args.seed}"
        if not (corpus / "corpus.json").exists():
            print(f"[bench] writing the synthetic corpus {corpus}", file=sys.stderr, flush=True)
            from synthetic_corpus import write_corpus

            write_corpus(corpus, args.docs, args.target_docs, args.seed)
    raw, target = corpus / "raw.jsonl", corpus / "target.jsonl"
    domain_of = {}
    with open(raw, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            domain_of[row["id"]] = row["domain"]
    n_docs = len(domain_of)
    mb = raw.stat().st_size / 1e6
    k = args.k or n_docs // 10
    print(f"[bench] {n_docs} documents, {mb:.0f} MB, selecting {k} with {args.jobs} jobs", file=sys.stderr, flush=True)

    results: dict[str, dict] = {}
    selections: dict[str, set[str]] = {}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ours_out = work / "ours"
    run = run_measured(
        [sys.executable, __file__, "--run-ours", "--raw", str(raw), "--target", str(target), "--out", str(ours_out),
         "--k", str(k), "--jobs", str(args.jobs), "--seed", str(args.seed), "--min-length", str(args.min_length)],
        env=env, log=work / "ours.log",
    )
    if run["returncode"] != 0:
        raise SystemExit(f"our run failed; see {work / 'ours.log'}")
    detail = json.loads(run["stdout"].strip().splitlines()[-1])
    ids = [json.loads(line)["id"] for line in open(ours_out / "selected.jsonl", encoding="utf-8")]
    selections["ours"] = set(ids)
    share, counts = domain_share(ids, domain_of, args.target_domain)
    results["ours"] = {"docs_per_s": n_docs / run["wall_s"], "mb_per_s": mb / run["wall_s"], "wall_s": run["wall_s"],
                       "peak_mb": run["peak_mb"], "target_share": share, "selected": len(ids), "domains": counts,
                       "excluded_short": detail["excluded_short"], "min_length": args.min_length, "times": detail["times"]}

    if not args.skip_reference:
        python = ensure_reference_env(work / "reference-venv")
        ref_work = work / "reference"
        run = run_measured(
            [str(python), str(HERE / "_dsir_reference.py"), "--raw", str(raw), "--target", str(target),
             "--work", str(ref_work), "--k", str(k), "--jobs", str(args.jobs), "--seed", str(args.seed),
             "--buckets", str(BUCKETS)],
            log=work / "reference.log",
        )
        if run["returncode"] != 0:
            raise SystemExit(f"the reference run failed; see {work / 'reference.log'}")
        detail = json.loads(run["stdout"].strip().splitlines()[-1])
        ids = json.loads((ref_work / "selected_ids.json").read_text())
        selections["reference"] = set(ids)
        share, counts = domain_share(ids, domain_of, args.target_domain)
        results["reference"] = {"docs_per_s": n_docs / run["wall_s"], "mb_per_s": mb / run["wall_s"],
                                "wall_s": run["wall_s"], "peak_mb": run["peak_mb"], "target_share": share,
                                "selected": len(ids), "domains": counts,
                                "min_length": detail["min_example_length"], "times": detail["times"]}

    for name, value in kl_reductions(raw, target, selections, args.jobs).items():
        results[name]["kl_reduction"] = value
    summary = {**results, "docs": n_docs, "mb": mb, "k": k, "jobs": args.jobs, "target_domain": args.target_domain,
               "memory": "peak PSS summed over the process tree"}
    if "reference" in results:
        summary["ratio"] = results["ours"]["docs_per_s"] / results["reference"]["docs_per_s"]
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
