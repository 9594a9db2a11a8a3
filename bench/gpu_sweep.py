"""A small BPE proxy sweep through the built-in trainer (the GPU check's second half).

    python bench/gpu_sweep.py [--model 5m] [--runs 4] [--tokens 8000000] [--device auto] [--out DIR]

Trains a byte-level BPE (4096 tokens) on the shipped fixture corpus (offline: nothing is downloaded),
then ``--runs`` proxy runs of ``--model`` on as many mixtures (natural, uniform, then seeded Dirichlet
draws), one after another in this process, and prints one JSON object last: per run its final
bits-per-byte losses, wall seconds and training tokens/s, plus the sweep's total wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="5m")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=8_000_000)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--out", type=Path, default=None, help="storage root (default: a temporary folder)")
    args = parser.parse_args()

    from mixtures.corpus import build_catalog, natural_mixture
    from mixtures.runs import RunSpec
    from mixtures.trainers import train_proxy
    from tests.proxy_fixture import fixture_config

    root = args.out or Path(tempfile.mkdtemp(prefix="gpu-sweep-"))
    config = fixture_config(root, eval_points=4)
    config = config.model_copy(update={
        "corpus": config.corpus.model_copy(update={"tokenizer": "bpe", "bpe_vocab_size": 4096, "bpe_sample_mb": 4}),
        "proxy": config.proxy.model_copy(update={"device": args.device})})
    started = time.perf_counter()
    catalog = build_catalog(config)
    tokenizer_seconds = time.perf_counter() - started
    domains = config.domain_names
    rng = np.random.default_rng(0)
    mixtures = {"natural": natural_mixture(catalog), "uniform": {d: 1 / len(domains) for d in domains}}
    while len(mixtures) < args.runs:
        mixtures[f"dirichlet-{len(mixtures) - 2:03d}"] = dict(zip(domains, rng.dirichlet(np.ones(len(domains)))))
    runs = {}
    for name, weights in list(mixtures.items())[: args.runs]:
        spec = RunSpec.create(name, weights, args.model, args.tokens, 0)
        tick = time.perf_counter()
        result = train_proxy(config, spec, catalog, root / "runs" / spec.run_id)
        runs[spec.run_id] = {"status": result.status, "reason": result.reason,
                             "wall_s": round(time.perf_counter() - tick, 2),
                             "tokens_per_s": round(result.extra.get("tokens_per_s", float("nan")), 1),
                             "final_bits_per_byte": {k: round(v, 4) for k, v in result.final_losses().items()},
                             "runtime": result.extra.get("runtime"), "device": result.extra.get("device")}
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(json.dumps({"model": args.model, "tokens": args.tokens, "runs": runs,
                      "tokenizer_and_catalog_s": round(tokenizer_seconds, 2),
                      "wall_s": round(time.perf_counter() - started, 2), "uptime": uptime}))


if __name__ == "__main__":
    main()
