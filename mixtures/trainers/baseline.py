"""The unigram baseline: bits per byte of a byte-frequency model fitted on a run's training mixture.

A proxy model that has learned anything beats it; the proxy-run asset check compares against it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.trainers.tokens import EOD

_CHUNK = 1 << 24


def byte_histogram(tokens: np.ndarray) -> np.ndarray:
    """Counts of each byte value (end-of-document bytes not counted), float64 of length 256."""
    counts = np.zeros(256, dtype=np.float64)
    for lo in range(0, len(tokens), _CHUNK):
        counts += np.bincount(np.asarray(tokens[lo:lo + _CHUNK]), minlength=256)
    counts[EOD] = 0.0
    return counts


def mixture_distribution(histograms: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The byte distribution of the mixture: sum_d w_d p_d, each p_d add-1/2 smoothed (EOD excluded)."""
    p = np.zeros(256, dtype=np.float64)
    for hist, w in zip(histograms, weights, strict=True):
        if w > 0:
            smoothed = hist + 0.5
            smoothed[EOD] = 0.0
            p += w * smoothed / smoothed.sum()
    return p / p.sum()


def unigram_bits(
    histograms: Sequence[np.ndarray], weights: np.ndarray, windows: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """Bits per byte of the mixture's unigram model on each name's evaluation windows (targets only)."""
    p = mixture_distribution(histograms, np.asarray(weights, dtype=np.float64))
    log2p = np.log2(np.where(p > 0, p, 1.0))  # EOD has p = 0 and is never a scored target
    out = {}
    for name, win in windows.items():
        targets = np.asarray(win)[:, 1:].reshape(-1) if len(win) else np.zeros(0, dtype=np.uint8)
        targets = targets[targets != EOD]
        out[name] = float(-log2p[targets].mean()) if len(targets) else math.nan
    return out


def unigram_baseline(
    config: ProjectConfig, catalog: pd.DataFrame, weights: Mapping[str, float], model: str = "tiny",
    tokens: int | None = None,
) -> dict[str, float]:
    """Per eval name (training domains and target sets), bits per byte of the unigram model fitted
    on the training split of ``weights``' mixture, on the windows a run of the ``model`` preset with
    a budget of ``tokens`` evaluates (default: the largest evaluation)."""
    from mixtures.mixture import to_vector, validate_mixture
    from mixtures.trainers.model import get_preset
    from mixtures.trainers.result import eval_names
    from mixtures.trainers.tokens import domain_tokens, eval_windows
    from mixtures.trainers.builtin import EVAL_TOKENS, eval_tokens_for

    preset = get_preset(model)
    n_eval = EVAL_TOKENS if tokens is None else eval_tokens_for(tokens)
    vector = to_vector(validate_mixture(weights, config.domain_names), config.domain_names)
    histograms, windows = [], {}
    for name in eval_names(config):
        splits = domain_tokens(config, catalog, name)
        if name in config.domain_names:
            histograms.append(byte_histogram(splits["train"]))
        windows[name] = eval_windows(splits["val"], preset.seq_len, max(1, n_eval // preset.seq_len))
    return unigram_bits(histograms, vector, windows)
