"""docs: Django's reStructuredText documentation, one document per page."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from mixtures.demo_corpus.extractors.common import Doc, artifact_path, decode, tar_members


def _is_doc_page(name: str) -> bool:
    parts = name.split("/")
    return len(parts) > 2 and parts[1] == "docs" and name.endswith(".txt") and "_theme" not in parts


def extract(files: Mapping[str, Path]) -> Iterator[Doc]:
    """Every ``docs/**/*.txt`` page (the HTML theme's files excluded). Id: ``django/<page path>``."""
    for name, data in tar_members(artifact_path(files, "django"), _is_doc_page):
        page = name.split("/", 2)[2][: -len(".txt")]
        yield Doc(f"django/{page}", decode(data), "django")
