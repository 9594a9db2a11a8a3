"""Backends by name: one small registry type for law families, solvers, online methods, launchers,
tokenizers and output formats.

A backend module registers itself with ``@REGISTRY.register("name")``; callers look it up with
``REGISTRY.get(name)`` (an unknown name gets a "did you mean") and list ``REGISTRY.names()``, so
adding a backend touches its own file and the line that imports it, never the callers.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from mixtures.errors import ConfigError

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""`` (every "unknown name" message uses it)."""
    close = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


class Registry(Generic[T]):
    """Named backends of one kind (``kind`` appears in error messages, e.g. ``"solver"``)."""

    def __init__(self, kind: str, field: str | None = None) -> None:
        self.kind = kind
        self.field = field  # the config field or flag that names a backend, for error messages
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name`` (a name is registered once)."""

        def add(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return add

    def add(self, name: str, obj: T) -> T:
        """Register ``obj`` under ``name`` (the non-decorator form)."""
        return self.register(name)(obj)

    def get(self, name: str) -> T:
        """The backend called ``name``, or a :class:`ConfigError` naming the choices."""
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        hint = did_you_mean(name, list(self._items))
        where = f" ({self.field})" if self.field else ""
        return f"unknown {self.kind} {name!r}{where}{hint} Choose one of {self.names()}."

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
