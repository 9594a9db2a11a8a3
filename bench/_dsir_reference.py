"""Run the reference DSIR (``data-selection`` 1.0.3) end to end; print one JSON line.

Runs inside the benchmark's own virtual environment (see bench/dsir.py), never the project's.
Its global NumPy RNG is seeded so its Gumbel noise is repeatable.
"""

import argparse
import json
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
from data_selection import HashedNgramDSIR


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--k", type=int, required=True)
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--buckets", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    np.random.seed(args.seed)
    times = {}
    t0 = time.perf_counter()
    dsir = HashedNgramDSIR([args.raw], [args.target], cache_dir=str(work / "cache"),
                           num_proc=args.jobs, num_buckets=args.buckets)
    dsir.fit_importance_estimator(num_tokens_to_fit="auto")
    times["fit_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    dsir.compute_importance_weights()
    times["weights_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    dsir.resample(out_dir=str(work / "out"), num_to_sample=args.k, cache_dir=str(work / "resample_cache"))
    times["resample_s"] = time.perf_counter() - t2
    times["total_s"] = time.perf_counter() - t0
    domains = Counter()
    ids = []
    for path in sorted((work / "out").glob("*.jsonl")):
        with open(path) as fh:
            for line in fh:
                row = json.loads(line)
                domains[row["domain"]] += 1
                ids.append(row["id"])
    with open(work / "selected_ids.json", "w") as fh:
        json.dump(ids, fh)
    print(json.dumps({"times": times, "selected": sum(domains.values()), "domains": dict(domains),
                      "min_example_length": dsir.min_example_length}))


if __name__ == "__main__":
    main()
