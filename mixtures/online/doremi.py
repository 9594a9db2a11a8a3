"""DoReMi (Xie et al. 2023): Group DRO over domains on the excess loss over a reference model.

After each step the per-token excess loss ``max(loss - reference_loss, 0)`` of every training
sequence is averaged per domain; a domain absent from the batch keeps its previous value (it starts
at ``log(256)``, the loss of a uniform guess over bytes), as in the authors' code. Every
``steps_per_update`` steps the mean excess ``lambda`` over that window drives

    alpha <- alpha * exp(eta * lambda),  alpha <- (1 - c) * alpha / sum(alpha) + c / k

The mixture the run stands for is the average of alpha over the steps (the paper's output).

``mode="sample"`` draws each batch from alpha. ``mode="reweight_loss"`` is the authors' code's
variant: batches are drawn from the fixed initial mixture and each sequence's loss is weighted by
``alpha_d / initial_d`` of its domain.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mixtures.errors import TrainerError
from mixtures.online.base import OnlineSchedule, exp_grad_step
from mixtures.online.registry import ONLINE_METHODS, MethodSetup, OnlineMethod


def domain_excess(per_token: np.ndarray, reference: np.ndarray, chosen: np.ndarray,
                  n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-domain mean of the clipped per-token excess loss, and which domains were in the batch."""
    excess = np.maximum(np.asarray(per_token) - np.asarray(reference), 0.0).mean(axis=1)
    count = np.bincount(chosen, minlength=n)
    sums = np.bincount(chosen, weights=excess, minlength=n)
    present = count > 0
    return np.where(present, sums / np.maximum(count, 1), 0.0), present


class DoReMiSchedule(OnlineSchedule):
    """DoReMi's domain weights; ``reference`` is the reference model (a torch module, eval mode)."""

    method = "doremi"
    needs = frozenset({"per_token_loss", "reference_loss"})

    def __init__(self, init: np.ndarray, reference: Any, *, eta: float = 1.0, smoothing: float = 1e-3,
                 steps_per_update: int = 1, output: str = "average", mode: str = "sample") -> None:
        super().__init__(init, steps_per_update=steps_per_update, smoothing=smoothing, output=output)
        if mode not in ("sample", "reweight_loss"):
            raise ValueError(f"DoReMi mode must be 'sample' or 'reweight_loss', not {mode!r}")
        self.reference = reference
        self.eta = float(eta)
        self.mode = mode
        self.sampling = self.policy.copy()
        if mode == "sample":  # no per-sequence loss weights: the trainer keeps its plain mean loss
            self.sample_weights = None
        self._last = np.full(self.n, math.log(256))
        self._excess = np.zeros(self.n)
        self._seen = 0
        self.excess_history: list[list[float]] = []

    def weights(self, step: int) -> np.ndarray:
        return self.policy if self.mode == "sample" else self.sampling

    def sample_weights(self, step: int, losses: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        """Per-sequence loss weights ``alpha_d / initial_d`` (``reweight_loss`` mode only)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self.sampling > 0, self.policy / self.sampling, 0.0)
        return ratio[np.asarray(chosen)]

    def _observe(self, step: int, signals: dict[str, Any]) -> None:
        excess, present = domain_excess(signals["per_token_loss"], signals["reference_loss"], signals["chosen"], self.n)
        self._last = np.where(present, excess, self._last)
        self._excess += self._last
        self._seen += 1
        if (step + 1) % self.steps_per_update == 0:
            mean = self._excess / self._seen
            self.excess_history.append([float(x) for x in mean])
            self._update(step, exp_grad_step(self.policy, mean, self.eta, self.smoothing))
            self._excess = np.zeros(self.n)
            self._seen = 0

    def _extra_state(self) -> dict[str, Any]:
        return {"excess": [float(x) for x in self._excess], "seen": self._seen, "excess_history": self.excess_history,
                "last": [float(x) for x in self._last]}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._excess = np.asarray(state["excess"], dtype=np.float64)
        self._seen = int(state["seen"])
        self._last = np.asarray(state["last"], dtype=np.float64)
        self.excess_history = [list(x) for x in state["excess_history"]]

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "excess_history": self.excess_history}


def _build(setup: MethodSetup, **overrides: Any) -> DoReMiSchedule:
    if setup.reference is None:
        raise TrainerError("DoReMi needs a reference model (see mixtures.online.reference.train_reference).")
    c = setup.section
    return DoReMiSchedule(setup.init, setup.reference,
                          **{**setup.common, "eta": c.eta, "smoothing": c.smoothing, "mode": c.mode, **overrides})


ONLINE_METHODS.add("doremi", OnlineMethod(build=_build, needs_reference=True))
