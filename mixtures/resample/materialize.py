"""Write the mixed training set: streaming, deterministic, atomic and resumable.

Stages (each one a function a Dagster partition can run on its own; all state is in files):

1. :func:`index_domain` (per domain): one pass over the domain, keeping per-document bytes and
   tokens (and DSIR bucket counts when DSIR is on).
2. :func:`prepare_target` and :func:`score_domain` (per domain, DSIR only): log importance
   weights of every document toward the target, and which are long enough.
3. :func:`make_plan` (once): documents per domain, epochs, the shuffle and the shard layout
   (:mod:`mixtures.resample.plan`).
4. :func:`write_domain_part` (per domain): one pass over the domain writing its drawn
   documents, tagged with their output slot, into sorted runs (Arrow IPC files with one record
   batch per output shard): the scatter half of an external shuffle.
5. :func:`write_shard` (per shard): gather the shard's rows from every run, order them by slot
   and write the shard (parquet or jsonl) with its sha256.
6. :func:`assemble`: the manifest, then one rename of the finished folder to the output path.

Everything lives under ``.<out>.partial/`` beside the output until the final rename, so a
killed job never leaves a folder that looks complete; a rerun with the same inputs skips every
finished stage (markers are written last, atomically) and ends with the same bytes.
Memory holds per-document numbers, one read batch, the run buffer (``buffer_mb``) and one shard.
:func:`materialize` runs all stages, over ``n_jobs`` processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mixtures.errors import MixturesError
from mixtures.mixture import validate_mixture
from mixtures.resample.dsir import ImportanceModel, ngram_counts, score_documents
from mixtures.resample.ngrams import hashed_ngrams
from mixtures.resample.parallel import ordered_map
from mixtures.resample.plan import UNITS, DomainIndex, Plan, plan_draws

FORMAT_VERSION = 1
FORMATS = ("parquet", "jsonl")
DSIR_SCOPES = ("domain", "pool")
DEFAULT_BUFFER_MB = 64.0

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
RUN_SCHEMA = OUTPUT_SCHEMA.append(pa.field("slot", pa.int64()))

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
        dsir = DsirSpec(buckets=ds.dsir.buckets, min_length=ds.dsir.min_length) if dsir_on is True else dsir_on or None
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


def _texts(batch: Sequence[Any]) -> pa.Array:
    return pa.array([doc.text for doc in batch], type=pa.large_string())


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

    def part_dir(self, domain: str) -> Path:
        return self.work / "parts" / domain

    def shard_name(self, shard: int, fmt: str) -> str:
        return f"shard-{shard:05d}.{fmt}"

    def shard_marker(self, shard: int) -> Path:
        return self.work / "shards" / f"{shard:05d}.json"

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
    """Per-document bytes and tokens of a domain (and its DSIR bucket counts); cached."""
    path = ws.index_path(domain)
    if path.is_file():
        return DomainIndex.load(path)
    sizes: list[np.ndarray] = []
    tokens: list[np.ndarray] = []

    def texts() -> Iterator[pa.Array]:
        for batch in read(domain):
            arr = _texts(batch)
            n_bytes = pc.binary_length(arr).to_numpy(zero_copy_only=False).astype(np.int64)
            sizes.append(n_bytes)
            if token_counter is not None:
                tokens.append(np.asarray(token_counter(arr.to_pylist()), dtype=np.int64))
            else:
                tokens.append(n_bytes)
            yield arr

    if request.dsir is not None:
        counts = ngram_counts(texts(), request.dsir.buckets, n_jobs)
        _save_npy(ws.counts_path(domain), counts)
    else:
        for _ in texts():
            pass
    empty = np.zeros(0, dtype=np.int64)
    index = DomainIndex(np.concatenate(sizes) if sizes else empty, np.concatenate(tokens) if tokens else empty)
    path.parent.mkdir(parents=True, exist_ok=True)
    index.save(path)
    return index


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


def score_domain(ws: Workspace, request: Request, domain: str, read: DocumentBatches, n_jobs: int | None = 1) -> DomainIndex:
    """Add DSIR log weights and eligibility (``min_length`` tokens) to a domain's index; cached."""
    index = DomainIndex.load(ws.index_path(domain))
    if index.log_weight is not None or request.dsir is None:
        return index
    model = importance_model(ws, request, domain)
    scores = score_documents(model, (_texts(batch) for batch in read(domain)), n_jobs)
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
    return index


# -- stage 3: plan --------------------------------------------------------------------------------------


def make_plan(ws: Workspace, request: Request) -> Plan:
    """The plan from every domain's index; computed once, then loaded."""
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


# -- stage 4: scatter ----------------------------------------------------------------------------------


@dataclass
class _RunWriter:
    """Buffers a domain's drawn rows; flushes them sorted by slot as one IPC file per run."""

    folder: Path
    plan: Plan
    buffer_bytes: int
    runs: list = field(default_factory=list)
    batches: list = field(default_factory=list)
    buffered: int = 0

    def add(self, batch: pa.RecordBatch, text_bytes: int) -> None:
        self.batches.append(batch)
        self.buffered += text_bytes
        if self.buffered >= self.buffer_bytes:
            self.flush()

    def flush(self) -> None:
        if not self.batches:
            return
        table = pa.Table.from_batches(self.batches, schema=RUN_SCHEMA)
        slots = table.column("slot").to_numpy()
        order = np.argsort(slots, kind="stable")
        table = table.take(pa.array(order)).combine_chunks()
        slots = slots[order]
        shards = self.plan.shard_of(slots)
        cuts = np.flatnonzero(np.diff(shards)) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(slots)]])
        name = f"run-{len(self.runs):05d}.arrow"
        groups = []
        batch = table.to_batches()[0] if table.num_rows else None
        with pa.OSFile(str(self.folder / name), "wb") as sink, pa.ipc.new_file(sink, RUN_SCHEMA) as writer:
            for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
                writer.write_batch(batch.slice(int(a), int(b - a)))
                groups.append([int(shards[a]), i, int(b - a)])
        self.runs.append({"file": name, "groups": groups})
        self.batches, self.buffered = [], 0


def write_domain_part(
    ws: Workspace,
    request: Request,
    plan: Plan,
    domain: str,
    read: DocumentBatches,
    buffer_mb: float = DEFAULT_BUFFER_MB,
) -> dict:
    """Scatter one domain's drawn documents into sorted runs; returns (and caches) the part info."""
    folder = ws.part_dir(domain)
    marker = folder / "part.json"
    if marker.is_file():
        return json.loads(marker.read_text())
    if folder.exists():
        shutil.rmtree(folder)  # a part killed mid-way: start it again
    folder.mkdir(parents=True)
    draw = plan.domains[domain]
    index = DomainIndex.load(ws.index_path(domain))
    order = np.argsort(draw.positions, kind="stable")
    positions, slots, epochs = draw.positions[order], draw.slots[order], draw.epochs[order]
    weights = index.log_weight[positions] if index.log_weight is not None else None
    buckets = request.dsir.buckets if request.dsir is not None else 0
    drawn_counts = np.zeros(buckets, dtype=np.int64)
    writer = _RunWriter(folder, plan, max(1, int(buffer_mb * 1_000_000)))
    start = cursor = 0
    for batch in read(domain):
        stop = int(np.searchsorted(positions, start + len(batch), side="left"))
        if stop > cursor:
            docs = [batch[int(p) - start] for p in positions[cursor:stop]]
            texts = pa.array([d.text for d in docs], type=pa.large_string())
            rows = pa.record_batch(
                [
                    texts,
                    pa.array([domain] * len(docs), type=pa.string()),
                    pa.array([str(d.doc_id) for d in docs], type=pa.string()),
                    pa.array([str(d.source) for d in docs], type=pa.string()),
                    pa.array([int(d.line) for d in docs], type=pa.int64()),
                    pa.array(epochs[cursor:stop], type=pa.int32()),
                    pa.array(weights[cursor:stop], type=pa.float64()) if weights is not None
                    else pa.nulls(len(docs), type=pa.float64()),
                    pa.array(slots[cursor:stop], type=pa.int64()),
                ],
                schema=RUN_SCHEMA,
            )
            if buckets:
                drawn_counts += hashed_ngrams(texts, buckets).counts()
            writer.add(rows, int(pc.sum(pc.binary_length(texts)).as_py() or 0))
        cursor = stop
        start += len(batch)
    writer.flush()
    if start != len(index):
        raise MaterializeError(
            f"domain {domain!r} had {len(index)} documents when indexed and {start} now; "
            "its files changed during the run: start again."
        )
    info = {"domain": domain, "rows": int(len(positions)), "runs": writer.runs}
    if buckets:
        _save_npy(folder / "drawn.counts.npy", drawn_counts)
    _write_json(marker, info)
    return info


# -- stage 5: gather ----------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_rows(table: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(table, path)
        return
    with open(path, "w", encoding="utf-8") as fh:
        for row in table.to_pylist():
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_shard(ws: Workspace, request: Request, plan: Plan, shard: int) -> dict:
    """Gather one shard from every domain's runs, in slot order; write it with its sha256."""
    marker = ws.shard_marker(shard)
    name = ws.shard_name(shard, request.format)
    if marker.is_file() and (ws.dataset / name).is_file():
        return json.loads(marker.read_text())
    pieces = []
    for domain in plan.domains:
        part_marker = ws.part_dir(domain) / "part.json"
        if not part_marker.is_file():
            raise MaterializeError(f"domain {domain!r} has no finished part; run write_domain_part for it first.")
        part = json.loads(part_marker.read_text())
        for run in part["runs"]:
            wanted = [g[1] for g in run["groups"] if g[0] == shard]
            if not wanted:
                continue
            with pa.memory_map(str(ws.part_dir(domain) / run["file"])) as source:
                reader = pa.ipc.open_file(source)
                pieces += [reader.get_batch(i) for i in wanted]
    table = pa.Table.from_batches(pieces, schema=RUN_SCHEMA)
    slots = table.column("slot").to_numpy()
    order = np.argsort(slots, kind="stable")
    expected = np.arange(plan.shard_starts[shard], plan.shard_starts[shard + 1])
    if not np.array_equal(slots[order], expected):
        raise MaterializeError(
            f"shard {shard}: gathered {len(slots)} rows, the plan has {len(expected)}; a part is inconsistent "
            f"with the plan. Delete {ws.work} and run again."
        )
    table = table.take(pa.array(order)).drop_columns(["slot"]).combine_chunks()
    ws.dataset.mkdir(parents=True, exist_ok=True)
    tmp = ws.dataset / f".{name}.tmp"
    _write_rows(table, tmp, request.format)
    text_bytes = int(pc.sum(pc.binary_length(table.column("text"))).as_py() or 0)
    info = {"path": name, "rows": table.num_rows, "bytes": tmp.stat().st_size, "text_bytes": text_bytes,
            "sha256": _sha256(tmp)}
    tmp.replace(ws.dataset / name)
    _write_json(marker, info)
    return info


# -- stage 6: manifest and the final rename ----------------------------------------------------------------


def _dsir_report(ws: Workspace, request: Request, plan: Plan) -> dict:
    from mixtures.resample.dsir import kl_divergence

    target = np.load(ws.counts_path("__target__"))
    smoothing = request.dsir.smoothing
    per_domain, raw_total, drawn_total = {}, 0, 0
    for domain in plan.domains:
        index = DomainIndex.load(ws.index_path(domain))
        raw = np.load(ws.counts_path(domain))
        drawn = np.load(ws.part_dir(domain) / "drawn.counts.npy")
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


def _part_job(args: tuple) -> None:
    ws, request, domain, read, buffer_mb = args
    write_domain_part(ws, request, Plan.load(ws.work / "plan"), domain, read, buffer_mb)


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
    buffer_mb: float = DEFAULT_BUFFER_MB,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Run every stage (skipping finished ones) and return the manifest.

    ``read(domain)`` yields batches of documents with ``text``, ``doc_id``, ``source`` and
    ``line`` (e.g. :class:`ConfigReader`); it must be picklable when ``n_jobs > 1``.
    ``target`` is an iterable of DSIR target text batches (or their bucket counts).
    """
    say = log or (lambda message: None)
    ws = Workspace(out)
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
            score_domain(ws, request, domain, read, n_jobs)
    else:
        say(f"index {len(domains)} domains")
        list(ordered_map(_index_job, [(ws, request, d, read, token_counter) for d in domains], _jobs(n_jobs, len(domains))))
    plan = make_plan(ws, request)
    say(f"plan: {plan.total_rows} documents in {plan.n_shards} shards")
    list(ordered_map(_part_job, [(ws, request, d, read, buffer_mb) for d in domains], _jobs(n_jobs, len(domains))))
    say("gather shards")
    list(ordered_map(_shard_job, [(ws, request, s) for s in range(plan.n_shards)], _jobs(n_jobs, plan.n_shards)))
    manifest = assemble(ws, request, plan)
    say(f"wrote {ws.out}")
    return manifest


def _jobs(n_jobs: int | None, tasks: int) -> int:
    from mixtures.resample.parallel import resolve_jobs

    return max(1, min(resolve_jobs(n_jobs), tasks))
