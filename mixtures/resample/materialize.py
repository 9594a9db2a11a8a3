"""Write the mixed training set: streaming, deterministic, atomic and resumable.

Stages (each one a function a Dagster partition can run on its own; all state is in files):

1. :func:`index_domain` (per domain): the one pass over the domain through the corpus layer.
   It keeps per-document bytes and tokens and spills the documents, in reading order, to an
   uncompressed Arrow IPC file. With DSIR on it also featurizes them once: the domain's
   bucket counts, and every document's n-grams in a feature cache.
2. :func:`prepare_target` and :func:`score_domain` (DSIR only; per domain): log importance
   weights toward the target and eligibility (``min_length``), from the feature cache.
3. :func:`make_plan` (once): documents per domain, epochs, the shuffle across domains and the
   shard layout (:mod:`mixtures.resample.plan`).
4. :func:`write_shard` (per shard): take the shard's rows from the memory-mapped spills, batch
   by batch, order them by their slot in the shuffle and write the shard (parquet or jsonl)
   with its sha256.
5. :func:`assemble`: the manifest, then one rename of the finished folder to the output path.

Everything lives under ``.<out>.partial/`` beside the output until the final rename, so a
killed job never leaves a folder that looks complete; a rerun with the same inputs skips every
finished stage (each writes its marker last, atomically) and ends with the same bytes.
Memory holds per-document numbers, one read batch and one shard; disk holds one uncompressed
copy of the drawn domains' text while the job runs. :func:`materialize` runs all stages over
``n_jobs`` processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mixtures.corpus.readers import numpy_to_arrow, strings_to_arrow
from mixtures.errors import MixturesError
from mixtures.mixture import validate_mixture
from mixtures.resample.dsir import (
    FeatureCache,
    ImportanceModel,
    featurize_to_cache,
    ngram_counts,
    score_cached,
    score_documents,
)
from mixtures.resample.ngrams import hashed_ngrams
from mixtures.resample.parallel import ordered_map
from mixtures.resample.plan import UNITS, DomainIndex, Plan, plan_draws

FORMAT_VERSION = 1
FORMATS = ("parquet", "jsonl")
PARQUET_COMPRESSION = "zstd"  # as fast as snappy here, files about a third smaller
ROW_GROUP_BYTES = 16_000_000  # text bytes per parquet row group: bounds the writer's buffers
MAP_BYTES = 64_000_000  # spill bytes mapped at once while gathering a shard
SPILL_BATCH_BYTES = 8_000_000  # bytes per spilled record batch
DSIR_SCOPES = ("domain", "pool")

OUTPUT_SCHEMA = pa.schema(
    [
        ("text", pa.large_string()),
        ("domain", pa.string()),
        ("doc_id", pa.string()),
        ("source", pa.string()),
        ("line", pa.int64()),
        ("epoch", pa.int32()),
        ("dsir_log_weight", pa.float64()),
    ]
)
SPILL_SCHEMA = pa.schema(
    [("text", pa.large_string()), ("doc_id", pa.string()), ("source", pa.string()), ("line", pa.int64())]
)

TokenCounter = Callable[[Sequence[str]], Sequence[int]]
DocumentBatches = Callable[[str], Iterable[Sequence[Any]]]  # domain -> batches of Documents


class MaterializeError(MixturesError):
    """The dataset cannot be written as asked (output exists, inputs changed, stage missing)."""


# -- what to build ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DsirSpec:
    """DSIR settings: buckets, minimum tokens, whose raw distribution (domain or pool), smoothing."""

    buckets: int = 10_000
    min_length: int = 0
    scope: str = "domain"
    smoothing: float = 1.0


@dataclass(frozen=True)
class Request:
    """Everything that determines the dataset's bytes (plus where the mixture came from)."""

    mixture: dict[str, float]
    size: int
    unit: str = "tokens"
    seed: int = 0
    max_epochs: float = 4.0
    max_epochs_per_domain: dict[str, float] = field(default_factory=dict)
    shard_mb: float = 64.0
    format: str = "parquet"
    split: str | None = "train"
    dsir: DsirSpec | None = None
    mixture_run: str | None = None
    corpus_fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise MaterializeError(f"unit {self.unit!r} is not one of {UNITS}.")
        if self.format not in FORMATS:
            raise MaterializeError(f"format {self.format!r} is not one of {FORMATS}.")
        if self.size <= 0:
            raise MaterializeError(f"size is {self.size}; it must be > 0.")
        if self.dsir is not None and self.dsir.scope not in DSIR_SCOPES:
            raise MaterializeError(f"dsir scope {self.dsir.scope!r} is not one of {DSIR_SCOPES}.")
        validate_mixture(self.mixture, where="mixture")

    @property
    def domains(self) -> list[str]:
        """Domains with a positive weight: the only ones read."""
        return [name for name, weight in self.mixture.items() if weight > 0]

    def to_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> str:
        """sha256 of the request and the format version (the mixture's run id excluded)."""
        data = {k: v for k, v in self.to_dict().items() if k != "mixture_run"}
        data["format_version"] = FORMAT_VERSION
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_config(cls, config, mixture: dict[str, float], **overrides) -> Request:
        """A request from the project config's ``dataset`` and ``constraints`` sections.

        ``overrides`` replace fields (``size``, ``unit``, ``seed``, ``dsir=True/False``, ...).
        """
        ds = config.dataset
        dsir_on = overrides.pop("dsir", ds.dsir.enabled)
        dsir = DsirSpec(buckets=ds.dsir.buckets, min_length=ds.dsir.min_length, scope=ds.dsir.scope,
                        smoothing=ds.dsir.smoothing) if dsir_on is True else dsir_on or None
        fields = {
            "mixture": dict(mixture),
            "size": ds.size,
            "unit": ds.unit,
            "seed": config.seed,
            "max_epochs": config.constraints.max_epochs,
            "max_epochs_per_domain": dict(config.constraints.max_epochs_per_domain),
            "shard_mb": ds.shard_mb,
            "format": ds.format,
            "dsir": dsir,
        }
        fields.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**fields)

    @classmethod
    def from_dict(cls, data: dict) -> Request:
        data = dict(data)
        if data.get("dsir") is not None:
            data["dsir"] = DsirSpec(**data["dsir"])
        return cls(**data)


class ConfigReader:
    """Batches of a domain's documents through the project's corpus layer (picklable)."""

    def __init__(self, config, split: str | None = "train", batch_docs: int | None = None) -> None:
        self.config = config
        self.split = split
        self.batch_docs = batch_docs

    def __call__(self, domain: str) -> Iterator[list]:
        from mixtures.corpus import iter_batches

        return iter_batches(self.config, domain, self.split, self.batch_docs)

    def record_batches(self, domain: str) -> Iterator[pa.Table] | None:
        """The same documents as Arrow tables of the same sizes, for domains stored in
        columnar files (parquet, Hugging Face folders); ``None`` for other formats."""
        from mixtures.corpus.domains import is_columnar, iter_record_batches

        if not is_columnar(self.config, domain):
            return None
        return iter_record_batches(self.config, domain, self.split, self.batch_docs)

    def input_bytes(self, domain: str) -> int:
        """Bytes of the domain's files on disk (to start the largest domains first)."""
        from mixtures.corpus import domain_files

        total = 0
        for path, _ in domain_files(self.config, domain):
            files = path.rglob("*") if path.is_dir() else [path]
            total += sum(f.stat().st_size for f in files if f.is_file())
        return total


# -- the work folder ---------------------------------------------------------------------------------


class Workspace:
    """Paths of one materialization: the output and its ``.partial`` work folder beside it."""

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out).resolve()
        self.work = self.out.parent / f".{self.out.name}.partial"

    @property
    def dataset(self) -> Path:
        return self.work / "dataset"

    def index_path(self, domain: str) -> Path:
        return self.work / "index" / f"{domain}.npz"

    def counts_path(self, name: str) -> Path:
        return self.work / "index" / f"{name}.counts.npy"

    def features_dir(self, domain: str) -> Path:
        return self.work / "features" / domain

    def spill_path(self, domain: str) -> Path:
        return self.work / "spill" / f"{domain}.arrow"

    def shard_name(self, shard: int, fmt: str) -> str:
        return f"shard-{shard:05d}.{fmt}"

    def shard_marker(self, shard: int) -> Path:
        return self.work / "shards" / f"{shard:05d}.json"

    @property
    def lock_path(self) -> Path:
        return self.out.parent / f".{self.out.name}.lock"

    @contextmanager
    def exclusive(self, log: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold an exclusive lock on this output (``fcntl.flock`` on a ``.<name>.lock`` file beside
        it), so two processes materializing the same folder run one after the other instead of
        interleaving their work; the second then finds the first one's finished dataset.
        The lock file stays (removing a lock file others may hold open would race)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no locking
            yield
            return
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if log:
                    log(f"waiting for another materialization of {self.out} (lock {self.lock_path})")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def begin(self, request: Request, overwrite: bool = False) -> dict | None:
        """Prepare the work folder; return the manifest if the output is already complete.

        A work folder left by other inputs is discarded; an output folder that is not this
        request's finished dataset is refused unless ``overwrite`` (then removed).
        """
        manifest_path = self.out / "manifest.json"
        if self.out.exists():
            if manifest_path.is_file():
                manifest = json.loads(manifest_path.read_text())
                if manifest.get("fingerprint") == request.fingerprint():
                    return manifest
            if not overwrite:
                raise MaterializeError(
                    f"{self.out} already exists and is not this dataset; remove it, choose another output "
                    "folder, or pass overwrite (--overwrite)."
                )
            if not manifest_path.is_file():
                raise MaterializeError(f"{self.out} exists and holds no manifest.json; refusing to delete it.")
            shutil.rmtree(self.out)
        stored = self.work / "request.json"
        if stored.is_file() and json.loads(stored.read_text()).get("fingerprint") != request.fingerprint():
            shutil.rmtree(self.work)
        if not stored.is_file():
            self.work.mkdir(parents=True, exist_ok=True)
            _write_json(stored, {"fingerprint": request.fingerprint(), "request": request.to_dict()})
        return None

    def check(self, request: Request) -> None:
        """Refuse to work on a folder begun for other inputs."""
        stored = self.work / "request.json"
        if not stored.is_file():
            raise MaterializeError(f"{self.work}: not begun; run the plan stage (Workspace.begin) first.")
        if json.loads(stored.read_text()).get("fingerprint") != request.fingerprint():
            raise MaterializeError(f"{self.work} was begun for other inputs; begin again to discard it.")


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def _save_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npy")
    np.save(tmp, array)
    tmp.replace(path)


# -- stage 1-2: per-document numbers ------------------------------------------------------------------


def index_domain(
    ws: Workspace,
    request: Request,
    domain: str,
    read: DocumentBatches,
    token_counter: TokenCounter | None = None,
    n_jobs: int | None = 1,
) -> DomainIndex:
    """Read a domain once: spill its documents and keep per-document sizes; cached.

    With DSIR on, also the domain's bucket counts (featurized in ``n_jobs`` processes).
    """
    ws.check(request)
    path = ws.index_path(domain)
    if path.is_file() and ws.spill_path(domain).is_file():
        return DomainIndex.load(path)
    spill = ws.spill_path(domain)
    spill.parent.mkdir(parents=True, exist_ok=True)
    tmp = spill.with_name(f".{spill.name}.tmp")
    sizes: list[np.ndarray] = []
    tokens: list[np.ndarray] = []
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, SPILL_SCHEMA) as writer:

        def texts() -> Iterator[pa.Array]:
            record_batches = getattr(read, "record_batches", None)
            arrow = record_batches(domain) if record_batches is not None else None
            groups = (_grouped_arrow(arrow, SPILL_BATCH_BYTES) if arrow is not None
                      else (_spill_batch(docs) for docs in _grouped(read(domain), SPILL_BATCH_BYTES)))
            for rows in groups:  # one record batch per ~8 MB: large record batches, few takes later
                writer.write_batch(rows)
                text = rows.column(0)
                n_bytes = _byte_lengths(text)
                sizes.append(n_bytes)
                tokens.append(n_bytes if token_counter is None
                              else np.asarray(token_counter(text.to_pylist()), dtype=np.int64))
                yield text

        if request.dsir is not None:  # featurize once; the scoring stage reads the cached n-grams
            cache = FeatureCache(ws.features_dir(domain), request.dsir.buckets)
            _save_npy(ws.counts_path(domain), featurize_to_cache(texts(), cache, n_jobs))
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


def _grouped_arrow(batches: Iterable[pa.Table], max_chars: int) -> Iterator[pa.RecordBatch]:
    """:func:`_grouped` for Arrow tables: the same groups, each one spill record batch."""
    group: list = []
    chars = 0
    for batch in batches:
        group.append(batch)
        chars += int(pc.sum(pc.utf8_length(batch.column(0))).as_py() or 0)
        if chars >= max_chars:
            yield _spill_rows(group)
            group, chars = [], 0
    if group:
        yield _spill_rows(group)


def _spill_rows(tables: list[pa.Table]) -> pa.RecordBatch:
    """One record batch (one copy) of the rows of ``tables``."""
    batches = [pa.RecordBatch.from_arrays(b.columns, schema=SPILL_SCHEMA) for t in tables for b in t.to_batches()]
    return pa.concat_batches(batches)


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


def spill_batches(ws: Workspace, domain: str) -> Iterator[pa.RecordBatch]:
    """The spilled documents of a domain, in reading order (memory-mapped, zero-copy)."""
    with pa.memory_map(str(ws.spill_path(domain))) as source:
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)


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
    _save_npy(path, np.asarray(counts, dtype=np.int64))
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
    """Add DSIR log weights and eligibility (``min_length`` tokens) to a domain's index; cached."""
    index = DomainIndex.load(ws.index_path(domain))
    if index.log_weight is not None or request.dsir is None:
        return index
    model = importance_model(ws, request, domain)
    features = ws.features_dir(domain)
    if (features / "chunks.npz").is_file():
        scores = score_cached(model, FeatureCache.open(features))
    else:
        scores = score_documents(model, (batch.column(0) for batch in spill_batches(ws, domain)), n_jobs)
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
    shutil.rmtree(features, ignore_errors=True)  # the weights are kept; the n-grams are not needed again
    return index


# -- stage 3: plan --------------------------------------------------------------------------------------


def make_plan(ws: Workspace, request: Request) -> Plan:
    """The plan from every domain's index; computed once, then loaded."""
    ws.check(request)
    if (ws.work / "plan" / "plan.json").is_file():
        return Plan.load(ws.work / "plan")
    missing = [d for d in request.domains if not ws.index_path(d).is_file()]
    if missing:
        raise MaterializeError(f"domain(s) {missing} are not indexed yet; run index_domain for them first.")
    indexes = {d: DomainIndex.load(ws.index_path(d)) for d in request.domains}
    if request.dsir is not None:
        unscored = [d for d, index in indexes.items() if index.log_weight is None]
        if unscored:
            raise MaterializeError(f"domain(s) {unscored} are not DSIR-scored yet; run score_domain first.")
    positive = {d: request.mixture[d] for d in request.domains}
    plan = plan_draws(indexes, positive, request.size, request.unit, request.seed, request.max_epochs,
                      request.max_epochs_per_domain, request.shard_mb)
    plan.save(ws.work / "plan")
    return plan


# -- stage 4: gather ----------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_rows(table: pa.Table, path: Path, fmt: str) -> None:
    """A shard as parquet (row groups of about ROW_GROUP_BYTES of text) or JSON lines."""
    if fmt == "parquet":
        text_bytes = np.cumsum(_byte_lengths(table.column("text")))
        cuts = np.searchsorted(text_bytes, np.arange(ROW_GROUP_BYTES, text_bytes[-1] if len(text_bytes) else 0,
                                                     ROW_GROUP_BYTES), side="right")
        bounds = np.unique(np.concatenate([[0], cuts, [table.num_rows]]))
        with pq.ParquetWriter(path, table.schema, compression=PARQUET_COMPRESSION) as writer:
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                writer.write_table(table.slice(int(a), int(b - a)), row_group_size=int(b - a))
        return
    with open(path, "w", encoding="utf-8") as fh:
        for row in table.to_pylist():
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


@dataclass
class _Gathered:
    """Rows of one shard taken from the spills, in (domain, position) order, not yet in slot order."""

    pieces: list = field(default_factory=list)
    domain: list = field(default_factory=list)
    epoch: list = field(default_factory=list)
    weight: list = field(default_factory=list)
    slot: list = field(default_factory=list)


def _gather_domain(ws: Workspace, plan: Plan, domain: str, shard: int, into: _Gathered, dsir: bool) -> list[pa.RecordBatch]:
    """Take a domain's rows of one shard from its memory-mapped spill, batch by batch."""
    rows = plan.shard_draws(domain, shard)
    draw = plan.domains[domain]
    positions = draw.positions[rows]
    if not len(positions):
        return []
    by_position = np.argsort(positions, kind="stable")
    sorted_positions = positions[by_position]
    log_weight = DomainIndex.load(ws.index_path(domain)).log_weight if dsir else None
    pieces = []
    start = cursor = 0
    for batch in _spill_reader(ws.spill_path(domain)):
        if cursor == len(sorted_positions):
            break
        stop = int(np.searchsorted(sorted_positions, start + batch.num_rows, side="left"))
        if stop > cursor:
            pieces.append(batch.take(numpy_to_arrow(sorted_positions[cursor:stop] - start)))
        cursor = stop
        start += batch.num_rows
    if cursor != len(sorted_positions):
        raise MaterializeError(f"domain {domain!r}: its spill has fewer documents than the plan draws from it; "
                               f"delete {ws.work} and run again.")
    into.pieces += pieces
    into.domain.append(np.full(len(positions), list(plan.domains).index(domain), dtype=np.int32))
    into.epoch.append(draw.epochs[rows][by_position])
    into.slot.append(draw.slots[rows][by_position])
    into.weight.append(log_weight[sorted_positions] if log_weight is not None else np.full(len(positions), np.nan))
    return pieces


def _byte_lengths(text: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """UTF-8 bytes of each text (int64; 0 for null), from the offsets: no ``to_numpy``, which
    imports pandas on its first call in a process."""
    chunks = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
    parts = []
    for chunk in chunks:
        if not len(chunk):
            continue
        width = np.int64 if pa.types.is_large_string(chunk.type) or pa.types.is_large_binary(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[chunk.offset: chunk.offset + len(chunk) + 1]
        parts.append(np.diff(offsets).astype(np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _float64_nan_as_null(values: np.ndarray) -> pa.Array:
    """``pa.array(values, type=pa.float64(), from_pandas=True)``: NaN becomes null."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    valid = ~np.isnan(values)
    if valid.all():
        return numpy_to_arrow(values)
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.float64(), len(values), [bitmap, pa.py_buffer(values)],
                                 null_count=int(len(values) - valid.sum()))


def _spill_reader(path: Path, map_bytes: int = MAP_BYTES) -> Iterator[pa.RecordBatch]:
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


def write_shard(ws: Workspace, request: Request, plan: Plan, shard: int) -> dict:
    """Gather one shard from the domains' spills in slot order; write it with its sha256; cached."""
    ws.check(request)
    marker = ws.shard_marker(shard)
    name = ws.shard_name(shard, request.format)
    if marker.is_file() and (ws.dataset / name).is_file():
        return json.loads(marker.read_text())
    gathered = _Gathered()
    drawn_counts = {}
    for domain in plan.domains:
        if not ws.spill_path(domain).is_file():
            raise MaterializeError(f"domain {domain!r} is not indexed yet; run index_domain for it first.")
        pieces = _gather_domain(ws, plan, domain, shard, gathered, request.dsir is not None)
        if request.dsir is not None and pieces:
            drawn_counts[domain] = sum(hashed_ngrams(p.column(0), request.dsir.buckets).counts() for p in pieces)
    slots = np.concatenate(gathered.slot)
    order = np.argsort(slots, kind="stable")
    if not np.array_equal(slots[order], np.arange(plan.shard_starts[shard], plan.shard_starts[shard + 1])):
        raise MaterializeError(f"shard {shard}: the rows gathered do not match the plan; delete {ws.work} and run again.")
    spilled = pa.Table.from_batches(gathered.pieces, schema=SPILL_SCHEMA)  # chunked: the take below copies once
    gathered.pieces.clear()
    # no pa.array in the workers: its first call imports pandas (see numpy_to_arrow)
    names = strings_to_arrow(list(plan.domains))
    table = pa.Table.from_arrays(
        [
            spilled.column("text"),
            pa.DictionaryArray.from_arrays(numpy_to_arrow(np.concatenate(gathered.domain)), names).cast(pa.string()),
            spilled.column("doc_id"),
            spilled.column("source"),
            spilled.column("line"),
            numpy_to_arrow(np.concatenate(gathered.epoch).astype(np.int32), pa.int32()),
            _float64_nan_as_null(np.concatenate(gathered.weight)),
        ],
        schema=OUTPUT_SCHEMA,
    )
    del spilled
    table = table.take(numpy_to_arrow(order)).combine_chunks()
    ws.dataset.mkdir(parents=True, exist_ok=True)
    tmp = ws.dataset / f".{name}.tmp"
    _write_rows(table, tmp, request.format)
    text_bytes = int(pc.sum(pc.binary_length(table.column("text"))).as_py() or 0)
    info = {"path": name, "rows": table.num_rows, "bytes": tmp.stat().st_size, "text_bytes": text_bytes,
            "sha256": _sha256(tmp)}
    del table
    pa.default_memory_pool().release_unused()
    tmp.replace(ws.dataset / name)
    if drawn_counts:
        dsir_path = marker.with_suffix(".dsir.npz")
        dsir_path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(dsir_path.with_name(f".{dsir_path.name}.tmp.npz"), **drawn_counts)
        dsir_path.with_name(f".{dsir_path.name}.tmp.npz").replace(dsir_path)
    _write_json(marker, info)
    return info


# -- stage 5: manifest and the final rename ----------------------------------------------------------------


def _dsir_report(ws: Workspace, request: Request, plan: Plan) -> dict:
    from mixtures.resample.dsir import kl_divergence

    target = np.load(ws.counts_path("__target__"))
    smoothing = request.dsir.smoothing
    drawn_by_domain = {d: np.zeros(request.dsir.buckets, dtype=np.int64) for d in plan.domains}
    for shard in range(plan.n_shards):
        path = ws.shard_marker(shard).with_suffix(".dsir.npz")
        if path.is_file():
            with np.load(path) as data:
                for domain in data.files:
                    drawn_by_domain[domain] += data[domain]
    per_domain, raw_total, drawn_total = {}, 0, 0
    for domain in plan.domains:
        index = DomainIndex.load(ws.index_path(domain))
        raw = np.load(ws.counts_path(domain))
        drawn = drawn_by_domain[domain]
        raw_total = raw_total + raw
        drawn_total = drawn_total + drawn
        kl_raw = kl_divergence(target, raw, smoothing)
        kl_drawn = kl_divergence(target, drawn, smoothing) if drawn.sum() else None
        per_domain[domain] = {
            **index.dsir,
            "kl_domain": kl_raw,
            "kl_drawn": kl_drawn,
            "kl_reduction": None if kl_drawn is None else kl_raw - kl_drawn,
        }
    kl_pool = kl_divergence(target, raw_total, smoothing)
    kl_dataset = kl_divergence(target, drawn_total, smoothing)
    return {
        **asdict(request.dsir),
        "domains": per_domain,
        "kl_pool": kl_pool,
        "kl_dataset": kl_dataset,
        "kl_reduction": kl_pool - kl_dataset,
    }


def assemble(ws: Workspace, request: Request, plan: Plan) -> dict:
    """Write ``manifest.json`` (and the blend file), then rename the folder to the output path."""
    from mixtures.resample.exports import megatron_blend

    shards = []
    for shard in range(plan.n_shards):
        marker = ws.shard_marker(shard)
        if not marker.is_file():
            raise MaterializeError(f"shard {shard} is not written yet; run write_shard for it first.")
        shards.append(json.loads(marker.read_text()))
    domains = {}
    for name, weight in request.mixture.items():
        if name in plan.domains:
            domains[name] = plan.domains[name].summary()
        else:
            domains[name] = {"weight": weight, "requested_units": 0.0, "drawn_documents": 0, "drawn_units": 0,
                             "drawn_bytes": 0, "drawn_tokens": 0, "epochs_requested": 0.0, "epochs_drawn": 0.0}
    manifest = {
        "format_version": FORMAT_VERSION,
        "fingerprint": request.fingerprint(),
        "mixture": request.mixture,
        "mixture_run": request.mixture_run,
        "size": request.size,
        "unit": request.unit,
        "seed": request.seed,
        "split": request.split,
        "max_epochs": request.max_epochs,
        "max_epochs_per_domain": request.max_epochs_per_domain,
        "shard_mb": request.shard_mb,
        "format": request.format,
        "corpus_fingerprint": request.corpus_fingerprint,
        "schema": [f"{f.name}: {f.type}" for f in OUTPUT_SCHEMA],
        "totals": {
            "documents": sum(s["rows"] for s in shards),
            "bytes": sum(s["text_bytes"] for s in shards),
            "tokens": sum(d["drawn_tokens"] for d in domains.values()),
            "units": sum(d["drawn_units"] for d in domains.values()),
            "files_bytes": sum(s["bytes"] for s in shards),
        },
        "domains": domains,
        "dsir": _dsir_report(ws, request, plan) if request.dsir is not None else None,
        "shards": shards,
    }
    (ws.dataset / "megatron_blend.txt").write_text(megatron_blend(manifest) + "\n")
    _write_json(ws.dataset / "manifest.json", manifest)
    if ws.out.exists():
        raise MaterializeError(f"{ws.out} appeared while the dataset was written; remove it and run again.")
    os.replace(ws.dataset, ws.out)
    shutil.rmtree(ws.work, ignore_errors=True)
    return manifest


# -- all stages ------------------------------------------------------------------------------------------


def _index_job(args: tuple) -> None:
    ws, request, domain, read, token_counter = args
    index_domain(ws, request, domain, read, token_counter)


def _shard_job(args: tuple) -> dict:
    ws, request, shard = args
    return write_shard(ws, request, Plan.load(ws.work / "plan"), shard)


def materialize(
    request: Request,
    out: str | Path,
    read: DocumentBatches,
    target: Iterable[Any] | np.ndarray | None = None,
    token_counter: TokenCounter | None = None,
    n_jobs: int | None = 1,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Run every stage (skipping finished ones) and return the manifest.

    ``read(domain)`` yields batches of documents with ``text``, ``doc_id``, ``source`` and
    ``line`` (e.g. :class:`ConfigReader`); it must be picklable when ``n_jobs > 1``.
    ``target`` is an iterable of DSIR target text batches (or their bucket counts).
    """
    say = log or (lambda message: None)
    if isinstance(read, ConfigReader) and read.split != request.split:
        raise MaterializeError(f"the reader reads split {read.split!r} but the request is for {request.split!r}.")
    ws = Workspace(out)
    with ws.exclusive(say):
        return _materialize_locked(ws, request, read, target, token_counter, n_jobs, overwrite, say)


def _materialize_locked(ws, request, read, target, token_counter, n_jobs, overwrite, say) -> dict:
    done = ws.begin(request, overwrite)
    if done is not None:
        say(f"{ws.out} is already complete")
        return done
    domains = request.domains
    if request.dsir is not None:
        say("DSIR: target counts")
        prepare_target(ws, request, target)
        for domain in domains:  # DSIR stages parallelize inside (featurizing chunks)
            say(f"index {domain}")
            index_domain(ws, request, domain, read, token_counter, n_jobs)
        for domain in domains:
            say(f"DSIR weights {domain}")
            score_domain(ws, request, domain, n_jobs)
    else:
        say(f"index {len(domains)} domains")
        if hasattr(read, "input_bytes"):  # largest first: the processes finish together
            domains = sorted(domains, key=lambda d: (-read.input_bytes(d), d))
        list(ordered_map(_index_job, [(ws, request, d, read, token_counter) for d in domains], _jobs(n_jobs, len(domains))))
    plan = make_plan(ws, request)
    say(f"plan: {plan.total_rows} documents in {plan.n_shards} shards")
    say("gather shards")
    list(ordered_map(_shard_job, [(ws, request, s) for s in range(plan.n_shards)], _jobs(n_jobs, plan.n_shards)))
    manifest = assemble(ws, request, plan)
    say(f"wrote {ws.out}")
    return manifest


def _jobs(n_jobs: int | None, tasks: int) -> int:
    from mixtures.resample.parallel import resolve_jobs

    return max(1, min(resolve_jobs(n_jobs), tasks))
