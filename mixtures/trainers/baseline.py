"""The unigram baseline: bits per byte of a token-frequency model fitted on a run's training mixture.

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


def token_histogram(tokens: np.ndarray, vocab_size: int = 256, eod_id: int = EOD) -> np.ndarray:
    """Counts of each token id (end-of-document not counted), float64 of length ``vocab_size``."""
    counts = np.zeros(vocab_size, dtype=np.float64)
    for lo in range(0, len(tokens), _CHUNK):
        counts += np.bincount(np.asarray(tokens[lo:lo + _CHUNK]), minlength=vocab_size)
    counts[eod_id] = 0.0
    return counts


def mixture_distribution(histograms: Sequence[np.ndarray], weights: np.ndarray, eod_id: int = EOD) -> np.ndarray:
    """The token distribution of the mixture: sum_d w_d p_d, each p_d add-1/2 smoothed (EOD excluded)."""
    p = np.zeros(len(histograms[0]), dtype=np.float64)
    for hist, w in zip(histograms, weights, strict=True):
        if w > 0:
            smoothed = hist + 0.5
            smoothed[eod_id] = 0.0
            p += w * smoothed / smoothed.sum()
    return p / p.sum()


def unigram_bits(
    histograms: Sequence[np.ndarray], weights: np.ndarray, windows: Mapping[str, np.ndarray],
    window_bytes: Mapping[str, np.ndarray], eod_id: int = EOD,
) -> dict[str, float]:
    """Bits per byte of the mixture's unigram model on each name's evaluation windows (targets only):
    summed bits of the targets over the bytes they cover."""
    p = mixture_distribution(histograms, np.asarray(weights, dtype=np.float64), eod_id)
    log2p = np.log2(np.where(p > 0, p, 1.0))  # EOD has p = 0 and is never a scored target
    out = {}
    for name, win in windows.items():
        if not len(win):
            out[name] = math.nan
            continue
        targets = np.asarray(win)[:, 1:].reshape(-1)
        covered = np.asarray(window_bytes[name])[:, 1:].reshape(-1)
        keep = targets != eod_id
        total = covered[keep].sum()
        out[name] = float(-log2p[targets[keep]].sum() / total) if total else math.nan
    return out


def unigram_baseline(
    config: ProjectConfig, catalog: pd.DataFrame, weights: Mapping[str, float], model: str = "tiny",
    tokens: int | None = None,
) -> dict[str, float]:
    """Per eval name (training domains and target sets), bits per byte of the unigram model fitted
    on the training split of ``weights``' mixture, on the windows a run of the ``model`` preset with
    a budget of ``tokens`` evaluates (default: the largest evaluation)."""
    from mixtures.mixture import to_vector, validate_mixture
    from mixtures.tokenizers import project_tokenizer
    from mixtures.trainers.data import TrainingData
    from mixtures.trainers.evaluation import EVAL_TOKENS, eval_tokens_for
    from mixtures.trainers.model import get_preset

    preset = get_preset(model)
    tokenizer = project_tokenizer(config)
    n_eval = EVAL_TOKENS if tokens is None else eval_tokens_for(tokens)
    vector = to_vector(validate_mixture(weights, config.domain_names), config.domain_names)
    data = TrainingData(config, catalog, preset.seq_len, n_eval, tokenizer)
    histograms = [token_histogram(t, tokenizer.vocab_size, data.eod_id) for t in data.train]
    return unigram_bits(histograms, vector, data.eval, data.eval_bytes, data.eod_id)
