"""Stages 3-4: the plan (once), then each shard gathered from the spills and written (in parallel).

:func:`make_plan` decides documents per domain, epochs, the shuffle across domains and the shard
layout (:mod:`mixtures.resample.plan`), and refuses a plan whose shares miss the mixture by more
than the request's tolerance (:mod:`mixtures.resample.checks`), before anything is written.
:func:`write_shard` copies one shard's rows from the memory-mapped spills, each text (and token ids)
once, straight to its slot in the shuffle, and hands them to the output format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from mixtures.corpus.readers import numpy_to_arrow, strings_to_arrow
from mixtures.resample.checks import SPLIT_HINT, share_problem
from mixtures.resample.formats import OUTPUT_FORMATS, TokenLayout, value_offsets
from mixtures.resample.materialize.request import MaterializeError, Request
from mixtures.resample.materialize.spill import spill_reader, spill_schema
from mixtures.resample.materialize.workspace import Workspace, write_json
from mixtures.resample.ngrams import hashed_ngrams
from mixtures.resample.plan import DomainIndex, Plan, plan_draws

OUTPUT_FIELDS = [
    ("text", pa.large_string()),
    ("domain", pa.string()),
    ("doc_id", pa.string()),
    ("source", pa.string()),
    ("line", pa.int64()),
    ("epoch", pa.int32()),
    ("dsir_log_weight", pa.float64()),
]
OUTPUT_SCHEMA = pa.schema(OUTPUT_FIELDS)  # the rows of text formats


class ShortfallError(MaterializeError):
    """The plan cannot draw a domain's share within the tolerance (its documents are too large)."""


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
    check_shares(plan, indexes, request)
    plan.save(ws.work / "plan")
    return plan


def check_shares(plan: Plan, indexes: dict[str, DomainIndex], request: Request) -> None:
    """Refuse a plan that draws some domain's share off by more than ``request.tolerance``."""
    problems = []
    for name, draw in plan.domains.items():
        units = indexes[name].units(request.unit)
        problem = share_problem(name, draw.requested, draw.drawn_units, request.unit, request.tolerance,
                                float(units.max()) if len(units) else None, request.tolerance_floor * request.size)
        if problem:
            problems.append(problem)
    if problems:
        raise ShortfallError(
            f"the {request.size} {request.unit} dataset cannot hold the mixture's shares within the tolerance:\n  - "
            + "\n  - ".join(problems) + f"\nTo fix it: {SPLIT_HINT}."
        )


@dataclass
class _Picks:
    """One domain's rows of one shard, in the order its spill holds them: each row's position in
    the domain, its row in the shard, its epoch and its DSIR weight."""

    positions: np.ndarray
    rows: np.ndarray
    epochs: np.ndarray
    weights: np.ndarray


def _domain_picks(plan: Plan, domain: str, shard: int, index: DomainIndex) -> _Picks:
    draws = plan.shard_draws(domain, shard)
    draw = plan.domains[domain]
    by_position = np.argsort(draw.positions[draws], kind="stable")
    positions = draw.positions[draws][by_position]
    weights = index.log_weight[positions] if index.log_weight is not None else np.full(len(positions), np.nan)
    return _Picks(positions, draw.slots[draws][by_position] - plan.shard_starts[shard],
                  draw.epochs[draws][by_position], weights)


@dataclass
class _Values:
    """A variable-width column (``text``, ``tokens``) being filled in shard order: every value is
    copied once, straight from the memory-mapped spill to its place."""

    name: str
    arrow_type: pa.DataType
    offsets: np.ndarray
    data: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.data = np.empty(int(self.offsets[-1]), dtype=np.uint8)

    @classmethod
    def sized(cls, name: str, arrow_type: pa.DataType, lengths: np.ndarray) -> _Values:
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(name, arrow_type, offsets)

    def fill(self, column: pa.Array, taken: np.ndarray, rows: np.ndarray) -> bool:
        """Copy ``column[taken]`` to shard rows ``rows``; False if their sizes are not the planned ones."""
        bounds = value_offsets(column)
        begin, end = bounds[taken].astype(np.int64), bounds[taken + 1].astype(np.int64)
        starts = self.offsets[rows]
        if not np.array_equal(end - begin, self.offsets[rows + 1] - starts):
            return False
        source = memoryview(column.buffers()[2] or b"").cast("B")
        out = memoryview(self.data).cast("B")
        for start, b, e in zip(starts.tolist(), begin.tolist(), end.tolist()):
            out[start: start + e - b] = source[b:e]
        return True

    def array(self) -> pa.Array:
        return pa.Array.from_buffers(self.arrow_type, len(self.offsets) - 1,
                                     [None, pa.py_buffer(self.offsets), pa.py_buffer(self.data)])


def _gather_domain(ws: Workspace, domain: str, picks: _Picks, values: list[_Values], rest: list[pa.RecordBatch],
                   buckets: int | None) -> np.ndarray | None:
    """Copy a domain's rows of one shard out of its memory-mapped spill, batch by batch: the
    variable-width columns into ``values``, the others into ``rest`` (in the picks' order); returns
    the DSIR bucket counts of their texts (with ``buckets``).

    Only the spill's record batches that hold a drawn row are read (the positions are sorted, so
    the batches before the first one and after the last one are skipped without a look). Values
    are copied while their part of the spill is mapped: holding a batch would keep its map (and
    every page fault-around brought in) alive until the shard is written.
    """
    positions = picks.positions
    counts = None
    start = cursor = 0
    for batch in spill_reader(ws.spill_path(domain)):
        if cursor == len(positions):
            break
        stop = int(np.searchsorted(positions, start + batch.num_rows, side="left"))
        if stop > cursor:
            taken = positions[cursor:stop] - start
            for column in values:
                if not column.fill(batch.column(column.name), taken, picks.rows[cursor:stop]):
                    raise MaterializeError(f"domain {domain!r}: its spill does not match its index; "
                                           f"delete {ws.work} and run again.")
            rest.append(batch.drop_columns([column.name for column in values]).take(numpy_to_arrow(taken)))
            if buckets is not None:
                found = hashed_ngrams(batch.column(0).take(numpy_to_arrow(taken)), buckets).counts()
                counts = found if counts is None else counts + found
        cursor = stop
        start += batch.num_rows
    if cursor != len(positions):
        raise MaterializeError(f"domain {domain!r}: its spill has fewer documents than the plan draws from it; "
                               f"delete {ws.work} and run again.")
    return counts


def _float64_nan_as_null(values: np.ndarray) -> pa.Array:
    """``pa.array(values, type=pa.float64(), from_pandas=True)``: NaN becomes null."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    valid = ~np.isnan(values)
    if valid.all():
        return numpy_to_arrow(values)
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.float64(), len(values), [bitmap, pa.py_buffer(values)],
                                 null_count=int(len(values) - valid.sum()))


def shard_table(ws: Workspace, request: Request, plan: Plan, shard: int,
                layout: TokenLayout | None = None) -> tuple[pa.Table, dict]:
    """One shard's rows in slot order (``OUTPUT_SCHEMA``, plus ``tokens`` for tokenized formats;
    ``layout`` gives their dtype), and the DSIR bucket counts of each domain's rows in it."""
    if request.tokenized and layout is None:
        raise MaterializeError(f"format {request.format!r} writes token ids: give the token layout.")
    n_rows = int(plan.shard_starts[shard + 1] - plan.shard_starts[shard])
    picks, text_bytes = {}, np.zeros(n_rows, np.int64)
    token_bytes = np.zeros(n_rows, np.int64) if request.tokenized else None
    for domain in plan.domains:
        if not ws.spill_path(domain).is_file():
            raise MaterializeError(f"domain {domain!r} is not indexed yet; run index_domain for it first.")
        index = DomainIndex.load(ws.index_path(domain))
        picks[domain] = found = _domain_picks(plan, domain, shard, index)
        text_bytes[found.rows] = index.n_bytes[found.positions]
        if token_bytes is not None:
            token_bytes[found.rows] = index.tokens[found.positions] * layout.dtype.itemsize
    rows = np.concatenate([p.rows for p in picks.values()])
    order = np.argsort(rows, kind="stable")
    if not np.array_equal(rows[order], np.arange(n_rows)):
        raise MaterializeError(f"shard {shard}: the rows gathered do not match the plan; delete {ws.work} and run again.")
    values = [_Values.sized("text", pa.large_string(), text_bytes)]
    if request.tokenized:
        values.append(_Values.sized("tokens", pa.large_binary(), token_bytes))
    rest: list[pa.RecordBatch] = []
    drawn_counts = {}
    buckets = request.dsir.buckets if request.dsir is not None else None
    for domain, found in picks.items():
        counts = _gather_domain(ws, domain, found, values, rest, buckets)
        if counts is not None:
            drawn_counts[domain] = counts
    rest_schema = pa.schema([f for f in spill_schema(request.tokenized) if f.name not in ("text", "tokens")])
    rest_table = pa.Table.from_batches(rest, schema=rest_schema)
    # no pa.array in the workers: its first call imports pandas (see numpy_to_arrow)
    names = strings_to_arrow(list(plan.domains))
    domain_codes = np.concatenate([np.full(len(p.rows), i, dtype=np.int32) for i, p in enumerate(picks.values())])
    columns = [
        pa.DictionaryArray.from_arrays(numpy_to_arrow(domain_codes), names).cast(pa.string()),
        rest_table.column("doc_id"),
        rest_table.column("source"),
        rest_table.column("line"),
        numpy_to_arrow(np.concatenate([p.epochs for p in picks.values()]).astype(np.int32), pa.int32()),
        _float64_nan_as_null(np.concatenate([p.weights for p in picks.values()])),
    ]
    fields = OUTPUT_FIELDS[1:]
    others = pa.Table.from_arrays(columns, schema=pa.schema(fields)).take(numpy_to_arrow(order)).combine_chunks()
    del rest_table, rest
    arrays = [values[0].array(), *others.columns]
    if request.tokenized:
        arrays.append(values[1].array())
        fields = fields + [("tokens", pa.large_binary())]
    return pa.Table.from_arrays(arrays, schema=pa.schema([OUTPUT_FIELDS[0], *fields])), drawn_counts


def write_shard(ws: Workspace, request: Request, plan: Plan, shard: int, layout: TokenLayout | None = None) -> dict:
    """Gather one shard from the domains' spills in slot order and write it in the request's format; cached.

    ``layout`` (token dtype and end-of-document id) is needed by tokenized formats.
    """
    ws.check(request)
    marker = ws.shard_marker(shard)
    if marker.is_file():
        info = json.loads(marker.read_text())
        if info.get("path") is None or (ws.dataset / info["path"]).is_file():
            return info
    fmt = OUTPUT_FORMATS.get(request.format)
    table, drawn_counts = shard_table(ws, request, plan, shard, layout)
    folder = ws.pieces if fmt.tokenized else ws.dataset
    info = fmt.write_shard(table, folder, shard, layout)
    del table
    pa.default_memory_pool().release_unused()
    if drawn_counts:
        dsir_path = marker.with_suffix(".dsir.npz")
        dsir_path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(dsir_path.with_name(f".{dsir_path.name}.tmp.npz"), **drawn_counts)
        dsir_path.with_name(f".{dsir_path.name}.tmp.npz").replace(dsir_path)
    write_json(marker, info)
    return info
