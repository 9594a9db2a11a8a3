"""What the report reads from MLflow: the experiment's runs as one frame, metric histories, artifacts.

Runs follow the layout of the project's conventions (tag ``mixtures.role``; params ``w_<domain>``,
``model``, ``n_tokens``, ``seed``, ``mixture_name``; metrics ``loss_<name>``, ``objective``, ...).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mixtures.errors import TrackingError
from mixtures.tracking import Tracker, check_reachable, ui_url, with_retry

ROLE = "mixtures.role"
BASE_COLUMNS = ["run_id", "run_name", "role", "status", "start_time", "pipeline", "mixture_name"]
NUMERIC_PARAMS = ("w_", "n_params", "n_tokens", "seed", "tokens")


def _number(value: str) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number


@dataclass
class ReportData:
    """The runs of one experiment (optionally a chosen subset), read once."""

    uri: str
    experiment: str
    experiment_id: str
    client: Any
    runs: pd.DataFrame
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    metric_keys: dict[str, list[str]] = field(default_factory=dict)
    _artifacts: dict[str, list[str]] = field(default_factory=dict)

    def role(self, role: str) -> pd.DataFrame:
        """The runs of one role (``proxy_run``, ``law_fit``, ...), oldest first."""
        if self.runs.empty:
            return self.runs
        frame = self.runs[self.runs["role"] == role]
        return frame.dropna(axis=1, how="all").reset_index(drop=True)

    def url(self, run_id: str) -> str:
        return ui_url(self.uri, self.experiment_id, run_id)

    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """(step, value) of a metric, by step."""
        metrics = with_retry(lambda: self.client.get_metric_history(run_id, key))
        return sorted((int(m.step), float(m.value)) for m in metrics)

    def artifacts(self, run_id: str) -> list[str]:
        """Paths of a run's top-level artifacts."""
        if run_id not in self._artifacts:
            try:
                found = with_retry(lambda: self.client.list_artifacts(run_id))
            except Exception:  # an unreadable artifact store leaves the section without images
                found = []
            self._artifacts[run_id] = sorted(a.path for a in found if not a.is_dir)
        return self._artifacts[run_id]

    def artifact_bytes(self, run_id: str, path: str) -> bytes | None:
        """A run's artifact, or ``None`` when it was not logged."""
        if path not in self.artifacts(run_id):
            return None
        with tempfile.TemporaryDirectory() as tmp:
            local = with_retry(lambda: self.client.download_artifacts(run_id, path, tmp))
            return Path(local).read_bytes()


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):])
        if not path.exists():
            raise TrackingError(f"no MLflow store at {path} (tracking URI {uri}); run the pipeline first, "
                                "or pass --tracking-uri / set MLFLOW_TRACKING_URI to the store to report on.")
    check_reachable(uri)
    try:
        return MlflowClient(tracking_uri=uri, registry_uri=uri)
    except Exception as exc:
        raise TrackingError(f"cannot open MLflow tracking store {uri}: {exc}") from None


def _frame(runs: list[Any]) -> pd.DataFrame:
    records = []
    for run in runs:
        tags = run.data.tags
        params = {k: _number(v) if k.startswith(NUMERIC_PARAMS) else v for k, v in run.data.params.items()}
        record = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name or tags.get("mlflow.runName", ""),
            "role": tags.get(ROLE, ""),
            "status": run.info.status,
            "start_time": int(run.info.start_time or 0),
            "pipeline": tags.get("mixtures.pipeline", ""),
            "mixture_name": params.get("mixture_name") or tags.get("mixtures.mixture_name", ""),
            "solver": params.get("solver") or tags.get("mixtures.solver"),
        }
        for key, value in params.items():
            record.setdefault(key, value)
        for key, value in run.data.metrics.items():  # the latest value: the final loss
            if key not in params:
                record.setdefault(key, float(value))
        records.append(record)
    if not records:
        return pd.DataFrame(columns=BASE_COLUMNS)
    frame = pd.DataFrame.from_records(records)
    frame = frame.sort_values(["start_time", "run_name", "run_id"], kind="mergesort").reset_index(drop=True)
    weights = sorted(c for c in frame.columns if c.startswith("w_"))
    first = [c for c in BASE_COLUMNS + ["solver", "model", "n_params", "n_tokens", "seed", "trainer"] if c in frame]
    rest = sorted(c for c in frame.columns if c not in first and c not in weights)
    return frame[first + weights + rest]


def load_report_data(tracker_or_uri: Tracker | str, experiment: str | None = None,
                     run_ids: list[str] | None = None) -> ReportData:
    """Read an experiment's runs (all, or only ``run_ids``), leaving out earlier reports.

    Raises
    ------
    TrackingError
        The store cannot be opened, the experiment does not exist (the message lists those that do),
        or a requested run is not in it.
    """
    if isinstance(tracker_or_uri, Tracker):
        uri, experiment = tracker_or_uri.uri, experiment or tracker_or_uri.experiment
    else:
        uri = tracker_or_uri
    if not experiment:
        raise TrackingError("no MLflow experiment given; pass --experiment NAME (or a config whose "
                            "tracking.experiment names it)")
    client = _client(uri)
    found = with_retry(lambda: client.get_experiment_by_name(experiment))
    if found is None:
        names = sorted(e.name for e in with_retry(lambda: client.search_experiments()))
        raise TrackingError(f"MLflow experiment {experiment!r} does not exist in {uri}; "
                            f"experiments there: {names or 'none'}. Pass --experiment with one of them.")
    runs = []
    token = None
    while True:
        page = with_retry(lambda: client.search_runs([found.experiment_id], max_results=1000, page_token=token))
        runs.extend(page)
        token = page.token
        if not token:
            break
    if run_ids:
        by_id = {r.info.run_id: r for r in runs}
        missing = [r for r in run_ids if r not in by_id]
        if missing:
            raise TrackingError(f"run(s) {missing} are not in MLflow experiment {experiment!r} ({uri}); "
                                "check the ids with the MLflow UI or `mlflow runs list`.")
        runs = [by_id[r] for r in dict.fromkeys(run_ids)]
    runs = [r for r in runs if r.data.tags.get(ROLE) != "report"]
    return ReportData(uri=uri, experiment=experiment, experiment_id=found.experiment_id, client=client,
                      runs=_frame(runs), tags={r.info.run_id: dict(r.data.tags) for r in runs},
                      metric_keys={r.info.run_id: sorted(r.data.metrics) for r in runs})
