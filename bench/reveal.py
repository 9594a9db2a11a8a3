"""Partial reveal on the demo corpus: the OT law against the regression laws on held-out mixtures (issue 22).

    python bench/reveal.py --ref /work/demo_ref [--fraction 0.05] [--splits 10]

Every domain and target set reveals only ``fraction`` of its documents (``revealed`` in the config; the OT law's
features come from those alone). The demo's stored proxy runs (``<ref>/.mixtures/proxy_results.parquet``, 14
mixtures, no retraining) are split in halves of mixtures, ``splits`` times (seeded): each family is fitted on
one half and predicts the other half's final eval point. Reported per family: held-out Spearman and MRE, the
mean over targets and splits, and the same for the demo's objective target (docs + appcode).
The regression laws see the proxies' losses exactly as the OT law does: the proxies themselves trained on
the full domains (the stored runs), so "alike" here is the data each law is fitted from, not the proxies'.

Prints ONE JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mixtures.defaults import load_demo_config  # noqa: E402
from mixtures.laws import score  # noqa: E402
from mixtures.laws.data import apply_scale_rule, features, single_scale_rule  # noqa: E402
from mixtures.laws.families import make, uses_scale  # noqa: E402
from mixtures.laws.revealed import project_revealed_features  # noqa: E402
from mixtures.laws.robust import ConvergenceWarning  # noqa: E402
from mixtures.runs_table import domains_of, loss_columns  # noqa: E402

FAMILIES = ["ot", "linear", "gbm", "exp", "additive", "joint"]
OBJECTIVE = ["loss_docs", "loss_appcode"]  # the demo's target, equally weighted


def revealed_config(ref: Path, fraction: float):
    config = load_demo_config(ref)
    for source in [*config.domains, *config.target.sets]:
        source.revealed = fraction
    return config


def fit_predict(family: str, train: pd.DataFrame, test: pd.DataFrame, target: str, domains: list[str],
                context: dict) -> np.ndarray:
    rows = train if uses_scale(family) else apply_scale_rule(train, single_scale_rule(train))
    est = make(family, 0, {**context, "target": target})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(features(rows, domains, uses_scale(family)), rows[target].to_numpy(dtype=np.float64))
    return est.predict(features(test, domains, uses_scale(family)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", type=Path, required=True, help="a demo run folder (holds .mixtures/)")
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--splits", type=int, default=10)
    args = parser.parse_args()
    out: dict = {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()[0], "fraction": args.fraction,
                 "splits": args.splits}
    runs = pd.read_parquet(args.ref / ".mixtures" / "proxy_results.parquet")
    domains = domains_of(runs)
    targets = loss_columns(runs)
    config = revealed_config(args.ref, args.fraction)
    assert domains == [d.name for d in config.domains], (domains, config.domains)
    started = time.perf_counter()
    revealed = project_revealed_features(config)
    out["featurize_seconds"] = time.perf_counter() - started
    out["revealed_documents"] = {n: int(len(c.masses)) for n, c in revealed.domains.items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "revealed.npz")
        revealed.save(path)
        context = {"features": path}
        mixtures_ = np.array(sorted(runs["run_id"].unique()))
        rng = np.random.default_rng(0)
        rows = []
        for split in range(args.splits):
            train_ids = set(rng.permutation(mixtures_)[: len(mixtures_) // 2])
            train, test = runs[runs["run_id"].isin(train_ids)], runs[~runs["run_id"].isin(train_ids)]
            test = apply_scale_rule(test, single_scale_rule(test))  # each held-out run's final eval point
            for family in FAMILIES:
                started = time.perf_counter()
                pred = {t: fit_predict(family, train, test, t, domains, context) for t in targets}
                seconds = time.perf_counter() - started
                for t in targets:
                    rows.append({"split": split, "family": family, "target": t, "seconds": seconds / len(targets),
                                 **score(test[t], pred[t])})
                objective_true = test[OBJECTIVE].mean(axis=1)
                objective_pred = np.mean([pred[t] for t in OBJECTIVE], axis=0)
                rows.append({"split": split, "family": family, "target": "objective", "seconds": 0.0,
                             **score(objective_true, objective_pred)})
            print(json.dumps({"split": split, "done": True}), flush=True)
    table = pd.DataFrame(rows)
    per_target = table[table["target"] != "objective"].groupby("family")[["spearman", "mre", "seconds"]].mean()
    objective = table[table["target"] == "objective"].groupby("family")[["spearman", "mre"]].mean()
    out["families"] = {f: {"spearman": float(per_target.loc[f, "spearman"]), "mre": float(per_target.loc[f, "mre"]),
                           "objective_spearman": float(objective.loc[f, "spearman"]),
                           "objective_mre": float(objective.loc[f, "mre"]),
                           "fit_predict_seconds_per_target": float(per_target.loc[f, "seconds"])}
                       for f in FAMILIES}
    best_other = min((f for f in FAMILIES if f != "ot"), key=lambda f: out["families"][f]["mre"])
    out["best_regression_law"] = best_other
    out["ot_minus_best_spearman"] = out["families"]["ot"]["spearman"] - out["families"][best_other]["spearman"]
    out["ot_over_best_mre"] = out["families"]["ot"]["mre"] / out["families"][best_other]["mre"]
    out["loadavg_end"] = os.getloadavg()[0]
    print(json.dumps(out, default=float))


if __name__ == "__main__":
    main()
