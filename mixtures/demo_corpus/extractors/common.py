"""Shared pieces of the extractors: the document record and in-place archive readers."""

from __future__ import annotations

import fnmatch
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mixtures.errors import CorpusError


@dataclass(frozen=True)
class Doc:
    """One extracted document.

    Parameters
    ----------
    id : str
        Unique within the domain, stable across builds (e.g. ``"sotu/1790-Washington-1"``).
    text : str
        The plain text (normalized and chunked later by the builder).
    artifact : str
        Key of the artifact it came from (becomes the record's ``source``).
    """

    id: str
    text: str
    artifact: str


def artifact_path(files: Mapping[str, Path], key: str) -> Path:
    """The local file of artifact ``key``; a clear error if the sources table lacks it."""
    try:
        return Path(files[key])
    except KeyError:
        raise CorpusError(f"the extractor needs artifact {key!r}, but only {sorted(files)} were fetched") from None


def zip_members(path: Path, pattern: str) -> Iterator[tuple[str, bytes]]:
    """``(name, bytes)`` of the zip's files whose name matches the glob ``pattern``, sorted by name."""
    with zipfile.ZipFile(path) as archive:
        names = sorted(n for n in archive.namelist() if not n.endswith("/") and fnmatch.fnmatchcase(n, pattern))
        for name in names:
            yield name, archive.read(name)


def tar_members(path: Path, keep: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    """``(name, bytes)`` of the tar's regular files for which ``keep(name)``, sorted by name.

    A compressed tar is read once, front to back (seeking backwards would decompress it again
    for every member); the kept members are then yielded in sorted order.
    """
    found: dict[str, bytes] = {}
    with tarfile.open(path, mode="r:*") as archive:
        for member in archive:
            if member.isfile() and keep(member.name):
                handle = archive.extractfile(member)
                if handle is not None:
                    found[member.name] = handle.read()
    for name in sorted(found):
        yield name, found[name]


def read_members(path: Path, names: Sequence[str]) -> dict[str, bytes]:
    """The named members of a zip or tar archive; a clear error naming any that is missing."""
    path = Path(path)
    wanted = set(names)
    if not wanted:
        return {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            found = {n: archive.read(n) for n in archive.namelist() if n in wanted}
    else:
        found = dict(tar_members(path, wanted.__contains__))
    missing = sorted(wanted - set(found))
    if missing:
        raise CorpusError(f"{path.name}: archive members {missing} are missing")
    return found


def decode(data: bytes) -> str:
    """UTF-8 text (undecodable bytes replaced, so one bad byte never drops a document)."""
    return data.decode("utf-8", errors="replace")


def stem(name: str, suffix: str) -> str:
    """The member's file name without its folder and ``suffix``."""
    base = name.rsplit("/", 1)[-1]
    return base[: -len(suffix)] if suffix and base.endswith(suffix) else base
