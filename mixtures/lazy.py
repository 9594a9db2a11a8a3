"""A package's public names, imported from their submodules on first use (PEP 562).

A Dagster run worker loads every asset module; a package whose ``__init__`` imported all of its submodules
would make each worker import scikit-learn, SciPy's statistics or the config for one name it never uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: ``exports`` maps a public name to its submodule's short name."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(import_module(f"{package}.{exports[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
