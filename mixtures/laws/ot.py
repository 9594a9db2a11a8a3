"""Performance prediction from partially revealed sources by optimal transport (after Kang et al. 2023,
"Performance Scaling via Optimal Transport").

Stage 1, within the sizes trained: a mixture ``h`` of the domains is the point cloud of the domains' revealed
features with domain ``j``'s cloud weighted by ``h_j``; its entropic OT distance to the target's cloud
(:func:`entropic_ot`, POT's log-domain Sinkhorn) predicts the loss linearly, ``L_s(h) = a_s + b_s OT(h)``, with
``a_s, b_s`` fitted by least squares on the proxy runs at each trained scale ``s = (n_params, n_tokens)``.

Stage 2, beyond them: a parameter-free power law in the data size through the two nearest trained token
counts ``D_1 < D_2`` (at the nearest trained model size), ``L(h, D) = L_2 (D / D_2)^s`` with
``s = log(L_2 / L_1) / log(D_2 / D_1)``: no parameter is fitted for the extrapolation itself.

The loss is differentiable in the weights (:meth:`OTLaw.gradient`): the gradient of the entropic OT value in
the source masses is its dual potential ``f`` (envelope theorem), which the chain rule carries through the
weights' normalisation, the linear map and the extrapolation.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from mixtures.laws.robust import check_sample_weight

DEFAULT_EPSILON = 0.05  # entropic regularisation, relative to the largest squared distance between points
MIN_LOSS = 1e-9
LOG_DOMAIN_BELOW = 0.02  # epsilon below which Sinkhorn runs in the log domain (slower, no underflow)


def entropic_ot(a: np.ndarray, b: np.ndarray, cost: np.ndarray, epsilon: float,
                tol: float = 1e-11, max_iter: int = 100_000) -> tuple[float, np.ndarray]:
    """The entropic OT value between masses ``a`` (n) and ``b`` (m) under ``cost`` (n, m), and its gradient in ``a``.

    The value is ``min_P <P, C> + epsilon KL(P | a b^T)`` over couplings ``P`` of ``a`` and ``b``
    (``epsilon -> 0``: the exact OT cost); solved with POT's Sinkhorn on the points of positive mass (its
    log-domain form below ``LOG_DOMAIN_BELOW``, where the kernel would underflow).
    The gradient is the dual potential ``f``, the soft c-transform of ``g``, for every point (zero mass
    included), defined up to an additive constant (the sum of ``a`` is fixed).
    """
    import ot
    from scipy.special import logsumexp

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    live = a > 0
    log_domain = epsilon < LOG_DOMAIN_BELOW
    _, log = ot.sinkhorn(a[live], b, cost[live], epsilon, method="sinkhorn_log" if log_domain else "sinkhorn",
                         numItermax=max_iter, stopThr=tol, log=True, warn=False)
    log_b = np.log(b)
    log_v = np.asarray(log["log_v"]) if log_domain else np.log(log["v"])
    g = epsilon * (log_v - log_b)
    f = -epsilon * logsumexp(log_b[None, :] + (g[None, :] - cost) / epsilon, axis=1)
    return float(a @ f + b @ g), f


def squared_cost(sources: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Squared Euclidean costs, divided by the largest squared distance among all the points (so the
    ``epsilon`` of :func:`entropic_ot` is relative)."""
    import ot

    every = np.vstack([sources, target])
    scale = float(ot.dist(every, every).max()) or 1.0
    return ot.dist(sources, target) / scale


class OTLaw(RegressorMixin, BaseEstimator):
    """Loss from the OT distance between a mixture's revealed features and the target's (module docstring).

    Parameters
    ----------
    features : str or None
        A :class:`~mixtures.laws.revealed.RevealedFeatures` ``.npz`` file, its domains in ``X``'s weight
        column order. Required to fit.
    target : str or None
        Which of its targets this law predicts, by name or by ``loss_<name>`` column (None: its only one).
    epsilon : float
        Sinkhorn's entropic regularisation, relative to the largest squared distance between points.

    ``X`` is the weights then ``n_params, n_tokens`` (``uses_scale``). Fitted: ``cost_`` (points, target
    points), ``point_domain_`` and ``point_mass_`` (each point's domain and its share of the domain),
    ``target_mass_``, ``scales_`` (one row ``n_params, n_tokens, a, b`` per trained scale).
    """

    uses_scale: ClassVar[bool] = True
    #: constructor parameters the fit cannot do without; ``auto`` leaves the family out while one is None
    context_params: ClassVar[tuple[str, ...]] = ("features",)

    def __init__(self, features=None, target=None, epsilon=DEFAULT_EPSILON):
        self.features = features
        self.target = target
        self.epsilon = epsilon

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.target_tags.positive_only = True
        return tags

    # -- fit -------------------------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        weight = check_sample_weight(sample_weight, len(y))
        weight = np.ones(len(y)) if weight is None else weight
        self._load_clouds(X.shape[1] - 2)
        distance = self.distances(X[:, :-2])
        scales = np.unique(X[:, -2:], axis=0)
        rows = []
        for n_params, n_tokens in scales:
            at = (X[:, -2] == n_params) & (X[:, -1] == n_tokens)
            rows.append([n_params, n_tokens, *_line(distance[at], y[at], weight[at])])
        self.scales_ = np.array(rows)
        return self

    def _load_clouds(self, k: int) -> None:
        from mixtures.laws.revealed import RevealedFeatures

        if self.features is None:
            raise ValueError("OTLaw needs features= a revealed-features file (mixtures.laws.revealed); "
                             "set laws.revealed in the config or pass it to the estimator.")
        if not (isinstance(self.epsilon, (int, float)) and self.epsilon > 0):
            raise ValueError(f"OTLaw: epsilon must be > 0 (got {self.epsilon!r}).")
        revealed = RevealedFeatures.load(self.features)
        if len(revealed.domains) != k:
            raise ValueError(f"OTLaw: {self.features} has {len(revealed.domains)} domains "
                             f"({list(revealed.domains)}); X has {k} weight columns.")
        names = list(revealed.targets)
        name = self.target if self.target is not None else (names[0] if len(names) == 1 else None)
        if name not in revealed.targets and isinstance(name, str) and name.removeprefix("loss_") in names:
            name = name.removeprefix("loss_")  # a run table's target column names its target set
        if name not in revealed.targets:
            raise ValueError(f"OTLaw: target {self.target!r} is not among {self.features}'s targets {names}.")
        clouds = list(revealed.domains.values())
        target = revealed.targets[name]
        self.point_domain_ = np.concatenate([np.full(len(c.masses), j) for j, c in enumerate(clouds)])
        self.point_mass_ = np.concatenate([c.masses for c in clouds]).astype(np.float64)
        self.target_mass_ = np.asarray(target.masses, dtype=np.float64)
        self.cost_ = squared_cost(np.vstack([c.points for c in clouds]), target.points)

    # -- stage 1: the distance -------------------------------------------------------------------------
    def _masses(self, h: np.ndarray) -> tuple[np.ndarray, float]:
        total = float(h.sum())
        if total <= 0:
            raise ValueError("OTLaw: a mixture with all weights 0.")
        return (h / total)[self.point_domain_] * self.point_mass_, total

    def _distance_grad(self, h: np.ndarray) -> tuple[float, np.ndarray]:
        a, total = self._masses(h)
        value, f = entropic_ot(a, self.target_mass_, self.cost_, float(self.epsilon))
        per_domain = np.bincount(self.point_domain_, weights=self.point_mass_ * f, minlength=len(h))
        return value, (per_domain - a @ f) / total

    def distances(self, H: np.ndarray) -> np.ndarray:
        """The entropic OT distance of each mixture (a row of weights, normalised) to the target."""
        return np.array([self._distance_grad(h)[0] for h in np.atleast_2d(H)])

    # -- stage 2: to any scale -------------------------------------------------------------------------
    def _projection(self, n_params: float, n_tokens: float) -> tuple[np.ndarray, np.ndarray, float]:
        """The trained scale rows (one or two) the prediction at ``(n_params, n_tokens)`` comes from, and ``t``:
        ``log L = (1 + t) log L_2 - t log L_1``."""
        sizes = np.unique(self.scales_[:, 0])
        nearest = sizes[np.argmin(np.abs(np.log(sizes) - np.log(n_params)))]
        rows = self.scales_[self.scales_[:, 0] == nearest]
        rows = rows[np.argsort(rows[:, 1])]
        if len(rows) == 1:
            return rows[0], rows[0], 0.0
        upper = int(np.clip(np.searchsorted(rows[:, 1], n_tokens), 1, len(rows) - 1))
        low, high = rows[upper - 1], rows[upper]
        t = float(np.log(n_tokens / high[1]) / np.log(high[1] / low[1]))
        return low, high, t

    def _predict_grad(self, x: np.ndarray, grad: bool) -> tuple[float, np.ndarray | None]:
        if grad:
            d, dd = self._distance_grad(x[:-2])
        else:
            d, dd = self.distances(x[None, :-2])[0], None
        low, high, t = self._projection(x[-2], x[-1])
        l1 = max(low[2] + low[3] * d, MIN_LOSS)
        l2 = max(high[2] + high[3] * d, MIN_LOSS)
        loss = float(np.exp((1.0 + t) * np.log(l2) - t * np.log(l1)))
        if not grad:
            return loss, None
        return loss, loss * ((1.0 + t) * high[3] / l2 - t * low[3] / l1) * dd

    def predict(self, X):
        check_is_fitted(self, "scales_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return np.array([self._predict_grad(x, grad=False)[0] for x in X])

    def gradient(self, X) -> np.ndarray:
        """d(predicted loss) / d(weights), one row per row of ``X`` (the weights need not sum to 1)."""
        check_is_fitted(self, "scales_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return np.array([self._predict_grad(x, grad=True)[1] for x in X])

    # -- JSON ------------------------------------------------------------------------------------------
    _state = ("cost_", "point_domain_", "point_mass_", "target_mass_", "scales_")

    def fitted_state(self) -> dict:
        check_is_fitted(self, "scales_")
        state = {name: getattr(self, name).tolist() for name in self._state}
        return {**state, "n_features_in_": int(self.n_features_in_)}

    def set_fitted_state(self, state: dict) -> None:
        for name in self._state:
            setattr(self, name, np.asarray(state[name], dtype=np.int64 if name == "point_domain_" else np.float64))
        self.n_features_in_ = int(state["n_features_in_"])


def _line(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least-squares ``y = a + b x`` (``b = 0`` when ``x`` does not vary)."""
    w = w / w.sum()
    mx, my = float(w @ x), float(w @ y)
    var = float(w @ (x - mx) ** 2)
    b = float(w @ ((x - mx) * (y - my)) / var) if var > 1e-18 else 0.0
    return my - b * mx, b
