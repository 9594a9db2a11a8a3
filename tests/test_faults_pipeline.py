"""Reliability of ``mixtures run`` as a new user meets it, end to end in subprocesses (issue 19):

- defect 1, stopping stops: SIGINT (Ctrl-C) and SIGKILL of ``mixtures run`` during the proxy stage leave no
  process of the run alive within 10 s and no Dagster run ``STARTED``
  (``test_ctrl_c_stops_every_process_of_the_run``, ``test_kill_9_of_the_cli_stops_every_process_of_the_run``);
- defect 2, two first runs at once in one empty folder: both finish (the second waits for the first), the folder
  stays usable, and no proxy or validation run is trained twice (``test_two_first_runs_at_once_share_the_folder``);
- defect 6, looking costs nothing: a ``dagster-daemon`` started on a finished pipeline folder launches nothing in
  60 s, and after a file of a domain changes it launches exactly the catalog refresh
  (``test_an_idle_daemon_launches_nothing_until_a_domain_file_changes``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from tests.engine_support import cli_env, engine_config, mlflow_runs, run_cli

pytestmark = [pytest.mark.faults, pytest.mark.slow]
STARTED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.QUEUED,
           dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.CANCELING]


def _project(tmp_path: Path, migrated: Path, **kwargs) -> tuple[Path, Path, dict[str, str]]:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(migrated, root / "mlflow.db")
    config = engine_config(root, f"sqlite:///{root / 'mlflow.db'}", **kwargs)
    return root, config, cli_env(root)


def _processes_of(home: str) -> list[str]:
    """Live processes whose environment names this Dagster home (the CLI, driver, daemon, code server, run
    workers, trainings all inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if f"DAGSTER_HOME={home}".encode() in environ.split(b"\0") and "State:\tZ" not in status:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {command[:150]}")
    return found


def _wait_for_training(root: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list((root / ".mixtures" / "runs" / "proxy").glob("*/work/stdout.log")):
            return
        time.sleep(0.2)
    raise AssertionError("no proxy run started training")


def _assert_all_stopped(root: Path, env: dict[str, str], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and _processes_of(env["DAGSTER_HOME"]):
        time.sleep(0.2)
    assert _processes_of(env["DAGSTER_HOME"]) == []
    os.environ["DAGSTER_HOME"], previous = env["DAGSTER_HOME"], os.environ.get("DAGSTER_HOME")
    try:
        with dg.DagsterInstance.get() as instance:
            live = instance.get_runs(filters=dg.RunsFilter(statuses=STARTED))
            assert [(r.job_name, r.status.value) for r in live] == []
            assert instance.get_runs(), "the pipeline never created a Dagster run"
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = previous


@pytest.mark.xdist_group("stopping")  # no module fixture: free to run beside the two first runs
def test_ctrl_c_stops_every_process_of_the_run(tmp_path, _migrated_mlflow_db):
    root, config, env = _project(tmp_path, _migrated_mlflow_db, proxy_tokens=400_000)
    process = run_cli(config, env, background=True)
    _wait_for_training(root)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the foreground group gets SIGINT
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 130 and "interrupted" in out and "Traceback" not in out, out[-3000:]
    _assert_all_stopped(root, env)


@pytest.mark.xdist_group("stopping")
def test_kill_9_of_the_cli_stops_every_process_of_the_run(tmp_path, _migrated_mlflow_db):
    root, config, env = _project(tmp_path, _migrated_mlflow_db, proxy_tokens=400_000)
    process = run_cli(config, env, background=True)
    _wait_for_training(root)
    process.kill()  # SIGKILL of the CLI alone
    process.wait(timeout=10)
    _assert_all_stopped(root, env)


@pytest.fixture(scope="module")
def two_first_runs(tmp_path_factory, _migrated_mlflow_db):
    """Two ``mixtures run`` started together in one empty folder (its own copy of the corpus, which the idle-daemon
    test then changes): ``(root, config, env, [(returncode, output), ...])``. One validation seed: what is
    checked is the sharing of one folder, and every run less is a few seconds of the suite's longest chain."""
    root, config, env = _project(tmp_path_factory.mktemp("two"), _migrated_mlflow_db, own_corpus=True,
                                 validation_seeds=(0,))
    first, second = run_cli(config, env, background=True), run_cli(config, env, background=True)
    outputs = [p.communicate(timeout=900)[0] for p in (first, second)]
    return root, config, env, [(p.returncode, out) for p, out in zip((first, second), outputs, strict=True)]


def test_two_first_runs_at_once_share_the_folder(two_first_runs):
    root, config, env, results = two_first_runs
    for code, out in results:
        assert code == 0 and "Traceback" not in out, out[-3000:]
    outputs = [out for _, out in results]
    assert any("waiting for it to finish" in out for out in outputs)
    waited = next(out for out in outputs if "waiting for it to finish" in out)
    assert "proxy_job: all 4 runs reused" in waited and "validation_job: all" in waited
    uri = f"sqlite:///{root / 'mlflow.db'}"
    proxy = mlflow_runs(uri, "pipeline-test", "proxy_run")
    validation = mlflow_runs(uri, "pipeline-test", "validation_run")
    assert len(proxy) == len({r.info.run_name for r in proxy}) == 4  # each run trained and logged once
    assert len(validation) == len({r.info.run_name for r in validation})  # and the second run used the folder


def test_an_idle_daemon_launches_nothing_until_a_domain_file_changes(two_first_runs):
    root, config, env, results = two_first_runs
    assert all(code == 0 for code, _ in results)  # a finished folder
    home = Path(env["DAGSTER_HOME"])
    os.environ["DAGSTER_HOME"], previous = str(home), os.environ.get("DAGSTER_HOME")
    daemon = subprocess.Popen([str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w",
                               str(home / "workspace.yaml")], cwd=root, env={**env, "MIXTURES_CONFIG": str(config)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        with dg.DagsterInstance.get() as instance:
            before = {r.run_id for r in instance.get_runs()}
            time.sleep(65)  # every sensor evaluates at least once, the 30 s ones twice
            assert [r.job_name for r in instance.get_runs() if r.run_id not in before] == []
            changed = sorted(p for p in (root / "corpus" / "code").rglob("*") if p.is_file())[0]
            os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not [r for r in instance.get_runs() if r.run_id not in before]:
                time.sleep(1)
            time.sleep(35)  # the other sensors look again after the refresh
            new = [r.job_name for r in instance.get_runs() if r.run_id not in before]
            assert new == ["corpus_job"], new
    finally:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()
        if previous is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = previous
