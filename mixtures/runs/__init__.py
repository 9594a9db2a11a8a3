"""The run capability: one spec for every training (proxy, validation, online) and one store for them."""

from mixtures.runs.spec import KINDS, RunKind, RunSpec, training_setup

__all__ = ["KINDS", "RunKind", "RunSpec", "training_setup"]
