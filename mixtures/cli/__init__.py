"""The ``mixtures`` command line: the library's front door.

Each command group lives in its own module with a ``register(subparsers)`` function; heavy
imports happen inside the command handlers so that ``mixtures --help`` stays fast.
A :class:`~mixtures.errors.MixturesError` is printed as one clear message, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mixtures import __version__
from mixtures.errors import MixturesError

COMMAND_MODULES = [
    "mixtures.cli.corpus_cmd",
    "mixtures.cli.run_cmd",
    "mixtures.cli.materialize_cmd",
    "mixtures.cli.laws_cmd",
    "mixtures.cli.optimize_cmd",
    "mixtures.cli.report_cmd",
    "mixtures.cli.online_cmd",
]


def _leaf_parsers(parser: argparse.ArgumentParser) -> None:
    """Record on every (sub)command parser itself as the default ``_usage``: an unrecognized argument is then
    reported with the subcommand's own usage (argparse reports it with the top-level one)."""
    parser.set_defaults(_usage=parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _leaf_parsers(child)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mixtures",
        description="Choose the domain weights of a pretraining corpus from small proxy runs.",
    )
    parser.add_argument("--version", action="version", version=f"mixtures {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    _leaf_parsers(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        args._usage.error(f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except MixturesError as exc:
        print(f"mixtures: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mixtures: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
