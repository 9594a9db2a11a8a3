"""The run capability: one spec for every training (proxy, validation, online) and one store for them."""

from mixtures.runs.spec import KINDS, RunKind, RunSpec

__all__ = ["KINDS", "RunKind", "RunSpec"]
