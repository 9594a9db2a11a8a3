"""All stages in order over ``n_jobs`` processes, skipping the finished ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from mixtures.resample.formats import TokenLayout
from mixtures.resample.inputs import ConfigReader
from mixtures.resample.materialize.manifest import assemble
from mixtures.resample.materialize.request import MaterializeError, Request
from mixtures.resample.materialize.shards import make_plan, write_shard
from mixtures.resample.materialize.spill import DocumentBatches, index_domain, prepare_target, score_domain
from mixtures.resample.materialize.workspace import Workspace
from mixtures.resample.parallel import ordered_map, resolve_jobs
from mixtures.resample.plan import Plan


def token_layout(tokenizer) -> TokenLayout | None:
    """How a tokenizer's ids are stored (``None`` without a tokenizer)."""
    if tokenizer is None:
        return None
    from mixtures.tokenizers import token_dtype

    return TokenLayout(np.dtype(token_dtype(tokenizer.vocab_size)), int(tokenizer.eod_id))


def tokenizer_record(tokenizer) -> dict | None:
    """What the manifest says about the tokenizer."""
    if tokenizer is None:
        return None
    return {"name": tokenizer.name, "fingerprint": tokenizer.fingerprint, "vocab_size": int(tokenizer.vocab_size),
            "eod_id": int(tokenizer.eod_id)}


def with_tokenizer(request: Request, tokenizer) -> Request:
    """``request`` with the tokenizer's fingerprint (tokens, and token ids, depend on it)."""
    fingerprint = tokenizer.fingerprint if tokenizer is not None else None
    if request.tokenized and tokenizer is None:
        raise MaterializeError(f"format {request.format!r} writes token ids: give the project tokenizer.")
    return request if request.tokenizer == fingerprint else dataclasses.replace(request, tokenizer=fingerprint)


def _index_job(args: tuple) -> None:
    ws, request, domain, read, tokenizer = args
    index_domain(ws, request, domain, read, tokenizer)


def _shard_job(args: tuple) -> dict:
    ws, request, shard, layout = args
    return write_shard(ws, request, Plan.load(ws.work / "plan"), shard, layout)


def materialize(
    request: Request,
    out,
    read: DocumentBatches,
    target: Iterable[Any] | np.ndarray | None = None,
    tokenizer=None,
    n_jobs: int | None = 1,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
    scratch=None,
) -> dict:
    """Run every stage (skipping finished ones) and return the manifest.

    ``out`` is a local folder or a URL (``s3://bucket/prefix``, ``gs://...``; remote outputs are
    built in ``scratch``, default :func:`~mixtures.resample.materialize.workspace.default_scratch`).
    ``read(domain)`` yields batches of documents with ``text``, ``doc_id``, ``source`` and
    ``line`` (e.g. :class:`ConfigReader`); it must be picklable when ``n_jobs > 1``.
    ``target`` is an iterable of DSIR target text batches (or their bucket counts).
    ``tokenizer`` (the :class:`mixtures.tokenizers.Tokenizer` protocol) counts tokens and writes
    the ids of tokenized formats; without one, tokens are UTF-8 bytes.
    """
    say = log or (lambda message: None)
    if isinstance(read, ConfigReader) and read.split != request.split:
        raise MaterializeError(f"the reader reads split {read.split!r} but the request is for {request.split!r}.")
    request = with_tokenizer(request, tokenizer)
    ws = Workspace(out, scratch)
    with ws.exclusive(say):
        return _materialize_locked(ws, request, read, target, tokenizer, n_jobs, overwrite, say)


def _materialize_locked(ws, request, read, target, tokenizer, n_jobs, overwrite, say) -> dict:
    done = ws.begin(request, overwrite)
    if done is not None:
        say(f"{ws.shown} is already complete")
        return done
    domains = request.domains
    if request.dsir is not None:
        say("DSIR: target counts")
        prepare_target(ws, request, target)
        for domain in domains:  # DSIR stages parallelize inside (featurizing chunks)
            say(f"index {domain}")
            index_domain(ws, request, domain, read, tokenizer, n_jobs)
        for domain in domains:
            say(f"DSIR weights {domain}")
            score_domain(ws, request, domain, n_jobs)
    else:
        say(f"index {len(domains)} domains")
        if hasattr(read, "input_bytes"):  # largest first: the processes finish together
            domains = sorted(domains, key=lambda d: (-read.input_bytes(d), d))
        jobs = [(ws, request, d, read, tokenizer) for d in domains]
        list(ordered_map(_index_job, jobs, _jobs(n_jobs, len(domains))))
    plan = make_plan(ws, request)
    say(f"plan: {plan.total_rows} documents in {plan.n_shards} shards")
    say("gather shards")
    layout = token_layout(tokenizer) if request.tokenized else None
    list(ordered_map(_shard_job, [(ws, request, s, layout) for s in range(plan.n_shards)], _jobs(n_jobs, plan.n_shards)))
    say(f"write {request.format} files and the manifest to {ws.shown}")
    manifest = assemble(ws, request, plan, layout, tokenizer_record(tokenizer))
    say(f"wrote {ws.shown}")
    return manifest


def _jobs(n_jobs: int | None, tasks: int) -> int:
    return max(1, min(resolve_jobs(n_jobs), tasks))
