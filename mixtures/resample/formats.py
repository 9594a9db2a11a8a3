"""Output formats of the mixed dataset, behind :data:`OUTPUT_FORMATS` (``dataset.format``).

- ``parquet`` / ``jsonl``: text shards, one file per shard (``shard-00000.parquet``), each row a
  document with its domain, id, source, line, epoch and DSIR weight.
- ``megatron``: the Megatron-LM indexed dataset, one ``<domain>.bin`` / ``<domain>.idx`` pair per
  domain (documents in their shuffled order, each followed by the tokenizer's end-of-document id,
  one sequence per document) and ``megatron_blend.txt``, the ``--data-path`` blend weighted by each
  domain's share of the written tokens.
- ``hf``: a Hugging Face ``datasets`` dataset written with ``save_to_disk`` (``input_ids``,
  ``domain``, ``doc_id``, ``epoch``), one Arrow file per shard, in the shuffled order.

A format writes each shard's table into the work folder (:meth:`write_shard`, run in parallel)
and then the dataset's files (:meth:`finish`), whose list goes into the manifest.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mixtures.registry import Registry

PARQUET_COMPRESSION = "zstd"  # as fast as snappy here, files about a third smaller
ROW_GROUP_BYTES = 16_000_000  # text bytes per parquet row group: bounds the writer's buffers
MEGATRON_INDEX_HEADER = b"MMIDIDX\x00\x00"
MEGATRON_INDEX_VERSION = 1
MEGATRON_DTYPE_CODES = {np.dtype(np.uint8): 1, np.dtype(np.int8): 2, np.dtype(np.int16): 3, np.dtype(np.int32): 4,
                        np.dtype(np.int64): 5, np.dtype(np.float64): 6, np.dtype(np.float32): 7,
                        np.dtype(np.uint16): 8}
BLEND_FILE = "megatron_blend.txt"


@dataclass(frozen=True)
class TokenLayout:
    """How token ids are stored: their dtype and the end-of-document id."""

    dtype: np.dtype
    eod_id: int


class OutputFormat(Protocol):
    """How shards become the dataset's files."""

    name: str
    tokenized: bool  # True: rows carry token ids (the spill keeps them)

    def write_shard(self, table: pa.Table, folder: Path, shard: int, layout: TokenLayout | None) -> dict:
        """Write one shard (rows in their final order) under ``folder``; return its record."""

    def finish(self, dataset: Path, pieces: Path, shards: list[dict], domains: list[str],
               layout: TokenLayout | None) -> list[dict]:
        """Write the dataset's files into ``dataset`` from the shards; return their records
        (``path`` relative to the dataset, ``bytes``, ``sha256``, ...) for the manifest."""


OUTPUT_FORMATS: Registry[OutputFormat] = Registry("output format", field="dataset.format")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def byte_lengths(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Bytes of each string/binary value (int64; 0 for null), from the offsets: no ``to_numpy``,
    which imports pandas on its first call in a process."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    parts = [np.diff(value_offsets(chunk)).astype(np.int64) for chunk in chunks if len(chunk)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def value_offsets(array: pa.Array) -> np.ndarray:
    """The ``len + 1`` offsets of a non-empty string/binary array's values in its data buffer
    (int32 or int64, a zero-copy view)."""
    width = np.int64 if pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type) else np.int32
    return np.frombuffer(array.buffers()[1], dtype=width)[array.offset: array.offset + len(array) + 1]


def token_ids(column: pa.Array | pa.ChunkedArray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The token ids of a ``tokens`` column (binary: each value the raw ids of one document) back to
    back, and ``n + 1`` offsets in tokens."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    lengths = byte_lengths(array) // dtype.itemsize
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if not len(array):
        return np.zeros(0, dtype=dtype), offsets
    raw_offsets = value_offsets(array)
    data = array.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8)[raw_offsets[0]: raw_offsets[-1]] if data is not None else np.zeros(0, np.uint8)
    return raw.view(dtype), offsets


# -- text shards -------------------------------------------------------------------------------------


class _TextShards:
    tokenized = False
    extension = ""

    def shard_name(self, shard: int) -> str:
        return f"shard-{shard:05d}.{self.extension}"

    def write_shard(self, table: pa.Table, folder: Path, shard: int, layout: TokenLayout | None) -> dict:
        name = self.shard_name(shard)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.tmp"
        self.write_rows(table, tmp)
        text_bytes = int(pc.sum(pc.binary_length(table.column("text"))).as_py() or 0)
        info = {"path": name, "rows": table.num_rows, "bytes": tmp.stat().st_size, "text_bytes": text_bytes,
                "sha256": sha256_of(tmp)}
        tmp.replace(folder / name)
        return info

    def write_rows(self, table: pa.Table, path: Path) -> None:
        raise NotImplementedError

    def finish(self, dataset: Path, pieces: Path, shards: list[dict], domains: list[str],
               layout: TokenLayout | None) -> list[dict]:
        from mixtures.resample.exports import megatron_blend

        (dataset / BLEND_FILE).write_text(megatron_blend({"shards": shards}) + "\n")
        return shards


class ParquetShards(_TextShards):
    """Parquet shards (zstd), row groups of about ``ROW_GROUP_BYTES`` of text."""

    name = "parquet"
    extension = "parquet"

    def write_rows(self, table: pa.Table, path: Path) -> None:
        text_bytes = np.cumsum(byte_lengths(table.column("text")))
        cuts = np.searchsorted(text_bytes, np.arange(ROW_GROUP_BYTES, text_bytes[-1] if len(text_bytes) else 0,
                                                     ROW_GROUP_BYTES), side="right")
        bounds = np.unique(np.concatenate([[0], cuts, [table.num_rows]]))
        with pq.ParquetWriter(path, table.schema, compression=PARQUET_COMPRESSION) as writer:
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                writer.write_table(table.slice(int(a), int(b - a)), row_group_size=int(b - a))


class JsonlShards(_TextShards):
    """JSON lines shards, one object per document (UTF-8, not ASCII-escaped)."""

    name = "jsonl"
    extension = "jsonl"

    def write_rows(self, table: pa.Table, path: Path) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            for batch in table.to_batches(max_chunksize=4096):
                fh.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in batch.to_pylist()))


# -- tokenized outputs ------------------------------------------------------------------------------------


class MegatronIndexed:
    """Per-domain Megatron-LM indexed datasets (``.bin`` tokens, ``.idx`` index) plus the blend."""

    name = "megatron"
    tokenized = True

    def write_shard(self, table: pa.Table, folder: Path, shard: int, layout: TokenLayout | None) -> dict:
        """Per domain, the shard's documents' tokens (each + end of document) and their lengths."""
        domain = table.column("domain").combine_chunks()
        written = {}
        for name in pc.unique(domain).to_pylist():
            rows = table.filter(pc.equal(domain, name))
            ids, offsets = token_ids(rows.column("tokens"), layout.dtype)
            ids = np.insert(ids, offsets[1:], np.asarray(layout.eod_id, dtype=layout.dtype))  # + end of document
            offsets = offsets + np.arange(len(offsets))
            piece = folder / name
            piece.mkdir(parents=True, exist_ok=True)
            (piece / f"{shard:05d}.bin.tmp").write_bytes(ids.tobytes())
            np.save(piece / f"{shard:05d}.len.tmp.npy", np.diff(offsets).astype(np.int32))
            (piece / f"{shard:05d}.len.tmp.npy").replace(piece / f"{shard:05d}.len.npy")
            (piece / f"{shard:05d}.bin.tmp").replace(piece / f"{shard:05d}.bin")
            written[name] = {"documents": rows.num_rows, "tokens": int(offsets[-1])}
        return {"path": None, "shard": shard, "rows": table.num_rows, "domains": written}

    def finish(self, dataset: Path, pieces: Path, shards: list[dict], domains: list[str],
               layout: TokenLayout | None) -> list[dict]:
        from mixtures.resample.exports import format_blend

        files = []
        written = {}
        for name in domains:
            lengths = []
            bin_path = dataset / f"{name}.bin"
            with open(bin_path, "wb") as out:
                for shard in range(len(shards)):
                    piece = pieces / name / f"{shard:05d}.bin"
                    if not piece.is_file():
                        continue
                    with open(piece, "rb") as fh:
                        while block := fh.read(1 << 22):
                            out.write(block)
                    lengths.append(np.load(pieces / name / f"{shard:05d}.len.npy"))
            sizes = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int32)
            write_megatron_index(dataset / f"{name}.idx", sizes, layout.dtype)
            tokens = int(sizes.sum(dtype=np.int64))
            written[name] = tokens
            files.append({"path": f"{name}.bin", "domain": name, "rows": int(len(sizes)), "tokens": tokens,
                          "bytes": bin_path.stat().st_size, "sha256": sha256_of(bin_path)})
            idx = dataset / f"{name}.idx"
            files.append({"path": f"{name}.idx", "domain": name, "rows": int(len(sizes)), "tokens": 0,
                          "bytes": idx.stat().st_size, "sha256": sha256_of(idx)})
        total = sum(written.values()) or 1
        pairs = [(tokens / total, name) for name, tokens in written.items() if tokens]
        (dataset / BLEND_FILE).write_text(format_blend(pairs) + "\n")
        return files


def write_megatron_index(path: Path, sizes: np.ndarray, dtype: np.dtype) -> None:
    """The ``.idx`` of a Megatron indexed dataset whose documents are one sequence each.

    Layout (little-endian): the 9-byte header ``MMIDIDX\\0\\0``, version (u64, 1), the token dtype
    code (u8), the sequence count (u64), the document count (u64, sequences + 1), then every
    sequence's length (i32), its byte offset in the ``.bin`` (i64), and the document index (i64:
    0, 1, ..., n: document ``i`` is sequences ``[i, i+1)``).
    """
    dtype = np.dtype(dtype)
    sizes = np.asarray(sizes, dtype=np.int32)
    pointers = np.zeros(len(sizes), dtype=np.int64)
    if len(sizes) > 1:
        np.cumsum(sizes[:-1].astype(np.int64) * dtype.itemsize, out=pointers[1:])
    document_index = np.arange(len(sizes) + 1, dtype=np.int64)
    with open(path, "wb") as fh:
        fh.write(MEGATRON_INDEX_HEADER)
        fh.write(struct.pack("<Q", MEGATRON_INDEX_VERSION))
        fh.write(struct.pack("<B", MEGATRON_DTYPE_CODES[dtype]))
        fh.write(struct.pack("<Q", len(sizes)))
        fh.write(struct.pack("<Q", len(document_index)))
        fh.write(sizes.tobytes(order="C"))
        fh.write(pointers.tobytes(order="C"))
        fh.write(document_index.tobytes(order="C"))


class HuggingFaceDataset:
    """A ``datasets`` dataset saved with ``save_to_disk``: ``input_ids``, ``domain``, ``doc_id``, ``epoch``."""

    name = "hf"
    tokenized = True

    def write_shard(self, table: pa.Table, folder: Path, shard: int, layout: TokenLayout | None) -> dict:
        ids, offsets = token_ids(table.column("tokens"), layout.dtype)
        value_type = pa.from_numpy_dtype(layout.dtype)
        values = pa.Array.from_buffers(value_type, len(ids), [None, pa.py_buffer(np.ascontiguousarray(ids))])
        offsets_arrow = pa.Array.from_buffers(pa.int64(), len(offsets), [None, pa.py_buffer(offsets)])
        input_ids = pa.LargeListArray.from_arrays(offsets_arrow, values).cast(pa.list_(value_type))
        rows = pa.table({"input_ids": input_ids, "domain": table.column("domain"), "doc_id": table.column("doc_id"),
                         "epoch": table.column("epoch")})
        lengths = np.diff(offsets)
        domain = table.column("domain").combine_chunks().dictionary_encode()
        per_domain = np.bincount(domain.indices.to_numpy(zero_copy_only=False), weights=lengths,
                                 minlength=len(domain.dictionary)) if len(lengths) else []
        written = {name: {"tokens": int(n)} for name, n in zip(domain.dictionary.to_pylist(), per_domain, strict=True)}
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{shard:05d}.arrow"
        tmp = folder / f".{shard:05d}.arrow.tmp"
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, rows.schema) as writer:
            writer.write_table(rows)
        tmp.replace(path)
        return {"path": None, "shard": shard, "rows": rows.num_rows, "domains": written}

    def finish(self, dataset: Path, pieces: Path, shards: list[dict], domains: list[str],
               layout: TokenLayout | None) -> list[dict]:
        import datasets

        parts = [datasets.Dataset.from_file(str(pieces / f"{s['shard']:05d}.arrow")) for s in shards]
        data = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
        data.save_to_disk(str(dataset), num_shards=len(shards))
        files = []
        for path in sorted(p for p in dataset.iterdir() if p.is_file() and p.name != "manifest.json"):
            files.append({"path": path.name, "bytes": path.stat().st_size, "sha256": sha256_of(path)})
        return files


OUTPUT_FORMATS.add("parquet", ParquetShards())
OUTPUT_FORMATS.add("jsonl", JsonlShards())
OUTPUT_FORMATS.add("megatron", MegatronIndexed())
OUTPUT_FORMATS.add("hf", HuggingFaceDataset())
FORMATS = tuple(OUTPUT_FORMATS.names())
