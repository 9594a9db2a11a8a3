"""Find a domain's files and tell their format."""

from __future__ import annotations

import glob
from pathlib import Path

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


def _expand(pattern: str, base: Path) -> list[Path]:
    raw = Path(pattern).expanduser()
    full = raw if raw.is_absolute() else base / raw
    if glob.has_magic(str(full)):
        return [Path(p) for p in sorted(glob.glob(str(full), recursive=True))]
    return [full] if full.exists() else []


def _files_under(folder: Path, fmt: str) -> list[Path]:
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

    ``patterns`` are files, folders or globs relative to ``base``. A folder is searched
    recursively (hidden files skipped); a Hugging Face ``save_to_disk`` folder is one entry.
    Raises :class:`CorpusError` naming the pattern that matches nothing.
    """
    found: list[tuple[Path, str]] = []
    for pattern in patterns:
        matches = _expand(pattern, base)
        if not matches:
            raise CorpusError(
                f"domain {name!r}: path {pattern!r} matches no file (looked for {base / pattern}); "
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
