"""Parametric mixing and scaling laws as scikit-learn regressors, fitted by :mod:`robust`.

Feature layout (``X`` is a 2-D float array):

- mixing laws (:class:`ExpLaw`): the domain weights ``h_1..h_k``;
- scaling laws (:class:`AdditiveLaw`, :class:`JointLaw`): ``h_1..h_k, N, D`` (the last two
  columns are ``n_params`` and ``n_tokens``);
- :class:`PowerLaw`: ``N, D`` (the last two columns of ``X``; extra leading columns are ignored);
- :class:`LossToLoss`: one column, the source loss ``L_a``.

N and D enter as ``log(N / N_ref_)`` with ``N_ref_`` the geometric mean of the training values,
so the fitted amplitudes are in loss units and the optimisation is well conditioned.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from mixtures.laws.robust import fit_robust, random_starts


def _power(h: np.ndarray, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``h**gamma`` (0 where h == 0) and ``log h`` (0 where h == 0)."""
    pos = h > 0
    logh = np.where(pos, np.log(np.where(pos, h, 1.0)), 0.0)
    return np.where(pos, np.exp(gamma * logh), 0.0), logh


class ParametricLaw(RegressorMixin, BaseEstimator):
    """Base class: subclasses define ``_value_jac``, ``_bounds``, ``_starts`` (and ``_prepare``)."""

    #: ``X`` ends with the ``n_params, n_tokens`` columns (see :mod:`mixtures.laws.families`)
    uses_scale: ClassVar[bool] = False
    #: names of fitted attributes saved to JSON besides ``theta_``
    _extra_attrs: tuple[str, ...] = ()

    def _prepare(self, X: np.ndarray, y: np.ndarray) -> None:
        """Learn data-dependent constants (e.g. reference scales) before fitting."""

    def _penalty(self, n_params: int) -> np.ndarray | None:
        return None

    def _row_weights(self, X: np.ndarray) -> np.ndarray | None:
        """Per-row weights of the fitting objective the law itself asks for (None: uniform)."""
        return None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True  # losses (fitted in log space)
        return tags

    def fit(self, X, y, sample_weight=None):
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        if np.any(y <= 0):
            raise ValueError(f"{type(self).__name__}: losses (y) must be > 0; got a minimum of {float(np.min(y)):g}.")
        self._prepare(X, y)
        rng = np.random.default_rng(self.random_state)
        bounds = self._bounds(X, y)
        starts = self._starts(X, y, rng)
        weight = self._row_weights(X)
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float64)
            weight = sw if weight is None else weight * sw
        result = fit_robust(self._value_jac, X, y, starts, bounds, delta=self.delta,
                            log_space=self.log_space, penalty=self._penalty(len(bounds)),
                            weight=weight, name=type(self).__name__)
        self.theta_ = result.theta
        self.converged_ = result.converged
        self.objective_ = result.objective
        return self

    def predict(self, X):
        check_is_fitted(self, "theta_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._value_jac(self.theta_, X, jac=False)[0]

    # JSON ---------------------------------------------------------------------------------
    def fitted_state(self) -> dict:
        check_is_fitted(self, "theta_")
        state = {"theta_": [float(v) for v in self.theta_], "converged_": bool(self.converged_),
                 "objective_": float(self.objective_), "n_features_in_": int(self.n_features_in_)}
        for name in self._extra_attrs:
            state[name] = float(getattr(self, name))
        return state

    def set_fitted_state(self, state: dict) -> None:
        self.theta_ = np.asarray(state["theta_"], dtype=np.float64)
        self.converged_ = bool(state["converged_"])
        self.objective_ = float(state["objective_"])
        self.n_features_in_ = int(state["n_features_in_"])
        for name in self._extra_attrs:
            setattr(self, name, float(state[name]))


class ExpLaw(ParametricLaw):
    """Data Mixing Law (Ye et al. 2024): ``L(h) = c + k * exp(sum_j t_j h_j)``.

    Parameters: ``theta = [c, log k, t_1..t_k]``; ``l2`` penalises ``t`` (small-data ridge),
    relative to the Huber objective.
    """

    def __init__(self, delta=1e-3, n_starts=8, random_state=0, log_space=True, l2=1e-8):
        self.delta = delta
        self.n_starts = n_starts
        self.random_state = random_state
        self.log_space = log_space
        self.l2 = l2

    def _value_jac(self, theta, X, jac=True):
        c, logk, t = theta[0], theta[1], theta[2:]
        e = np.exp(logk + X @ t)
        pred = c + e
        if not jac:
            return pred, None
        J = np.empty((len(X), len(theta)))
        J[:, 0] = 1.0
        J[:, 1] = e
        J[:, 2:] = e[:, None] * X
        return pred, J

    def _bounds(self, X, y):
        return [(0.0, float(np.min(y)) * 0.999), (-15.0, 5.0)] + [(-30.0, 30.0)] * X.shape[1]

    def _penalty(self, n_params):
        p = np.zeros(n_params)
        p[2:] = self.l2
        return p

    def _starts(self, X, y, rng):
        ymin, ymean = float(np.min(y)), float(np.mean(y))
        k = X.shape[1]
        rows = []
        for frac in (0.0, 0.5, 0.9):
            c = frac * ymin
            rows.append([c, np.log(max(ymean - c, 1e-6))] + [0.0] * k)
        n_rand = max(self.n_starts - len(rows), 0)
        for draw in random_starts(rng, n_rand, [(0.0, 0.95)] + [(-2.0, 2.0)] * k):
            c = draw[0] * ymin
            rows.append([c, np.log(max(ymean - c, 1e-6))] + list(draw[1:]))
        return np.array(rows)


class _ScaleMixin:
    """Reference scales for N and D, learnt from the training rows."""

    uses_scale = True
    _extra_attrs = ("n_ref_", "d_ref_")
    _min_features = 2  # n_params, n_tokens (the mixing laws add at least one weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True  # weights >= 0; model size and tokens > 0
        return tags

    def _prepare(self, X, y):
        name = type(self).__name__
        if X.shape[1] < self._min_features:
            raise ValueError(f"{name}: X has {X.shape[1]} feature(s) (n_features = {X.shape[1]}); it needs at "
                             f"least {self._min_features}, the last two n_params and n_tokens.")
        if np.any(X < 0):
            raise ValueError(f"Negative values in data passed to {name}: weights, model sizes and token counts "
                             "are >= 0.")
        if np.any(X[:, -2:] <= 0):
            raise ValueError(f"{name}: n_params and n_tokens (the last two columns of X) must be > 0.")
        self.n_ref_ = float(np.exp(np.mean(np.log(X[:, -2]))))
        self.d_ref_ = float(np.exp(np.mean(np.log(X[:, -1]))))

    def _logs(self, X):
        return np.log(X[:, -2] / self.n_ref_), np.log(X[:, -1] / self.d_ref_)


class PowerLaw(_ScaleMixin, ParametricLaw):
    """Chinchilla-style law for one mixture: ``L = E + A / N^alpha + B / D^beta``.

    ``theta = [E, log A', alpha, log B', beta]`` with amplitudes at the reference scales.
    """

    def __init__(self, delta=1e-3, n_starts=8, random_state=0, log_space=True):
        self.delta = delta
        self.n_starts = n_starts
        self.random_state = random_state
        self.log_space = log_space

    def _value_jac(self, theta, X, jac=True):
        E, a, alpha, b, beta = theta
        ln, ld = self._logs(X)
        pn = np.exp(a - alpha * ln)
        pd_ = np.exp(b - beta * ld)
        pred = E + pn + pd_
        if not jac:
            return pred, None
        J = np.column_stack([np.ones(len(X)), pn, -pn * ln, pd_, -pd_ * ld])
        return pred, J

    def _bounds(self, X, y):
        return [(0.0, float(np.min(y)) * 0.999), (-12.0, 3.0), (0.0, 2.5), (-12.0, 3.0), (0.0, 2.5)]

    def _starts(self, X, y, rng):
        ymin = float(np.min(y))
        rows = []
        for frac in (0.3, 0.7):
            for alpha in (0.2, 0.5):
                rows.append([frac * ymin, np.log(0.3 * ymin), alpha, np.log(0.3 * ymin), alpha])
        n_rand = max(self.n_starts - len(rows), 0)
        for d in random_starts(rng, n_rand, [(0.0, 0.95), (-5, 1), (0.05, 1.5), (-5, 1), (0.05, 1.5)]):
            rows.append([d[0] * ymin, *d[1:]])
        return np.array(rows)


class AdditiveLaw(_ScaleMixin, ParametricLaw):
    """Additive scaling law over (N, D, h) (Shukor et al. 2025):
    ``L = E + A / N^alpha + B / D^beta + 1 / sum_j C_j h_j^gamma_j``.

    ``theta = [E, log A', alpha, log B', beta, log C_1..log C_k, gamma_1..gamma_k]``.
    """

    _min_features = 3

    def __init__(self, delta=1e-3, n_starts=8, random_state=0, log_space=True):
        self.delta = delta
        self.n_starts = n_starts
        self.random_state = random_state
        self.log_space = log_space

    def _mixture_term(self, theta, H, k, jac):
        logc, gamma = theta[5:5 + k], theta[5 + k:5 + 2 * k]
        hp, logh = _power(H, gamma)
        terms = np.exp(logc) * hp
        S = terms.sum(axis=1)
        M = 1.0 / S
        if not jac:
            return M, None
        dM = -(M * M)[:, None]
        return M, np.hstack([dM * terms, dM * terms * logh])

    def _value_jac(self, theta, X, jac=True):
        k = X.shape[1] - 2
        E, a, alpha, b, beta = theta[:5]
        ln, ld = self._logs(X)
        pn = np.exp(a - alpha * ln)
        pd_ = np.exp(b - beta * ld)
        M, JM = self._mixture_term(theta, X[:, :k], k, jac)
        pred = E + pn + pd_ + M
        if not jac:
            return pred, None
        J = np.column_stack([np.ones(len(X)), pn, -pn * ln, pd_, -pd_ * ld, JM])
        return pred, J

    def _bounds(self, X, y):
        k = X.shape[1] - 2
        return ([(0.0, float(np.min(y)) * 0.999), (-12.0, 3.0), (0.0, 2.5), (-12.0, 3.0), (0.0, 2.5)]
                + [(-8.0, 12.0)] * k + [(0.0, 3.0)] * k)

    def _starts(self, X, y, rng):
        k = X.shape[1] - 2
        ymin = float(np.min(y))
        rows = []
        for frac in (0.3, 0.6):
            for gamma in (0.2, 0.6):
                # mixture term ~ 0.2 * ymin at uniform weights
                logc = np.log(1.0 / (0.2 * ymin) / k * k ** gamma)
                rows.append([frac * ymin, np.log(0.2 * ymin), 0.3, np.log(0.2 * ymin), 0.3]
                            + [logc] * k + [gamma] * k)
        n_rand = max(self.n_starts - len(rows), 0)
        ranges = [(0.0, 0.8), (-4, 0), (0.05, 1.0), (-4, 0), (0.05, 1.0)] + [(-1, 4)] * k + [(0.05, 1.2)] * k
        for d in random_starts(rng, n_rand, ranges):
            rows.append([d[0] * ymin, *d[1:]])
        return np.array(rows)


class JointLaw(AdditiveLaw):
    """Joint scaling law: the mixture also sets the N and D terms (after Shukor et al. 2025), and
    N and D interact as in Kaplan et al. (2020), with exponents that drift with the other scale:

    ``L = E + 1 / sum_j C_j h_j^gamma_j + (A(h) / N^alpha(D) + B(h) / D^beta(N))^rho`` with
    ``A(h) = A exp(sum_j u_j h_j)``, ``B(h) = B exp(sum_j v_j h_j)``,
    ``alpha(D) = alpha + kappa_n log(D / D_ref)`` and ``beta(N) = beta + kappa_d log(N / N_ref)``,

    so the best mixture depends on (N, D), a small model stops gaining from more tokens, and the
    gain from N may grow (or shrink) with D (``rho = 1``, ``kappa = 0``, ``u = v = 0`` is the
    additive form). ``theta = [E, log A', alpha, log B', beta, log C (k), gamma (k), u (k), v (k),
    rho, kappa_n, kappa_d]``; ``l2`` penalises ``u``, ``v`` and the ``kappa``.

    ``scale_weight`` weights each row of the fit by ``(N / N_ref)^scale_weight``: the law is used to
    extrapolate up in N, so the largest models fitted count more (0: uniform). The ``kappa`` terms and
    the default 1 were chosen by fitting the DMSL runs up to 310M (or 680M) parameters and validating
    on 680M-937M (see ``bench/laws.py``); 1.5-3 validated no better than 1 beyond noise, and a
    steeper weight leaves the smaller models little say on a wide range of N.
    """

    def __init__(self, delta=1e-3, n_starts=8, random_state=0, log_space=True, l2=1e-8, scale_weight=1.0):
        self.delta = delta
        self.n_starts = n_starts
        self.random_state = random_state
        self.log_space = log_space
        self.l2 = l2
        self.scale_weight = scale_weight

    def _row_weights(self, X):
        if not self.scale_weight:
            return None
        return np.exp(self.scale_weight * self._logs(X)[0])

    def _value_jac(self, theta, X, jac=True):
        k = X.shape[1] - 2
        H = X[:, :k]
        E, a, alpha, b, beta = theta[:5]
        u, v = theta[5 + 2 * k:5 + 3 * k], theta[5 + 3 * k:5 + 4 * k]
        rho, kn, kd = theta[5 + 4 * k:8 + 4 * k]
        ln, ld = self._logs(X)
        lnd = ln * ld
        pn = np.exp(a + H @ u - alpha * ln - kn * lnd)
        pd_ = np.exp(b + H @ v - beta * ld - kd * lnd)
        Q = pn + pd_
        logQ = np.log(Q)
        T = np.exp(rho * logQ)
        M, JM = self._mixture_term(theta, H, k, jac)
        pred = E + T + M
        if not jac:
            return pred, None
        g = rho * T / Q  # dT/dQ
        gn, gd = g * pn, g * pd_
        J = np.column_stack([np.ones(len(X)), gn, -gn * ln, gd, -gd * ld, JM,
                             gn[:, None] * H, gd[:, None] * H, T * logQ, -gn * lnd, -gd * lnd])
        return pred, J

    def _bounds(self, X, y):
        k = X.shape[1] - 2
        return super()._bounds(X, y) + [(-10.0, 10.0)] * (2 * k) + [(0.2, 3.0)] + [(-1.0, 1.0)] * 2

    def _penalty(self, n_params):
        k = (n_params - 8) // 4
        p = np.zeros(n_params)
        p[5 + 2 * k:5 + 4 * k] = self.l2
        p[6 + 4 * k:] = self.l2
        return p

    def _starts(self, X, y, rng):
        k = X.shape[1] - 2
        base = super()._starts(X, y, rng)
        extra = np.zeros((len(base), 2 * k))
        extra[len(base) // 2:] = rng.normal(0.0, 0.3, size=(len(base) - len(base) // 2, 2 * k))
        rho = np.ones((len(base), 1))
        rho[1::2] = 1.5
        return np.hstack([base, extra, rho, np.zeros((len(base), 2))])

    def set_fitted_state(self, state: dict) -> None:
        super().set_fitted_state(state)
        k = self.n_features_in_ - 2
        if len(self.theta_) == 6 + 4 * k:  # saved before the kappa terms: kappa = 0 is that law
            self.theta_ = np.concatenate([self.theta_, np.zeros(2)])


class LossToLoss(ParametricLaw):
    """Shifted power law between losses (Brandfonbrener et al. 2024):
    ``L_b = K (L_a - E_a)^kappa + E_b``; ``X`` has one column, ``L_a``.

    ``theta = [log K, kappa, E_a, E_b]``.
    """

    def __init__(self, delta=1e-3, n_starts=8, random_state=0, log_space=True):
        self.delta = delta
        self.n_starts = n_starts
        self.random_state = random_state
        self.log_space = log_space

    def _value_jac(self, theta, X, jac=True):
        logK, kappa, Ea, Eb = theta
        base = np.maximum(X[:, 0] - Ea, 1e-12)
        t = np.exp(logK + kappa * np.log(base))
        pred = t + Eb
        if not jac:
            return pred, None
        J = np.column_stack([t, t * np.log(base), -t * kappa / base, np.ones(len(X))])
        return pred, J

    def _bounds(self, X, y):
        return [(-10.0, 10.0), (0.05, 5.0), (0.0, float(np.min(X[:, 0])) * 0.999),
                (0.0, float(np.min(y)) * 0.999)]

    def _starts(self, X, y, rng):
        amin, bmin = float(np.min(X[:, 0])), float(np.min(y))
        rows = [[0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.5 * amin, 0.5 * bmin]]
        n_rand = max(self.n_starts - len(rows), 0)
        for d in random_starts(rng, n_rand, [(-2, 2), (0.3, 2.5), (0, 0.9), (0, 0.9)]):
            rows.append([d[0], d[1], d[2] * amin, d[3] * bmin])
        return np.array(rows)
