"""Benchmark the built-in proxy trainer's training step against a matmul of the training dtype.

    python bench/trainer.py DATA_PATH [--models tiny,1m] [--seconds 20] [--threads N]
                            [--device auto|cpu|cuda] [--precision auto|fp32|bf16] [--compile | --no-compile]
                            [--vocab 256]

DATA_PATH is a file or folder whose bytes (read recursively, up to 64 MB) are the training stream
(``--vocab`` above 256 turns byte pairs into ids of that vocabulary, for the BPE-sized heads).
Each preset runs the trainer's own step (``mixtures.trainers.builtin.train_step``: the runtime's
precision, compile flag and micro-batch accumulation, batches drawn in the loop from the stream),
and this process measures a large matmul of the training dtype just before and just after (fp32
1024^3 on CPU; bf16, or TF32 for fp32 training, 8192^3 on CUDA); their mean is the machine's limit,
so background load affects both sides alike.

FLOPs per token (``ModelPreset.flops_per_token``): ``6 (N + V d)`` for the parameter matmuls (N the
non-embedding parameters, ``V d`` the output head; the input embedding is a lookup) plus ``12 L d T``
for attention (PaLM, appendix B). ``mfu = model_flops_per_s / peak_flops_per_s``.

``kernel_bound_mfu`` is the MFU a step would reach if it were only its matmuls and attention, each
run standalone at its own shape (``kernel_floor_s_per_step``): the limit small shapes put on a preset,
whatever the overhead around them.

Prints one JSON object last: ``{"presets": {name: {"tokens_per_s", "model_flops_per_s",
"peak_flops_per_s", "mfu", "device", ...}}, "flops_per_token": "...", "uptime": ..., "torch": ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MAX_BYTES = 64 << 20
FLOPS_RULE = "6 * (non-embedding params + vocab * d_model) + 12 * layers * d_model * seq_len, per token"


def read_tokens(path: Path, vocab: int) -> np.ndarray:
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
    raw = np.frombuffer(b"".join(chunks), dtype=np.uint8)
    if vocab <= 256:
        return raw
    pairs = raw[: len(raw) // 2 * 2].astype(np.int64).reshape(-1, 2)
    return ((pairs[:, 0] * 256 + pairs[:, 1]) % vocab).astype(np.int64)


def peak_rate(seconds: float, device: str, precision: str) -> float:
    """FLOP/s of a large square matmul in the training dtype, best of repeated timings over ``seconds``."""
    import torch

    cuda = device == "cuda"
    n = 8192 if cuda else 1024
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    for _ in range(3):
        a @ b
    sync()
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        for _ in range(4):
            a @ b
        sync()
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - t))
    return best


def kernel_floor_seconds(preset, vocab: int, device: str, precision: str, repeats: int = 5) -> float:
    """Seconds per training step of the step's matmuls and attention alone, each timed standalone at
    its own shape (forward, input gradient and weight gradient of every linear layer and the head;
    attention forward and backward): what one step costs with no other operation and no overhead."""
    import torch
    from torch.nn import functional as F

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    rows = preset.micro_batch_for(None) * preset.seq_len
    passes = preset.batch_size * preset.seq_len / rows
    d = preset.d_model
    hidden = preset.d_ff if preset.arch == "llama" else 4 * d
    up = 2 * hidden if preset.arch == "llama" else hidden
    layer = [(d, 3 * d), (d, d), (d, up), (hidden, d)]
    shapes = layer * preset.n_layers + [(d, vocab)]

    def timed(fn) -> float:
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(repeats):
            fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t) / repeats

    total = 0.0
    for k, n in shapes:
        x = torch.randn(rows, k, device=device, dtype=dtype)
        w = torch.randn(k, n, device=device, dtype=dtype)
        g = torch.randn(rows, n, device=device, dtype=dtype)
        total += timed(lambda: x @ w) + timed(lambda: g @ w.t()) + timed(lambda: x.t() @ g)
    heads = preset.n_heads
    q = torch.randn(preset.micro_batch_for(None), heads, preset.seq_len, d // heads, device=device, dtype=dtype,
                    requires_grad=True)

    def attention():
        F.scaled_dot_product_attention(q, q, q, is_causal=True).sum().backward()

    total += timed(attention) * preset.n_layers
    return total * passes


def bench_preset(name: str, tokens: np.ndarray, args) -> dict:
    import torch

    from mixtures.trainers.builtin import train_step
    from mixtures.trainers.model import build_model, get_preset
    from mixtures.trainers.runtime import compiled, configure_backends, make_optimizer, resolve_runtime

    preset = get_preset(name)
    proxy = SimpleNamespace(device=args.device, precision=args.precision, compile=args.compile,
                            micro_batch=args.micro_batch)
    runtime = resolve_runtime(proxy, preset)
    configure_backends(runtime)
    device = runtime.torch_device()
    torch.manual_seed(0)
    model = build_model(preset, args.vocab).to(device)
    forward = compiled(model, runtime)
    optimizer = make_optimizer(model, preset, runtime)
    rng = np.random.default_rng(0)
    width = preset.seq_len + 1

    def batch():
        starts = rng.integers(0, len(tokens) - width, preset.batch_size)
        return torch.from_numpy(np.stack([tokens[s:s + width] for s in starts]).astype(np.int64)).to(device)

    def step():
        return train_step(forward, optimizer, batch(), micro_batch=runtime.micro_batch, autocast=runtime.autocast)

    def sync():
        if runtime.device == "cuda":
            torch.cuda.synchronize()

    before = peak_rate(args.peak_seconds, runtime.device, runtime.precision)
    for _ in range(args.warmup):  # includes torch.compile's first passes
        step()
    sync()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds or steps < 2:
        step()
        steps += 1
    sync()
    elapsed = time.perf_counter() - start
    after = peak_rate(args.peak_seconds, runtime.device, runtime.precision)
    tokens_per_s = steps * preset.tokens_per_step / elapsed
    model_flops = preset.flops_per_token(args.vocab) * tokens_per_s
    peak = (before + after) / 2
    floor = kernel_floor_seconds(preset, args.vocab, runtime.device, runtime.precision)
    return {
        "tokens_per_s": round(tokens_per_s, 1), "model_flops_per_s": round(model_flops),
        "peak_flops_per_s": round(peak), "mfu": round(model_flops / peak, 3),
        "device": torch.cuda.get_device_name() if runtime.device == "cuda" else "cpu",
        "precision": runtime.precision, "compile": runtime.compile, "micro_batch": runtime.micro_batch,
        "n_params": preset.n_params, "embedding_params": preset.embedding_params(args.vocab),
        "flops_per_token": preset.flops_per_token(args.vocab), "six_n_mfu": round(6 * preset.n_params * tokens_per_s / peak, 3),
        "batch_tokens": preset.tokens_per_step, "steps": steps, "seconds": round(elapsed, 2),
        "peak_before_after": [round(before), round(after)],
        "kernel_floor_s_per_step": round(floor, 5), "step_s": round(elapsed / steps, 5),
        "kernel_bound_mfu": round(preset.flops_per_token(args.vocab) * preset.tokens_per_step / floor / peak, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--models", default="tiny", help="comma-separated presets")
    parser.add_argument("--seconds", type=float, default=20.0, help="training time measured per preset")
    parser.add_argument("--peak-seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=int, default=3, help="steps before timing (compile happens here)")
    parser.add_argument("--threads", type=int, default=None, help="default: all cores this process may use")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--compile", default=None, action=argparse.BooleanOptionalAction)
    parser.add_argument("--micro-batch", type=int, default=None)
    parser.add_argument("--vocab", type=int, default=256)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as mixtures.trainers does; must precede torch

    import torch

    from mixtures.resample.parallel import available_cores

    threads = args.threads or available_cores()
    torch.set_num_threads(threads)
    data = read_tokens(args.data, args.vocab)
    presets = {name: bench_preset(name, data, args) for name in args.models.split(",") if name}
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(json.dumps({"presets": presets, "flops_per_token": FLOPS_RULE, "threads": threads, "vocab": args.vocab,
                      "uptime": uptime, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
