"""The run store: where every training run lives, and which finished runs are reused.

Layout, one folder per run under ``<storage.root>/runs/<kind>/<run_id>/``:

- ``spec.json``: the planned spec (written when a design registers the run);
- ``work/``: what the run writes while it trains (checkpoint, the command trainer's files, logs);
- ``failure.json``: why the last attempt's training failed (a diverged loss, a broken trainer command);
- ``result.parquet`` then ``result.json`` (the spec it was trained for, extras, the MLflow run that
  recorded it): written atomically, the JSON last, so a run counts as finished only when both exist
  and the stored spec equals the requested one.

``storage.root`` may be object storage (``s3://...``): every file goes through :mod:`mixtures.storage`,
written atomically. What needs a local file (the command trainer's files, a launcher's logs and its
Pipes message file) is written in the run's *local work folder* (:meth:`RunStore.local_workdir`, under
:func:`mixtures.layout.local_root`; the store's own ``work/`` when the store is local) and copied to the
store's ``work/`` by :meth:`RunStore.push_work`; :meth:`RunStore.pull_work` brings it back on another
machine. The built-in trainer writes its checkpoint straight into the store's ``work/``, so a run
killed on one machine resumes on another from the store.

A rerun of a pipeline asks the store first and trains only what is missing; a spec that changed
under the same id (e.g. a new optimum) is trained again. Run tables from elsewhere are imported by
:mod:`mixtures.runs.imports`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mixtures import storage
from mixtures.errors import MixturesError
from mixtures.layout import local_root
from mixtures.runs.spec import KINDS, RunSpec
from mixtures.storage import atomic_write_frame, atomic_write_json

RUNS_DIR = "runs"
SPEC_FILE = "spec.json"
RESULT_ROWS = "result.parquet"
RESULT_FILE = "result.json"
FAILURE_FILE = "failure.json"
WORK_DIR = "work"


@dataclass
class StoredRun:
    """A finished run read back from the store."""

    spec: RunSpec
    rows: pd.DataFrame
    extra: dict[str, Any]
    mlflow_run_id: str | None
    folder: Path  # a upath.UPath when the store is on object storage

    @property
    def unigram_baseline(self) -> dict[str, float]:
        """The per-eval-set unigram baseline (bits/byte, keyed ``loss_<name>``) stored with the run."""
        baseline = self.extra.get("unigram_baseline", {})
        return {(k if k.startswith("loss_") else f"loss_{k}"): float(v) for k, v in baseline.items()
                if isinstance(v, (int, float)) and math.isfinite(v)}

    def final_losses(self) -> dict[str, float]:
        """``{loss_<name>: value}`` at the run's last eval point."""
        final = self.rows.sort_values("n_tokens").iloc[-1]
        return {k: float(final[k]) for k in self.rows.columns if str(k).startswith("loss_") and k != "loss_unit"}


class RunStore:
    """The runs of one project (``root`` is its ``storage.root``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = storage.as_path(storage.join(root, RUNS_DIR))
        self.remote = storage.is_url(storage.url_of(self.root))
        self.local = local_root(root) / RUNS_DIR

    # -- layout ----------------------------------------------------------------------------------
    def folder(self, kind: str, run_id: str) -> Path:
        if kind not in KINDS:
            raise ValueError(f"run kind {kind!r} is not one of {KINDS}")
        return self.root / kind / run_id

    def workdir(self, spec: RunSpec) -> Path:
        """The store's work folder of ``spec`` (its checkpoint makes a killed run resume)."""
        return self.folder(spec.kind, spec.run_id) / WORK_DIR

    def local_workdir(self, spec: RunSpec) -> Path:
        """A local folder for what ``spec`` writes to files while it trains: :meth:`workdir` itself when the
        store is local, a scratch folder otherwise (copied to the store by :meth:`push_work`)."""
        if not self.remote:
            return self.workdir(spec)
        return self.local / spec.kind / spec.run_id / WORK_DIR

    def pull_work(self, spec: RunSpec) -> Path:
        """The local work folder, with every file of the store's work folder it lacks downloaded into it
        (a run resumed on another machine finds its files); returns the folder."""
        local = self.local_workdir(spec)
        local.mkdir(parents=True, exist_ok=True)
        if self.remote:
            remote = storage.url_of(self.workdir(spec))
            for url in storage.find(remote):
                target = local / url[len(remote):].lstrip("/")
                if not target.exists() and not target.name.endswith(".tmp"):
                    storage.get_file(url, target)
        return local

    def push_work(self, spec: RunSpec) -> None:
        """Copy the local work folder's files into the store's work folder (nothing to do on local disk)."""
        local = self.local_workdir(spec)
        if not self.remote or not local.is_dir():
            return
        for path in sorted(p for p in local.rglob("*") if p.is_file() and not p.name.endswith(".tmp")):
            storage.put_file(path, storage.join(self.workdir(spec), path.relative_to(local).as_posix()))

    # -- planning --------------------------------------------------------------------------------
    def plan(self, specs: Iterable[RunSpec]) -> list[RunSpec]:
        """Record ``specs`` as planned; returns those that were new or changed."""
        changed = []
        for spec in specs:
            path = self.folder(spec.kind, spec.run_id) / SPEC_FILE
            if _read_json(path) != spec.record():
                atomic_write_json(path, spec.record())
                changed.append(spec)
        return changed

    def spec(self, kind: str, run_id: str) -> RunSpec:
        """The planned spec of ``run_id`` (a Dagster partition key), or a clear error."""
        path = self.folder(kind, run_id) / SPEC_FILE
        data = _read_json(path)
        if data is None:
            raise MixturesError(f"{kind} run {run_id!r} is not planned ({path} is missing); materialize the "
                                f"design that registers it first (proxy_design, validation_design or online_design).")
        return RunSpec.from_record(data)

    # -- results ---------------------------------------------------------------------------------
    def finished(self, spec: RunSpec) -> StoredRun | None:
        """The stored result of ``spec``, or ``None`` when absent, incomplete or for another spec."""
        folder = self.folder(spec.kind, spec.run_id)
        meta = _read_json(folder / RESULT_FILE)
        if meta is None or meta.get("spec") != spec.record() or not storage.isfile(folder / RESULT_ROWS):
            return None
        with storage.open_read(folder / RESULT_ROWS) as fh:
            rows = pd.read_parquet(fh)
        return StoredRun(spec, rows, meta.get("extra", {}), meta.get("mlflow_run_id"), folder)

    def save(self, spec: RunSpec, rows: pd.DataFrame, extra: dict[str, Any] | None = None) -> StoredRun:
        """Store a finished run (rows first, then the JSON that makes it count)."""
        folder = self.folder(spec.kind, spec.run_id)
        storage.remove(folder / FAILURE_FILE)
        atomic_write_frame(folder / RESULT_ROWS, rows)
        clean = {k: v for k, v in (extra or {}).items() if _jsonable(v)}
        atomic_write_json(folder / RESULT_FILE, {"spec": spec.record(), "extra": clean, "mlflow_run_id": None})
        return StoredRun(spec, rows, clean, None, folder)

    def record_failure(self, spec: RunSpec, reason: str) -> None:
        """Remember why ``spec``'s training failed (read back by the launcher that started it)."""
        atomic_write_json(self.folder(spec.kind, spec.run_id) / FAILURE_FILE, {"spec": spec.record(), "reason": reason})

    def failure(self, spec: RunSpec) -> str | None:
        """Why the last training of ``spec`` failed, if it did."""
        data = _read_json(self.folder(spec.kind, spec.run_id) / FAILURE_FILE)
        return str(data["reason"]) if data and data.get("spec") == spec.record() else None

    def mark_logged(self, run: StoredRun, mlflow_run_id: str) -> None:
        """Remember the MLflow run that recorded ``run`` (a reused run is never logged twice)."""
        path = run.folder / RESULT_FILE
        meta = _read_json(path) or {}
        meta["mlflow_run_id"] = mlflow_run_id
        atomic_write_json(path, meta)
        run.mlflow_run_id = mlflow_run_id

    def table(self, specs: Iterable[RunSpec]) -> pd.DataFrame:
        """The rows of every finished run among ``specs`` (one per eval point), as one wide table."""
        frames = [stored.rows for spec in specs if (stored := self.finished(spec)) is not None]
        return pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()


def _read_json(path: Path) -> Any:
    """The JSON at ``path``, or ``None`` when it is missing or unreadable as JSON (a storage that cannot
    be reached is an error naming the URL, not a missing file)."""
    try:
        return storage.read_json(path)
    except json.JSONDecodeError:
        return None
    except storage.StorageError:
        if storage.exists(path):
            raise
        return None


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
