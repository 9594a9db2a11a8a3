"""Online mixing methods by name: each method module registers how its schedule is built from the config.

Adding a method: a module with its :class:`~mixtures.online.base.OnlineSchedule` subclass and a
``ONLINE_METHODS.add(name, OnlineMethod(build=...))`` line, imported by :mod:`mixtures.online`, its
parameters as a section of ``mixtures.config.OnlineConfig`` and its name in ``OnlineMethodName``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixtures.registry import Registry


@dataclass(frozen=True)
class MethodSetup:
    """What every method's schedule is built from."""

    init: np.ndarray                 # the weights at step 0
    names: list[str]                 # every eval name (training domains, then target sets)
    targets: dict[str, float]        # the objective's weights by eval name
    common: dict[str, Any]           # steps_per_update, output
    section: Any                     # the method's own section of the ``online`` config
    reference: Any = None            # the reference model, for methods that need one


@dataclass(frozen=True)
class OnlineMethod:
    """One online method: how to build its schedule, and what it needs."""

    build: Callable[..., Any]        # (setup, **overrides) -> OnlineSchedule
    needs_reference: bool = False    # a reference model is trained first (DoReMi)
    is_procedure: bool = False       # validated by training with it, not by the mixture it ends with (reweighting)


ONLINE_METHODS: Registry[OnlineMethod] = Registry("online method", field="online.methods / --methods")
