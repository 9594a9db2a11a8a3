"""Hand-built laws with known optima for the optimizer tests (real objects implementing the
optimizer's ``LawLike`` protocol, not mocks)."""

from __future__ import annotations

import numpy as np
import pandas as pd


class QuadraticLaw:
    """``loss_t(w) = base_t + scale_t * ||w - centre_t||^2`` (+ ``size_coef / n_params`` when scaled).

    The optimum of ``sum_t a_t loss_t`` on the simplex is the ``a * scale``-weighted mean of the
    centres when that lies inside the feasible set. ``member_shifts`` (members, targets, domains)
    moves the centres per member for :meth:`predict_members`.
    """

    def __init__(self, domains, centres: dict[str, list[float]], scales=None, base: float = 2.0,
                 uses_scale: bool = False, size_coef: float = 0.0, member_shifts=None):
        self.domains = list(domains)
        self.targets = list(centres)
        self.uses_scale = uses_scale
        self.centres = np.array([centres[t] for t in self.targets], dtype=float)
        self.scales = np.array([(scales or {}).get(t, 1.0) for t in self.targets], dtype=float)
        self.base = base
        self.size_coef = size_coef
        self.member_shifts = None if member_shifts is None else np.asarray(member_shifts, dtype=float)
        self.frames_seen: list[pd.DataFrame] = []

    def _values(self, frame: pd.DataFrame, centres: np.ndarray) -> np.ndarray:
        w = frame[[f"w_{d}" for d in self.domains]].to_numpy(dtype=float)
        sq = ((w[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        out = self.base + self.scales[None, :] * sq
        if self.uses_scale:
            out = out + self.size_coef / frame["n_params"].to_numpy(dtype=float)[:, None]
        return out

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        self.frames_seen.append(frame)
        return pd.DataFrame(self._values(frame, self.centres), columns=self.targets, index=frame.index)

    def predict_members(self, frame: pd.DataFrame):
        if self.member_shifts is None:
            return None
        return np.stack([self._values(frame, self.centres + shift) for shift in self.member_shifts])


class FlatLaw(QuadraticLaw):
    """A law whose prediction barely depends on the mixture (the optimum is not determined)."""

    def __init__(self, domains, members: int = 5, seed: int = 0):
        k = len(domains)
        rng = np.random.default_rng(seed)
        super().__init__(domains, {"loss_a": [1.0 / k] * k}, scales={"loss_a": 1e-7},
                         member_shifts=rng.normal(0, 0.3, size=(members, 1, k)))
