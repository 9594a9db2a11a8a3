"""Gradient alignment (DGA-style, after Fan et al. 2024): upweight domains whose gradient points
where the target's does.

Every ``steps_per_update`` steps the trainer computes, on a cheap subset of parameters (the last
``layers`` blocks, the final norm and the output head), the gradient of each domain's loss on ``probe_sequences``
training sequences and the gradient of the target objective on as many validation windows of the
target names. Alignment is the cosine ``a_d = cos(g_d, g_target)``, and
``w <- w * exp(eta * a_d)``, smoothed toward uniform.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mixtures.online.base import OnlineSchedule, exp_grad_step
from mixtures.online.registry import ONLINE_METHODS, MethodSetup, OnlineMethod


def alignment(domain_grads: np.ndarray, target_grad: np.ndarray) -> np.ndarray:
    """Cosine of each domain's gradient with the target's (0 for a zero gradient)."""
    g = np.asarray(domain_grads, dtype=np.float64)
    t = np.asarray(target_grad, dtype=np.float64)
    norms = np.linalg.norm(g, axis=1) * np.linalg.norm(t)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, g @ t / np.where(norms > 0, norms, 1.0), 0.0)


class GradientAlignmentSchedule(OnlineSchedule):
    """DGA-style weights; ``target_weights`` maps eval names (domains and target sets) to weights."""

    method = "dga"
    needs = frozenset({"domain_grads", "target_grad"})

    def __init__(self, init: np.ndarray, target_weights: dict[str, float], *, eta: float = 1.0, layers: int = 1,
                 probe_sequences: int = 4, smoothing: float = 0.01, steps_per_update: int = 10,
                 output: str = "average") -> None:
        super().__init__(init, steps_per_update=steps_per_update, smoothing=smoothing, output=output)
        if not any(w > 0 for w in target_weights.values()):
            raise ValueError("gradient alignment needs a positive target weight")
        self.target_weights = dict(target_weights)
        self.eta, self.layers, self.probe_sequences = float(eta), int(layers), int(probe_sequences)
        self.alignments: list[list[float]] = []

    def needs_at(self, step: int) -> frozenset[str]:
        return self.needs if (step + 1) % self.steps_per_update == 0 else frozenset()

    def _observe(self, step: int, signals: dict[str, Any]) -> None:
        if "domain_grads" not in signals:
            return
        a = alignment(signals["domain_grads"], signals["target_grad"])
        self.alignments.append([float(x) for x in a])
        self._update(step, exp_grad_step(self.policy, a, self.eta, self.smoothing))

    def _extra_state(self) -> dict[str, Any]:
        return {"alignments": self.alignments}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.alignments = [list(a) for a in state["alignments"]]

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "alignments": self.alignments}


def _build(setup: MethodSetup, **overrides: Any) -> GradientAlignmentSchedule:
    c = setup.section
    return GradientAlignmentSchedule(setup.init, setup.targets,
                                     **{**setup.common, "eta": c.eta, "layers": c.layers,
                                        "probe_sequences": c.probe_sequences, "smoothing": c.smoothing, **overrides})


ONLINE_METHODS.add("dga", OnlineMethod(build=_build))
