"""What every launcher shares: the worker command, its Pipes session, and how an ended run is judged.

A launcher runs ``python -m resources.launchers.worker`` somewhere (a subprocess, an ``sbatch`` job, a
pod) inside a Dagster Pipes session: the worker reads its run from the Pipes extras, trains it with
:func:`mixtures.runs.execute.execute_planned` and writes the result into the run store on the shared
storage; its log lines come back to Dagster through the Pipes message file, in the run's local work folder
(the store's own on local disk; with ``storage.root`` on object storage a local scratch folder, which a
Slurm cluster must share: ``$MIXTURES_SCRATCH``). When the process ends,
:func:`judge` reads the store: a stored result is success; a recorded training failure fails the run
for good (retrying a diverged loss cannot help); anything else (a cancelled or preempted job, a lost
node, a killed process) is retried by the asset's retry policy and resumes from the run's checkpoint.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from mixtures.config import ProjectConfig
from mixtures.runs import RunSpec
from mixtures.runs.store import RunStore

WORKER_MODULE = "resources.launchers.worker"
TRAINING_FAILED_EXIT = 3  # the worker's exit code when the training itself failed (see worker.py)
LOG_TAIL = 2000


@dataclass(frozen=True)
class LaunchRequest:
    """One run to launch: its spec, the store it lives in, and how the worker finds the project."""

    spec: RunSpec
    store: RunStore
    config: ProjectConfig
    config_path: str   # "" for the embedded demo
    workdir: str       # the folder the demo's relative paths resolve against

    @property
    def folder(self) -> Path:
        return self.store.folder(self.spec.kind, self.spec.run_id)

    @property
    def logs(self) -> Path:
        """The run's local work folder (the store's ``work/`` on local disk; a scratch folder copied to the
        store when the store is on object storage): the worker's logs and the Pipes message file."""
        return self.store.local_workdir(self.spec)

    @property
    def extras(self) -> dict[str, str]:
        return {"config": self.config_path, "workdir": self.workdir, "kind": self.spec.kind, "run_id": self.spec.run_id}

    def worker_command(self, python: str | None = None) -> list[str]:
        return [python or sys.executable, "-m", WORKER_MODULE]

    def worker_env(self) -> dict[str, str]:
        """What the worker needs besides the Pipes bootstrap variables: its thread count."""
        threads = str(self.spec.threads)
        return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "PYTHONUNBUFFERED": "1"}


@contextmanager
def pipes_session(context: dg.AssetExecutionContext, request: LaunchRequest) -> Iterator[dg.PipesSession]:
    """A Pipes session whose messages travel through a file in the run's folder (shared storage), so the
    worker's log lines reach Dagster from any machine that sees the store."""
    request.logs.mkdir(parents=True, exist_ok=True)
    reader = dg.PipesFileMessageReader(str(request.logs / "pipes-messages.jsonl"))
    with dg.open_pipes_session(context=context, context_injector=dg.PipesEnvContextInjector(), message_reader=reader,
                               extras=request.extras) as session:
        yield session


def judge(request: LaunchRequest, how: str, logs: list[Path], retryable_reason: str | None = None) -> None:
    """Raise unless the run's result is in the store: a recorded training failure is final, anything else
    (``how`` says what happened to the process or job) is retried."""
    spec = request.spec
    request.store.push_work(spec)  # the logs reach the store wherever it is
    if request.store.finished(spec) is not None:
        return
    failure = request.store.failure(spec)
    metadata = {f"log_{p.name}": dg.MetadataValue.path(str(p)) for p in logs if p.exists()}
    if failure is not None:
        raise dg.Failure(description=failure, metadata=metadata, allow_retries=False)
    tails = "\n".join(f"--- {p.name} (tail)\n{tail(p)}" for p in logs if p.exists() and p.stat().st_size)
    reason = retryable_reason or f"{spec.kind} run {spec.run_id}: {how} without a result"
    raise dg.Failure(description=f"{reason}; it is retried and resumes from its checkpoint."
                                 + (f"\n{tails}" if tails else ""), metadata=metadata, allow_retries=True)


def tail(path: Path, size: int = LOG_TAIL) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(path) - size))
            return fh.read().decode("utf-8", errors="replace").strip()
    except OSError:
        return ""
