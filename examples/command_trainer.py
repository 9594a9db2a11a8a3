"""An example "own trainer" for ``proxy.trainer: command``: a token bigram model.

Usage (from a project config)::

    proxy:
      trainer: command
      command: {args: [python, examples/command_trainer.py, "{input}", "{output}"], timeout_s: 600}

It reads the input JSON written by mixtures (contract version 2: the mixture, token budget, seed,
the tokenizer and the token files of every domain), "trains" an add-1/2 smoothed bigram model on
``tokens`` tokens drawn from the domains by the mixture weights (seeded), and writes the metrics
JSON: validation bits per byte (summed bits over the bytes the tokens cover, ``val_bytes``) of every
training domain and target set at four points along the budget. Only numpy is needed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

CHUNK = 4096


def load(path: str | None, dtype: str = "uint8") -> np.ndarray:
    if not path or not Path(path).exists() or Path(path).stat().st_size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")


def bits_per_byte(counts: np.ndarray, tokens: np.ndarray, covered: np.ndarray, eod: int) -> float | None:
    """Bits per byte of the smoothed bigram model on ``tokens`` (end-of-document targets skipped)."""
    if len(tokens) < 2:
        return None
    prev, nxt = np.asarray(tokens[:-1], dtype=np.int64), np.asarray(tokens[1:], dtype=np.int64)
    keep = nxt != eod
    probs = (counts + 0.5) / (counts + 0.5).sum(axis=1, keepdims=True)
    return float(-np.log2(probs[prev[keep], nxt[keep]]).sum() / np.asarray(covered[1:], dtype=np.int64)[keep].sum())


def main(input_path: str, output_path: str) -> int:
    spec = json.loads(Path(input_path).read_text(encoding="utf-8"))
    domains = spec["domains"]
    weights = np.array([spec["weights"].get(d, 0.0) for d in domains], dtype=np.float64)
    tokenizer = spec["tokenizer"]
    dtype, vocab, eod = tokenizer["dtype"], tokenizer["vocab_size"], tokenizer["eod_id"]
    files = spec["token_files"]
    train = [load(files[d]["train"], dtype) for d in domains]
    val = {name: (load(f["val"], dtype)[:65536], load(f["val_bytes"], "uint16")[:65536]) for name, f in files.items()}
    rng = np.random.default_rng(spec["seed"])
    counts = np.zeros((vocab, vocab), dtype=np.float64)
    steps = max(1, spec["tokens"] // CHUNK)
    evals, marks = [], {max(1, round(k * steps / 4)) for k in range(1, 5)}
    for step in range(1, steps + 1):
        d = rng.choice(len(domains), p=weights / weights.sum())
        if len(train[d]) <= CHUNK:
            print(f"domain {domains[d]!r} has too little training data", file=sys.stderr)
            return 2
        start = int(rng.integers(0, len(train[d]) - CHUNK))
        window = np.asarray(train[d][start:start + CHUNK], dtype=np.int64)
        np.add.at(counts, (window[:-1], window[1:]), 1.0)
        if step in marks:
            loss = {n: b for n, (v, c) in val.items() if (b := bits_per_byte(counts, v, c, eod)) is not None}
            evals.append({"step": step, "n_tokens": step * CHUNK, "loss": loss})
    result = {"n_params": vocab * vocab, "loss_unit": "bits_per_byte", "evals": evals}
    Path(output_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: command_trainer.py INPUT_JSON OUTPUT_JSON", file=sys.stderr)
        sys.exit(64)
    sys.exit(main(sys.argv[1], sys.argv[2]))
