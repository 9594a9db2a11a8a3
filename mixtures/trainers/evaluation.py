"""How a proxy run is evaluated: the validation-token policy and the bits-per-byte measurement.

Every eval name (training domain or held-out target set) is measured on fixed windows of its
validation split; the loss is the summed nats of the windows' targets over the UTF-8 bytes those
targets cover, divided by ln 2 (end-of-document targets excluded), so it is bits per byte under any
tokenizer and, for the byte tokenizer, the mean per-byte loss in bits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

EVAL_TOKENS = 8192          # at most this many validation tokens per name and eval point (fixed windows)
MIN_EVAL_TOKENS = 2048


def eval_tokens_for(budget: int) -> int:
    """Validation tokens per eval name and eval point: 1/16 of the budget within [2048, 8192]
    (so evaluation costs a short run no more than its training)."""
    return int(min(EVAL_TOKENS, max(MIN_EVAL_TOKENS, budget // 16)))


def eval_window_count(eval_tokens: int, seq_len: int) -> int:
    """How many windows of ``seq_len`` targets hold ``eval_tokens`` (at least one)."""
    return max(1, eval_tokens // seq_len)


def token_losses(model, tokens):
    """(batch, seq) cross-entropy in nats (fp32) of ``tokens`` (batch, seq + 1) under ``model``."""
    from torch.nn import functional as F

    logits = model(tokens[:, :-1])
    target = tokens[:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1),
                           reduction="none").view(target.shape)


def bits_per_byte(model, windows: Mapping[str, np.ndarray], window_bytes: Mapping[str, np.ndarray], *,
                  eod_id: int, chunk: int, device, autocast) -> dict[str, float]:
    """Bits per byte per eval name on its fixed windows (``nan`` for a name without windows)."""
    import torch

    out: dict[str, float] = {}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for name, win in windows.items():
            if len(win) == 0:
                out[name] = math.nan
                continue
            nats, count = 0.0, 0
            for lo in range(0, len(win), chunk):
                part = torch.from_numpy(win[lo:lo + chunk].astype(np.int64)).to(device)
                with autocast():
                    loss = token_losses(model, part).reshape(-1)
                target = part[:, 1:].reshape(-1)
                keep = target != eod_id
                nats += float(loss[keep].sum())
                covered = torch.from_numpy(window_bytes[name][lo:lo + chunk, 1:].astype(np.int64)).reshape(-1)
                count += int(covered[keep.cpu()].sum())
            out[name] = nats / max(count, 1) / math.log(2) if count else math.nan
    model.train(was_training)
    return out
