"""Byte-reproducible gzip JSON-lines shards."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from mixtures.demo_corpus.fetch import sha256_file

COMPRESS_LEVEL = 6


class ShardWriter:
    """Write records as ``<folder>/<prefix>-00000.jsonl.gz``, starting a new shard every ``shard_bytes``.

    The gzip header carries ``mtime=0`` and the shard's own fixed file name, so the same records
    give the same bytes on every build (with the same zlib). ``shard_bytes`` counts uncompressed
    JSON-lines bytes; a shard holds at least one record.
    """

    def __init__(self, folder: Path, prefix: str, shard_bytes: int, *, root: Path) -> None:
        self.folder = Path(folder)
        self.prefix = prefix
        self.shard_bytes = shard_bytes
        self.root = Path(root)
        self.shards: list[dict[str, Any]] = []
        self._raw = None
        self._gz: gzip.GzipFile | None = None
        self._path: Path | None = None
        self._rows = 0
        self._size = 0
        self._content = hashlib.sha256()

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{self.prefix}-{len(self.shards):05d}.jsonl"
        self._path = self.folder / f"{name}.gz"
        self._raw = open(self._path, "wb")
        self._gz = gzip.GzipFile(filename=name, mode="wb", fileobj=self._raw, compresslevel=COMPRESS_LEVEL, mtime=0)
        self._rows, self._size, self._content = 0, 0, hashlib.sha256()

    def _close(self) -> None:
        if self._gz is None:
            return
        self._gz.close()
        self._raw.close()
        self.shards.append({
            "path": self._path.relative_to(self.root).as_posix(),
            "rows": self._rows,
            "jsonl_bytes": self._size,
            "gz_bytes": self._path.stat().st_size,
            "sha256": sha256_file(self._path),
            "content_sha256": self._content.hexdigest(),
        })
        self._gz = self._raw = self._path = None

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (one JSON line, non-ASCII kept as UTF-8)."""
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        if self._gz is not None and self._rows and self._size + len(line) > self.shard_bytes:
            self._close()
        if self._gz is None:
            self._open()
        self._gz.write(line)
        self._content.update(line)
        self._rows += 1
        self._size += len(line)

    def close(self) -> list[dict[str, Any]]:
        """Finish the last shard; the list of shard entries (path, rows, sizes, sha256)."""
        self._close()
        return self.shards

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._gz is not None:
            self._gz.close()
            self._raw.close()
