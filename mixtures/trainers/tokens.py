"""Tokens of each domain and target set under the project's tokenizer, cached on disk and memory-mapped.

Each source (training domain or held-out target set) is read once into a flat array per split: the
token ids of its documents, each followed by the tokenizer's end-of-document id, as uint8 / uint16 /
uint32 (the smallest type of the vocabulary). The validation split also gets a uint16 array of how
many UTF-8 bytes each of its tokens covers (0 for end-of-document), so losses are bits per byte under
any tokenizer. The files are

    <cache>/tokens/<name>-<key>.<split>.<u8|u16|u32>     <name>-<key>.val.nbytes.u16

keyed by the catalog's content hash, the split (``corpus.val_fraction``) and the tokenizer's
fingerprint: changing any of them gets new files. They are written atomically, so concurrent runs
share them and a killed writer leaves nothing half-written.

When the cache is on object storage (``storage.root: s3://...``) the files live there under the same
names, and each process memory-maps a local copy of the same name under
:func:`mixtures.layout.local_root` of the cache: downloaded when the store has them, otherwise
written locally in one pass and then uploaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mixtures import storage
from mixtures.config import ProjectConfig
from mixtures.corpus.domains import iter_batches, split_of
from mixtures.errors import CorpusError
from mixtures.layout import local_root
from mixtures.tokenizers import Tokenizer, encode_with_bytes, project_tokenizer, token_dtype

EOD = 0  # the byte tokenizer's end-of-document id (NUL does not occur in text)
SPLITS = ("train", "val")
CACHE_VERSION = 2  # 2: keyed by content, split and tokenizer; per-token byte counts for the validation split
BYTES_DTYPE = np.dtype(np.uint16)


@dataclass(frozen=True)
class SourceTokens:
    """One source's cached tokens: ``train`` and ``val`` ids, ``val_bytes`` bytes per validation token,
    the cache ``key`` and the (local, memory-mapped) files."""

    train: np.ndarray
    val: np.ndarray
    val_bytes: np.ndarray
    key: str
    paths: dict[str, Path]

    def __getitem__(self, split: str) -> np.ndarray:  # splits["train"], as the arrays were once a dict
        return {"train": self.train, "val": self.val, "val_bytes": self.val_bytes}[split]


def content_sha(catalog: pd.DataFrame, name: str) -> str:
    """The catalog's content hash of a domain or target set (a clear error when it has none)."""
    rows = catalog[catalog["domain"] == name]
    if rows.empty:
        raise CorpusError(f"the domain catalog has no row for {name!r}; rebuild the catalog.")
    sha = str(rows["content_sha256"].iloc[0] or "")
    if not sha:
        error = str(rows["error"].iloc[0]) if "error" in rows else ""
        raise CorpusError(
            f"domain {name!r} has no content hash in the catalog ({error or 'unreadable'}); fix it first."
        )
    return sha


def content_key(config: ProjectConfig, catalog: pd.DataFrame, name: str, tokenizer: Tokenizer | None = None) -> str:
    """The cache key of a source: its content hash, the split and the tokenizer's fingerprint."""
    tokenizer = tokenizer or project_tokenizer(config)
    payload = {"version": CACHE_VERSION, "content": content_sha(catalog, name),
               "val_fraction": float(config.corpus.val_fraction), "tokenizer": tokenizer.fingerprint}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _suffix(dtype: np.dtype) -> str:
    return {1: "u8", 2: "u16", 4: "u32"}[np.dtype(dtype).itemsize]


def token_paths(config: ProjectConfig, name: str, key: str, tokenizer: Tokenizer) -> dict[str, Path]:
    """Where a source's ``train``, ``val`` and ``val_bytes`` arrays are cached (:class:`upath.UPath` values
    when the cache is on object storage)."""
    folder = config.cache_dir / "tokens"
    suffix = _suffix(token_dtype(tokenizer.vocab_size))
    return {"train": folder / f"{name}-{key}.train.{suffix}", "val": folder / f"{name}-{key}.val.{suffix}",
            "val_bytes": folder / f"{name}-{key}.val.nbytes.u16"}


def _write_splits(config: ProjectConfig, name: str, paths: dict[str, Path], tokenizer: Tokenizer) -> None:
    """Every array in one pass over the documents, each through a temporary file and a rename."""
    folder = next(iter(paths.values())).parent
    folder.mkdir(parents=True, exist_ok=True)
    dtype = token_dtype(tokenizer.vocab_size)
    eod = np.array([tokenizer.eod_id], dtype=dtype)
    no_bytes = np.zeros(1, dtype=BYTES_DTYPE)
    handles, temps = {}, {}
    try:
        for part, path in paths.items():
            fd, temps[part] = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
            handles[part] = os.fdopen(fd, "wb")
        for batch in iter_batches(config, name):
            is_val = [split_of(doc.doc_id, config.corpus.val_fraction) == "val" for doc in batch]
            train = iter(tokenizer.encode_batch([d.text for d, v in zip(batch, is_val) if not v]))
            val = iter(encode_with_bytes(tokenizer, [d.text for d, v in zip(batch, is_val) if v]))
            for in_val in is_val:  # documents in corpus order within each split
                if in_val:
                    ids, counts = next(val)
                    handles["val_bytes"].write(np.asarray(counts, dtype=BYTES_DTYPE).tobytes())
                    handles["val_bytes"].write(no_bytes.tobytes())
                else:
                    ids = next(train)
                handle = handles["val" if in_val else "train"]
                handle.write(np.asarray(ids, dtype=dtype).tobytes())
                handle.write(eod.tobytes())
        for part, fh in handles.items():
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            os.replace(temps[part], paths[part])
    finally:
        for part, fh in handles.items():
            fh.close()
            Path(temps[part]).unlink(missing_ok=True)


def _local_copies(config: ProjectConfig, name: str, stored: dict[str, Path], tokenizer: Tokenizer) -> dict[str, Path]:
    """Local files with the bytes of a remote cache's ``stored`` files (same names): kept from an earlier
    run on this machine, downloaded, or (the store has not got them all) written here and uploaded."""
    folder = local_root(config.cache_dir) / "tokens"
    local = {part: folder / storage.name(path) for part, path in stored.items()}
    if all(path.exists() for path in local.values()):
        return local
    if all(storage.exists(path) for path in stored.values()):
        for part, path in stored.items():
            storage.get_file(path, local[part])
        return local
    _write_splits(config, name, local, tokenizer)
    for part, path in stored.items():
        storage.put_file(local[part], path)
    return local


def _map(path: Path, dtype: np.dtype) -> np.ndarray:
    size = path.stat().st_size
    return np.memmap(path, dtype=dtype, mode="r") if size else np.zeros(0, dtype=dtype)


def domain_tokens(config: ProjectConfig, catalog: pd.DataFrame, name: str,
                  tokenizer: Tokenizer | None = None) -> SourceTokens:
    """A source's cached tokens (read-only memory maps), written in one pass when any file is missing.

    An empty split is a length-0 array.
    """
    tokenizer = tokenizer or project_tokenizer(config)
    key = content_key(config, catalog, name, tokenizer)
    paths = token_paths(config, name, key, tokenizer)
    if storage.is_url(storage.url_of(config.cache_dir)):
        paths = _local_copies(config, name, paths, tokenizer)
    elif not all(path.exists() for path in paths.values()):
        _write_splits(config, name, paths, tokenizer)
    dtype = token_dtype(tokenizer.vocab_size)
    return SourceTokens(train=_map(paths["train"], dtype), val=_map(paths["val"], dtype),
                        val_bytes=_map(paths["val_bytes"], BYTES_DTYPE), key=key, paths=paths)


def document_subset(tokens: np.ndarray, eod_id: int, positions: list[int]) -> np.ndarray:
    """The documents at corpus ``positions`` (ascending) of a cached split, each with its end-of-document, in
    corpus order: a split holds every document's ids followed by ``eod_id``, which no text encodes to."""
    ends = np.flatnonzero(np.asarray(tokens) == eod_id)
    if positions and positions[-1] >= len(ends):
        raise CorpusError(f"the token cache holds {len(ends)} documents, fewer than position {positions[-1]} needs; "
                          "delete the cache's tokens folder to rebuild it.")
    starts = np.concatenate([[0], ends[:-1] + 1])
    parts = [np.asarray(tokens[starts[i]:ends[i] + 1]) for i in positions]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.asarray(tokens).dtype)


def window_starts(n_tokens: int, seq_len: int, n_windows: int) -> np.ndarray:
    """Starts of ``n`` deterministic evaluation windows of ``seq_len + 1`` tokens spread evenly over a
    split of ``n_tokens`` (non-overlapping when it is long enough; one window when it is shorter)."""
    width = seq_len + 1
    if n_tokens <= width:
        return np.zeros(1 if n_tokens else 0, dtype=np.int64)
    n = max(1, min(n_windows, n_tokens // width))
    if n == 1:
        return np.zeros(1, np.int64)
    return (np.arange(n, dtype=np.int64) * (n_tokens - width)) // (n - 1)


def eval_windows(tokens: np.ndarray, seq_len: int, n_windows: int) -> np.ndarray:
    """``(n, seq_len + 1)`` deterministic evaluation windows spread evenly over ``tokens``
    (:func:`window_starts`); a split shorter than one window is tiled."""
    width = seq_len + 1
    if len(tokens) == 0:
        return np.zeros((0, width), dtype=np.asarray(tokens).dtype)
    if len(tokens) < width:
        tokens = np.resize(np.asarray(tokens), width)
    starts = window_starts(len(tokens), seq_len, n_windows)
    return np.stack([np.asarray(tokens[s:s + width]) for s in starts])
