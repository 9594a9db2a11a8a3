"""An example "own trainer" for ``proxy.trainer: command``: a byte bigram model.

Usage (from a project config)::

    proxy:
      trainer: command
      command: {args: [python, examples/command_trainer.py, "{input}", "{output}"], timeout_s: 600}

It reads the input JSON written by mixtures (the mixture, token budget, seed and the byte-token
files of every domain), "trains" an add-1/2 smoothed bigram model on ``tokens`` bytes drawn from the
domains by the mixture weights (seeded), and writes the metrics JSON: validation bits per byte of
every training domain and target set at four points along the budget. Only numpy is needed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

EOD = 0
CHUNK = 4096


def load(path: str | None) -> np.ndarray:
    if not path or not Path(path).exists() or Path(path).stat().st_size == 0:
        return np.zeros(0, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r")


def bits_per_byte(counts: np.ndarray, tokens: np.ndarray) -> float | None:
    """Bits per byte of the smoothed bigram model on ``tokens`` (end-of-document targets skipped)."""
    if len(tokens) < 2:
        return None
    prev, nxt = np.asarray(tokens[:-1], dtype=np.int64), np.asarray(tokens[1:], dtype=np.int64)
    keep = nxt != EOD
    probs = (counts + 0.5) / (counts + 0.5).sum(axis=1, keepdims=True)
    return float(-np.log2(probs[prev[keep], nxt[keep]]).mean())


def main(input_path: str, output_path: str) -> int:
    spec = json.loads(Path(input_path).read_text(encoding="utf-8"))
    domains = spec["domains"]
    weights = np.array([spec["weights"].get(d, 0.0) for d in domains], dtype=np.float64)
    train = [load(spec["token_files"][d]["train"]) for d in domains]
    val = {name: load(files["val"])[:65536] for name, files in spec["token_files"].items()}
    rng = np.random.default_rng(spec["seed"])
    counts = np.zeros((256, 256), dtype=np.float64)
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
            loss = {n: b for n, v in val.items() if (b := bits_per_byte(counts, v)) is not None}
            evals.append({"step": step, "n_tokens": step * CHUNK, "loss": loss})
    result = {"n_params": 256 * 256, "loss_unit": "bits_per_byte", "evals": evals}
    Path(output_path).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: command_trainer.py INPUT_JSON OUTPUT_JSON", file=sys.stderr)
        sys.exit(64)
    sys.exit(main(sys.argv[1], sys.argv[2]))
