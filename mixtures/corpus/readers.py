"""Stream documents out of one file, whatever its format, with errors that name file and line.

Every reader yields :class:`Document` records one at a time and never holds a whole file; files
on object storage (:class:`upath.UPath`) are streamed through :mod:`mixtures.storage`. The
``*_batches`` readers give the same rows as Arrow record batches, without a Python object per
document where the input allows.
Bad records (malformed JSON, non-UTF-8 bytes, a missing or non-string text field) either stop
the read with a :class:`CorpusError` (policy ``"fail"``) or are skipped and counted in
:class:`ReadStats` (policy ``"skip"``).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from mixtures.errors import CorpusError

PARQUET_BATCH_ROWS = 2048
JSONL_BLOCK_BYTES = 4 << 20  # bytes of JSON lines parsed by Arrow at once


class Document(NamedTuple):
    """One document: a stable id, its text, the file it came from and its line (or row, 1-based)."""

    doc_id: str
    text: str
    source: str
    line: int


@dataclass
class ReadStats:
    """Counts of what a read skipped under the ``"skip"`` policy, with the first few reasons."""

    skipped: int = 0
    reasons: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        if len(self.reasons) < 5:
            self.reasons.append(reason)


@dataclass(frozen=True)
class ReadSpec:
    """How to read one file: field names, the bad-line policy and how ids are made."""

    text_field: str = "text"
    id_field: str | None = None
    on_bad_line: str = "fail"
    id_prefix: str = ""


def _bad(spec: ReadSpec, stats: ReadStats, message: str) -> None:
    if spec.on_bad_line == "skip":
        stats.skip(message)
        return
    raise CorpusError(message + " (set corpus.on_bad_line: skip to skip and count such lines)")


def _utf8(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{where}: bytes are not valid UTF-8 at byte {exc.start} ({raw[exc.start:exc.start + 4]!r}); "
            "re-encode the file as UTF-8."
        ) from None


def is_remote(path) -> bool:
    """Whether ``path`` is a :class:`upath.UPath` on object storage (not a local file)."""
    return getattr(path, "protocol", "") not in ("", "file", "local")


def _open_raw(path: Path) -> io.BufferedIOBase:
    """The file's bytes, streamed (local files directly, URLs through mixtures.storage)."""
    if not is_remote(path):
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    from mixtures import storage

    return storage.open_read(path)


class _OwningGzip(gzip.GzipFile):
    """A gzip reader that closes the stream it reads from."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        super().__init__(fileobj=raw, mode="rb")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def _open_binary(path: Path, fmt: str) -> io.BufferedIOBase:
    raw = _open_raw(path)
    if fmt == "jsonl.gz":
        return _OwningGzip(raw)
    if fmt == "jsonl.zst":
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    return raw


def _record_fields(record: dict, spec: ReadSpec, where: str, stats: ReadStats) -> tuple[str, str] | None:
    if spec.text_field not in record:
        _bad(spec, stats, f"{where}: no field {spec.text_field!r} (fields: {sorted(record)[:10]}); set the domain's text_field.")
        return None
    text = record[spec.text_field]
    if not isinstance(text, str):
        _bad(spec, stats, f"{where}: field {spec.text_field!r} is {type(text).__name__}, not a string.")
        return None
    doc_id = None
    if spec.id_field is not None:
        if spec.id_field not in record or record[spec.id_field] is None:
            _bad(spec, stats, f"{where}: no id field {spec.id_field!r}; set the domain's id_field or remove it.")
            return None
        doc_id = str(record[spec.id_field])
    return text, doc_id


def read_jsonl(path: Path, fmt: str, spec: ReadSpec, label: str, stats: ReadStats) -> Iterator[Document]:
    """JSON lines (plain, gzip or zstd): one object per line; blank lines are ignored."""
    try:
        with _open_binary(path, fmt) as fh:
            yield from _jsonl_lines(fh, path, spec, label, stats)
    except CorpusError:
        raise
    except Exception as exc:  # gzip/zstd raise several types for a damaged or truncated file
        raise CorpusError(f"{path}: cannot be read as {fmt} ({type(exc).__name__}: {exc}); is the file complete?") from None


def _jsonl_lines(fh, path: Path, spec: ReadSpec, label: str, stats: ReadStats, first_line: int = 0) -> Iterator[Document]:
    """The documents of JSON lines read from ``fh`` whose first line is ``first_line + 1``."""
    for lineno, raw in enumerate(fh, start=first_line + 1):
        if not raw.strip():
            continue
        where = f"{path} line {lineno}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            if spec.on_bad_line == "skip":
                stats.skip(f"{where}: not valid UTF-8")
                continue
            _utf8(raw, where)
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            _bad(spec, stats, f"{where}: malformed JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(record, dict):
            _bad(spec, stats, f"{where}: expected a JSON object, got {type(record).__name__}")
            continue
        fields = _record_fields(record, spec, where, stats)
        if fields is None:
            continue
        text, doc_id = fields
        yield Document(doc_id or f"{label}:{lineno}", text, label, lineno)


def read_text(path: Path, spec: ReadSpec, label: str, stats: ReadStats) -> Iterator[Document]:
    """A plain-text file is one document; its id is the file's path."""
    with _open_raw(path) as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        where = f"{path} line {line}"
        if spec.on_bad_line == "skip":
            stats.skip(f"{where}: not valid UTF-8")
            return
        _utf8(raw, where)
        return
    yield Document(label, text, label, 1)


def _arrow_batches(path: Path, fmt: str, columns: list[str]) -> Iterator:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if fmt == "parquet":
        with contextlib.ExitStack() as stack:
            pf = pq.ParquetFile(stack.enter_context(_open_raw(path)) if is_remote(path) else path)
            missing = [c for c in columns if c not in pf.schema_arrow.names]
            if missing:
                raise CorpusError(
                    f"{path}: no column(s) {missing} (columns: {pf.schema_arrow.names}); "
                    "set the domain's text_field/id_field."
                )
            yield from pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns)
        return
    files = sorted(path.glob("*.arrow"))
    if not files:
        raise CorpusError(f"{path}: a Hugging Face dataset folder without .arrow files; save it with save_to_disk.")
    remote = is_remote(path)
    for arrow_file in files:
        with (_open_raw(arrow_file) if remote else pa.memory_map(str(arrow_file))) as source:
            reader = pa.ipc.open_stream(source)
            missing = [c for c in columns if c not in reader.schema.names]
            if missing:
                raise CorpusError(
                    f"{arrow_file}: no column(s) {missing} (columns: {reader.schema.names}); set text_field/id_field."
                )
            for batch in reader:
                yield batch.select(columns)


def read_columnar(path: Path, fmt: str, spec: ReadSpec, label: str, stats: ReadStats) -> Iterator[Document]:
    """Parquet files and Hugging Face ``save_to_disk`` folders, in record batches."""
    columns = [spec.text_field] + ([spec.id_field] if spec.id_field else [])
    row = 0
    try:
        for batch in _arrow_batches(path, fmt, columns):
            yield from _batch_documents(batch, row, path, spec, label, stats)
            row += batch.num_rows
    except CorpusError:
        raise
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise CorpusError(f"{path}: cannot be read as {fmt} ({type(exc).__name__}: {exc}).") from None


def _batch_documents(batch, row: int, path: Path, spec: ReadSpec, label: str, stats: ReadStats) -> Iterator[Document]:
    """The documents of one record batch whose first row is ``row + 1``, one at a time."""
    texts = batch.column(0).to_pylist()
    ids = batch.column(1).to_pylist() if spec.id_field else None
    for i, text in enumerate(texts):
        row += 1
        where = f"{path} row {row}"
        if isinstance(text, bytes):
            if spec.on_bad_line == "skip":
                try:
                    text = text.decode("utf-8")
                except UnicodeDecodeError:
                    stats.skip(f"{where}: not valid UTF-8")
                    continue
            else:
                text = _utf8(text, where)
        if not isinstance(text, str):
            _bad(spec, stats, f"{where}: field {spec.text_field!r} is {'null' if text is None else type(text).__name__}, not a string.")
            continue
        doc_id = str(ids[i]) if ids is not None and ids[i] is not None else f"{label}:{row}"
        yield Document(doc_id, text, label, row)


COLUMNAR_FORMATS = ("parquet", "hf")


def numpy_to_arrow(values, arrow_type=None):
    """A 1-D NumPy array of numbers as an Arrow array (zero-copy, no nulls).

    Unlike ``pa.array``, whose first call in a process imports pandas (about 0.3 s, paid again
    by every worker process of every parallel stage).
    """
    import numpy as np
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    arrow_type = arrow_type or pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(arrow_type, len(values), [None, pa.py_buffer(values)])


def strings_to_arrow(strings: list[str]):
    """A list of Python strings as an Arrow ``string`` array (no nulls; without ``pa.array``)."""
    import numpy as np
    import pyarrow as pa

    encoded = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])


def repeated_string(value: str, n: int):
    """``value`` ``n`` times as an Arrow ``string`` array."""
    import numpy as np
    import pyarrow as pa

    raw = value.encode("utf-8")
    offsets = np.arange(n + 1, dtype=np.int32) * len(raw)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw * n)])


def read_columnar_batches(path: Path, fmt: str, spec: ReadSpec, label: str, stats: ReadStats) -> Iterator:
    """What :func:`read_columnar` reads, as Arrow record batches (``text`` large_string, ``doc_id``
    string, ``source`` string, ``line`` int64) instead of one Python object per document.

    Batches of plain string texts without nulls (and string or integer ids without nulls) are
    converted with Arrow kernels; any other batch goes through :func:`read_columnar`'s per-document
    rules, so both give the same rows, errors and skip counts.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.types as pat

    columns = [spec.text_field] + ([spec.id_field] if spec.id_field else [])
    row = 0
    try:
        for batch in _arrow_batches(path, fmt, columns):
            n = batch.num_rows
            text = batch.column(0)
            ids = batch.column(1) if spec.id_field else None
            fast = (pat.is_string(text.type) or pat.is_large_string(text.type)) and text.null_count == 0 and (
                ids is None or ((pat.is_string(ids.type) or pat.is_large_string(ids.type) or pat.is_integer(ids.type))
                                and ids.null_count == 0))
            if fast:  # no pa.array here: see numpy_to_arrow
                lines = numpy_to_arrow(np.arange(row + 1, row + n + 1, dtype=np.int64))
                doc_ids = (ids.cast(pa.string()) if ids is not None
                           else strings_to_arrow([f"{label}:{r}" for r in range(row + 1, row + n + 1)]))
                out = [text.cast(pa.large_string()), doc_ids, repeated_string(label, n), lines]
            else:
                docs = list(_batch_documents(batch, row, path, spec, label, stats))
                out = [
                    pa.array([d.text for d in docs], type=pa.large_string()),
                    pa.array([d.doc_id for d in docs], type=pa.string()),
                    pa.array([d.source for d in docs], type=pa.string()),
                    pa.array([d.line for d in docs], type=pa.int64()),
                ]
            row += n
            yield pa.RecordBatch.from_arrays(out, names=["text", "doc_id", "source", "line"])
    except CorpusError:
        raise
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise CorpusError(f"{path}: cannot be read as {fmt} ({type(exc).__name__}: {exc}).") from None


_WHITESPACE = None  # bytes that str.strip() removes, as a NumPy table (made on first use)


def _nonblank_lines(data: bytes):
    """Line numbers (0-based, within ``data``) of the lines that are not only whitespace."""
    import numpy as np

    global _WHITESPACE
    if _WHITESPACE is None:
        table = np.zeros(256, dtype=bool)
        table[list(b" \t\n\r\x0b\x0c")] = True
        _WHITESPACE = table
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    if not len(raw) or raw[-1] != 10:
        ends = np.append(ends, len(raw))
    starts = np.concatenate([[0], ends[:-1] + 1])
    solid = np.concatenate([[0], np.cumsum(~_WHITESPACE[raw], dtype=np.int64)])
    return np.flatnonzero(solid[ends] - solid[starts] > 0), len(ends)


def _jsonl_block_batch(data: bytes, first_line: int, spec: ReadSpec, label: str):
    """One block of whole JSON lines parsed by Arrow into (text, doc_id, source, line), or ``None``
    when the block needs the per-line rules (bad lines, non-string fields, nulls, ...)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.json as pj

    fields = [(spec.text_field, pa.large_string())] + ([(spec.id_field, pa.string())] if spec.id_field else [])
    try:
        table = pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1),
                             parse_options=pj.ParseOptions(explicit_schema=pa.schema(fields),
                                                           unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, UnicodeDecodeError, ValueError):
        return None
    lines, _ = _nonblank_lines(data)
    if table.num_rows != len(lines) or any(table.column(i).null_count for i in range(table.num_columns)):
        return None
    numbers = (lines + first_line + 1).astype(np.int64)
    text = table.column(0).combine_chunks()
    try:  # Arrow's JSON reader does not check UTF-8: a bad byte goes the per-line way
        for i in range(table.num_columns):
            table.column(i).validate(full=True)
    except pa.ArrowInvalid:
        return None
    if spec.id_field:
        doc_ids = table.column(1).combine_chunks()
    else:
        doc_ids = strings_to_arrow([f"{label}:{n}" for n in numbers.tolist()])
    return pa.RecordBatch.from_arrays([text, doc_ids, repeated_string(label, len(numbers)), numpy_to_arrow(numbers)],
                                      names=["text", "doc_id", "source", "line"])


def _documents_batch(docs: list[Document]):
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([
        pa.array([d.text for d in docs], type=pa.large_string()),
        pa.array([d.doc_id for d in docs], type=pa.string()),
        pa.array([d.source for d in docs], type=pa.string()),
        pa.array([d.line for d in docs], type=pa.int64()),
    ], names=["text", "doc_id", "source", "line"])


def read_jsonl_batches(path: Path, fmt: str, spec: ReadSpec, label: str, stats: ReadStats) -> Iterator:
    """What :func:`read_jsonl` reads, as Arrow record batches: blocks of whole lines parsed by
    Arrow's JSON reader (no Python object per document); a block Arrow cannot take as is (a bad
    line, a non-string text, a missing field, a number as id) goes through :func:`read_jsonl`'s
    per-line rules, so both give the same rows, errors and skip counts."""
    try:
        with _open_binary(path, fmt) as fh:
            pending = b""
            line = 0  # lines before the current block
            while True:
                block = fh.read(JSONL_BLOCK_BYTES)
                data = pending + block
                if block:
                    cut = data.rfind(b"\n") + 1
                    if cut == 0:
                        pending = data
                        continue
                    data, pending = data[:cut], data[cut:]
                else:
                    pending = b""
                if data:
                    batch = _jsonl_block_batch(data, line, spec, label)
                    if batch is None:
                        docs = list(_jsonl_lines(io.BytesIO(data), path, spec, label, stats, line))
                        batch = _documents_batch(docs)
                    if batch.num_rows:
                        yield batch
                    line += _nonblank_lines(data)[1]
                if not block:
                    return
    except CorpusError:
        raise
    except Exception as exc:  # gzip/zstd raise several types for a damaged or truncated file
        raise CorpusError(f"{path}: cannot be read as {fmt} ({type(exc).__name__}: {exc}); is the file complete?") from None


def read_record_batches(path: Path, fmt: str, spec: ReadSpec, label: str, stats: ReadStats) -> Iterator:
    """The documents of :func:`read_file` as Arrow record batches (``text``, ``doc_id``, ``source``, ``line``)."""
    if fmt in COLUMNAR_FORMATS:
        return read_columnar_batches(path, fmt, spec, label, stats)
    if fmt in ("jsonl", "jsonl.gz", "jsonl.zst"):
        return read_jsonl_batches(path, fmt, spec, label, stats)
    return (_documents_batch([doc]) for doc in read_file(path, fmt, spec, label, stats))


def read_file(path: Path, fmt: str, spec: ReadSpec, label: str, stats: ReadStats) -> Iterator[Document]:
    """Documents of one file in the given format; ``label`` is the file's stable name in ids."""
    if fmt in ("jsonl", "jsonl.gz", "jsonl.zst"):
        return read_jsonl(path, fmt, spec, label, stats)
    if fmt == "text":
        return read_text(path, spec, label, stats)
    if fmt in ("parquet", "hf"):
        return read_columnar(path, fmt, spec, label, stats)
    raise CorpusError(f"{path}: unknown format {fmt!r}.")
