"""A repetition-aware additive scaling law: repeated tokens are worth less than fresh ones.

Domain ``j`` gets ``D_j = h_j D`` tokens of its ``U_j`` unique ones. Past one epoch it repeats
``R_j = D_j / U_j - 1`` times, and its effective data follows the data-constrained form of Muennighoff et al.
(2023), ``D'_j = U_j + U_j R* (1 - exp(-R_j / R*))`` (``D'_j = D_j`` within one epoch): the first repeats are
worth almost as much as fresh tokens, and ``D'_j`` saturates at ``U_j (1 + R*)``. The law is
:class:`~mixtures.laws.parametric.AdditiveLaw` on effective data,

``L = E + A / N^alpha + B / D'^beta + 1 / sum_j C_j (D'_j / D)^gamma_j`` with ``D' = sum_j D'_j``,

so the mixture term sees each domain's effective share and the optimizer may repeat a small domain while that
pays. ``R*`` is fitted, one shared or one per domain (a domain no fitted run repeats keeps the published
``R_STAR_PRIOR``; the proxy design must repeat a domain for its ``R*`` to be learnt: ``proxy.repeat_runs`` adds runs
that cap a domain's unique tokens, which ``fit`` reads per row, ``unique_tokens=``). With unlimited data
(``unique_tokens=None``) it is the additive law. The epoch cap of the optimizer (``constraints.max_epochs``) stays a hard bound on top.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import ClassVar

import numpy as np

from mixtures.laws.parametric import AdditiveLaw, _power
from mixtures.runs_table import UNIQUE_PREFIX

R_STAR_BOUNDS = (0.1, 200.0)
#: R* when the fitted runs never repeat a domain (nothing to fit it from): Muennighoff et al.'s fitted R*_D
R_STAR_PRIOR = 15.4


def effective_tokens(tokens: np.ndarray, unique: np.ndarray, r_star: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``D'`` of ``tokens`` drawn from ``unique`` (``inf``: unlimited) at ``r_star`` (broadcast), and ``dD'/dR*``."""
    tokens = np.asarray(tokens, dtype=np.float64)
    unique = np.broadcast_to(np.asarray(unique, dtype=np.float64), tokens.shape)
    finite = np.isfinite(unique) & (unique > 0)
    safe_u = np.where(finite, unique, 1.0)
    repeats = np.where(finite, np.maximum(tokens / safe_u - 1.0, 0.0), 0.0)
    decay = np.exp(-repeats / r_star)
    repeated = repeats > 0
    out = np.where(repeated, safe_u * (1.0 + r_star * (1.0 - decay)), tokens)
    d_r = np.where(repeated, safe_u * ((1.0 - decay) - repeats / r_star * decay), 0.0)
    return out, d_r


class RepetitionLaw(AdditiveLaw):
    """The additive law on effective data under repetition (module docstring).

    Parameters
    ----------
    unique_tokens : tuple of float or None
        ``U_j`` per domain, in ``X``'s weight column order (None or ``inf`` for one: unlimited; None: all).
    shared_r_star : bool
        One ``R*`` for every domain (True) or one per domain.
    delta, n_starts, random_state, log_space : as :class:`~mixtures.laws.parametric.AdditiveLaw`.

    ``theta`` is the additive law's, then ``log R*`` (one, or one per domain); ``r_star_`` the fitted ``R*``.
    ``fit`` and ``predict`` take ``unique_tokens=`` per row, ``(rows, domains)``: a run's own cap of a domain's
    unique tokens (NaN: none, the domain's ``U_j``), e.g. a run of ``proxy.repeat_runs``.
    """

    context_params: ClassVar[tuple[str, ...]] = ("unique_tokens",)
    #: a run's own unique-token caps, per row from the run table (mixtures.laws.families.row_inputs)
    row_params: ClassVar[dict[str, str]] = {"unique_tokens": UNIQUE_PREFIX}

    def __init__(self, unique_tokens=None, shared_r_star=True, delta=1e-3, n_starts=8, random_state=0,
                 log_space=True):
        self.unique_tokens = unique_tokens
        self.shared_r_star = shared_r_star
        super().__init__(delta=delta, n_starts=n_starts, random_state=random_state, log_space=log_space)

    def fit(self, X, y, sample_weight=None, unique_tokens=None):
        with self._row_caps(unique_tokens):
            return super().fit(X, y, sample_weight)

    def predict(self, X, unique_tokens=None):
        with self._row_caps(unique_tokens):
            return super().predict(X)

    @contextmanager
    def _row_caps(self, unique_tokens):
        self._caps = None if unique_tokens is None else np.asarray(unique_tokens, dtype=np.float64)
        try:
            yield
        finally:
            self._caps = None

    def _unique_rows(self, X) -> np.ndarray:
        """``U`` per row and domain: the domain's, or the row's own cap where it has one (and is smaller)."""
        k = X.shape[1] - 2
        unique = np.broadcast_to(self._unique(k), (len(X), k))
        caps = getattr(self, "_caps", None)
        if caps is None:
            return unique
        if caps.shape != unique.shape:
            raise ValueError(f"RepetitionLaw: unique_tokens per row has shape {caps.shape}; X needs {unique.shape}.")
        if np.any(caps <= 0):
            raise ValueError("RepetitionLaw: a row's unique_tokens must be > 0 (NaN: no cap).")
        return np.where(np.isfinite(caps), np.minimum(caps, unique), unique)

    def _unique(self, k: int) -> np.ndarray:
        if self.unique_tokens is None:
            return np.full(k, np.inf)
        u = np.array([np.inf if v is None else float(v) for v in self.unique_tokens])
        if len(u) != k:
            raise ValueError(f"RepetitionLaw: unique_tokens has {len(u)} values; X has {k} weight columns.")
        if np.any(u <= 0):
            raise ValueError("RepetitionLaw: unique_tokens must be > 0 (None or inf: unlimited).")
        return u

    def _n_r(self, k: int) -> int:
        return 1 if self.shared_r_star else k

    def _value_jac(self, theta, X, jac=True):
        k = X.shape[1] - 2
        n_r = self._n_r(k)
        base, log_r = theta[:-n_r], theta[-n_r:]
        r_star = np.exp(log_r)
        D = X[:, -1]
        tokens, d_r = effective_tokens(X[:, :k] * D[:, None], self._unique_rows(X), r_star[None, :])
        d_eff = tokens.sum(axis=1)
        shares = tokens / D[:, None]
        pred, J = super()._value_jac(base, np.column_stack([shares, X[:, -2], d_eff]), jac)
        if not jac:
            return pred, None
        # d pred / d D'_j: through the data term (D') and the mixture term (D'_j / D)
        b, beta = base[3], base[4]
        pd_ = np.exp(b - beta * np.log(d_eff / self.d_ref_))
        logc, gamma = base[5:5 + k], base[5 + k:5 + 2 * k]
        hp, _ = _power(shares, gamma)
        M = 1.0 / (np.exp(logc) * hp).sum(axis=1)
        safe = np.where(shares > 0, shares, 1.0)
        dM_dshare = -(M * M)[:, None] * np.exp(logc) * gamma * np.where(shares > 0, hp / safe, 0.0)
        dpred_dtok = (-beta * pd_ / d_eff)[:, None] + dM_dshare / D[:, None]
        per_domain = dpred_dtok * d_r * r_star[None, :]  # d pred / d log R*_j
        J_r = per_domain.sum(axis=1, keepdims=True) if n_r == 1 else per_domain
        return pred, np.hstack([J, J_r])

    def _repeated(self, X) -> np.ndarray:
        """Per ``R*``: whether any row repeats its domain(s)."""
        k = X.shape[1] - 2
        repeats = X[:, :k] * X[:, -1:] > self._unique_rows(X)
        return np.array([repeats.any()]) if self.shared_r_star else repeats.any(axis=0)

    def _bounds(self, X, y):
        lo, hi = np.log(R_STAR_BOUNDS)
        prior = float(np.log(R_STAR_PRIOR))
        return super()._bounds(X, y) + [(float(lo), float(hi)) if seen else (prior, prior)
                                        for seen in self._repeated(X)]

    def _starts(self, X, y, rng):
        base = super()._starts(X, y, rng)
        grid = np.log([2.0, 5.0, 15.0, 40.0])
        r = np.column_stack([grid[np.arange(len(base)) % len(grid)] if seen else np.full(len(base), np.log(R_STAR_PRIOR))
                             for seen in self._repeated(X)])
        return np.hstack([base, r])

    @property
    def r_star_(self) -> np.ndarray:
        return np.exp(self.theta_[-self._n_r(self.n_features_in_ - 2):])
