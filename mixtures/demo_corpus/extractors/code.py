"""code: SymPy's Python source files (tests excluded), one document per file; and the held-back domain
``tests``: SymPy's test files, the ones ``code`` leaves out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from mixtures.demo_corpus.extractors.common import Doc, artifact_path, decode, zip_members


def extract(files: Mapping[str, Path]) -> Iterator[Doc]:
    """Every ``*.py`` in the wheel outside ``/tests/`` folders. Id: ``sympy/<path in wheel>``."""
    for name, data in zip_members(artifact_path(files, "sympy"), "*.py"):
        if "/tests/" in f"/{name}":
            continue
        yield Doc(f"sympy/{name}", decode(data), "sympy")


def extract_tests(files: Mapping[str, Path]) -> Iterator[Doc]:
    """The held-back domain: every ``*.py`` inside a ``/tests/`` folder of the wheel. Id: ``sympy-tests/<path>``."""
    for name, data in zip_members(artifact_path(files, "sympy"), "*.py"):
        if "/tests/" in f"/{name}":
            yield Doc(f"sympy-tests/{name}", decode(data), "sympy")
