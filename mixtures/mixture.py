"""Mixtures: ``{domain: weight}`` with weights >= 0 that sum to 1."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from mixtures.errors import MixtureError

SUM_TOLERANCE = 1e-6


def validate_mixture(
    weights: Mapping[str, float],
    domains: Sequence[str] | None = None,
    *,
    where: str = "mixture",
    tolerance: float = SUM_TOLERANCE,
) -> dict[str, float]:
    """Check a mixture and return it as a plain dict in the order of ``domains``.

    Weights must be finite, non-negative and sum to 1 within ``tolerance`` (the result is
    renormalised to remove that rounding). Domains missing from ``weights`` get weight 0;
    a domain not in ``domains`` is refused. ``where`` names the mixture in error messages.
    """
    if not weights:
        raise MixtureError(f"{where}: the mixture is empty; give at least one domain with a weight > 0.")
    if domains is not None:
        unknown = [d for d in weights if d not in domains]
        if unknown:
            raise MixtureError(
                f"{where}: unknown domain(s) {unknown}; known domains are {list(domains)}."
            )
    order = list(domains) if domains is not None else list(weights)
    out: dict[str, float] = {}
    for name in order:
        raw = weights.get(name, 0.0)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise MixtureError(f"{where}: weight of {name!r} is {raw!r}, not a number.") from None
        if math.isnan(value) or math.isinf(value):
            raise MixtureError(f"{where}: weight of {name!r} is {value}; weights must be finite.")
        if value < 0:
            raise MixtureError(f"{where}: weight of {name!r} is {value}; weights must be >= 0.")
        out[name] = value
    total = sum(out.values())
    if abs(total - 1.0) > tolerance:
        raise MixtureError(
            f"{where}: weights sum to {total:.6g}, not 1; rescale them (divide each by {total:.6g})."
        )
    return {name: value / total for name, value in out.items()}


def normalize(weights: Mapping[str, float]) -> dict[str, float]:
    """Rescale non-negative weights to sum to 1 (e.g. token counts to shares)."""
    total = float(sum(weights.values()))
    if total <= 0 or not math.isfinite(total):
        raise MixtureError(f"cannot normalise weights {dict(weights)}: their sum is {total}.")
    return {name: float(value) / total for name, value in weights.items()}


def uniform_mixture(domains: Sequence[str]) -> dict[str, float]:
    """Equal weight on every domain."""
    return {name: 1.0 / len(domains) for name in domains}


def to_vector(weights: Mapping[str, float], domains: Sequence[str]) -> np.ndarray:
    """The weights as a float64 vector in the order of ``domains`` (missing -> 0)."""
    return np.array([float(weights.get(name, 0.0)) for name in domains], dtype=np.float64)


def from_vector(vector: Sequence[float], domains: Sequence[str]) -> dict[str, float]:
    """A vector in the order of ``domains`` as a mixture dict."""
    return {name: float(value) for name, value in zip(domains, vector, strict=True)}
