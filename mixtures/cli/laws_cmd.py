"""``mixtures fit`` and ``mixtures evaluate``: fit a mixing law to a run table, score it on another.

    mixtures fit --runs runs.parquet --target loss_web --target loss_code --law auto --out law.json
    mixtures evaluate --law law.json --runs test.csv --json

``evaluate --json`` prints one JSON object keyed by target column:
``{"loss_x": {"spearman": .., "pearson": .., "mae": .., "mre": .., "n": ..}}``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from mixtures.cli.argtypes import in_range, non_negative


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def fit_command(args: argparse.Namespace) -> int:
    from mixtures.evaluation.decision import decision_quality
    from mixtures.laws import fit_law
    from mixtures.storage import atomic_write_json
    from mixtures.laws.families import checked_law
    from mixtures.runs_table import load_runs

    checked_law(args.law)
    runs = load_runs(args.runs)
    context = {"features": args.revealed, "unique_tokens": _unique_tokens(args.unique_tokens, runs, args.runs)}
    fit = fit_law(runs, args.target, law=args.law, folds=args.folds, bootstrap=args.bootstrap, seed=args.seed,
                  context=context)
    fit.law.save(args.out)
    best = fit.best_metrics()
    for target, row in best.iterrows():
        print(f"{target}: {row['family']} (CV spearman {row['spearman']:.3f}, mae {row['mae']:.4g}, "
              f"mre {row['mre']:.3%}, {int(row['n'])} mixtures)", file=sys.stderr)
    weights = {t: 1.0 / len(fit.chosen) for t in fit.chosen}
    decision = decision_quality(fit, runs, weights)
    print(f"decision quality (objective: the mean of {', '.join(weights)}): {decision.message()}", file=sys.stderr)
    if args.decision_json:
        atomic_write_json(args.decision_json, {"objective_weights": weights, **decision.to_dict()})
        print(f"wrote {args.decision_json}", file=sys.stderr)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _unique_tokens(given: list[str] | None, runs, source) -> tuple | None:
    """``--unique-tokens domain=N`` flags as the per-domain tuple of the table's domain order (None: unlimited)."""
    from mixtures.errors import ConfigError
    from mixtures.runs_table import domains_of

    if not given:
        return None
    domains = domains_of(runs)
    values: dict[str, float] = {}
    for item in given:
        name, _, number = item.partition("=")
        try:
            values[name] = float(number)
        except ValueError:
            raise ConfigError(f"--unique-tokens {item!r}: give domain=tokens, e.g. --unique-tokens code=2e6.") from None
        if name not in domains:
            raise ConfigError(f"--unique-tokens {item!r}: {source} has no domain {name!r} (its domains: {domains}).")
    return tuple(values.get(d) for d in domains)


def evaluate_command(args: argparse.Namespace) -> int:
    from mixtures.laws import load_law, score
    from mixtures.laws.data import check_domains
    from mixtures.runs_table import read_table, validate_runs

    law = load_law(args.law)
    table = read_table(args.runs)
    check_domains(table, law.domains, str(args.runs))
    runs = validate_runs(table, source=str(args.runs), require_losses=False)
    missing = [t for t in law.targets if t not in runs.columns]
    if missing:
        from mixtures.errors import TableError

        raise TableError(f"{args.runs}: no column(s) {missing} for the law's targets {law.targets}.")
    runs = law.evaluation_rows(runs)
    pred = law.predict(runs, source=str(args.runs))
    result = {t: {k: _clean(v) for k, v in score(runs[t], pred[t]).items()} for t in law.targets}
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for t, s in result.items():
            print(f"{t}: " + ", ".join(f"{k} {v}" for k, v in s.items()))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="fit a mixing/scaling law to a proxy-run table",
                       description="Fit one law per target loss, cross-validated; write it as JSON.")
    p.add_argument("--runs", required=True, help="run table (.csv or .parquet), wide format")
    p.add_argument("--target", nargs="+", action="extend", required=True,
                   help="loss_<x> column(s) to predict (several, or the flag repeated)")
    p.add_argument("--law", default="auto", help="auto (the best by CV MAE, default) or a law family of "
                                                 "mixtures.laws.LAWS: linear, gbm, exp, additive, joint, ...")
    p.add_argument("--folds", type=in_range(2, kind=int), default=5, help="CV folds, grouped by mixture (default 5)")
    p.add_argument("--bootstrap", type=non_negative(int), default=0, help="bootstrap refits for prediction intervals")
    p.add_argument("--seed", type=non_negative(int), default=0)
    p.add_argument("--revealed", help="revealed-features file (.npz, mixtures.laws.revealed) for the ot law")
    p.add_argument("--unique-tokens", nargs="+", action="extend", metavar="DOMAIN=TOKENS",
                   help="domains' unique tokens, for the repetition law (several, or the flag repeated; others "
                        "unlimited)")
    p.add_argument("--out", required=True, help="where to write the law (JSON)")
    p.add_argument("--decision-json", help="also write the decision metrics (noise floor from repeated seeds of a "
                                           "mixture, out-of-fold regret@1; objective: the targets' mean) as JSON")
    p.set_defaults(func=fit_command)

    e = sub.add_parser("evaluate", help="score a fitted law on a run table",
                       description="Predict a run table's target losses with a law and score them.")
    e.add_argument("--law", required=True, help="law JSON written by 'mixtures fit'")
    e.add_argument("--runs", required=True, help="run table (.csv or .parquet) with the same domains")
    e.add_argument("--json", action="store_true", help="print one JSON object keyed by target")
    e.set_defaults(func=evaluate_command)
