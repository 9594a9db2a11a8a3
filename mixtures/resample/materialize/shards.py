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
from mixtures.resample.materialize.formats import OUTPUT_FORMATS, TokenLayout
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
                                float(units.max()) if len(units) else None)
        if problem:
            problems.append(problem)
    if problems:
        raise ShortfallError(
            f"the {request.size} {request.unit} dataset cannot hold the mixture's shares within the tolerance:\n  - "
            + "\n  - ".join(problems) + f"\nTo fix it: {SPLIT_HINT}."
        )


@dataclass
class _Gathered:
    """Rows of one shard taken from the spills, in (domain, position) order, not yet in slot order."""

    pieces: list = field(default_factory=list)
    domain: list = field(default_factory=list)
    epoch: list = field(default_factory=list)
    weight: list = field(default_factory=list)
    slot: list = field(default_factory=list)


def _gather_domain(ws: Workspace, plan: Plan, domain: str, shard: int, into: _Gathered, dsir: bool) -> list[pa.RecordBatch]:
    """Take a domain's rows of one shard from its memory-mapped spill, batch by batch.

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
    pieces = []
    start = cursor = 0
    for batch in spill_reader(ws.spill_path(domain)):
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
        pieces = _gather_domain(ws, plan, domain, shard, gathered, request.dsir is not None)
        if request.dsir is not None and pieces:
            drawn_counts[domain] = sum(hashed_ngrams(p.column(0), request.dsir.buckets).counts() for p in pieces)
    slots = np.concatenate(gathered.slot)
    order = np.argsort(slots, kind="stable")
    if not np.array_equal(slots[order], np.arange(plan.shard_starts[shard], plan.shard_starts[shard + 1])):
        raise MaterializeError(f"shard {shard}: the rows gathered do not match the plan; delete {ws.work} and run again.")
    spilled = pa.Table.from_batches(gathered.pieces, schema=spill_schema(request.tokenized))  # chunked: one copy below
    gathered.pieces.clear()
    # no pa.array in the workers: its first call imports pandas (see numpy_to_arrow)
    names = strings_to_arrow(list(plan.domains))
    columns = [
        spilled.column("text"),
        pa.DictionaryArray.from_arrays(numpy_to_arrow(np.concatenate(gathered.domain)), names).cast(pa.string()),
        spilled.column("doc_id"),
        spilled.column("source"),
        spilled.column("line"),
        numpy_to_arrow(np.concatenate(gathered.epoch).astype(np.int32), pa.int32()),
        _float64_nan_as_null(np.concatenate(gathered.weight)),
    ]
    schema = OUTPUT_SCHEMA
    if request.tokenized:
        columns.append(spilled.column("tokens"))
        schema = pa.schema(OUTPUT_FIELDS + [("tokens", pa.large_binary())])
    table = pa.Table.from_arrays(columns, schema=schema)
    del spilled
    return table.take(numpy_to_arrow(order)).combine_chunks(), drawn_counts


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
