"""Drive a pipeline from the command line on a persistent Dagster instance: ``python -m assets.pipeline``.

``mixtures run`` (and ``mixtures compare-methods``) start this module in a subprocess, so the library
never imports Dagster. Each stage of :data:`assets.jobs.PIPELINE_STAGES` is a real Dagster run:

- an unpartitioned stage executes on this process (``execute_in_process``);
- a partitioned stage is a backfill of its job over the keys its design planned and the run store does
  not hold yet (``dagster job backfill``). The runs queue on the instance; the daemon
  (``dagster-daemon``, started here when none runs for this instance) launches them under the
  concurrency pool's limit, so a 500-run sweep queues instead of flooding the machine or the cluster.

What runs is visible in ``dagster dev`` and ``mlflow ui`` afterwards. One pipeline at a time per project
folder (a lock in ``storage.root``: a second one waits, then reuses everything). Ctrl-C, SIGTERM, or the
end of the parent process (SIGKILL of ``mixtures run``) stop everything this process started: queued and
running runs are cancelled, the daemon's process group (run workers, trainings) is ended, and no run is
left ``STARTED``.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from assets.jobs import COMPARISON_STAGES, PIPELINE_STAGES, Stage
from mixtures.errors import MixturesError

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # failures are summarised by us
SESSION_TAG = "mixtures/session"
TERMINAL = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
STOP_GRACE_S = 4.0  # how long a pipeline stopped under another daemon waits for its runs to end
DAEMON_HEARTBEAT_S = 60.0
INPUT_CHECKS = {"domains_readable"}  # blocking checks that fail on the user's input, not on the pipeline


class StageFailed(Exception):
    """A Dagster run of the pipeline failed; the message says which step and why. ``bad_input``: the user's input
    caused it (a :class:`MixturesError` in a step, or an input check), so the driver exits 2 like every command."""

    def __init__(self, message: str, bad_input: bool = False) -> None:
        super().__init__(message)
        self.bad_input = bad_input


def _input_error_names() -> set[str]:
    """Class names of :class:`MixturesError` and its subclasses (a step's error carries only its class name)."""
    names, todo = set(), [MixturesError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names


def _caused_by_input(events) -> bool:
    names = _input_error_names()
    for event in events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            if (error.cause or error).cls_name in names:
                return True
    return False


class Interrupted(Exception):
    """SIGTERM (or the end of the parent process) asked the pipeline to stop."""


def say(message: str) -> None:
    print(f"[mixtures] {message}", flush=True)


# -- summaries -------------------------------------------------------------------------------------------


def _check_lines(evaluations, key: str | None = None) -> list[str]:
    lines = []
    for check in evaluations:
        if not check.passed:
            details = "; ".join(f"{k}: {v.value}" for k, v in check.metadata.items() if k != "per_target")
            where = f" [{key}]" if key else ""
            lines.append(f"check {check.asset_key.to_user_string()}.{check.check_name}{where} failed: {details}")
    return lines


def _failure_lines(events) -> list[str]:
    lines = []
    for event in events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            cause = error.cause or error
            message = (cause.message or error.message).strip().splitlines()
            lines.append(f"step {event.step_key} failed: {message[-1] if message else error.cls_name}")
    return lines


def execute(job: dg.JobDefinition, instance: dg.DagsterInstance, tags: dict[str, str],
            ops: dict | None = None) -> None:
    """One in-process Dagster run of ``job``; raises :class:`StageFailed` with a readable summary."""
    run_config = {**QUIET_LOGS, **({"ops": ops} if ops else {})}
    try:
        result = job.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False, tags=tags)
    finally:
        on_stop_signals()
    checks = result.get_asset_check_evaluations()
    for line in _check_lines([c for c in checks if c.severity == dg.AssetCheckSeverity.WARN]):
        say(f"warning: {line}")
    blocking = _check_lines([c for c in checks if c.severity != dg.AssetCheckSeverity.WARN])
    if not result.success or blocking:
        lines = _failure_lines(result.all_events) + blocking
        bad_input = _caused_by_input(result.all_events) or any(
            not c.passed and c.check_name in INPUT_CHECKS for c in checks if c.severity != dg.AssetCheckSeverity.WARN)
        raise StageFailed(f"{job.name}:\n" + ("\n".join(lines) or "the run failed (see `dagster dev` for its logs)"),
                          bad_input)


def run_failure_summary(instance: dg.DagsterInstance, run: dg.DagsterRun) -> StageFailed:
    """Why a partition's run failed (``str()`` of it is the summary)."""
    events = [r.dagster_event for r in instance.all_logs(run.run_id) if r.dagster_event is not None]
    lines = _failure_lines(events)
    if run.status == dg.DagsterRunStatus.CANCELED:
        lines.append("the run was cancelled")
    return StageFailed("\n".join(lines) or f"the run ended {run.status.value} (see `dagster dev` for its logs)",
                       _caused_by_input(events))


# -- the instance's daemon ------------------------------------------------------------------------------


def _daemon_alive(instance: dg.DagsterInstance) -> bool:
    """Whether some ``dagster-daemon`` (e.g. ``dagster dev``'s) is dequeuing this instance's runs now."""
    beat = instance.get_daemon_heartbeats().get("QUEUED_RUN_COORDINATOR")
    return beat is not None and time.time() - beat.timestamp < DAEMON_HEARTBEAT_S


def dagster_tool(name: str) -> str:
    """A Dagster command (``dagster``, ``dagster-daemon``) of this interpreter's environment."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise StageFailed(f"{name} not found beside {sys.executable} or on PATH: install mixtures' dependencies "
                          "(pip install -e .) in this environment")
    return found


def _parent_death_signal_prefix() -> list[str]:
    """A command prefix that makes the process end (SIGTERM) when this driver ends, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return []
    code = ("import ctypes, os, signal, sys; ctypes.CDLL('libc.so.6').prctl(1, int(signal.SIGTERM), 0, 0, 0); "
            "signal.signal(signal.SIGINT, signal.SIG_DFL); signal.signal(signal.SIGTERM, signal.SIG_DFL); "
            "os.execvp(sys.argv[1], sys.argv[1:])")  # default dispositions: a background start may ignore them
    return [sys.executable, "-c", code]


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def on_stop_signals() -> None:
    """SIGTERM and SIGHUP stop the pipeline (raise :class:`Interrupted`). Installed again after every in-process
    Dagster run, which maps SIGTERM onto SIGINT's handler (ignored when started in the background)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_interrupted)


@contextmanager
def signals_ignored() -> Iterator[None]:
    """No second interrupt while the pipeline stops what it started."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, *STOP_SIGNALS)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def die_with_parent(sig: int = signal.SIGHUP) -> None:
    """Linux: this process gets ``sig`` (SIGHUP, which Dagster leaves alone) when its parent (the ``mixtures``
    CLI) ends, however it ends."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(sig), 0, 0, 0)
    except OSError:
        return
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)


# -- one session ------------------------------------------------------------------------------------------


class Session:
    """Everything one pipeline run started: its tag, its daemon, its runs."""

    def __init__(self, instance: dg.DagsterInstance, config, home: Path) -> None:
        self.instance = instance
        self.config = config
        self.home = home
        self.id = uuid.uuid4().hex[:12]
        self.daemon: subprocess.Popen | None = None
        from mixtures.layout import LOGS, local_file

        self.log_dir = local_file(config, LOGS)  # the daemon's log: a local file

    @property
    def tags(self) -> dict[str, str]:
        return {SESSION_TAG: self.id, "mixtures/launched_by": "cli"}

    # daemon -------------------------------------------------------------------------------------
    def ensure_daemon(self, force: bool = False) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            return
        if self.daemon is None and not force and _daemon_alive(self.instance):
            say("a dagster-daemon already serves this instance; its queue launches the runs")
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / "dagster-daemon.log", "ab")
        env = {**os.environ, "MIXTURES_SENSORS": "off"}  # the pipeline drives itself: no sensor adds work meanwhile
        command = [*_parent_death_signal_prefix(), dagster_tool("dagster-daemon"), "run",
                   "-w", str(workspace_file(self.home))]
        self.daemon = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        say(f"started dagster-daemon (pid {self.daemon.pid}; log {self.log_dir / 'dagster-daemon.log'})")

    def stop_daemon(self, grace: float | None = None) -> None:
        """End the daemon's whole process group (its code server, run workers and their trainings): SIGTERM,
        which run workers turn into an interrupt of their step (a launcher then kills or cancels its job),
        then SIGKILL after ``grace`` seconds (default: the launcher's ``stop_grace_s``), or at once when only members that ignore SIGTERM are left
        (the standard library's resource tracker does)."""
        if self.daemon is None:
            return
        if grace is None:
            from resources.launchers import stop_grace_s

            grace = stop_grace_s(self.config)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.daemon.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
            while time.monotonic() < deadline and (self.daemon.poll() is None or _group_heeds(self.daemon.pid, sig)):
                time.sleep(0.1)  # poll() reaps the daemon
            if not _group_heeds(self.daemon.pid, signal.SIGKILL):
                break
        try:
            self.daemon.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.daemon = None
        self.instance.wipe_daemon_heartbeats()  # ours is gone: the next pipeline must not wait for it

    # runs ---------------------------------------------------------------------------------------
    def runs(self, statuses=None) -> list[dg.DagsterRun]:
        return list(self.instance.get_runs(filters=dg.RunsFilter(tags={SESSION_TAG: self.id}, statuses=statuses)))

    def cancel_all(self) -> None:
        """Stop this session's queued and running runs and mark them cancelled: with our own daemon, by ending
        its process group; with another daemon (e.g. ``dagster dev``'s), through the run coordinator. Jobs a
        launcher left on a cluster (a run worker killed before it cancelled its job) are cancelled last."""
        from resources.launchers import stop_jobs

        live_keys = [r.tags.get("dagster/partition") for r in self.runs() if r.status not in TERMINAL]
        if self.daemon is not None:
            self.stop_daemon()
        else:
            for run in self.runs():
                if run.status not in TERMINAL:
                    try:
                        self.instance.run_coordinator.cancel_run(run.run_id)
                    except Exception:  # noqa: BLE001 - the run is marked below either way
                        pass
            deadline = time.monotonic() + STOP_GRACE_S
            while time.monotonic() < deadline and any(r.status not in TERMINAL for r in self.runs()):
                time.sleep(0.3)
        stop_jobs(self.config, [k for k in live_keys if k])
        with dg.DagsterInstance.get() as instance:  # a fresh handle: an interrupt may have hit the old one mid-query
            runs = instance.get_runs(filters=dg.RunsFilter(tags={SESSION_TAG: self.id}))
            for run in runs:
                if run.status not in TERMINAL:
                    instance.report_run_canceled(run, message="mixtures run was stopped")

    def submit(self, stage: Stage, keys: list[str]) -> str:
        """Queue one run per key (a backfill of the stage's job); returns the backfill's tag value."""
        self.ensure_daemon()
        tag = f"{self.id}-{stage.job_name}"
        tags = {**self.tags, "mixtures/stage": tag}
        command = [dagster_tool("dagster"), "job", "backfill", "-w", str(workspace_file(self.home)),
                   "-j", stage.job_name, "--partitions", ",".join(keys), "--noprompt", "--tags", json.dumps(tags)]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "MIXTURES_SENSORS": "off"})
        if done.returncode != 0:
            raise StageFailed(f"{stage.job_name}: could not queue its {len(keys)} runs: "
                              f"{(done.stderr or done.stdout).strip()[-2000:]}")
        return tag

    def wait(self, stage: Stage, tag: str, total: int) -> dict[str, StageFailed]:
        """Wait for the stage's runs; print each as it ends; returns ``{partition: failure}``."""
        seen: set[str] = set()
        failures: dict[str, StageFailed] = {}
        submitted = time.monotonic()
        while True:
            runs = list(self.instance.get_runs(filters=dg.RunsFilter(tags={"mixtures/stage": tag})))
            for run in runs:
                if run.status in TERMINAL and run.run_id not in seen:
                    seen.add(run.run_id)
                    key = run.tags.get("dagster/partition", "?")
                    state = "ok" if run.status == dg.DagsterRunStatus.SUCCESS else run.status.value
                    took = _duration(self.instance, run)
                    say(f"{stage.job_name} [{len(seen)}/{total}] {key} {state}{took}")
                    if run.status != dg.DagsterRunStatus.SUCCESS:
                        failures[key] = run_failure_summary(self.instance, run)
            if len(seen) >= total:
                return failures
            if (self.daemon is None and time.monotonic() - submitted > DAEMON_HEARTBEAT_S / 2
                    and all(r.status == dg.DagsterRunStatus.QUEUED for r in runs)):
                say("no dagster-daemon took the queued runs; starting one")
                self.ensure_daemon(force=True)
            if self.daemon is not None and self.daemon.poll() is not None:
                raise StageFailed(f"dagster-daemon exited ({self.daemon.returncode}) with runs still queued; "
                                  f"see {self.log_dir / 'dagster-daemon.log'}")
            time.sleep(0.5)


def _group_heeds(pgid: int, sig: int) -> bool:
    """Whether a live (not zombie) member of process group ``pgid`` would still act on ``sig``: one that does
    not ignore it. Without ``/proc``, whether the group has any member."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").is_file():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - a member we may not signal
            return True
        return True
    bit = 1 << (int(sig) - 1)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] == "Z" or int(fields[2]) != pgid:  # state, pgrp
                continue
            ignored = next(int(line.split()[1], 16) for line in (entry / "status").read_text().splitlines()
                           if line.startswith("SigIgn:"))
        except (OSError, IndexError, ValueError, StopIteration):
            continue  # it ended meanwhile
        if sig == signal.SIGKILL or not ignored & bit:
            return True
    return False


def _duration(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    record = instance.get_run_record_by_id(run.run_id)
    if record and record.start_time and record.end_time:
        return f" ({record.end_time - record.start_time:.1f} s)"
    return ""


# -- stages ----------------------------------------------------------------------------------------------


def stage_keys(stage: Stage, config) -> tuple[list[str], list[str]]:
    """``(all keys, keys still to run)`` of a partitioned stage: the runs its design planned, less those the
    run store holds, logged (dataset domains: all, unless the dataset is complete)."""
    from mixtures.layout import METHOD_DESIGN, ONLINE_DESIGN, PROXY_DESIGN, VALIDATION_DESIGN, project_file, read_frame
    from mixtures.storage import read_json
    from mixtures.runs import RunSpec
    from mixtures.runs.store import RunStore

    store = RunStore(config.root)
    if stage.partitions == "dataset":
        from assets.dataset import dataset_keys

        keys = dataset_keys(config)
        return keys, keys
    if stage.partitions == "proxy":
        ids = list(read_frame(config, PROXY_DESIGN)["run_id"].drop_duplicates())
        specs = [store.spec("proxy", i) for i in ids]
    else:
        design = {"validation": VALIDATION_DESIGN, "method_validation": METHOD_DESIGN,
                  "online": ONLINE_DESIGN}[stage.partitions]
        specs = [RunSpec.from_record(r) for r in read_json(project_file(config, design))["runs"]]
    keys = [s.run_id for s in specs]
    return keys, [s.run_id for s in specs if not _done(store.finished(s))]


def _done(stored) -> bool:
    """A run is done once stored and logged: a result whose partition failed before MLflow recorded it (its job
    ended as the launcher gave up on it) is run again, and its partition reuses the result and logs it."""
    return stored is not None and stored.mlflow_run_id is not None


def run_stages(stages: list[Stage], session: Session, out_dir: Path | None, ops: dict | None = None,
               stop_after: str | None = None) -> None:
    """Each stage in order (up to ``stop_after``); ``ops`` is run config for the assets of in-process stages."""
    from assets import defs

    for stage in stages:
        started = time.perf_counter()
        if stage.partitions is None:
            job = defs.resolve_job_def(stage.job_name)
            mine = {k: v for k, v in (ops or {}).items() if k in {n.name for n in job.graph.node_defs}}
            execute(job, session.instance, session.tags, mine)
            say(f"{stage.job_name} done in {time.perf_counter() - started:.1f}s")
        else:
            keys, todo = stage_keys(stage, session.config)
            if not todo:
                say(f"{stage.job_name}: all {len(keys)} runs reused")
                continue
            say(f"{stage.job_name}: {len(todo)} of {len(keys)} partitions to run (queued on the instance)")
            failures = session.wait(stage, session.submit(stage, todo), len(todo))
            if failures and (not stage.tolerate_failures or len(failures) == len(todo)):
                raise StageFailed(f"{stage.job_name}: {len(failures)} of {len(todo)} runs failed:\n"
                                  + "\n".join(f"[{k}] {v}" for k, v in failures.items()),
                                  any(f.bad_input for f in failures.values()))
            for key, error in failures.items():
                say(f"warning: partition {key} failed and is left out:\n{error}")
            say(f"{stage.job_name} ({len(todo)} partitions) done in {time.perf_counter() - started:.1f}s")
        if out_dir is not None and stage.exports:
            export(session.config, out_dir)
        if stage.job_name == stop_after:
            say(f"stopped after {stop_after}")
            return


def export(config, out_dir: Path) -> None:
    from mixtures import storage
    from mixtures.layout import EXPORTS, project_file

    out_dir.mkdir(parents=True, exist_ok=True)
    for name in EXPORTS:
        if storage.isfile(project_file(config, name)):
            storage.get_file(project_file(config, name), out_dir / name)


def final_summary(config, out_dir: Path | None) -> None:
    """The verdict in a few lines and where its files are."""
    from mixtures import storage
    from mixtures.layout import REPORT, VALIDATION, project_file

    path = project_file(config, VALIDATION)
    if storage.isfile(path):
        verdict = storage.read_json(path)
        for line in str(verdict.get("summary", "")).splitlines():
            say(line)
    for name in (VALIDATION, REPORT):
        where = out_dir / name if out_dir is not None and (out_dir / name).is_file() else project_file(config, name)
        if storage.isfile(where):
            say(f"{name}: {where}")


# -- locks and signals -----------------------------------------------------------------------------------


@contextmanager
def project_lock(config) -> Iterator[None]:
    """One pipeline at a time per project folder; a second one waits for the first and then reuses its runs."""
    from mixtures.layout import PIPELINE_LOCK, local_file

    path = local_file(config, PIPELINE_LOCK)  # a file lock: local (for object storage, per machine)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            say(f"another mixtures pipeline ({holder}) is running in {config.root}; waiting for it to finish "
                "(Ctrl-C stops waiting; its finished runs are reused)")
            fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def open_instance_once(home: Path) -> None:
    """Open (and so create or migrate) the instance's storage under a lock: two first runs at once in an
    empty folder must not both create it."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".mixtures-init.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            dg.DagsterInstance.get().dispose()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _raise_interrupted(signum, frame) -> None:
    raise Interrupted(f"signal {signum}")


def workspace_file(home: Path) -> Path:
    """The workspace the daemon and the backfills load: this code location (``assets``)."""
    path = home / "workspace.yaml"
    text = ("load_from:\n  - python_module:\n      module_name: assets\n      attribute: defs\n"
            f"      working_directory: {json.dumps(os.getcwd())}\n")
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def set_pool_limits(instance: dg.DagsterInstance, config) -> int:
    """The training pool's limit for this pipeline: the launcher's concurrency."""
    from resources.launchers import TRAIN_POOL, concurrency

    limit = concurrency(config)
    instance.event_log_storage.set_concurrency_slots(TRAIN_POOL, limit)
    instance.event_log_storage.set_concurrency_slots("dataset", limit)
    return limit


def run_pipeline(out_dir: Path | None, stages: list[Stage] | None = None,
                 instance: dg.DagsterInstance | None = None, ops: dict | None = None,
                 stop_after: str | None = None) -> None:
    """Every stage, in order, on ``instance`` (default: ``$DAGSTER_HOME``'s)."""
    from mixtures.config import load_config
    from mixtures.defaults import load_demo_config, prepare_demo
    from resources.launchers import launcher_name
    from resources.project import ProjectResource

    project = ProjectResource()
    path, workdir = project.config_file(), Path(project.work_folder())
    config = load_config(path) if path else load_demo_config(workdir)
    instance = instance or dg.DagsterInstance.get()
    home = Path(os.environ.get("DAGSTER_HOME") or instance.root_directory)
    with project_lock(config):
        if not path:
            say("the embedded demo: building (or reusing) the demo corpus")
            prepare_demo(workdir, progress=True)
        session = Session(instance, config, home)
        session.ensure_daemon()  # it loads the code location while the first stages run
        limit = set_pool_limits(instance, config)
        say(f"launcher {launcher_name(config)}, at most {limit} training(s) at once (pool limit)")
        try:
            run_stages(stages or PIPELINE_STAGES, session, out_dir, ops, stop_after)
        except BaseException:
            with signals_ignored():
                session.cancel_all()
            raise
        finally:
            session.stop_daemon()
    final_summary(config, out_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assets.pipeline")
    parser.add_argument("--out", type=Path, default=None, help="also write the verdict files here")
    parser.add_argument("--compare-methods", action="store_true", help="the online-method comparison's stages")
    parser.add_argument("--methods", default="", help="comma-separated online methods (compare-methods)")
    parser.add_argument("--seeds", default="", help="comma-separated validation seeds (compare-methods)")
    parser.add_argument("--stop-after", default=None, help="end after this stage's job (e.g. proxy_job)")
    args = parser.parse_args(argv)
    chosen = {"methods": [m for m in args.methods.split(",") if m],
              "seeds": [int(s) for s in args.seeds.split(",") if s]}
    ops = {"online_design": {"config": chosen}, "method_design": {"config": chosen}} if args.compare_methods else None
    die_with_parent(signal.SIGHUP)  # the CLI ended, even by SIGKILL: stop like Ctrl-C
    on_stop_signals()
    if not os.environ.get("DAGSTER_HOME"):
        print("mixtures: error: DAGSTER_HOME is not set (mixtures run sets it)", file=sys.stderr)
        return 2
    try:  # a broken instance (e.g. its PostgreSQL down) gets one clear line, not a driver traceback
        open_instance_once(Path(os.environ["DAGSTER_HOME"]))
    except Exception as exc:
        print(f"mixtures: error: cannot open the Dagster instance of DAGSTER_HOME={os.environ['DAGSTER_HOME']} "
              f"(its dagster.yaml): {type(exc).__name__}: {exc}; check its storage settings and that the "
              "database is up (README: Team deployment).", file=sys.stderr)
        return 2
    try:
        run_pipeline(args.out, COMPARISON_STAGES if args.compare_methods else PIPELINE_STAGES, ops=ops,
                     stop_after=args.stop_after)
    except MixturesError as exc:
        print(f"mixtures: error: {exc}", file=sys.stderr)
        return 2
    except StageFailed as exc:
        print(f"mixtures: error: {exc}", file=sys.stderr)
        return 2 if exc.bad_input else 1
    except (KeyboardInterrupt, Interrupted):
        print("mixtures: interrupted; every run this pipeline started was stopped", file=sys.stderr)
        return 130
    return 0


def _exit(code: int) -> None:
    """End the driver. After an interrupt, at once (``os._exit``): everything it started is stopped and its
    files are closed, and the interpreter's teardown of Dagster, pandas and MLflow takes seconds the user
    who pressed Ctrl-C (or killed the CLI) should not wait."""
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    _exit(main())
