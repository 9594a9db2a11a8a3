"""A real ``mlflow server`` (sqlite backend, served artifacts): the report is built from runs logged
through it, logged back to it, and fetched over HTTP like a browser following the Dagster link."""

from __future__ import annotations

import os
import shutil
import sys
import urllib.parse
from pathlib import Path

import pytest

from mixtures.report import build_report, log_report
from mixtures.tracking import Tracker
from tests.e2e_support import free_port, server, wait_http
from tests.mlflow_runs import log_experiment

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_report_logged_to_an_mlflow_server_is_served_over_http(tmp_path, _migrated_mlflow_db):
    shutil.copy(_migrated_mlflow_db, tmp_path / "mlflow.db")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    command = [mlflow, "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
               "--serve-artifacts", "--artifacts-destination", str(tmp_path / "served-artifacts"),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # no background job runner (7 huey consumer processes): the report needs tracking and artifacts only
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    log = tmp_path / "mlflow-server.log"
    with server(command, log, env=env, cwd=tmp_path) as process:
        assert wait_http(f"{url}/health", timeout=90, process=process, log=log).strip() == b"OK"
        tracker = Tracker(url, "served")
        logged = log_experiment(tracker, with_validation=False, proxies=2)
        report = build_report(url, "served", out_path=tmp_path / "report.html")
        link = log_report(tracker, report)
        assert link.url.startswith(f"{url}/#/experiments/") and link.url.endswith(link.run_id)

        query = urllib.parse.urlencode({"path": "report.html", "run_uuid": link.run_id})
        assert link.artifact_url == f"{url}/get-artifact?{query}"  # the link Dagster shows
        served = wait_http(link.artifact_url, timeout=30)
        assert served == report.read_bytes()
        text = served.decode("utf-8")
        assert "2 proxy runs" in text and "optimal_mixture" in text and "mixing_laws" in text and "no validation runs logged yet" in text
        # the artifact really lives in the server's artifact store, not next to this process
        stored = list((tmp_path / "served-artifacts").rglob("report.html"))
        assert len(stored) == 1 and stored[0].read_bytes() == served
        assert logged.law_fit_run in text  # the law fit's run is linked from the report
        pid = process.pid
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the server's whole process group is gone
