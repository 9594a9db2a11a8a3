"""A real ``dagster-webserver`` on the project's workspace: a job launched through its GraphQL API
runs to SUCCESS (logging to MLflow), and the UI renders the run in headless Chromium."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.corpus_factory import corpus_config
from tests.e2e_support import chromium_or_skip, dump_dom, free_port, http_json, server, wait_http

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

E2E_JOB = "corpus_job"
ROOT = Path(__file__).resolve().parents[1]
INSTANCE_YAML = """\
# launched runs start at once in a subprocess of the code server: no daemon, no queue
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
run_launcher:
  module: dagster._core.launcher
  class: DefaultRunLauncher
telemetry:
  enabled: false
"""
REPOSITORIES = """{ repositoriesOrError { __typename
  ... on RepositoryConnection { nodes { name location { name } jobs { name } } }
  ... on PythonError { message } } }"""
LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId status } }
  ... on PythonError { message stack }
  ... on Error { message } } }"""
STATUS = """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"""
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}  # steps in the run worker: one process start less
FAILED = {"FAILURE", "CANCELED", "CANCELING"}


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    answer = http_json(f"{url}/graphql", {"query": query, "variables": variables or {}})
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


def _job_location(url: str, timeout: float) -> tuple[str, str]:
    """(location, repository) once the code location has loaded and holds :data:`E2E_JOB`."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = _graphql(url, REPOSITORIES)["repositoriesOrError"]
        for repo in seen.get("nodes", []):
            if E2E_JOB in {job["name"] for job in repo["jobs"]}:
                return repo["location"]["name"], repo["name"]
        time.sleep(0.5)
    raise AssertionError(f"job {E2E_JOB} not loaded within {timeout}s: {seen}")


def _wait_run(url: str, run_id: str, timeout: float, log: Path) -> str:
    deadline = time.monotonic() + timeout
    status = "?"
    while time.monotonic() < deadline:
        status = _graphql(url, STATUS, {"id": run_id})["runOrError"]["status"]
        if status == "SUCCESS" or status in FAILED:
            return status
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} still {status} after {timeout}s\n{log.read_text(errors='replace')[-3000:]}")


def test_job_launched_through_the_webserver_succeeds_and_the_ui_shows_it(corpus, mlflow_uri, tmp_path):
    browser = chromium_or_skip()
    root, _ = corpus
    config = corpus_config(root)
    config["tracking"] = {"uri": mlflow_uri, "experiment": "e2e"}  # MLFLOW_TRACKING_URI counts only under MIXTURES_ENV=team
    config_path = root / "project.yaml"
    config_path.write_text(yaml.safe_dump(config))
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    env = {**os.environ, "DAGSTER_HOME": str(home), "MIXTURES_CONFIG": str(config_path),
           "MIXTURES_WORKDIR": str(tmp_path), "DAGSTER_DISABLE_TELEMETRY": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    webserver = str(Path(sys.executable).with_name("dagster-webserver"))
    log = tmp_path / "webserver.log"
    command = [webserver, "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)]
    with server(command, log, env=env, cwd=ROOT) as process:
        wait_http(f"{url}/server_info", timeout=120, process=process, log=log)
        location, repository = _job_location(url, timeout=120)
        params = {"selector": {"repositoryLocationName": location, "repositoryName": repository, "jobName": E2E_JOB},
                  "runConfigData": IN_PROCESS}
        launched = _graphql(url, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        assert _wait_run(url, run_id, timeout=150, log=log) == "SUCCESS"

        dom = dump_dom(browser, f"{url}/runs/{run_id}", budget_ms=10000, timeout=90)
        assert run_id[:8] in dom, dom[-1500:]
        assert "domain_catalog" in dom and "Success" in dom
        pid = process.pid
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # webserver, code server and run workers are all gone
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment = client.get_experiment_by_name("e2e")
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.`dagster.run_id` = '{run_id}'")
    assert len(runs) == 1 and runs[0].data.tags["dagster.asset"] == "domain_catalog"
