"""Benchmark the built-in proxy trainer's training step against this machine's fp32 matmul rate.

    python bench/trainer.py DATA_PATH [--model tiny] [--seconds 20] [--threads N]

DATA_PATH is a file or folder whose bytes (read recursively, up to 64 MB) are the training stream.
Runs the trainer's own step (``mixtures.trainers.builtin.train_step``) on batches of the preset's
shape, and measures a large fp32 matmul with the same thread count just before and just after
(their mean is the machine limit, so background load affects both sides alike).

Prints one JSON object last: ``tokens_per_s``, ``model_flops_per_s`` (6 * N * tokens/s with N the
non-embedding parameters), ``matmul_flops_per_s``, ``flops_ratio`` and the settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MAX_BYTES = 64 << 20


def read_bytes(path: Path) -> np.ndarray:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    chunks, total = [], 0
    for file in files:
        data = file.read_bytes()[: MAX_BYTES - total]
        chunks.append(data)
        total += len(data)
        if total >= MAX_BYTES:
            break
    if total < 1 << 16:
        raise SystemExit(f"{path}: need at least 64 KB of data, found {total} bytes")
    return np.frombuffer(b"".join(chunks), dtype=np.uint8)


def matmul_rate(seconds: float, n: int = 1024) -> float:
    """fp32 FLOP/s of an n x n x n matmul, best of repeated timings over ``seconds``."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        for _ in range(4):
            a @ b
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - t))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--seconds", type=float, default=20.0, help="training time measured")
    parser.add_argument("--threads", type=int, default=None, help="default: all cores this process may use")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as mixtures.trainers does; must precede torch

    import torch

    from mixtures.resample.parallel import available_cores
    from mixtures.trainers.builtin import make_optimizer, train_step
    from mixtures.trainers.model import build_model, get_preset

    threads = args.threads or available_cores()
    torch.set_num_threads(threads)
    data = read_bytes(args.data)
    preset = get_preset(args.model)
    torch.manual_seed(0)
    model = build_model(preset)
    optimizer = make_optimizer(model, preset)
    rng = np.random.default_rng(0)
    width = preset.seq_len + 1

    def batch():
        starts = rng.integers(0, len(data) - width, preset.batch_size)
        return torch.from_numpy(np.stack([data[s:s + width] for s in starts]).astype(np.int64))

    before = matmul_rate(3.0)
    for _ in range(3):
        train_step(model, optimizer, batch())
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        train_step(model, optimizer, batch())
        steps += 1
    elapsed = time.perf_counter() - start
    after = matmul_rate(3.0)
    tokens_per_s = steps * preset.tokens_per_step / elapsed
    model_flops = 6 * preset.n_params * tokens_per_s
    matmul = (before + after) / 2
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(json.dumps({
        "model": args.model, "n_params": preset.n_params, "d_model": preset.d_model, "n_layers": preset.n_layers,
        "seq_len": preset.seq_len, "batch_size": preset.batch_size, "threads": threads, "steps": steps,
        "seconds": round(elapsed, 2), "tokens_per_s": round(tokens_per_s, 1),
        "model_flops_per_s": round(model_flops), "matmul_flops_per_s": round(matmul),
        "matmul_before_after": [round(before), round(after)], "flops_ratio": round(model_flops / matmul, 3),
        "seconds_per_1m_tokens": round(1e6 / tokens_per_s, 1), "load_average_1min": load,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
