"""Aioli-style online mixing (Chen et al. 2024): estimate a linear mixing law during training.

The linear dynamic mixing law says that training a few steps on mixture ``q`` changes the loss
of eval name ``i`` by ``dL_i = -sum_j A_ij q_j``. Each round trains ``steps_per_update`` steps on
the current weights ``p``, then one probe per domain ``j`` of ``probe_steps`` steps on
``(1 - epsilon) p + epsilon e_j``, measuring the loss of every training domain and target set on a
few fixed validation windows before and after each probe. With the probe mixtures ``Q`` (one row
per probe, invertible for ``epsilon > 0``) and the loss changes ``dL`` the round's interaction
matrix solves ``Q A^T = -dL``. The objective's gradient ``g_j = sum_i t_i A_ij`` (``t`` the target
weights; nats of target loss removed per probe) drives ``p <- p * exp(eta * g)``, smoothed toward
uniform. ``g`` is not rescaled: late in training, when probes barely move the losses and their
differences are mostly noise, the steps shrink instead of being amplified to full size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mixtures.online.base import OnlineSchedule, exp_grad_step
from mixtures.online.registry import ONLINE_METHODS, MethodSetup, OnlineMethod


def probe_mixtures(p: np.ndarray, epsilon: float) -> np.ndarray:
    """(k, k) probe mixtures: row ``j`` is ``(1 - epsilon) p + epsilon e_j``."""
    k = len(p)
    return (1.0 - epsilon) * np.tile(p, (k, 1)) + epsilon * np.eye(k)


def interaction_matrix(probes: np.ndarray, loss_change: np.ndarray) -> np.ndarray:
    """``A`` (names, k) of the linear law from probe mixtures (k, k) and loss changes (k, names)."""
    return np.linalg.solve(probes, -np.asarray(loss_change, dtype=np.float64)).T


class AioliSchedule(OnlineSchedule):
    """Aioli-style weights; ``names`` are the eval names in the order of the ``eval_loss`` signal,
    ``target_weights`` the objective's weight per name."""

    method = "aioli"
    needs = frozenset({"eval_loss"})

    def __init__(self, init: np.ndarray, names: list[str], target_weights: dict[str, float], *, eta: float = 1.0,
                 epsilon: float = 0.5, probe_steps: int = 2, eval_windows: int = 8, smoothing: float = 0.01,
                 steps_per_update: int = 10, output: str = "average") -> None:
        super().__init__(init, steps_per_update=steps_per_update, smoothing=smoothing, output=output)
        if not 0 < epsilon <= 1:
            raise ValueError("epsilon must be in (0, 1]")
        self.names = list(names)
        self.target = np.array([float(target_weights.get(n, 0.0)) for n in self.names])
        if not self.target.sum() > 0:
            raise ValueError(f"no target weight on any eval name {self.names}")
        self.target /= self.target.sum()
        self.eta, self.epsilon = float(eta), float(epsilon)
        self.probe_steps, self.eval_windows = int(probe_steps), int(eval_windows)
        self.round = self.steps_per_update + self.n * self.probe_steps
        self._before: list[float] | None = None
        self._changes: list[list[float]] = []
        self.matrices: list[list[list[float]]] = []

    def _offset(self, step: int) -> int:
        return step % self.round

    def _probe(self, step: int) -> int | None:
        """The domain probed at ``step``, or ``None`` in the exploit phase."""
        offset = self._offset(step) - self.steps_per_update
        return None if offset < 0 else offset // self.probe_steps

    def weights(self, step: int) -> np.ndarray:
        j = self._probe(step)
        if j is None:
            return self.policy
        return probe_mixtures(self.policy, self.epsilon)[j]

    def needs_at(self, step: int) -> frozenset[str]:
        offset = self._offset(step) - self.steps_per_update
        boundary = offset == -1 or (offset >= 0 and (offset + 1) % self.probe_steps == 0)
        return self.needs if boundary else frozenset()

    def _observe(self, step: int, signals: dict[str, Any]) -> None:
        if "eval_loss" not in signals:
            return
        losses = [float(signals["eval_loss"].get(n, np.nan)) for n in self.names]
        j = self._probe(step)
        if j is not None and self._before is not None:
            self._changes.append([a - b for a, b in zip(losses, self._before, strict=True)])
        self._before = losses
        if j == self.n - 1:  # the round's last probe ended: fit A and step
            if len(self._changes) == self.n:
                change = np.nan_to_num(np.asarray(self._changes), nan=0.0)
                a = interaction_matrix(probe_mixtures(self.policy, self.epsilon), change)
                self.matrices.append(a.tolist())
                self._update(step, exp_grad_step(self.policy, self.target @ a, self.eta, self.smoothing))
            self._changes = []

    def _extra_state(self) -> dict[str, Any]:
        return {"before": self._before, "changes": self._changes, "matrices": self.matrices}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._before = state["before"]
        self._changes = [list(c) for c in state["changes"]]
        self.matrices = state["matrices"]

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "interaction_matrices": self.matrices, "names": self.names}


def _build(setup: MethodSetup, **overrides: Any) -> AioliSchedule:
    c = setup.section
    return AioliSchedule(setup.init, setup.names, setup.targets,
                         **{**setup.common, "eta": c.eta, "epsilon": c.epsilon, "probe_steps": c.probe_steps,
                            "eval_windows": c.eval_windows, "smoothing": c.smoothing, **overrides})


ONLINE_METHODS.add("aioli", OnlineMethod(build=_build))
