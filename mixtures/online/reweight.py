"""Loss-based sample reweighting inside each batch (instance level; domain sampling stays fixed).

Each sequence's loss is standardized over the batch, ``z = (l - mean) / std``; the raw weight is
``exp(s * z / temperature)`` with ``s = +1`` for ``downweight_easy`` (low-loss, e.g. duplicated
or boilerplate sequences count less) and ``s = -1`` for ``downweight_hard`` (robust to noisy
sequences). Weights are mixed with uniform by ``strength`` and normalised to mean 1 per batch,
then multiply the per-sequence training loss. The effective sample size per step is
``ESS = (sum w)^2 / sum w^2``. The mixture the run stands for is each domain's share of the
sample weight, averaged over steps.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mixtures.online.base import OnlineSchedule
from mixtures.online.registry import ONLINE_METHODS, MethodSetup, OnlineMethod

STRATEGIES = {"downweight_easy": 1.0, "downweight_hard": -1.0}
_MAX_EXPONENT = 30.0


def sample_weights(losses: np.ndarray, strategy: str = "downweight_easy", temperature: float = 1.0,
                   strength: float = 1.0) -> np.ndarray:
    """Per-sample weights of one batch (mean 1); uniform when every loss is equal."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown reweighting strategy {strategy!r}; choose from {sorted(STRATEGIES)}")
    losses = np.asarray(losses, dtype=np.float64)
    std = losses.std()
    z = (losses - losses.mean()) / std if std > 0 else np.zeros_like(losses)
    raw = np.exp(np.clip(STRATEGIES[strategy] * z / temperature, -_MAX_EXPONENT, _MAX_EXPONENT))
    raw /= raw.mean()
    w = (1.0 - strength) + strength * raw
    return w / w.mean()


def effective_sample_size(weights: np.ndarray) -> float:
    """``(sum w)^2 / sum w^2``: the batch size an unweighted batch of the same variance would have."""
    w = np.asarray(weights, dtype=np.float64)
    return float(w.sum() ** 2 / (w ** 2).sum())


class LossReweightSchedule(OnlineSchedule):
    """Static domain sampling (``init``) with loss-based per-sample weights (see the module docstring).

    ``sample_weights(step, losses, chosen)`` is called by the trainer before the backward pass.
    ``ess`` lists the effective sample size of every step; ``domain_weight`` the mean weight of each
    domain's sequences per window of ``steps_per_update`` steps.
    """

    method = "reweight"

    def __init__(self, init: np.ndarray, *, strategy: str = "downweight_easy", temperature: float = 1.0,
                 strength: float = 1.0, steps_per_update: int = 10, output: str = "average") -> None:
        super().__init__(init, steps_per_update=steps_per_update, smoothing=0.0, output=output)
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown reweighting strategy {strategy!r}; choose from {sorted(STRATEGIES)}")
        self.strategy, self.temperature, self.strength = strategy, float(temperature), float(strength)
        self.ess: list[float] = []
        self._mass = np.zeros(self.n)       # sum over steps of each domain's share of the weight
        self._window_w = np.zeros(self.n)   # weight and count per domain in the current window
        self._window_c = np.zeros(self.n)
        self.domain_weight: list[list[float]] = []

    def sample_weights(self, step: int, losses: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        tick = time.perf_counter()
        w = sample_weights(losses, self.strategy, self.temperature, self.strength)
        self.ess.append(effective_sample_size(w))
        chosen = np.asarray(chosen)
        per_domain = np.bincount(chosen, weights=w, minlength=self.n)
        self._mass += per_domain / w.sum()
        self._window_w += per_domain
        self._window_c += np.bincount(chosen, minlength=self.n)
        self.stats["overhead_seconds"] += time.perf_counter() - tick
        return w

    def _observe(self, step: int, signals: dict[str, Any]) -> None:
        if (step + 1) % self.steps_per_update == 0:
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(self._window_c > 0, self._window_w / np.maximum(self._window_c, 1), np.nan)
            self.domain_weight.append([float(x) for x in mean])
            self.history.append({"step": int(step) + 1, "weights": [float(x) for x in self._effective()]})
            self._window_w[:] = 0
            self._window_c[:] = 0

    def _effective(self) -> np.ndarray:
        total = self._mass.sum()
        return self._mass / total if total > 0 else self.policy.copy()

    def final_mixture(self) -> np.ndarray:
        """Each domain's share of the sample weight, averaged over the steps trained."""
        return self._effective()

    def _extra_state(self) -> dict[str, Any]:
        return {"ess": self.ess, "mass": self._mass.tolist(), "window_w": self._window_w.tolist(),
                "window_c": self._window_c.tolist(), "domain_weight": self.domain_weight}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.ess = list(state["ess"])
        self._mass = np.asarray(state["mass"], dtype=np.float64)
        self._window_w = np.asarray(state["window_w"], dtype=np.float64)
        self._window_c = np.asarray(state["window_c"], dtype=np.float64)
        self.domain_weight = [list(x) for x in state["domain_weight"]]

    def summary(self) -> dict[str, Any]:
        ess = np.asarray(self.ess) if self.ess else np.zeros(1)
        return {**super().summary(), "ess": self.ess, "ess_mean": float(ess.mean()), "ess_min": float(ess.min()),
                "domain_weight": self.domain_weight, "strategy": self.strategy}


def _build(setup: MethodSetup, **overrides: Any) -> LossReweightSchedule:
    c = setup.section
    return LossReweightSchedule(setup.init, **{**setup.common, "strategy": c.strategy, "temperature": c.temperature,
                                               "strength": c.strength, **overrides})


ONLINE_METHODS.add("reweight", OnlineMethod(build=_build, is_procedure=True))
