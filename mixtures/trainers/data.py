"""What one proxy run reads: training token arrays per domain and fixed evaluation windows per name."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.errors import TrainerError
from mixtures.tokenizers import Tokenizer
from mixtures.trainers.evaluation import eval_window_count
from mixtures.trainers.result import eval_names
from mixtures.corpus.revealed import revealed_positions
from mixtures.trainers.tokens import document_subset, domain_tokens, eval_windows


class TrainingData:
    """Training arrays per domain (config order), evaluation windows and their byte counts per eval name.

    ``train[d]`` is domain ``d``'s token array (tiled to one window when shorter); ``eval[name]`` the
    ``(n, seq_len + 1)`` windows of its validation split and ``eval_bytes[name]`` the UTF-8 bytes each
    of those tokens covers; ``keys[name]`` the token cache key (content, split and tokenizer).
    ``unique_tokens`` (``{domain: n}``, a run spec's) keeps only the first ``n`` training tokens of a domain
    (at least one window), so :meth:`batch` repeats that subset; ``revealed`` (``{domain: revealed}``, a run
    spec's) keeps only a domain's revealed training documents (before any ``unique_tokens`` cap).
    """

    def __init__(self, config: ProjectConfig, catalog: pd.DataFrame, seq_len: int, eval_tokens: int,
                 tokenizer: Tokenizer, unique_tokens: Mapping[str, int] | None = None,
                 revealed: Mapping[str, float] | None = None) -> None:
        self.seq_len = seq_len
        self.tokenizer = tokenizer
        self.eod_id = int(tokenizer.eod_id)
        self.train: list[np.ndarray] = []
        self.eval: dict[str, np.ndarray] = {}
        self.eval_bytes: dict[str, np.ndarray] = {}
        self.keys: dict[str, str] = {}
        width = seq_len + 1
        n_windows = eval_window_count(eval_tokens, seq_len)
        for name in eval_names(config):
            splits = domain_tokens(config, catalog, name, tokenizer)
            self.keys[name] = splits.key
            self.eval[name] = eval_windows(splits.val, seq_len, n_windows)
            self.eval_bytes[name] = eval_windows(splits.val_bytes, seq_len, n_windows)
            if name in config.domain_names:
                train = splits.train
                if revealed and name in revealed:
                    positions = revealed_positions(config, name, "train", revealed[name])  # the spec's value
                    train = document_subset(train, self.eod_id, positions)
                if unique_tokens and name in unique_tokens:
                    train = train[:max(int(unique_tokens[name]), width)]
                self.train.append(np.resize(np.asarray(train), width) if 0 < len(train) < width else train)

    def batch(self, weights: np.ndarray, seed: int, step: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """``(domain index per sequence, (batch, seq+1) int64 tokens)``, a pure function of (seed, step)."""
        rng = np.random.default_rng([seed, step, 0xBA7C])
        domains = rng.choice(len(weights), size=batch_size, p=weights)
        width = self.seq_len + 1
        out = np.empty((batch_size, width), dtype=np.int64)
        for i, d in enumerate(domains):
            tokens = self.train[d]
            if len(tokens) == 0:
                raise TrainerError(f"domain #{d} has weight > 0 but no training tokens.")
            start = int(rng.integers(0, len(tokens) - width + 1))
            out[i] = tokens[start:start + width]
        return domains, out
