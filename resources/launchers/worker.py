"""The process a launcher starts for one training run: ``python -m resources.launchers.worker``.

Under Dagster Pipes (every launcher starts it so) the run to train comes from the Pipes extras
(``config``, ``workdir``, ``kind``, ``run_id``) and each log line goes back to Dagster; by hand,
``--config PATH --kind KIND --run-id ID`` does the same with logs on stderr. The result is written
into the run store; a training failure is recorded there and ends the process with code 3.
The process asks the kernel to end it when its parent (the Dagster step) dies, so a killed pipeline
leaves no training behind.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

TRAINING_FAILED_EXIT = 3


def die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent exits (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    parent = os.getppid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except OSError:
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def train(extras: dict, log: Callable[[str], None]) -> int:
    from mixtures.defaults import project_config
    from mixtures.runs.execute import RunFailed, execute_planned
    from mixtures.runs.store import RunStore

    config = project_config(extras.get("config") or "", extras.get("workdir") or os.getcwd())
    try:
        stored = execute_planned(config, extras["kind"], extras["run_id"], log=log)
    except RunFailed as exc:
        store = RunStore(config.root)
        store.record_failure(store.spec(extras["kind"], extras["run_id"]), str(exc))
        log(f"training failed: {exc}")
        return TRAINING_FAILED_EXIT
    log(f"{extras['kind']} run {extras['run_id']} stored in {stored.folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    die_with_parent()
    if "DAGSTER_PIPES_CONTEXT" in os.environ:
        from dagster_pipes import open_dagster_pipes

        with open_dagster_pipes() as pipes:
            return train(dict(pipes.extras), pipes.log.info)
    parser = argparse.ArgumentParser(prog="python -m resources.launchers.worker")
    parser.add_argument("--config", default="", help="project config (default: the embedded demo)")
    parser.add_argument("--workdir", default=os.getcwd())
    parser.add_argument("--kind", required=True)
    parser.add_argument("--run-id", required=True)
    args = parser.parse_args(argv)
    return train({"config": args.config, "workdir": args.workdir, "kind": args.kind, "run_id": args.run_id},
                 lambda line: print(line, file=sys.stderr, flush=True))


if __name__ == "__main__":
    sys.exit(main())
