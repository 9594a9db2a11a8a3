"""The team deployment for real: Dagster storage and the MLflow tracking server both on PostgreSQL.

Starts a throw-away PostgreSQL (the Debian ``postgresql`` package; installed with apt-get when missing
and possible) on a free 127.0.0.1 port, an ``mlflow server`` on one database, a ``$DAGSTER_HOME`` from
``deploy/team/dagster.yaml`` on the other, then ``mixtures run`` with ``MIXTURES_ENV=team``. Checks,
whatever stages the pipeline has: every Dagster run is in PostgreSQL and succeeded; every MLflow run a
materialization points to is in the PostgreSQL-backed server, with the params and metrics it logged.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.servers import missing_server
import yaml

from tests.pipeline_config import DOMAINS, tiny_pipeline_config

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "deploy" / "team" / "dagster.yaml"
PG_USER = "mixtures"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def postgres_binaries() -> Path:
    """The PostgreSQL server programs, installing the Debian package if needed; skip if impossible."""
    found = _pg_bin()
    if found:
        return found
    if not shutil.which("apt-get") or os.geteuid() != 0:
        missing_server("PostgreSQL is not installed and cannot be (no apt-get, or not root)")
    try:
        subprocess.run("apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql",
                       shell=True, check=True, capture_output=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        missing_server(f"PostgreSQL could not be installed with apt-get (no network?): {exc}")
    found = _pg_bin()
    if not found:
        missing_server("apt-get installed postgresql but no /usr/lib/postgresql/*/bin/initdb appeared")
    return found


def _as_postgres(command: list[str]) -> list[str]:
    """Root may not run the server: run it as the ``postgres`` OS user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """End a server started in its own session: SIGTERM to its process group, SIGKILL last."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def postgres_server() -> Iterator[dict]:
    """A PostgreSQL cluster in a temp dir on a free port; yields connection settings; always stopped."""
    bindir = postgres_binaries()
    base = Path(tempfile.mkdtemp(prefix="mixtures-pg-"))
    data = base / "data"
    port = _free_port()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    started = False
    try:
        subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, "-A", "trust",
                                     "-E", "UTF8", "--no-sync"]), check=True, capture_output=True, timeout=120)
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                                     str(base / "server.log"), "-w", "-t", "60", "start"]),
                       check=True, capture_output=True, timeout=90)
        started = True
        yield {"host": "127.0.0.1", "port": port, "user": PG_USER}
    finally:
        if started:
            subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                           capture_output=True, timeout=60)
            pid_file = data / "postmaster.pid"
            if pid_file.exists():  # pg_ctl could not stop it: kill the postmaster's process group
                with contextlib.suppress(ProcessLookupError, ValueError, IndexError):
                    pid = int(pid_file.read_text().split()[0])
                    if os.getpgid(pid) == pid:  # pg_ctl starts it as a session (and group) leader
                        os.killpg(pid, signal.SIGKILL)
                    else:
                        os.kill(pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


def _sql(pg: dict, db: str, query: str, args: tuple = ()) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["user"], dbname=db)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


@contextlib.contextmanager
def mlflow_server(backend: str, artifacts: Path, log: Path) -> Iterator[str]:
    """``mlflow server`` on a free 127.0.0.1 port; yields its URI; always stopped."""
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
             "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.time() + 240  # PostgreSQL migrations: ~15 s idle, a minute on a loaded machine
        while True:
            assert proc.poll() is None, f"mlflow server exited:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.time() < deadline, f"mlflow server did not answer:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield uri
    finally:
        _stop_group(proc)


def _run_id_from_url(url: str) -> str:
    return url.rstrip("/").rsplit("/runs/", 1)[1]


def test_pipeline_on_postgres_dagster_and_mlflow(tmp_path, monkeypatch):
    import dagster as dg
    from dagster import DagsterEventType, DagsterRunStatus
    from mlflow.tracking import MlflowClient

    root = tmp_path / "project"
    root.mkdir()
    unused_store = tmp_path / "must-not-appear" / "mlflow.db"
    config = root / "project.yaml"
    cfg = tiny_pipeline_config(root, f"sqlite:///{unused_store}")
    # what is checked is where every run and record lives, not the verdict: the fewest runs a full pipeline has
    cfg["proxy"]["n_mixtures"], cfg["validation"]["seeds"] = 4, [0]
    config.write_text(yaml.safe_dump(cfg))
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(TEMPLATE, home / "dagster.yaml")

    phases = {"start": time.perf_counter()}
    with postgres_server() as pg:
        phases["postgres"] = time.perf_counter()
        for db in ("dagster", "mlflow"):
            _sql(pg, "postgres", f"CREATE DATABASE {db}")
        backend = f"postgresql+psycopg2://{pg['user']}@{pg['host']}:{pg['port']}/mlflow"
        with mlflow_server(backend, tmp_path / "artifacts", tmp_path / "mlflow.log") as uri:
            phases["mlflow server"] = time.perf_counter()
            env = {
                "MIXTURES_ENV": "team", "MLFLOW_TRACKING_URI": uri, "DAGSTER_HOME": str(home),
                "DAGSTER_PG_HOST": pg["host"], "DAGSTER_PG_PORT": str(pg["port"]), "DAGSTER_PG_USER": pg["user"],
                "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": "dagster",
            }
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            done = subprocess.run([sys.executable, "-m", "mixtures", "run", str(config)], cwd=tmp_path,
                                  env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                                  timeout=900)
            assert done.returncode == 0, done.stdout + done.stderr
            phases["mixtures run"] = time.perf_counter()

            # -- Dagster: every run is in PostgreSQL, and succeeded -----------------------------------
            instance = dg.DagsterInstance.from_config(str(home))
            try:
                assert type(instance.run_storage).__name__ == "PostgresRunStorage"
                assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
                runs = instance.get_runs()
                in_pg = dict(_sql(pg, "dagster", "SELECT run_id, status FROM runs"))
                assert runs and {r.run_id for r in runs} == set(in_pg)
                assert all(r.status == DagsterRunStatus.SUCCESS for r in runs), [(r.job_name, r.status) for r in runs]
                assert set(in_pg.values()) == {"SUCCESS"}
                logged = {}  # MLflow run id -> (Dagster run id, materialization metadata)
                for run in runs:
                    for record in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
                        metadata = record.dagster_event.step_materialization_data.materialization.metadata
                        if "mlflow_run" in metadata:
                            logged[_run_id_from_url(metadata["mlflow_run"].value)] = (run.run_id, metadata)
            finally:
                instance.dispose()
            assert not list(home.rglob("*.db")), "Dagster fell back to sqlite"
            assert logged, "no materialization recorded an MLflow run"

            # -- MLflow: every run a materialization logged is in the PostgreSQL-backed server ----------
            client = MlflowClient(tracking_uri=uri)
            experiments = client.search_experiments()
            tracked = [r for e in experiments for r in client.search_runs([e.experiment_id], max_results=1000)]
            by_dagster = {r.info.run_id: r for r in tracked if "dagster.run_id" in r.data.tags}
            assert set(logged) <= set(by_dagster)  # every run a materialization links to is on the server
            roles = [r.data.tags.get("mixtures.role") for r in by_dagster.values()]
            design = pd.read_parquet(root / ".mixtures" / "proxy_design.parquet")
            assert roles.count("proxy_run") == len(design) and roles.count("validation_run") >= 3
            active = {row[0] for row in _sql(pg, "mlflow", "SELECT run_uuid FROM runs WHERE lifecycle_stage = 'active'")}
            assert active == {r.info.run_id for r in tracked}
            params_rows = metrics_rows = 0
            dagster_ids = {r.run_id for r in runs}
            for run_id, run in by_dagster.items():
                assert run.info.status == "FINISHED" and run.data.tags["dagster.run_id"] in dagster_ids
                if run_id in logged:
                    assert run.data.tags["dagster.run_id"] == logged[run_id][0]
                assert run.data.tags["mlflow.parentRunId"] in active  # nested under the pipeline's run
                params = dict(_sql(pg, "mlflow", "SELECT key, value FROM params WHERE run_uuid = %s", (run_id,)))
                metrics = {k: v for k, v in _sql(
                    pg, "mlflow", "SELECT key, value FROM latest_metrics WHERE run_uuid = %s", (run_id,))}
                assert params == run.data.params and metrics == run.data.metrics  # some runs log only artifacts
                params_rows += len(params)
                metrics_rows += len(metrics)

            assert params_rows and metrics_rows

            # -- what the catalog asset logged equals what it computed ------------------------------------
            catalog = pd.read_parquet(root / ".mixtures" / "catalog.parquet").set_index("domain")
            catalog_runs = [r for r in by_dagster.values() if r.data.tags.get("dagster.asset") == "domain_catalog"]
            assert len(catalog_runs) == 1
            run = catalog_runs[0]
            assert run.data.metrics == {f"tokens_{d}": float(t) for d, t in catalog["tokens"].items()}
            assert run.data.params["domains"] == ",".join(DOMAINS)
            assert logged[run.info.run_id][1]["tokens"].value == int(catalog["tokens"].sum())
            assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["catalog.csv"]
            assert list((tmp_path / "artifacts").rglob("catalog.csv"))  # stored by the server
    assert not unused_store.exists()  # the config's sqlite store was overridden by the team environment
    print(f"dagster runs: {len(runs)}, mlflow runs: {len(tracked)} ({len(logged)} from materializations), "
          f"params: {params_rows}, metrics: {metrics_rows}")
    marks = list(phases.items())
    print("seconds: " + ", ".join(f"{name} {t - marks[i][1]:.1f}" for i, (name, t) in enumerate(marks[1:])))
