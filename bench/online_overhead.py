"""Benchmark the cost of each online mixing method against a plain (static) run of the same trainer.

    python bench/online_overhead.py CONFIG [--model micro] [--tokens 102400] [--methods doremi,aioli,dga,reweight]

CONFIG is a project YAML whose domains (and target sets) are the data. Every run trains the built-in
proxy at the same scale and seed in a fresh temporary storage root (the byte-token cache is shared).
The peer is a static run of the initial mixture, trained first and again last (its mean is the
baseline, so background load affects both sides alike). For each method: wall seconds of the online
run, the seconds spent in its extra signals (``overhead_seconds``; for DoReMi without the reference's
training, reported apart), and the ratio to the static run.

Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("config", help="project YAML (the data)")
    parser.add_argument("--model", default="micro")
    parser.add_argument("--tokens", type=int, default=102_400)
    parser.add_argument("--methods", default="doremi,aioli,dga,reweight")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    from mixtures.config import ScaleConfig, load_config
    from mixtures.corpus import build_catalog
    from mixtures.runs import RunSpec
    from mixtures.mixture import from_vector
    from mixtures.online.runner import initial_weights, online_spec, run_online
    from mixtures.trainers import train_proxy

    base = load_config(args.config)
    scale = ScaleConfig(model=args.model, tokens=args.tokens)
    with tempfile.TemporaryDirectory() as tmp:
        config = base.model_copy(update={"storage": base.storage.model_copy(
            update={"root": str(Path(tmp) / "root"), "cache": str(Path(tmp) / "cache")})})
        catalog = build_catalog(config)
        weights = from_vector(initial_weights(config, catalog), config.domain_names)

        def static(label: str) -> float:
            spec = RunSpec.create(label, weights, scale.model, scale.tokens, 0, threads=args.threads)
            tick = time.perf_counter()
            result = train_proxy(config, spec, catalog, Path(tmp) / label)
            assert result.finished, result.reason
            return time.perf_counter() - tick

        static("warmup")  # builds the token cache; not timed
        before = static("static-before")
        methods = {}
        for method in [m for m in args.methods.split(",") if m]:
            tick = time.perf_counter()
            spec = online_spec(config, catalog, method, 0, scale)
            spec = RunSpec.from_record({**spec.record(), "threads": args.threads})
            result = run_online(config, catalog, spec, workdir=Path(tmp) / spec.run_id)
            wall = time.perf_counter() - tick
            reference = result.details.get("reference", {}).get("seconds", 0.0)
            methods[method] = {
                "wall_seconds": round(wall, 3), "reference_seconds": round(reference, 3),
                "online_run_seconds": round(result.train.seconds, 3),
                "signal_seconds": round(result.overhead_seconds - reference, 3),
                "compute_tokens": result.compute_tokens, "probe_tokens": result.probe_tokens,
                "mixture": {k: round(v, 4) for k, v in result.mixture.items()},
            }
        after = static("static-after")
    peer = (before + after) / 2
    for entry in methods.values():
        entry["online_run_vs_static"] = round(entry["online_run_seconds"] / peer, 3)
        entry["wall_vs_static"] = round(entry["wall_seconds"] / peer, 3)
    print(json.dumps({"model": args.model, "tokens": args.tokens, "threads": args.threads,
                      "static_seconds": {"before": round(before, 3), "after": round(after, 3)},
                      "methods": methods}, sort_keys=True))


if __name__ == "__main__":
    main()
