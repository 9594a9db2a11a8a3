"""Exact feasibility on the box-constrained simplex ``{w : sum w = 1, lower <= w <= upper}``
with an optional bound on ``KL(w || natural)``.

Everything here is vectorised over rows, so a solver can repair 100k candidates in one call.
"""

from __future__ import annotations

import numpy as np

_BISECTION_STEPS = 64


def kl_to_natural(weights: np.ndarray, natural: np.ndarray) -> np.ndarray:
    """``KL(w || natural)`` per row (nats); ``inf`` where w > 0 on a domain natural lacks."""
    weights = np.atleast_2d(weights)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(weights > 0, weights * (np.log(weights) - np.log(natural)), 0.0)
    return terms.sum(axis=1)


def kl_gradient(weights: np.ndarray, natural: np.ndarray) -> np.ndarray:
    """d KL(w || natural) / dw per row: ``log(w / natural) + 1`` (w clipped at 1e-300, where it is -inf)."""
    return np.log(np.maximum(np.atleast_2d(weights), 1e-300) / natural) + 1.0


def _fix_sum(weights: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Clip into the box, then move the rounding residual of the sum onto coordinates with slack."""
    out = np.clip(weights, lower, upper)
    for _ in range(3):
        residual = 1.0 - out.sum(axis=1)
        if not np.any(residual != 0):
            break
        room = np.where(residual[:, None] > 0, upper - out, out - lower)
        total = room.sum(axis=1)
        share = np.divide(room, total[:, None], out=np.zeros_like(room), where=total[:, None] > 0)
        out = np.clip(out + residual[:, None] * share, lower, upper)
    return out


def project_box_simplex(points: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row onto ``{sum w = 1, lower <= w <= upper}``.

    ``w_i = clip(v_i - tau, lower_i, upper_i)`` with ``tau`` found by bisection (the sum is
    monotone in ``tau``); the result is clipped and its sum fixed to 1 to rounding.
    Requires ``sum(lower) <= 1 <= sum(upper)``.
    """
    points = np.atleast_2d(np.asarray(points, dtype=np.float64))
    inside = np.all((points >= lower) & (points <= upper), axis=1) & (np.abs(points.sum(axis=1) - 1.0) < 1e-12)
    if np.all(inside):
        return _fix_sum(points, lower, upper)
    if np.any(inside):
        out = np.empty_like(points)
        out[inside] = _fix_sum(points[inside], lower, upper)
        out[~inside] = project_box_simplex(points[~inside], lower, upper)
        return out
    lo_tau = (points - upper).min(axis=1) - 1.0
    hi_tau = (points - lower).max(axis=1) + 1.0
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo_tau + hi_tau)
        total = np.clip(points - mid[:, None], lower, upper).sum(axis=1)
        above = total > 1.0
        lo_tau = np.where(above, mid, lo_tau)
        hi_tau = np.where(above, hi_tau, mid)
    return _fix_sum(points - (0.5 * (lo_tau + hi_tau))[:, None], lower, upper)


def closest_to_natural(natural: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The feasible mixture with the smallest ``KL(w || natural)``: ``w_i = clip(c n_i, lo_i, hi_i)``
    with ``c`` set so that the weights sum to 1 (the I-projection onto the box-simplex)."""
    natural = np.asarray(natural, dtype=np.float64)
    lo_c, hi_c = 0.0, 1.0
    while np.clip(hi_c * natural, lower, upper).sum() < 1.0 and hi_c < 1e300:
        hi_c *= 2.0
    for _ in range(_BISECTION_STEPS * 2):
        mid = 0.5 * (lo_c + hi_c)
        if np.clip(mid * natural, lower, upper).sum() > 1.0:
            hi_c = mid
        else:
            lo_c = mid
    return _fix_sum((0.5 * (lo_c + hi_c) * natural)[None, :], lower, upper)[0]


def enforce_kl(weights: np.ndarray, natural: np.ndarray, kl_max: float, anchor: np.ndarray,
               lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Move rows that exceed ``KL <= kl_max`` toward ``anchor`` (a feasible point with smaller KL)
    along the segment between them, just far enough (KL is convex, the box-simplex convex)."""
    weights = np.atleast_2d(weights).copy()
    bad = kl_to_natural(weights, natural) > kl_max
    if not np.any(bad):
        return weights
    rows = weights[bad]
    lo_t = np.zeros(len(rows))
    hi_t = np.ones(len(rows))
    for _ in range(60):
        mid = 0.5 * (lo_t + hi_t)
        mixed = (1 - mid)[:, None] * rows + mid[:, None] * anchor
        ok = kl_to_natural(mixed, natural) <= kl_max
        hi_t = np.where(ok, mid, hi_t)
        lo_t = np.where(ok, lo_t, mid)
    fixed = _fix_sum((1 - hi_t)[:, None] * rows + hi_t[:, None] * anchor, lower, upper)
    still = kl_to_natural(fixed, natural) > kl_max
    fixed[still] = anchor  # rounding at the boundary: fall back to the anchor itself
    weights[bad] = fixed
    return weights
