"""``mixtures corpus ...``: corpus commands (placeholder until ingestion lands)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("corpus", help="corpus commands: catalog, build the demo corpus")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
