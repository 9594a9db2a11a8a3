"""Execute one planned run: the same code on a laptop, a Slurm node or a pod.

:func:`execute` trains a spec with its trainer (built-in or command), under the online method's
schedule where the spec names one, and stores the result in the run store; a finished run is
returned from the store without training. :func:`execute_planned` is what a launcher's worker
process calls: it reads the spec from the store and the catalog from the project's files, so the
worker needs nothing but the project config and the shared storage.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from mixtures.config import ProjectConfig, ScaleConfig
from mixtures.errors import TrainerError
from mixtures.layout import CATALOG, read_frame
from mixtures.runs.spec import RunSpec
from mixtures.runs.store import RunStore, StoredRun

Log = Callable[[str], None]


class RunFailed(TrainerError):
    """The training itself failed (diverged, crashed, the command broke its contract): retrying cannot help."""


def execute(config: ProjectConfig, spec: RunSpec, catalog: pd.DataFrame, store: RunStore, *,
            log: Log | None = None) -> StoredRun:
    """Train ``spec`` (or return its stored result) and store it; :class:`RunFailed` says why it failed."""
    stored = store.finished(spec)
    if stored is not None:
        return stored
    workdir = store.workdir(spec)  # the built-in trainer checkpoints into the store itself
    if spec.kind == "online":
        from mixtures.online.runner import run_online

        online = run_online(config, catalog, spec, workdir=workdir, log=log)
        result = online.train
        extra = {**result.extra, "online": online.to_json()}
    else:
        from mixtures.trainers import train_proxy

        schedule = None
        if spec.method is not None:  # a training procedure validated by training with it (e.g. reweight)
            from mixtures.online.runner import make_schedule

            schedule = make_schedule(spec.method, config, catalog)
        if config.proxy.trainer == "command":  # its files are local; the store gets a copy at the end
            workdir = store.pull_work(spec)
        try:
            result = train_proxy(config, spec, catalog, workdir, log=log, schedule=schedule)
        finally:
            store.push_work(spec)
        extra = dict(result.extra)
    if not result.finished:
        raise RunFailed(f"{spec.kind} run {spec.run_id} failed: {result.reason}")
    extra.update({"seconds": result.seconds, "n_params": result.n_params})
    return store.save(spec, result.table, extra)


def execute_planned(config: ProjectConfig, kind: str, run_id: str, *, log: Log | None = None) -> StoredRun:
    """Execute the planned run ``run_id`` of ``kind`` (a launcher's worker calls this)."""
    store = RunStore(config.root)
    spec = store.spec(kind, run_id)
    catalog = read_frame(config, CATALOG)
    return execute(config, spec, catalog, store, log=log)


def scale_of(spec: RunSpec) -> ScaleConfig:
    return ScaleConfig(model=spec.model, tokens=int(spec.tokens))
