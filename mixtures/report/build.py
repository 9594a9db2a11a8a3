"""Build the self-contained HTML report from MLflow, and log it back as a ``report`` run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mixtures.errors import MixturesError
from mixtures.report import html as h
from mixtures.report.data import load_report_data
from mixtures.report.sections import SECTIONS
from mixtures.storage import atomic_write_text
from mixtures.tracking import RunLogger, Tracker

ARTIFACT = "report.html"


@dataclass(frozen=True)
class ReportLink:
    """Where a logged report lives: its MLflow run, the run's UI page, the artifact's URI and a URL
    a browser can open (the tracking server's ``/get-artifact`` for a server, else the file URI)."""

    run_id: str
    url: str
    artifact_uri: str
    artifact_url: str


def render_report(tracker_or_uri: Tracker | str, experiment: str | None = None,
                  run_ids: list[str] | None = None, title: str | None = None) -> str:
    """The report as an HTML string (see :func:`build_report`)."""
    data = load_report_data(tracker_or_uri, experiment, run_ids)
    parts = [(anchor, name, render(data)) for anchor, name, render in SECTIONS]
    header = h.paragraph(f"{len(data.runs)} runs" + (f" (selected: {len(run_ids)})" if run_ids else ""), "note")
    return h.page(title or f"mixtures report: {data.experiment}", header, parts)


def build_report(tracker_or_uri: Tracker | str, experiment: str | None = None, run_ids: list[str] | None = None,
                 out_path: str | Path = "report.html", title: str | None = None) -> Path:
    """Write a self-contained HTML report (inline CSS, plots as base64 PNGs) comparing the runs of an
    MLflow experiment: mixtures side by side, proxy runs, law fit quality, optimizer results,
    validation verdict and online methods. Sections without runs say so.

    Parameters
    ----------
    tracker_or_uri
        A :class:`~mixtures.tracking.Tracker` (its experiment is the default) or a tracking URI.
    experiment
        The MLflow experiment's name.
    run_ids
        Only these runs (default: every run of the experiment except earlier reports).
    out_path
        The HTML file, written atomically.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    TrackingError
        The store is unreachable, the experiment or a run id does not exist.
    MixturesError
        ``out_path`` cannot be written.
    """
    text = render_report(tracker_or_uri, experiment, run_ids, title)
    try:
        return atomic_write_text(out_path, text)  # a path or a URL
    except OSError as exc:
        raise MixturesError(f"cannot write the report to {out_path}: {exc.strerror or exc}; "
                            "choose another output path (--out)") from None


def log_report(target: Tracker | RunLogger, path: str | Path, tags: dict[str, Any] | None = None,
               parent_run_id: str | None = None) -> ReportLink:
    """Log ``path`` as the ``report.html`` artifact of a run tagged ``mixtures.role=report``.

    ``target`` is a tracker (a new run is created, nested under ``parent_run_id`` if given) or an
    open :class:`~mixtures.tracking.RunLogger` (e.g. the Dagster asset's run), which gets the tag.
    """
    path = Path(path)
    all_tags = {**(tags or {}), "mixtures.role": "report"}
    if isinstance(target, RunLogger):
        return _log_into(target, path, all_tags)
    with target.run("report", tags=all_tags, parent_run_id=parent_run_id) as run:
        return _log_into(run, path, {})


def _log_into(run: RunLogger, path: Path, tags: dict[str, Any]) -> ReportLink:
    import tempfile

    if tags:
        run.set_tags(tags)
    if path.name == ARTIFACT:
        run.log_artifact(path)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / ARTIFACT
            copy.write_bytes(path.read_bytes())
            run.log_artifact(copy)
    from urllib.parse import urlencode

    info = run.tracker.client.get_run(run.run_id).info
    artifact_uri = f"{info.artifact_uri.rstrip('/')}/{ARTIFACT}"
    uri = run.tracker.uri
    if uri.startswith(("http://", "https://")):
        artifact_url = f"{uri.rstrip('/')}/get-artifact?{urlencode({'path': ARTIFACT, 'run_uuid': run.run_id})}"
    else:
        artifact_url = artifact_uri
    return ReportLink(run_id=run.run_id, url=run.url, artifact_uri=artifact_uri, artifact_url=artifact_url)
