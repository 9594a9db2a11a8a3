"""MLflow plumbing shared by the CLI and the Dagster resource.

Uses ``MlflowClient`` explicitly (no global "active run" state), so several runs can be logged
from one process and partitions in parallel processes don't step on each other. Writes to a
sqlite store are retried when SQLite reports "database is locked"; the pipeline's parent run is
found-or-created once even when several processes ask at the same moment (:meth:`Tracker.parent_run`).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from mixtures.errors import TrackingError

T = TypeVar("T")
LOCK_RETRIES = 30
DEFAULT_UI = "http://127.0.0.1:5000"
MAX_PARAM_LENGTH = 6000


def with_retry(fn: Callable[[], T], what: str = "MLflow call") -> T:
    """Call ``fn``, retrying with backoff while a sqlite store says it is locked."""
    delay = 0.05
    for attempt in range(LOCK_RETRIES):
        try:
            return fn()
        except Exception as exc:  # MlflowException wraps sqlite3.OperationalError
            if "database is locked" not in str(exc) or attempt == LOCK_RETRIES - 1:
                raise
            time.sleep(delay)
            delay = min(delay * 1.6, 2.0)
    raise AssertionError("unreachable")


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Refuse, naming the URI, a tracking server that does not answer."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingError(
            f"MLflow tracking server {uri} is unreachable ({exc}); start it, or set tracking.uri "
            "(or MLFLOW_TRACKING_URI) to a reachable server or a sqlite:/// file."
        ) from None


def ui_url(uri: str, experiment_id: str, run_id: str | None = None) -> str:
    """A link to an experiment or run in the MLflow UI (``mlflow ui`` for local stores)."""
    base = uri.rstrip("/") if uri.startswith(("http://", "https://")) else DEFAULT_UI
    url = f"{base}/#/experiments/{experiment_id}"
    return f"{url}/runs/{run_id}" if run_id else url


class RunLogger:
    """Logs to one MLflow run through the client."""

    def __init__(self, tracker: Tracker, run_id: str):
        self.tracker = tracker
        self.run_id = run_id

    @property
    def url(self) -> str:
        return ui_url(self.tracker.uri, self.tracker.experiment_id, self.run_id)

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(str(k), str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
        for start in range(0, len(items), 100):
            with_retry(lambda s=start: self.tracker.client.log_batch(self.run_id, params=items[s:s + 100]))

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(str(k), float(v), now, int(step)) for k, v in metrics.items() if v is not None]
        for start in range(0, len(items), 500):
            with_retry(lambda s=start: self.tracker.client.log_batch(self.run_id, metrics=items[s:s + 500]))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(str(k), str(v)) for k, v in tags.items()]
        with_retry(lambda: self.tracker.client.log_batch(self.run_id, tags=items))

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        with_retry(lambda: self.tracker.client.log_artifact(self.run_id, str(path), artifact_path))

    def log_text(self, text: str, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(name).name
            path.write_text(text, encoding="utf-8")
            parent = str(Path(name).parent)
            self.log_artifact(path, None if parent == "." else parent)

    def log_dict(self, data: Any, name: str) -> None:
        self.log_text(json.dumps(data, indent=2, sort_keys=True, default=str), name)

    def log_table(self, frame: Any, name: str) -> None:
        """A pandas DataFrame as a CSV artifact (readable in the MLflow UI)."""
        self.log_text(frame.to_csv(index=False), name)

    def log_figure(self, figure: Any, name: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(name).name
            figure.savefig(path, dpi=110, bbox_inches="tight")
            parent = str(Path(name).parent)
            self.log_artifact(path, None if parent == "." else parent)


class Tracker:
    """One MLflow experiment in one tracking store.

    ``artifact_root`` fixes where a new experiment keeps its artifacts (default: next to a
    sqlite store, in ``mlartifacts/``), so artifacts don't land in whatever the current folder is.
    """

    def __init__(self, uri: str, experiment: str, artifact_root: str | Path | None = None):
        self.uri = uri
        self.experiment = experiment
        self.artifact_root = artifact_root
        self._client = None
        self._experiment_id: str | None = None

    @property
    def client(self):
        if self._client is None:
            from mlflow.tracking import MlflowClient

            check_reachable(self.uri)
            if self.uri.startswith("sqlite:///"):
                Path(self.uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
            try:
                self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
            except Exception as exc:
                raise TrackingError(f"cannot open MLflow tracking store {self.uri}: {exc}") from None
        return self._client

    def _default_artifact_root(self) -> str | None:
        if self.artifact_root is not None:
            return Path(self.artifact_root).resolve().as_uri()
        if self.uri.startswith("sqlite:///"):
            return (Path(self.uri[len("sqlite:///"):]).parent / "mlartifacts").resolve().as_uri()
        return None

    @property
    def experiment_id(self) -> str:
        if self._experiment_id is None:
            try:
                found = with_retry(lambda: self.client.get_experiment_by_name(self.experiment))
                if found is None:
                    try:
                        self._experiment_id = with_retry(lambda: self.client.create_experiment(
                            self.experiment, artifact_location=self._default_artifact_root()))
                    except Exception:  # created meanwhile by a parallel process
                        found = with_retry(lambda: self.client.get_experiment_by_name(self.experiment))
                        if found is None:
                            raise
                if found is not None:
                    self._experiment_id = found.experiment_id
            except TrackingError:
                raise
            except Exception as exc:
                raise TrackingError(f"MLflow tracking store {self.uri}: {type(exc).__name__}: {exc}") from None
        return self._experiment_id

    @contextmanager
    def run(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
    ) -> Iterator[RunLogger]:
        """A new run; ended FINISHED, or FAILED if the block raises."""
        all_tags = {str(k): str(v) for k, v in (tags or {}).items()}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        created = with_retry(
            lambda: self.client.create_run(self.experiment_id, run_name=name, tags=all_tags)
        )
        logger = RunLogger(self, created.info.run_id)
        try:
            yield logger
        except BaseException:
            with_retry(lambda: self.client.set_terminated(logger.run_id, "FAILED"))
            raise
        with_retry(lambda: self.client.set_terminated(logger.run_id, "FINISHED"))

    def find_run(self, tags: Mapping[str, str]) -> str | None:
        """The newest run whose tags all match, or ``None``."""
        clauses = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
        runs = with_retry(lambda: self.client.search_runs(
            [self.experiment_id], filter_string=clauses, max_results=1, order_by=["attributes.start_time DESC"]))
        return runs[0].info.run_id if runs else None

    def _oldest_run(self, tags: Mapping[str, str]) -> str | None:
        """The first-created active run whose tags all match (ties broken by run id), or ``None``."""
        clauses = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
        runs = with_retry(lambda: self.client.search_runs(
            [self.experiment_id], filter_string=clauses, max_results=50, order_by=["attributes.start_time ASC"]))
        if not runs:
            return None
        return min(runs, key=lambda r: (r.info.start_time, r.info.run_id)).info.run_id

    @contextmanager
    def _store_lock(self) -> Iterator[None]:
        """An exclusive lock across processes for a local sqlite store (a ``.lock`` file beside it);
        nothing for a server, whose callers converge on one run instead (see :meth:`parent_run`)."""
        if not self.uri.startswith("sqlite:///") or os.name != "posix":
            yield
            return
        import fcntl

        path = Path(self.uri[len("sqlite:///"):] + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def parent_run(self, name: str, key_tags: Mapping[str, str]) -> Iterator[RunLogger]:
        """The run tagged ``key_tags`` if it exists (e.g. the pipeline's run), else a new one.

        Processes asking at the same moment get the same run: on a sqlite store the find-or-create
        holds a file lock; on a server each creator looks again and, if an older run with the same
        tags exists, deletes its own and uses that one.
        """
        with self._store_lock():
            existing = self.find_run(key_tags)
            if not existing:
                all_tags = {str(k): str(v) for k, v in key_tags.items()}
                created = with_retry(lambda: self.client.create_run(self.experiment_id, run_name=name, tags=all_tags))
                existing = created.info.run_id
                winner = self._oldest_run(key_tags) or existing
                if winner != existing:  # another process created it first
                    with_retry(lambda: self.client.delete_run(existing))
                    existing = winner
                else:
                    with_retry(lambda: self.client.set_terminated(existing, "FINISHED"))
        yield RunLogger(self, existing)
