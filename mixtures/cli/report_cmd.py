"""``mixtures report``: a self-contained HTML comparison report from the MLflow runs, logged back to MLflow."""

from __future__ import annotations

import argparse


def _uri_and_experiment(args: argparse.Namespace) -> tuple[str, str]:
    """``--tracking-uri`` / ``--experiment``, else the project config's (``--config``, default: the
    embedded demo's, as every other command)."""
    from mixtures.cli.corpus_cmd import project_config

    config = project_config(args.config)
    return args.tracking_uri or config.tracking_uri, args.experiment or config.tracking.experiment


def report(args: argparse.Namespace) -> int:
    from mixtures.report import build_report, log_report
    from mixtures.tracking import Tracker

    uri, experiment = _uri_and_experiment(args)
    tracker = Tracker(uri, experiment)
    path = build_report(tracker, experiment, run_ids=args.runs or None, out_path=args.out)
    print(f"report: {path.resolve()}")
    if not args.no_log:
        link = log_report(tracker, path)
        print(f"logged to MLflow run {link.run_id}: {link.url}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report", help="write an HTML report comparing the runs of an MLflow experiment",
        description="Build a self-contained HTML report (mixtures, proxy runs, law fits, optimizer, "
        "validation, online methods) from the MLflow runs, and log it as report.html of a "
        "mixtures.role=report run.",
    )
    parser.add_argument("--experiment", help="MLflow experiment name (default: the config's)")
    parser.add_argument("--runs", nargs="+", action="extend", metavar="RUN_ID", help="only these runs (default: all)")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: the config's, which MLFLOW_TRACKING_URI overrides; "
                        "the embedded demo's is sqlite:///mlflow.db here)")
    parser.add_argument("--config", help="project config YAML: its tracking URI and experiment")
    parser.add_argument("--out", default="report.html", help="where to write the HTML (default: report.html)")
    parser.add_argument("--no-log", action="store_true", help="only write the file; do not log it to MLflow")
    parser.set_defaults(func=report)
