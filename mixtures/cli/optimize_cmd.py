"""``mixtures optimize``: the domain weights that minimize a fitted law's predicted target loss.

    mixtures optimize --law law.json --json
    mixtures optimize --law law.json --target loss_docs=2 --target loss_web=1 --tokens 100000000 \\
        --catalog catalog.parquet --max-epochs 4 --bounds code=0:0.3 --solver slsqp --out optimal/ --json

The default target is every law target, equally weighted (with ``--config``: the config's target). Every
NAME=VALUE flag (``--target``, ``--bounds``, ``--available``, ``--option``, ``--prefix``) takes several items or
is repeated, like ``mixtures materialize --weights``. Data availability
(``w_i <= max_epochs * tokens_i / D_target``) applies when ``--tokens`` and the available tokens
(``--catalog`` train tokens or ``--available DOMAIN=TOKENS``) are given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mixtures.cli.argtypes import non_negative, positive
from mixtures.errors import ConfigError

SHORTHANDS = ("trials", "starts", "samples", "storage")  # flags that set the solver option of that name


def _pairs(items: list[str] | None, flag: str, parse=float) -> dict:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"{flag} item {item!r} is not NAME=VALUE.")
        try:
            out[name] = parse(value)
        except ValueError:
            raise ConfigError(f"{flag} item {item!r}: {value!r} is not valid here.") from None
    return out


def _option_value(text: str):
    """An option value as YAML (``4`` an int, ``[0.1, 5]`` a list, ``study.db`` a string)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValueError(text) from None


def _bounds(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition(":")
    if not sep:
        raise ValueError(text)
    return float(lo or 0.0), float(hi or 1.0)


def read_catalog(path: str):
    """A catalog table (parquet or CSV) with ``domain, role, train_tokens``."""
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{path}: no such catalog file.")
    frame = pd.read_parquet(file) if file.suffix == ".parquet" else pd.read_csv(file)
    missing = [c for c in ("domain", "role", "train_tokens") if c not in frame.columns]
    if missing:
        raise ConfigError(f"{path}: the catalog lacks column(s) {missing}; build it with 'mixtures corpus catalog'.")
    return frame


def _problem_from_config(args: argparse.Namespace, law, targets, bounds):
    """The problem of a project config (constraints, target, optimize sections); command-line
    bounds, epochs, KL bound and targets override the config's."""
    from mixtures.cli.corpus_cmd import project_config
    from mixtures.optimize import build_problem

    config = project_config(args.config)
    if args.available:
        raise ConfigError("--available does not combine with --config; the catalog gives the available tokens.")
    if args.catalog:
        catalog = read_catalog(args.catalog)
    else:
        from mixtures.corpus import build_catalog

        catalog = build_catalog(config)
    constraints = config.constraints.model_copy(update={
        "bounds": {**config.constraints.bounds, **bounds},
        **({"max_epochs": args.max_epochs} if args.max_epochs is not None else {}),
        **({"kl_to_natural_max": args.kl_max} if args.kl_max is not None else {}),
    })
    config = config.model_copy(update={"constraints": constraints})
    return build_problem(config, law, catalog, targets=targets, tokens=args.tokens, n_params=args.params), config


def optimize_command(args: argparse.Namespace) -> int:
    from mixtures.laws import load_law
    from mixtures.optimize import compare_mixtures, make_problem, optimum_uncertainty, solve, write_exports

    law = load_law(args.law)
    targets = _pairs(args.target, "--target") or None
    bounds = _pairs(args.bounds, "--bounds", _bounds)
    solver, seed, options, named = args.solver or "slsqp", args.seed, {}, {}
    if args.config:
        problem, config = _problem_from_config(args, law, targets, bounds)
        solver = args.solver or config.optimize.solver
        seed = config.seed if seed is None else seed
        if solver == config.optimize.solver:
            options = dict(config.optimize.options)
        named = config.validation.mixtures
    else:
        natural = available = None
        if args.catalog:
            from mixtures.corpus.catalog import natural_mixture

            catalog = read_catalog(args.catalog)
            natural = {d: v for d, v in natural_mixture(catalog).items() if d in law.domains}
            train = catalog[catalog["role"] == "train"]
            available = {row.domain: float(row.train_tokens) for row in train.itertuples()}
        if args.available:
            available = {**(available or {}), **_pairs(args.available, "--available")}
        if available is not None and args.tokens is None:
            raise ConfigError("data availability needs the final training budget: give --tokens D_TARGET.")
        problem = make_problem(
            law, targets, bounds=bounds, available_tokens=available if args.tokens else None,
            max_epochs=args.max_epochs if args.max_epochs is not None else 4.0,
            tokens=args.tokens, natural=natural, kl_max=args.kl_max, n_params=args.params,
        )
    for name in SHORTHANDS:  # --trials N is --option trials=N
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    options.update(_pairs(args.option, "--option", _option_value))
    seed = 0 if seed is None else seed
    result = solve(problem, law, solver, seed=seed, **options)
    payload = result.to_dict()
    payload["comparison"] = compare_mixtures(problem, law, result.weights, named).to_dict(orient="records")
    if args.uncertainty:
        payload["uncertainty"] = optimum_uncertainty(problem, law, result, seed=seed).to_dict()
    if args.out:
        paths = write_exports(result, args.out, _pairs(args.prefix, "--prefix", str) or None)
        payload["exports"] = {k: str(v) for k, v in paths.items()}
    if args.json:
        print(json.dumps(payload, indent=2, sort_keys=True, default=float))
        return 0
    print(f"{'domain':<20}{'weight':>10}")
    for name, weight in result.weights.items():
        print(f"{name:<20}{weight:>10.4f}")
    print(f"predicted objective {result.objective:.5g} ({result.solver}, {result.evaluations} law evaluations, "
          f"{result.seconds:.2f} s)")
    for row in payload["comparison"][1:]:
        note = "" if row["feasible"] else "  (violates the constraints)"
        print(f"  {row['mixture']:<12} objective {row['objective']:.5g}{note}")
    if "uncertainty" in payload:
        print(payload["uncertainty"]["message"])
    if args.out:
        print(f"exports in {Path(args.out).resolve()}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "optimize", help="the domain weights minimizing a law's predicted target loss under constraints",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--law", required=True, help="a fitted law (JSON, from 'mixtures fit')")
    parser.add_argument("--config", help="project config: its target, constraints and optimize sections apply "
                                         "(the catalog is built from it unless --catalog is given)")
    parser.add_argument("--target", nargs="+", action="extend", metavar="loss_X=WEIGHT",
                        help="target losses and their weights (several, or the flag repeated; default: every law "
                             "target, equal weights)")
    parser.add_argument("--tokens", type=positive(float), help="final training budget D_target (tokens)")
    parser.add_argument("--params", type=positive(float), help="final model size N (for laws that use scale)")
    parser.add_argument("--solver", help="a solver of mixtures.optimize.SOLVERS: slsqp (default, or the config's "
                                         "optimize.solver), tpe, cmaes, random, the Pareto nsga2, motpe, ...")
    parser.add_argument("--catalog", help="domain catalog (parquet/CSV): natural mixture and available train tokens")
    parser.add_argument("--available", nargs="+", action="extend", metavar="DOMAIN=TOKENS", help="available tokens of domains")
    parser.add_argument("--max-epochs", type=positive(float), help="epochs allowed over each domain's data (default 4, or the config's)")
    parser.add_argument("--bounds", nargs="+", action="extend", metavar="DOMAIN=LO:HI", help="per-domain weight bounds (several, or the flag repeated)")
    parser.add_argument("--kl-max", type=positive(float), help="bound on KL(w || natural) (needs --catalog)")
    parser.add_argument("--seed", type=non_negative(int), help="default: 0 (or the config's seed)")
    parser.add_argument("--option", nargs="+", action="extend", metavar="NAME=VALUE",
                        help="solver options (several, or the flag repeated; VALUE is YAML); an unknown name lists the solver's options "
                             "(with --config, optimize.options apply when the solver is the config's)")
    parser.add_argument("--trials", type=positive(int), help="same as --option trials=N (the Optuna solvers)")
    parser.add_argument("--starts", type=positive(int), help="same as --option starts=N (slsqp)")
    parser.add_argument("--samples", type=positive(int), help="same as --option samples=N (random)")
    parser.add_argument("--storage", help="same as --option storage=FILE: persist the Optuna study in this sqlite file")
    parser.add_argument("--uncertainty", action="store_true", help="re-optimize under each law member and report the spread")
    parser.add_argument("--out", help="write mixture.json, megatron_blend.txt, hf_probabilities.json, mixture.yaml here")
    parser.add_argument("--prefix", nargs="+", action="extend", metavar="DOMAIN=PATH", help="Megatron data prefixes of domains")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=optimize_command)
