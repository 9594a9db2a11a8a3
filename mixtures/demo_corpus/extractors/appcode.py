"""appcode: Django's own Python source (its tests excluded), one document per file.

Python of another project than the training domain ``code`` (SymPy): a held-out target set.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from mixtures.demo_corpus.extractors.common import Doc, artifact_path, decode, tar_members


def _is_source(name: str) -> bool:
    parts = name.split("/")
    return len(parts) > 2 and parts[1] == "django" and name.endswith(".py") and "tests" not in parts


def extract(files: Mapping[str, Path]) -> Iterator[Doc]:
    """Every ``django/**/*.py`` of the sdist. Id: ``django-src/<path under django/>``."""
    for name, data in tar_members(artifact_path(files, "django"), _is_source):
        yield Doc(f"django-src/{name.split('/', 2)[2]}", decode(data), "django")
