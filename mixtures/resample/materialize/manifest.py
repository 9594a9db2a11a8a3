"""Stage 5: the dataset's files from the shards, ``manifest.json``, and the commit to the output."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np

from mixtures.resample.formats import OUTPUT_FORMATS, TokenLayout
from mixtures.resample.materialize.request import FORMAT_VERSION, MaterializeError, Request
from mixtures.resample.materialize.shards import OUTPUT_SCHEMA
from mixtures.resample.materialize.workspace import MANIFEST, Workspace, write_json
from mixtures.resample.plan import DomainIndex, Plan

_UNDRAWN = {"requested_units": 0.0, "drawn_documents": 0, "drawn_units": 0, "drawn_bytes": 0, "drawn_tokens": 0,
            "epochs_requested": 0.0, "epochs_drawn": 0.0}


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


def _written_tokens(shards: list[dict], files: list[dict], plan: Plan) -> dict[str, int]:
    """Tokens in the dataset's files per domain: the drawn texts' tokens for text formats; the ids
    written (end-of-document ids included) for tokenized ones."""
    per_file = {f["domain"]: 0 for f in files if "domain" in f}
    if per_file:
        for f in files:
            if "domain" in f:
                per_file[f["domain"]] += int(f.get("tokens", 0))
        return per_file
    if any("domains" in s for s in shards):
        totals: dict[str, int] = {}
        for s in shards:
            for name, info in s.get("domains", {}).items():
                totals[name] = totals.get(name, 0) + int(info["tokens"])
        return totals
    return {name: draw.drawn_tokens for name, draw in plan.domains.items()}


def assemble(ws: Workspace, request: Request, plan: Plan, layout: TokenLayout | None = None,
             tokenizer: dict | None = None) -> dict:
    """Write the dataset's files and ``manifest.json``, then commit them to the output (manifest last).

    ``tokenizer`` (name, fingerprint, vocab size, end-of-document id) is recorded in the manifest.
    """
    shards = []
    for shard in range(plan.n_shards):
        marker = ws.shard_marker(shard)
        if not marker.is_file():
            raise MaterializeError(f"shard {shard} is not written yet; run write_shard for it first.")
        shards.append(json.loads(marker.read_text()))
    fmt = OUTPUT_FORMATS.get(request.format)
    ws.dataset.mkdir(parents=True, exist_ok=True)
    files = fmt.finish(ws.dataset, ws.pieces, shards, list(plan.domains), layout)
    written = _written_tokens(shards, files, plan)
    domains = {}
    for name, weight in request.mixture.items():
        if name in plan.domains:
            domains[name] = {**plan.domains[name].summary(), "written_tokens": int(written.get(name, 0))}
        else:
            domains[name] = {"weight": weight, **_UNDRAWN, "written_tokens": 0}
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
        "split_documents": request.split_documents,
        "tolerance": request.tolerance,
        "tolerance_floor": request.tolerance_floor,
        "tokenizer": tokenizer,
        "schema": ([f"token ids: {layout.dtype.name}, end of document {layout.eod_id}"] if fmt.tokenized
                   else [f"{f.name}: {f.type}" for f in OUTPUT_SCHEMA]),
        "totals": {
            "documents": sum(s["rows"] for s in shards),
            "bytes": sum(d["drawn_bytes"] for d in domains.values()),
            "tokens": sum(d["drawn_tokens"] for d in domains.values()),
            "written_tokens": sum(d["written_tokens"] for d in domains.values()),
            "units": sum(d["drawn_units"] for d in domains.values()),
            "files_bytes": sum(f["bytes"] for f in files),
        },
        "domains": domains,
        "dsir": _dsir_report(ws, request, plan) if request.dsir is not None else None,
        "shards": files,
    }
    write_json(ws.dataset / MANIFEST, manifest)
    ws.commit()
    return manifest
