"""``mixtures corpus ...``: look at a project's corpus."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mixtures.config import ProjectConfig


def project_config(path: str | None) -> ProjectConfig:
    """The config at ``path``, or the embedded demo resolved against the current folder (not built)."""
    from mixtures.defaults import project_config as load

    return load(path, Path.cwd(), build=False)


def catalog(args: argparse.Namespace) -> int:
    from mixtures.corpus import build_catalog, natural_mixture

    config = project_config(args.config)
    frame = build_catalog(config, progress=not args.json)
    if args.out:
        from mixtures.storage import atomic_write_frame

        atomic_write_frame(args.out, frame)
    if args.json:
        print(json.dumps({"domains": frame.drop(columns=["error"]).to_dict("records"),
                          "natural": natural_mixture(frame)}, indent=2))
    else:
        columns = ["domain", "role", "files", "documents", "bytes", "tokens", "train_docs", "val_docs"]
        if frame["skipped_lines"].any():  # corpus.on_bad_line: skip -- say how many lines were dropped
            columns.append("skipped_lines")
        print(frame[columns].to_string(index=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("corpus", help="corpus commands: catalog, build the demo corpus")
    corpus_sub = parser.add_subparsers(dest="corpus_command", metavar="SUBCOMMAND")
    cat = corpus_sub.add_parser("catalog", help="per-domain files, documents, bytes, tokens, splits")
    cat.add_argument("--config", help="project config YAML (default: the embedded demo)")
    cat.add_argument("--out", help="also write the catalog here (.parquet or .csv)")
    cat.add_argument("--json", action="store_true", help="print JSON")
    cat.set_defaults(func=catalog)
    from mixtures.cli.demo_corpus_cmd import add_build_demo_parser

    add_build_demo_parser(corpus_sub)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
