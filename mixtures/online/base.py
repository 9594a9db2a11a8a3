"""What every online mixing schedule shares: the policy weights, their history and average,
the exponentiated-gradient step, overhead accounting, and a JSON-able state for resumption."""

from __future__ import annotations

from typing import Any

import numpy as np

from mixtures.errors import TrainerError
from mixtures.trainers.schedule import check_simplex


def exp_grad_step(weights: np.ndarray, gradient: np.ndarray, eta: float, smoothing: float) -> np.ndarray:
    """One exponentiated-gradient ascent step on the simplex, smoothed toward uniform.

    ``w <- w * exp(eta * g)``, renormalised, then ``(1 - smoothing) * w + smoothing / n``.
    Computed in log space with the maximum subtracted, so large steps cannot overflow.
    """
    w = np.asarray(weights, dtype=np.float64)
    g = np.nan_to_num(np.asarray(gradient, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    with np.errstate(divide="ignore"):
        logits = np.log(w) + eta * g
    logits -= logits[np.isfinite(logits)].max()
    new = np.exp(logits)
    new /= new.sum()
    n = len(new)
    return (1.0 - smoothing) * new + smoothing / n


class OnlineSchedule:
    """Base of the online schedules (see :class:`mixtures.trainers.schedule.MixtureSchedule`).

    Subclasses set ``method`` and ``needs`` (the extra signals the trainer computes for them, see
    :mod:`mixtures.online.signals`), and implement ``_observe(step, signals)``, calling
    :meth:`_update` with new policy weights. ``weights(step)`` is the policy unless overridden.

    ``final_mixture()`` is the average of the policy over the steps trained (``output="average"``)
    or the last policy (``"final"``). ``history`` lists ``{"step", "weights"}`` at every update;
    ``stats`` accumulates ``overhead_seconds`` and ``probe_tokens`` reported by the signals.
    """

    method = "online"
    needs: frozenset[str] = frozenset()

    def __init__(self, init: np.ndarray, *, steps_per_update: int = 10, smoothing: float = 0.0,
                 output: str = "average") -> None:
        if steps_per_update < 1:
            raise ValueError("steps_per_update must be >= 1")
        if output not in ("average", "final"):
            raise ValueError(f"output must be 'average' or 'final', not {output!r}")
        init = np.asarray(init, dtype=np.float64)
        self.n = len(init)
        self.policy = check_simplex(init, self.n, f"{self.method} initial weights")
        self.steps_per_update = int(steps_per_update)
        self.smoothing = float(smoothing)
        self.output = output
        self._sum = np.zeros(self.n)
        self._count = 0
        self.history: list[dict[str, Any]] = [{"step": 0, "weights": [float(x) for x in self.policy]}]
        self.stats: dict[str, float] = {"overhead_seconds": 0.0, "probe_tokens": 0}

    # -- the MixtureSchedule protocol --------------------------------------------------------
    def weights(self, step: int) -> np.ndarray:
        return self.policy

    def observe(self, step: int, signals: dict[str, Any]) -> None:
        self._sum += self.policy
        self._count += 1
        self.stats["overhead_seconds"] += float(signals.get("overhead_seconds", 0.0))
        self.stats["probe_tokens"] += int(signals.get("probe_tokens", 0))
        self._observe(step, signals)

    def final_mixture(self) -> np.ndarray:
        if self.output == "final" or self._count == 0:
            return self.policy.copy()
        mean = self._sum / self._count
        return mean / mean.sum()

    # -- for subclasses ----------------------------------------------------------------------
    def _observe(self, step: int, signals: dict[str, Any]) -> None:
        raise NotImplementedError

    def _update(self, step: int, weights: np.ndarray) -> None:
        self.policy = check_simplex(weights, self.n, f"{self.method} update at step {step}")
        self.history.append({"step": int(step) + 1, "weights": [float(x) for x in self.policy]})

    def signal_source(self, view: Any):
        """The trainer's signal protocol (:class:`mixtures.trainers.schedule.SignalSchedule`): a
        :class:`~mixtures.online.signals.SignalSource` over ``view`` when the method needs extra signals."""
        if not self.needs:
            return None
        from mixtures.online.signals import SignalSource

        return SignalSource(self, view)

    def needs_at(self, step: int) -> frozenset[str]:
        """The extra signals wanted after ``step`` (all of ``needs`` unless a subclass narrows it)."""
        return self.needs

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        return None

    # -- resumption --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "policy": [float(x) for x in self.policy], "sum": [float(x) for x in self._sum],
            "count": self._count, "history": [dict(h) for h in self.history], "stats": dict(self.stats),
            "extra": self._extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("method") != self.method:
            held = f"a {state['method']!r} schedule" if state.get("method") else "no online schedule (a static run)"
            raise TrainerError(f"the checkpoint holds the state of {held}, not of {self.method!r}; "
                               "resume it with the same method, or train in a fresh work folder.")
        self.policy = np.asarray(state["policy"], dtype=np.float64)
        self._sum = np.asarray(state["sum"], dtype=np.float64)
        self._count = int(state["count"])
        self.history = [dict(h) for h in state["history"]]
        self.stats = dict(state["stats"])
        self._load_extra_state(state.get("extra", {}))

    def summary(self) -> dict[str, Any]:
        """What an online run reports besides its mixture (subclasses add their diagnostics)."""
        return {"method": self.method, "updates": len(self.history) - 1, "history": self.history, **self.stats}
