"""Byte tokens of each domain and target set, cached on disk and memory-mapped.

Each source (training domain or held-out target set) is read once per split into a flat uint8
array: the UTF-8 bytes of its documents, each followed by a 0 byte (end of document). The file
``<cache>/tokens/<name>-<content_sha256[:16]>.<split>.u8`` is written atomically, so concurrent
runs share it and a killed writer leaves nothing half-written; a changed domain gets a new key.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.corpus.domains import iter_documents
from mixtures.errors import ConfigError, CorpusError

EOD = 0  # the end-of-document byte (NUL does not occur in text)
SPLITS = ("train", "val")


def check_tokenizer(config: ProjectConfig) -> None:
    """Refuse tokenizers the built-in trainer does not implement."""
    if config.corpus.tokenizer != "bytes":
        raise ConfigError(
            f"corpus.tokenizer is {config.corpus.tokenizer!r}, but the built-in proxy trainer trains on bytes only "
            "(vocab 256, losses in bits per byte); set corpus.tokenizer: bytes or use proxy.trainer: command."
        )


def content_key(catalog: pd.DataFrame, name: str) -> str:
    """The catalog's content hash of a domain or target set (the cache key)."""
    rows = catalog[catalog["domain"] == name]
    if rows.empty:
        raise CorpusError(f"the domain catalog has no row for {name!r}; rebuild the catalog.")
    sha = str(rows["content_sha256"].iloc[0] or "")
    if not sha:
        error = str(rows["error"].iloc[0]) if "error" in rows else ""
        raise CorpusError(
            f"domain {name!r} has no content hash in the catalog ({error or 'unreadable'}); fix it first."
        )
    return sha[:16]


def token_path(config: ProjectConfig, name: str, key: str, split: str) -> Path:
    return config.cache_dir / "tokens" / f"{name}-{key}.{split}.u8"


def _write_splits(config: ProjectConfig, name: str, paths: dict[str, Path]) -> None:
    """Both splits in one pass over the documents, each through a temporary file and a rename."""
    from mixtures.corpus.domains import split_of

    folder = next(iter(paths.values())).parent
    folder.mkdir(parents=True, exist_ok=True)
    handles, temps = {}, {}
    try:
        for split, path in paths.items():
            fd, temps[split] = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
            handles[split] = os.fdopen(fd, "wb")
        end = bytes([EOD])
        for doc in iter_documents(config, name):
            fh = handles[split_of(doc.doc_id, config.corpus.val_fraction)]
            fh.write(doc.text.encode("utf-8"))
            fh.write(end)
        for split, fh in handles.items():
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            os.replace(temps[split], paths[split])
    finally:
        for split, fh in handles.items():
            fh.close()
            Path(temps[split]).unlink(missing_ok=True)


def domain_tokens(config: ProjectConfig, catalog: pd.DataFrame, name: str) -> dict[str, np.ndarray]:
    """``{"train": array, "val": array}`` of a domain's byte tokens (read-only memory maps).

    Both splits are written in one pass when either is missing. An empty split is a length-0 array.
    """
    key = content_key(catalog, name)
    paths = {split: token_path(config, name, key, split) for split in SPLITS}
    if not all(path.exists() for path in paths.values()):
        _write_splits(config, name, paths)
    out = {}
    for split, path in paths.items():
        size = path.stat().st_size
        out[split] = np.memmap(path, dtype=np.uint8, mode="r") if size else np.zeros(0, dtype=np.uint8)
    return out


def eval_windows(tokens: np.ndarray, seq_len: int, n_windows: int) -> np.ndarray:
    """``(n, seq_len + 1)`` deterministic evaluation windows spread evenly over ``tokens``.

    Non-overlapping when the split is long enough; a split shorter than one window is tiled.
    """
    width = seq_len + 1
    if len(tokens) == 0:
        return np.zeros((0, width), dtype=np.uint8)
    if len(tokens) < width:
        tokens = np.resize(np.asarray(tokens), width)
    n_fit = len(tokens) // width
    n = max(1, min(n_windows, n_fit))
    starts = (np.arange(n, dtype=np.int64) * (len(tokens) - width)) // max(n - 1, 1) if n > 1 else np.zeros(1, np.int64)
    return np.stack([np.asarray(tokens[s:s + width]) for s in starts])
