"""Argument types for numeric flags: a value out of range is a usage error of the subcommand (exit 2, its usage),
before anything is read or trained.

>>> parser.add_argument("--tokens", type=positive(float))
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _number(kind: type, test: Callable[[float], bool], rule: str) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not math.isfinite(value) or not test(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {rule}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


def positive(kind: type = float) -> Callable[[str], float]:
    """A number > 0 (``int`` or ``float``)."""
    return _number(kind, lambda v: v > 0, "> 0")


def non_negative(kind: type = float) -> Callable[[str], float]:
    """A number >= 0."""
    return _number(kind, lambda v: v >= 0, ">= 0")


def in_range(low: float, high: float | None = None, kind: type = float) -> Callable[[str], float]:
    """A number in ``[low, high]`` (no upper end when ``high`` is None)."""
    rule = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
    return _number(kind, lambda v: v >= low and (high is None or v <= high), rule)
