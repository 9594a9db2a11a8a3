"""Find a domain's files and tell their format: local paths, folders and globs, or URLs
(``s3://bucket/web/*.jsonl.zst``, ``gs://...``, ``file://...``) through :mod:`mixtures.storage`.
Local files come back as :class:`~pathlib.Path`, remote ones as :class:`upath.UPath`."""

from __future__ import annotations

import glob
from pathlib import Path

from mixtures import storage
from mixtures.errors import CorpusError

SUFFIX_FORMATS = (
    (".jsonl.gz", "jsonl.gz"),
    (".json.gz", "jsonl.gz"),
    (".jsonl.zst", "jsonl.zst"),
    (".json.zst", "jsonl.zst"),
    (".jsonl", "jsonl"),
    (".json", "jsonl"),
    (".parquet", "parquet"),
    (".pq", "parquet"),
    (".txt", "text"),
    (".md", "text"),
    (".rst", "text"),
    (".text", "text"),
)
HF_MARKERS = ("dataset_info.json", "state.json")


def format_of(path: Path) -> str | None:
    """The format of a file from its name, or ``None`` if unknown."""
    name = path.name.lower()
    for suffix, fmt in SUFFIX_FORMATS:
        if name.endswith(suffix):
            return fmt
    return None


def is_hf_dataset_dir(path: Path) -> bool:
    """True for a folder written by ``datasets.Dataset.save_to_disk``."""
    return path.is_dir() and all((path / marker).is_file() for marker in HF_MARKERS)


def _expand_url(pattern: str) -> list[Path]:
    if storage.has_magic(pattern):
        return [storage.as_path(m) for m in storage.glob(pattern)]
    return [storage.as_path(pattern)] if storage.exists(pattern) else []


def _files_under_url(folder: Path, fmt: str) -> list[Path]:
    out = []
    root = str(folder).rstrip("/")
    for url in storage.find(folder):
        relative = url[len(root):].lstrip("/")
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        path = storage.as_path(url)
        detected = format_of(path)
        if (fmt == "auto" and detected is not None) or (fmt != "auto" and (detected == fmt or (fmt == "text" and detected is None))):
            out.append(path)
    return out


def _expand(pattern: str, base: Path) -> list[Path]:
    if storage.is_url(pattern):
        return _expand_url(pattern)
    if pattern.startswith("file://"):
        pattern = pattern[len("file://"):]
    raw = Path(pattern).expanduser()
    full = raw if raw.is_absolute() else base / raw
    if glob.has_magic(str(full)):
        return [Path(p) for p in sorted(glob.glob(str(full), recursive=True))]
    return [full] if full.exists() else []


def _files_under(folder: Path, fmt: str) -> list[Path]:
    if storage.is_url(str(folder)):
        return _files_under_url(folder, fmt)
    out = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        detected = format_of(path)
        if fmt == "auto" and detected is not None:
            out.append(path)
        elif fmt != "auto" and (detected == fmt or (fmt == "text" and detected is None)):
            out.append(path)
    return out


def resolve_domain_files(name: str, patterns: list[str], fmt: str, base: Path) -> list[tuple[Path, str]]:
    """Every file of a domain with its format, in a stable (sorted) order.

    ``patterns`` are files, folders or globs relative to ``base``, or URLs. A folder is searched
    recursively (hidden files skipped); a Hugging Face ``save_to_disk`` folder is one entry.
    Raises :class:`CorpusError` naming the pattern that matches nothing (or the storage error:
    a missing bucket, denied access).
    """
    found: list[tuple[Path, str]] = []
    for pattern in patterns:
        try:
            matches = _expand(pattern, base)
        except storage.StorageError as exc:
            raise CorpusError(f"domain {name!r}: {exc}") from None
        if not matches:
            where = storage.redact(pattern) if storage.is_url(pattern) else base / pattern
            raise CorpusError(
                f"domain {name!r}: path {storage.redact(pattern)!r} matches no file (looked for {where}); "
                "fix the domain's 'paths' in the config."
            )
        for match in matches:
            if is_hf_dataset_dir(match) and fmt in ("auto", "hf"):
                found.append((match, "hf"))
            elif match.is_dir():
                files = _files_under(match, fmt)
                if not files:
                    raise CorpusError(
                        f"domain {name!r}: folder {match} holds no {'readable' if fmt == 'auto' else fmt} files "
                        "(.jsonl, .jsonl.gz, .jsonl.zst, .parquet, .txt); check the path or set 'format'."
                    )
                found.extend((f, fmt if fmt != "auto" else format_of(f)) for f in files)
            else:
                detected = fmt if fmt != "auto" else format_of(match)
                if detected is None:
                    raise CorpusError(
                        f"domain {name!r}: cannot tell the format of {match}; set the domain's 'format' "
                        "(jsonl, jsonl.gz, jsonl.zst, parquet, text, hf)."
                    )
                found.append((match, detected))
    seen: set[Path] = set()
    unique = []
    for path, f in found:
        if path not in seen:
            seen.add(path)
            unique.append((path, f))
    return unique
