"""``mixtures compare-methods [CONFIG] [--methods doremi,aioli,dga,reweight] [--seeds 0 1 2] [--json]``.

Runs the online-method comparison as Dagster runs, like ``mixtures run``: one ``online_runs`` partition
per method derives its mixture; every mixture (natural, uniform, the offline law's optimum if
``<root>/optimal_mixture.json`` exists, and each online mixture) is then trained at the validation scale
for each seed as ``validation_runs`` partitions (those the pipeline already trained are reused), and
judged. Every run is logged to MLflow; the comparison is written to ``<root>/online/compare_methods.json``.
"""

from __future__ import annotations

import argparse
import json

from mixtures.cli.argtypes import non_negative
from mixtures.errors import ConfigError


def parse_methods(text: str | None) -> list[str]:
    """``doremi,aioli`` -> ``["doremi", "aioli"]`` (names of the online-method registry); ``None``: the config's."""
    from mixtures.online import ONLINE_METHODS

    if not text:
        return []
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in ONLINE_METHODS]
    if unknown or not methods:
        raise ConfigError(f"--methods: unknown method(s) {unknown or [text]}; choose from "
                          f"{','.join(ONLINE_METHODS.names())}.")
    return list(dict.fromkeys(methods))


def compare_command(args: argparse.Namespace) -> int:
    from mixtures.cli.run_cmd import drive
    from mixtures.defaults import project_config
    from mixtures.layout import METHOD_COMPARISON, project_file

    extra = ["--compare-methods"]
    methods = parse_methods(args.methods)
    if methods:
        extra += ["--methods", ",".join(methods)]
    if args.seeds:
        extra += ["--seeds", ",".join(str(s) for s in args.seeds)]
    args.out = None
    code = drive(args, extra)
    if code != 0:
        return code
    path = project_file(project_config(args.config, build=False), METHOD_COMPARISON)
    document = json.loads(path.read_text(encoding="utf-8"))
    if args.json:
        print(json.dumps(document, indent=2, sort_keys=True))
        return 0
    scale = document["scale"]
    print(f"validation scale: {scale['model']}, {scale['tokens']} tokens; seeds {document['seeds']}")
    print(f"{'method':<18}{'objective mean':>16}{'std':>10}{'n':>4}{'proxy tokens':>15}{'online tokens':>15}"
          f"{'overhead s':>12}")
    for name, entry in document["methods"].items():
        c = entry["compute"]
        mean = "n/a" if entry["mean"] is None else f"{entry['mean']:.4f}"
        std = "n/a" if entry["std"] is None else f"{entry['std']:.4f}"
        print(f"{name:<18}{mean:>16}{std:>10}{entry['n']:>4}{int(c.get('proxy_tokens', 0)):>15}"
              f"{int(c.get('online_tokens', 0)):>15}{float(c.get('overhead_seconds', 0.0)):>12.1f}")
    print(document["verdict"])
    print(f"(judged by {document['verdict_source']}; written to {path})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from mixtures.online import ONLINE_METHODS

    parser = sub.add_parser(
        "compare-methods", help="online mixing methods vs natural, uniform and the offline optimum",
        description="Derive online mixtures (DoReMi, Aioli-style, gradient alignment, loss reweighting) and "
        "train them beside the baselines at the validation scale with several seeds, as Dagster runs.",
    )
    parser.add_argument("config", nargs="?", help="project config YAML (default: the embedded demo)")
    parser.add_argument("--methods", help=f"comma-separated subset of {','.join(ONLINE_METHODS.names())} "
                        "(default: online.methods, else all)")
    parser.add_argument("--seeds", nargs="+", action="extend", type=non_negative(int), help="validation seeds (default: validation.seeds)")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.set_defaults(func=compare_command)
