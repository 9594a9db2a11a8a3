"""Stages 3-4: the plan (once), then each shard gathered from the spills and written (in parallel).

:func:`make_plan` decides documents per domain, epochs, the shuffle across domains and the shard
layout (:mod:`mixtures.resample.plan`), and refuses a plan whose shares miss the mixture by more
than the request's tolerance (:mod:`mixtures.resample.checks`), before anything is written.
:func:`write_shard` takes one shard's rows from the memory-mapped spills, orders them by their slot
in the shuffle and hands them to the output format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from mixtures.corpus.readers import numpy_to_arrow, strings_to_arrow
from mixtures.resample.checks import SPLIT_HINT, share_problem
from mixtures.resample.formats import OUTPUT_FORMATS, TokenLayout
from mixtures.resample.materialize.request import MaterializeError, Request
from mixtures.resample.materialize.spill import spill_reader, spill_schema
from mixtures.resample.materialize.workspace import Workspace, write_json
from mixtures.resample.ngrams import hashed_ngrams, utf8_buffer
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
class _Gathered:
    """Rows of one shard taken from the spills, in (domain, position) order, not yet in slot order
    (the texts apart: they are put in slot order by one more copy, :func:`reorder_strings`)."""

    texts: list = field(default_factory=list)
    pieces: list = field(default_factory=list)
    domain: list = field(default_factory=list)
    epoch: list = field(default_factory=list)
    weight: list = field(default_factory=list)
    slot: list = field(default_factory=list)


def _gather_domain(ws: Workspace, plan: Plan, domain: str, shard: int, into: _Gathered, dsir: bool) -> list[pa.Array]:
    """Take a domain's rows of one shard from its memory-mapped spill, batch by batch; returns their
    texts (for the DSIR counts).

    Only the spill's record batches that hold a drawn row are read (the positions are sorted, so
    the batches before the first one and after the last one are skipped without a look).
    """
    rows = plan.shard_draws(domain, shard)
    draw = plan.domains[domain]
    positions = draw.positions[rows]
    if not len(positions):
        return []
    by_position = np.argsort(positions, kind="stable")
    sorted_positions = positions[by_position]
    log_weight = DomainIndex.load(ws.index_path(domain)).log_weight if dsir else None
    texts = []
    start = cursor = 0
    for batch in spill_reader(ws.spill_path(domain)):
        if cursor == len(sorted_positions):
            break
        stop = int(np.searchsorted(sorted_positions, start + batch.num_rows, side="left"))
        if stop > cursor:
            # copied out while this part of the spill is mapped: holding the batch would keep its
            # map (and every page fault-around brought in) alive until the shard is written
            taken = batch.take(numpy_to_arrow(sorted_positions[cursor:stop] - start))
            into.texts.append(taken.column(0))
            into.pieces.append(taken.drop_columns(["text"]))
            if dsir:
                texts.append(taken.column(0))
        cursor = stop
        start += batch.num_rows
    if cursor != len(sorted_positions):
        raise MaterializeError(f"domain {domain!r}: its spill has fewer documents than the plan draws from it; "
                               f"delete {ws.work} and run again.")
    into.domain.append(np.full(len(positions), list(plan.domains).index(domain), dtype=np.int32))
    into.epoch.append(draw.epochs[rows][by_position])
    into.slot.append(draw.slots[rows][by_position])
    into.weight.append(log_weight[sorted_positions] if log_weight is not None else np.full(len(positions), np.nan))
    return texts


def _float64_nan_as_null(values: np.ndarray) -> pa.Array:
    """``pa.array(values, type=pa.float64(), from_pandas=True)``: NaN becomes null."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    valid = ~np.isnan(values)
    if valid.all():
        return numpy_to_arrow(values)
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.float64(), len(values), [bitmap, pa.py_buffer(values)],
                                 null_count=int(len(values) - valid.sum()))


def shard_table(ws: Workspace, request: Request, plan: Plan, shard: int) -> tuple[pa.Table, dict]:
    """One shard's rows in slot order (``OUTPUT_SCHEMA``, plus ``tokens`` for tokenized formats),
    and the DSIR bucket counts of each domain's rows in it."""
    gathered = _Gathered()
    drawn_counts = {}
    for domain in plan.domains:
        if not ws.spill_path(domain).is_file():
            raise MaterializeError(f"domain {domain!r} is not indexed yet; run index_domain for it first.")
        texts = _gather_domain(ws, plan, domain, shard, gathered, request.dsir is not None)
        if request.dsir is not None and texts:
            drawn_counts[domain] = sum(hashed_ngrams(t, request.dsir.buckets).counts() for t in texts)
    slots = np.concatenate(gathered.slot)
    order = np.argsort(slots, kind="stable")
    if not np.array_equal(slots[order], np.arange(plan.shard_starts[shard], plan.shard_starts[shard + 1])):
        raise MaterializeError(f"shard {shard}: the rows gathered do not match the plan; delete {ws.work} and run again.")
    # the texts (most of the bytes) are copied once, straight into slot order; the rest by a take
    text = reorder_strings(gathered.texts, order)
    gathered.texts.clear()
    rest_schema = pa.schema([f for f in spill_schema(request.tokenized) if f.name != "text"])
    rest = pa.Table.from_batches(gathered.pieces, schema=rest_schema)
    gathered.pieces.clear()
    # no pa.array in the workers: its first call imports pandas (see numpy_to_arrow)
    names = strings_to_arrow(list(plan.domains))
    columns = [
        pa.DictionaryArray.from_arrays(numpy_to_arrow(np.concatenate(gathered.domain)), names).cast(pa.string()),
        rest.column("doc_id"),
        rest.column("source"),
        rest.column("line"),
        numpy_to_arrow(np.concatenate(gathered.epoch).astype(np.int32), pa.int32()),
        _float64_nan_as_null(np.concatenate(gathered.weight)),
    ]
    fields = OUTPUT_FIELDS[1:]
    if request.tokenized:
        columns.append(rest.column("tokens"))
        fields = fields + [("tokens", pa.large_binary())]
    others = pa.Table.from_arrays(columns, schema=pa.schema(fields)).take(numpy_to_arrow(order)).combine_chunks()
    del rest
    table = pa.Table.from_arrays([text, *others.columns], schema=pa.schema([OUTPUT_FIELDS[0], *fields]))
    return table, drawn_counts


def reorder_strings(pieces: list[pa.Array], order: np.ndarray) -> pa.Array:
    """The strings of ``pieces`` (one after the other) taken in ``order``, as one ``large_string``
    array, copying the bytes once (a take on the chunked pieces would concatenate them first)."""
    if not pieces:
        return pa.array([], type=pa.large_string())
    buffers, starts, ends = [], [], []
    for piece in pieces:
        data, offsets = utf8_buffer(piece)
        buffers.append(memoryview(data))
        starts.append(offsets[:-1])
        ends.append(offsets[1:])
    source_of = np.repeat(np.arange(len(pieces)), [len(p) for p in pieces])[order]
    begin = np.concatenate(starts)[order]  # byte ranges in the output's order
    end = np.concatenate(ends)[order]
    data = b"".join([buffers[s][b:e] for s, b, e in zip(source_of.tolist(), begin.tolist(), end.tolist())])
    offsets = np.zeros(len(order) + 1, dtype=np.int64)
    np.cumsum(end - begin, out=offsets[1:])
    return pa.Array.from_buffers(pa.large_string(), len(order), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


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
    if fmt.tokenized and layout is None:
        raise MaterializeError(f"format {request.format!r} writes token ids: give the token layout.")
    table, drawn_counts = shard_table(ws, request, plan, shard)
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
