"""Stages 1-2, per domain: read it once into a spill file, keep per-document numbers, DSIR weights.

:func:`index_domain` is the one pass over a domain through the corpus layer. It cuts documents
longer than ``split_documents`` bytes into pieces, keeps each document's bytes and tokens and spills
the documents, in reading order, to an uncompressed Arrow IPC file (with their token ids when the
output format is tokenized: the text is tokenized once). With DSIR on it also featurizes them
once: the domain's bucket counts, and every document's n-grams in a feature cache.
:func:`prepare_target` and :func:`score_domain` add the DSIR log importance weights.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mixtures.resample.dsir import (
    FeatureCache,
    ImportanceModel,
    StreamFeatures,
    featurize_to_cache,
    ngram_counts,
    score_features,
)
from mixtures.resample.formats import byte_lengths
from mixtures.resample.materialize.request import MaterializeError, Request
from mixtures.resample.materialize.workspace import Workspace, save_npy
from mixtures.resample.plan import DomainIndex

SPILL_BATCH_CHARS = 8_000_000  # characters of text per spilled record batch
MAP_BYTES = 32_000_000  # spill bytes mapped at once while gathering a shard
SPILL_FIELDS = [("text", pa.large_string()), ("doc_id", pa.string()), ("source", pa.string()), ("line", pa.int64())]
SPILL_SCHEMA = pa.schema(SPILL_FIELDS)
TOKENS_FIELD = ("tokens", pa.large_binary())  # raw token ids of each document (tokenized formats)

DocumentBatches = Callable[[str], Iterable[Sequence[Any]]]  # domain -> batches of Documents


def spill_schema(tokenized: bool) -> pa.Schema:
    return pa.schema(SPILL_FIELDS + [TOKENS_FIELD]) if tokenized else SPILL_SCHEMA


def index_domain(
    ws: Workspace,
    request: Request,
    domain: str,
    read: DocumentBatches,
    tokenizer=None,
    n_jobs: int | None = 1,
) -> DomainIndex:
    """Read a domain once: spill its documents and keep per-document sizes; cached.

    ``tokenizer`` (the :class:`mixtures.tokenizers.Tokenizer` protocol) counts tokens, and its ids
    are spilled for tokenized formats; without one, tokens are UTF-8 bytes. With DSIR on, also
    the domain's bucket counts (featurized in ``n_jobs`` threads).
    """
    ws.check(request)
    path = ws.index_path(domain)
    if path.is_file() and ws.spill_path(domain).is_file():
        return DomainIndex.load(path)
    if request.tokenized and tokenizer is None:
        raise MaterializeError(f"format {request.format!r} writes token ids: give the project tokenizer.")
    spill = ws.spill_path(domain)
    spill.parent.mkdir(parents=True, exist_ok=True)
    tmp = spill.with_name(f".{spill.name}.tmp")
    sizes: list[np.ndarray] = []
    tokens: list[np.ndarray] = []
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, spill_schema(request.tokenized)) as writer:

        def texts() -> Iterator[pa.Array]:
            for rows in spill_groups(read, domain, request.split_documents):
                text = rows.column(0)
                n_bytes = byte_lengths(text)
                if tokenizer is None:
                    counts = n_bytes
                else:
                    encoded = tokenizer.encode_batch(text.to_pylist())
                    counts = np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(encoded))
                    if request.tokenized:
                        rows = rows.append_column(TOKENS_FIELD[0], ids_to_binary(encoded, counts, tokenizer))
                writer.write_batch(rows)
                sizes.append(n_bytes)
                tokens.append(counts)
                yield text

        if request.dsir is not None:  # featurize once; the scoring stage reads the cached n-grams
            cache = FeatureCache(ws.features_dir(domain), request.dsir.buckets)
            save_npy(ws.counts_path(domain), featurize_to_cache(texts(), cache, n_jobs))
            cache.save()
        else:
            for _ in texts():
                pass
    tmp.replace(spill)
    pa.default_memory_pool().release_unused()
    empty = np.zeros(0, dtype=np.int64)
    index = DomainIndex(np.concatenate(sizes) if sizes else empty, np.concatenate(tokens) if tokens else empty)
    index.save(path)
    return index


def ids_to_binary(encoded: Sequence[np.ndarray], counts: np.ndarray, tokenizer) -> pa.Array:
    """Token id arrays as one ``large_binary`` array of their raw bytes (the tokenizer's dtype)."""
    from mixtures.tokenizers import token_dtype

    dtype = token_dtype(tokenizer.vocab_size)
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(counts * dtype.itemsize, out=offsets[1:])
    data = np.concatenate([np.asarray(ids, dtype=dtype) for ids in encoded]) if len(encoded) else np.zeros(0, dtype)
    return pa.Array.from_buffers(pa.large_binary(), len(encoded),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data))])


def spill_groups(read: DocumentBatches, domain: str, split_documents: int | None) -> Iterator[pa.RecordBatch]:
    """A domain's documents as spill record batches: the reader's Arrow batches when it has them
    (``read.record_batches``), else Documents regrouped into batches of about ``SPILL_BATCH_CHARS``
    characters."""
    record_batches = getattr(read, "record_batches", None)
    arrow = record_batches(domain) if record_batches is not None else None
    groups = (_arrow_rows(arrow) if arrow is not None
              else (_spill_batch(docs) for docs in _grouped(read(domain), SPILL_BATCH_CHARS)))
    for rows in groups:
        yield split_long_documents(rows, split_documents) if split_documents else rows


def _arrow_rows(tables: Iterable[pa.Table]) -> Iterator[pa.RecordBatch]:
    """The reader's Arrow tables as spill record batches, as they come (zero-copy slices: no
    regrouping, which would copy every text once more)."""
    for table in tables:
        for batch in table.to_batches():
            yield pa.RecordBatch.from_arrays(batch.columns, schema=SPILL_SCHEMA)


def _grouped(batches: Iterable[Sequence[Any]], max_chars: int) -> Iterator[list]:
    """Documents regrouped into lists of about ``max_chars`` characters of text."""
    group: list = []
    chars = 0
    for batch in batches:
        for doc in batch:
            group.append(doc)
            chars += len(doc.text)
        if chars >= max_chars:
            yield group
            group, chars = [], 0
    if group:
        yield group


def _spill_batch(batch: Sequence[Any]) -> pa.RecordBatch:
    return pa.record_batch(
        [
            pa.array([doc.text for doc in batch], type=pa.large_string()),
            pa.array([str(doc.doc_id) for doc in batch], type=pa.string()),
            pa.array([str(doc.source) for doc in batch], type=pa.string()),
            pa.array([int(doc.line) for doc in batch], type=pa.int64()),
        ],
        schema=SPILL_SCHEMA,
    )


def split_text(text: str, max_bytes: int) -> list[str]:
    """``text`` cut into pieces of at most ``max_bytes`` UTF-8 bytes: after the last line break in
    a piece's second half, else after its last space there, else at a character boundary."""
    raw = text.encode("utf-8")
    pieces = []
    start = 0
    while len(raw) - start > max_bytes:
        end = start + max_bytes
        half = start + max_bytes // 2
        cut = raw.rfind(b"\n", half, end)
        if cut < 0:
            cut = raw.rfind(b" ", half, end)
        if cut >= 0:
            cut += 1
        else:
            cut = end
            while cut > start and (raw[cut] & 0xC0) == 0x80:  # not inside a multi-byte character
                cut -= 1
        pieces.append(raw[start:cut].decode("utf-8"))
        start = cut
    pieces.append(raw[start:].decode("utf-8"))
    return pieces


def split_long_documents(rows: pa.RecordBatch, max_bytes: int) -> pa.RecordBatch:
    """Documents over ``max_bytes`` bytes replaced by their pieces (:func:`split_text`), in place
    of the document; piece ``k`` of document ``ID`` is ``ID#k`` with the same source and line."""
    long = np.flatnonzero(byte_lengths(rows.column(0)) > max_bytes)
    if not len(long):
        return rows
    columns = {name: rows.column(i).to_pylist() for i, name in enumerate(rows.schema.names)}
    out: dict[str, list] = {name: [] for name in columns}
    is_long = set(long.tolist())
    for i in range(rows.num_rows):
        if i not in is_long:
            for name in columns:
                out[name].append(columns[name][i])
            continue
        for k, piece in enumerate(split_text(columns["text"][i], max_bytes)):
            out["text"].append(piece)
            out["doc_id"].append(f"{columns['doc_id'][i]}#{k}")
            out["source"].append(columns["source"][i])
            out["line"].append(columns["line"][i])
    return pa.record_batch([pa.array(out[name], type=rows.schema.field(name).type) for name in columns],
                           schema=rows.schema)


def spill_reader(path: Path, map_bytes: int = MAP_BYTES) -> Iterator[pa.RecordBatch]:
    """A spill's record batches, memory-mapped; the map is renewed every ``map_bytes``.

    Only the pages a ``take`` touches are read, and renewing the map releases them, so the
    memory a gather holds stays bounded whatever the spill's size.
    """
    source = pa.memory_map(str(path))
    reader = pa.ipc.open_file(source)
    mapped = 0
    try:
        for i in range(reader.num_record_batches):
            if mapped >= map_bytes:
                source.close()
                source = pa.memory_map(str(path))
                reader = pa.ipc.open_file(source)
                mapped = 0
            batch = reader.get_batch(i)
            mapped += batch.get_total_buffer_size()
            yield batch
            del batch
    finally:
        source.close()


# -- DSIR ------------------------------------------------------------------------------------------


def prepare_target(ws: Workspace, request: Request, target: Iterable[Any] | np.ndarray | None) -> np.ndarray:
    """Bucket counts of the DSIR target examples (text batches, or counts); cached."""
    path = ws.counts_path("__target__")
    if path.is_file():
        return np.load(path)
    if request.dsir is None:
        raise MaterializeError("prepare_target called but the request has no DSIR settings.")
    if target is None:
        raise MaterializeError("DSIR is on but no target examples were given; give target texts (--dsir-target).")
    counts = target if isinstance(target, np.ndarray) else ngram_counts(target, request.dsir.buckets)
    if counts.sum() == 0:
        raise MaterializeError("the DSIR target examples have no tokens; give a non-empty target set.")
    save_npy(path, np.asarray(counts, dtype=np.int64))
    return counts


def importance_model(ws: Workspace, request: Request, domain: str) -> ImportanceModel:
    """The DSIR model of a domain: target vs the domain's (or the whole pool's) distribution."""
    if request.dsir is None:
        raise MaterializeError("the request has no DSIR settings.")
    target_path = ws.counts_path("__target__")
    if not target_path.is_file():
        raise MaterializeError("the DSIR target counts are missing; run prepare_target first.")
    names = [domain] if request.dsir.scope == "domain" else request.domains
    missing = [n for n in names if not ws.counts_path(n).is_file()]
    if missing:
        raise MaterializeError(f"domain(s) {missing} are not indexed yet; run index_domain for them first.")
    raw = sum(np.load(ws.counts_path(n)) for n in names)
    return ImportanceModel(raw, np.load(target_path), request.dsir.smoothing)


def score_domain(ws: Workspace, request: Request, domain: str, n_jobs: int | None = 1) -> DomainIndex:
    """Add DSIR log weights and eligibility (``min_length`` tokens) to a domain's index; cached.

    The n-grams come from the feature cache the index stage wrote, or (when it is gone) from the
    spilled texts again.
    """
    index = DomainIndex.load(ws.index_path(domain))
    if index.log_weight is not None or request.dsir is None:
        return index
    model = importance_model(ws, request, domain)
    folder = ws.features_dir(domain)
    spill = ws.spill_path(domain)
    features = (FeatureCache.open(folder) if (folder / "chunks.npz").is_file()
                else StreamFeatures(lambda: (batch.column(0) for batch in spill_reader(spill)), model.buckets, n_jobs))
    scores = score_features(model, features)
    if len(scores) != len(index):
        raise MaterializeError(
            f"domain {domain!r} had {len(index)} documents when indexed and {len(scores)} now; "
            "its files changed during the run: start again."
        )
    eligible = scores.eligible(request.dsir.min_length)
    index.log_weight = scores.log_weight
    index.eligible = eligible
    index.dsir = {
        "min_length": request.dsir.min_length,
        "excluded_short": int((~eligible).sum()),
    }
    index.save(ws.index_path(domain))
    shutil.rmtree(folder, ignore_errors=True)  # the weights are kept; the n-grams are not needed again
    return index
