"""legal: English license texts from the ScanCode license database (licensedcode-data)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from mixtures.demo_corpus.extractors.common import Doc, artifact_path, decode, stem, zip_members

PATTERN = "licensedcode/data/licenses/*.LICENSE"


def split_front_matter(text: str) -> tuple[str, str]:
    """``(yaml_front_matter, body)`` of a ``.LICENSE`` file; the front matter is between ``---`` lines."""
    if not text.startswith("---"):
        return "", text
    first_break = text.find("\n")
    end = text.find("\n---", first_break)
    if first_break < 0 or end < 0:
        return "", text
    body_start = text.find("\n", end + 1)
    return text[first_break + 1 : end], ("" if body_start < 0 else text[body_start + 1 :])


def language(front_matter: str) -> str:
    """The ``language:`` field of the front matter (``"en"`` when absent)."""
    for line in front_matter.splitlines():
        if line.startswith("language:"):
            return line.split(":", 1)[1].strip().strip("'\"") or "en"
    return "en"


def extract(files: Mapping[str, Path]) -> Iterator[Doc]:
    """One document per English license body. Id: ``scancode/<license key>``."""
    for name, data in zip_members(artifact_path(files, "licensedcode-data"), PATTERN):
        front, body = split_front_matter(decode(data))
        if language(front) == "en" and body.strip():
            yield Doc(f"scancode/{stem(name, '.LICENSE')}", body, "licensedcode-data")
