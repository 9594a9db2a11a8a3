"""``mixtures compare-methods [CONFIG] [--methods doremi,aioli,dga,reweight] [--seeds 0 1 2] [--json]``.

Derives each online method's mixture in an online proxy run, trains it beside natural, uniform
(and the offline law's optimum, if ``<root>/optimal_mixture.json`` exists) at the validation
scale for each seed, and reports the target objective (mean, std), the compute each method spent
and a verdict. Runs are logged to MLflow (roles ``online_run`` and ``validation_run``) unless
``--no-track``; the comparison is written to ``<root>/online/compare_methods.json``.
"""

from __future__ import annotations

import argparse
import json
import sys

from mixtures.errors import ConfigError

METHODS = ("doremi", "aioli", "dga", "reweight")


def parse_methods(text: str | None, configured: list[str]) -> list[str]:
    """``doremi,aioli`` -> ``["doremi", "aioli"]``; default: ``online.methods``, else all four."""
    if not text:
        return list(configured) or list(METHODS)
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"--methods: unknown method(s) {unknown or [text]}; choose from {','.join(METHODS)}.")
    return list(dict.fromkeys(methods))


def compare_command(args: argparse.Namespace) -> int:
    from mixtures.cli.corpus_cmd import project_config
    from mixtures.corpus import build_catalog
    from mixtures.online.compare import compare_methods, comparison_path
    from mixtures.online.tracking import tracking_hooks
    from mixtures.storage import atomic_write_json

    config = project_config(args.config)
    methods = parse_methods(args.methods, list(config.online.methods))
    seeds = args.seeds if args.seeds else list(config.validation.seeds)

    def log(message: str) -> None:
        if not args.quiet:
            print(f"[compare-methods] {message}", file=sys.stderr, flush=True)

    catalog = build_catalog(config)
    hooks = {} if args.no_track else tracking_hooks(config)
    comparison = compare_methods(config, catalog, methods, seeds, log=log, **hooks)
    document = comparison.to_json()
    atomic_write_json(comparison_path(config), document)
    if args.json:
        print(json.dumps(document, indent=2, sort_keys=True))
        return 0
    print(f"validation scale: {comparison.scale.model}, {comparison.scale.tokens} tokens; seeds {comparison.seeds}")
    print(f"{'method':<18}{'objective mean':>16}{'std':>10}{'n':>4}{'proxy tokens':>15}{'online tokens':>15}"
          f"{'overhead s':>12}")
    for name, entry in document["methods"].items():
        c = entry["compute"]
        mean = "n/a" if entry["mean"] is None else f"{entry['mean']:.4f}"
        std = "n/a" if entry["std"] is None else f"{entry['std']:.4f}"
        print(f"{name:<18}{mean:>16}{std:>10}{entry['n']:>4}{int(c.get('proxy_tokens', 0)):>15}"
              f"{int(c.get('online_tokens', 0)):>15}{float(c.get('overhead_seconds', 0.0)):>12.1f}")
    print(comparison.verdict)
    print(f"(judged by {comparison.verdict_source}; written to {comparison_path(config)})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "compare-methods", help="online mixing methods vs natural, uniform and the offline optimum",
        description="Derive online mixtures (DoReMi, Aioli-style, gradient alignment, loss reweighting) and "
        "train them beside the baselines at the validation scale with several seeds.",
    )
    parser.add_argument("config", nargs="?", help="project config YAML (default: the embedded demo)")
    parser.add_argument("--methods", help=f"comma-separated subset of {','.join(METHODS)} "
                        "(default: online.methods, else all)")
    parser.add_argument("--seeds", nargs="+", type=int, help="validation seeds (default: validation.seeds)")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument("--no-track", action="store_true", help="do not log the runs to MLflow")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(func=compare_command)
