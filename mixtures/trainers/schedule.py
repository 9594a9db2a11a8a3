"""Mixture schedules: the domain weights a training loop samples from, step by step.

The built-in trainer asks its schedule for weights before every step and reports what happened
after it; online methods (DoReMi-style reweighting, ...) implement the same small protocol.

A schedule that needs more than the per-domain losses (gradients, evaluation losses, a reference
model's loss...) offers ``signal_source(view)``: the trainer hands it a :class:`TrainingView` of
the run once, and calls the returned :data:`SignalSource` after every step; what it returns is
merged into the signals ``observe`` gets. The trainer owns this protocol and knows nothing else of
the online methods that implement it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mixtures.errors import MixtureError


@runtime_checkable
class MixtureSchedule(Protocol):
    """What the training loop needs from a schedule.

    ``weights(step)`` returns a probability vector over ``config.domain_names`` (same order).
    ``observe(step, signals)`` receives after each step at least ``domain_loss`` (per-domain mean
    training loss in nats per byte in this batch, ``nan`` for domains absent from it) and
    ``domain_count`` (sequences per domain). ``final_mixture()`` is the mixture the schedule stands
    for at the end (for a static schedule, its weights).

    Schedules with state should also offer ``state_dict() -> dict`` and ``load_state_dict(dict)``
    (JSON-able values) so a resumed run continues exactly; the loop uses them when present.
    """

    def weights(self, step: int) -> np.ndarray: ...

    def observe(self, step: int, signals: dict[str, Any]) -> None: ...

    def final_mixture(self) -> np.ndarray: ...


class TrainingView(Protocol):
    """What a run shows its schedule (read only): the model, its data and how it computes a loss.

    ``train_tokens[d]``: domain ``d``'s training token array (config order); ``eval_windows[name]``:
    the ``(n, seq_len + 1)`` validation windows of every training domain and target set;
    ``token_loss(model, tokens)``: the ``(batch, seq)`` per-token loss in nats of a ``(batch, seq + 1)``
    token tensor, computed in the run's precision; ``model`` the torch module being trained, on
    ``device``; ``seed`` the run's seed (signals that draw must seed from it and the step).
    """

    model: Any
    device: Any
    seed: int
    seq_len: int
    train_tokens: Sequence[np.ndarray]
    eval_windows: Mapping[str, np.ndarray]

    def token_loss(self, model: Any, tokens: Any) -> Any: ...


SignalSource = Callable[[int, Any, np.ndarray, Any], dict[str, Any]]
"""``(step, batch tokens, domain per sequence, per-token loss (batch, seq)) -> extra signals``."""


@runtime_checkable
class SignalSchedule(Protocol):
    """A schedule that asks for extra signals (see the module docstring)."""

    def signal_source(self, view: TrainingView) -> SignalSource | None: ...


def check_simplex(weights: np.ndarray, n: int, where: str = "schedule") -> np.ndarray:
    """``weights`` as float64, refused unless finite, >= 0, of length ``n`` and summing to 1."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or abs(w.sum() - 1.0) > 1e-6:
        raise MixtureError(f"{where}: weights {w.tolist()} are not a probability vector over {n} domains.")
    return w / w.sum()


class StaticSchedule:
    """The same weights at every step (what a proxy run of a fixed mixture uses)."""

    def __init__(self, weights: np.ndarray) -> None:
        w = np.asarray(weights, dtype=np.float64)
        self._weights = check_simplex(w, len(w), "static schedule")

    def weights(self, step: int) -> np.ndarray:
        return self._weights

    def observe(self, step: int, signals: dict[str, Any]) -> None:
        return None

    def final_mixture(self) -> np.ndarray:
        return self._weights

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        return None
