"""Benchmark the law families on published proxy-run sweeps and a synthetic fit-time table.

    python bench/laws.py --data /work/shared/data [--quick]

- ``mixinglaws/`` (Ye et al.) 5Mix and RedPajama: runs at the most common model size, final
  step, fitting runs only (ids < 900). Per family: leave-mixtures-out (5-fold, grouped) Spearman
  per Pile domain, and the Pile-weighted total by explicit aggregation of the per-domain
  out-of-fold predictions vs a direct fit of the total.
- ``dmsl/`` (Shukor et al.): fit the scaling laws on N <= 937M (and on N <= 310M), predict
  N = 1.235B and 2.718B at every D; mean relative error averaged over the 8 loss columns. The
  headline is the best law over (N, D, h); ``power_per_mixture`` (one plain law per mixture) is
  reported beside it on the test rows whose mixture it has seen. Tune on the validation splits
  inside the training sizes, never on the test: ``val_fit_le_310m`` (fit N <= 310M, predict 680M
  and 937M) and ``val_fit_le_680m`` (fit N <= 680M, predict 937M), reported per scaling law. Beside the MRE,
  ``regret_at_1_fit_*``: among the test mixtures at the largest (N, D), how much worse (mean loss) the one the law
  ranks first is than the best; ``auto_selection``: the family ``auto`` picks on the N <= 937M rows (holding out
  937M: ``auto_selection_scores``), beside ``auto_selection_in_scale_cv_only``.
- ``oof_regret_at_1`` (mixinglaws, per family): out-of-fold regret@1 of the Pile-weighted total.
- two-step (task loss -> accuracy, :mod:`mixtures.laws.two_step`): the error on any shipped table with
  per-run task accuracies; the data folder is scanned for accuracy columns and, where none exist (today:
  mixinglaws and dmsl hold losses only, doremi weights only), ``two_step`` says so.
- ``repetition`` (issue 22): synthetic runs of a data-constrained law whose first domain is repeated up to
  ~30x (:func:`mixtures.laws.synthetic.repeated_runs`, R* = 6); fit on n_tokens <= 16M, predict 64M: MRE of
  the repetition law vs the additive law, and the fitted R*.
- ``ot`` (issue 22), with ``--demo-ref DIR``: the partial-reveal comparison of ``bench/reveal.py`` (5% of the
  demo's documents; halves of the demo's proxy mixtures), OT law vs the regression laws.
- fit time: ``fit_law(law="auto")`` (every family, 5-fold CV) on a synthetic 512 runs x 17
  domains table, one target; the peer is RidgeCV alone on the same folds (the floor).

Prints ONE JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mixtures.laws import LAWS, fit_law, score  # noqa: E402
from mixtures.laws.data import features  # noqa: E402
from mixtures.laws.families import AUTO, applies, make  # noqa: E402
from mixtures.laws.metrics import cv_rank_key, regret_at_1  # noqa: E402
from mixtures.laws.repetition import RepetitionLaw  # noqa: E402
from mixtures.laws.per_mixture import PerMixturePowerLaw  # noqa: E402
from mixtures.laws.robust import ConvergenceWarning  # noqa: E402
from mixtures.laws.synthetic import repeated_runs, synthetic_runs  # noqa: E402
from mixtures.objective import objective_of  # noqa: E402

TOKENS_PER_STEP = 4096 * 256
SIZES = {"70M": 7e7, "160M": 1.6e8, "305M": 3.05e8, "410M": 4.1e8, "1B": 1e9}


def mixinglaws_table(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path)
    raw = raw[raw["run_id"] < 900]
    out = pd.DataFrame({"run_id": raw["model_size"] + "_" + raw["run_id"].astype(str)})
    for c in [c for c in raw.columns if c.startswith("p_")]:
        out["w_" + c[2:]] = raw[c].to_numpy()
    out["n_params"] = raw["model_size"].map(SIZES).to_numpy()
    out["n_tokens"] = pd.to_numeric(raw["step"], errors="coerce").to_numpy() * TOKENS_PER_STEP
    for c in [c for c in raw.columns if c.startswith("loss_")]:
        out[c] = raw[c].to_numpy()
    out["loss_pile_weighted"] = raw["pile_weighted_loss"].to_numpy()
    out = out.dropna(subset=["n_tokens"])
    w = out[[c for c in out.columns if c.startswith("w_")]]
    out[w.columns] = w.div(w.sum(axis=1), axis=0)
    return out.reset_index(drop=True)


def bench_mixinglaws(data: Path, name: str, families: list[str]) -> dict:
    table = mixinglaws_table(data / "mixinglaws" / f"dml_{name}_wide.csv")
    size = table.groupby("run_id")["n_params"].first().value_counts().idxmax()
    at = table[table["n_params"] == size]
    at = at.loc[at.groupby("run_id")["n_tokens"].idxmax()].drop(columns=["n_params", "n_tokens"])
    domains = [c for c in at.columns if c.startswith("loss_") and c != "loss_pile_weighted"]
    at = at.dropna(subset=domains + ["loss_pile_weighted"])
    weights = json.loads((data / "mixinglaws" / "raw" / "pile_valid_weight.json").read_text())
    total_w = sum(weights[d[5:]] for d in domains)
    agg_w = {d: weights[d[5:]] / total_w for d in domains}
    out = {"n_params": float(size), "mixtures": int(len(at)), "families": {}}
    for family in families:
        start = time.perf_counter()
        fit = fit_law(at, domains, law=family, folds=5, seed=0)
        seconds = time.perf_counter() - start
        cv = fit.cv[fit.cv["chosen"]].set_index("target")
        oof = pd.DataFrame({t: fit.oof[t][fit.chosen[t]] for t in domains})
        agg = pd.Series(objective_of(oof, agg_w), index=oof.index)
        direct = fit_law(at, ["loss_pile_weighted"], law=family, folds=5, seed=0)
        d = direct.cv[direct.cv["chosen"]].iloc[0]
        agg_score = score(at.loc[oof.index, "loss_pile_weighted"], agg)
        out["families"][family] = {
            "spearman_per_domain": {t[5:]: round(float(cv.loc[t, "spearman"]), 4) for t in domains},
            "mean_spearman": round(float(cv["spearman"].mean()), 4),
            "mean_mre": round(float(cv["mre"].mean()), 5),
            "chosen": {t[5:]: fit.chosen[t] for t in domains} if family == "auto" else None,
            "total_explicit_aggregation": {k: agg_score[k] for k in ("spearman", "mre")},
            "total_direct_fit": {"spearman": float(d["spearman"]), "mre": float(d["mre"])},
            # how much worse (Pile-weighted loss) the held-out mixture the law ranks first is than the best one
            "oof_regret_at_1": round(regret_at_1(at.loc[oof.index, "loss_pile_weighted"], agg), 5),
            "fit_seconds": round(seconds, 2),
        }
    return out


def dmsl_table(data: Path) -> tuple[pd.DataFrame, list[str]]:
    raw = pd.read_csv(data / "dmsl" / "dmsl_llm_slimpajama.csv")
    out = pd.DataFrame({"w_" + c[7:]: raw[c] for c in raw.columns if c.startswith("weight_")})
    out["n_params"] = raw["model_size"]
    out["n_tokens"] = raw["n_tokens"]
    targets = []
    for c in [c for c in raw.columns if c.endswith("_loss")]:
        out["loss_" + c[:-5]] = raw[c]
        targets.append("loss_" + c[:-5])
    return out, targets


def bench_dmsl(data: Path, families: list[str]) -> dict:
    table, targets = dmsl_table(data)
    domains = [c[2:] for c in table.columns if c.startswith("w_")]
    test_rows = table["n_params"] > 1e9
    result = {}
    for label, cut, at in (("le_937m", 9.4e8, test_rows), ("le_310m", 3.2e8, test_rows),
                           ("val_le_310m", 3.2e8, (table["n_params"] > 3.2e8) & (table["n_params"] < 9.4e8)),
                           ("val_le_680m", 6.9e8, (table["n_params"] > 6.9e8) & (table["n_params"] < 9.4e8))):
        train, test = table[table["n_params"] <= cut], table[at]
        for family in families:
            if label.startswith("val") and family == "power_per_mixture":
                continue
            errs, coverage, start = {}, {}, time.perf_counter()
            predicted = pd.DataFrame(index=test.index)
            for t in targets:
                tr, te = train.dropna(subset=[t]), test.dropna(subset=[t])
                est = PerMixturePowerLaw() if family == "power_per_mixture" else make(family, 0)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    est.fit(features(tr, domains, True), tr[t].to_numpy())
                pred = est.predict(features(te, domains, True))
                predicted.loc[te.index, t] = pred
                ok = np.isfinite(pred)  # the per-mixture law predicts seen mixtures only
                errs[t[5:]] = float(np.mean(np.abs(pred[ok] - te[t][ok]) / te[t][ok]))
                coverage[t[5:]] = float(ok.mean())
            result.setdefault(family, {})[f"mre_fit_{label}"] = float(np.mean(list(errs.values())))
            result[family][f"mre_per_target_fit_{label}"] = {k: round(v, 5) for k, v in errs.items()}
            result[family][f"fit_seconds_{label}"] = round(time.perf_counter() - start, 2)
            result[family][f"test_rows_covered_{label}"] = round(float(np.mean(list(coverage.values()))), 4)
            result[family][f"regret_at_1_fit_{label}"] = _regret_at_largest(test, predicted, targets)
    # the headline is a law that predicts every test row (unseen mixtures too)
    best = min([f for f in families if f != "power_per_mixture"], key=lambda f: result[f]["mre_fit_le_937m"])
    # what auto selects on this table (the selection the dataset got), fitted on N <= 937M: with several sizes it holds
    # out the largest (937M) and ranks by in-scale CV MAE + Spearman and regret@1 there (mixtures.laws.transfer);
    # beside it, what in-scale CV MAE alone would have picked
    train = table[table["n_params"] <= 9.4e8]
    fit = fit_law(train.assign(run_id=np.arange(len(train)).astype(str)), targets[:1], law=AUTO, folds=5, seed=0)
    selected = fit.chosen[targets[0]]
    cv = fit.cv.set_index("family")
    in_scale_only = min(cv.index, key=lambda f: cv_rank_key(cv.loc[f]))
    transfer = {f: {k: (round(float(cv.loc[f, k]), 4) if np.isfinite(cv.loc[f, k]) else None)
                    for k in ("mae", "spearman", "transfer_spearman", "transfer_regret_at_1")}
                for f in cv.index} if "transfer_spearman" in cv.columns else None
    return {"families": result, "best_family": best, "auto_selection": selected,
            "auto_selection_in_scale_cv_only": in_scale_only, "auto_selection_scores": transfer,
            "auto_selection_rule": fit.law.selection.get("metric"),
            "mre_fit_le_937m": result[best]["mre_fit_le_937m"],
            "mre_fit_le_310m": result[best]["mre_fit_le_310m"],
            "val_fit_le_310m": result[best]["mre_fit_val_le_310m"],
            "val_fit_le_680m": result[best]["mre_fit_val_le_680m"],
            "test_rows": int(test_rows.sum())}


def _regret_at_largest(test: pd.DataFrame, predicted: pd.DataFrame, targets: list[str]) -> float | None:
    """Regret@1 of the mean loss over ``targets`` among the test mixtures at the largest (N, D)."""
    top = test[(test["n_params"] == test["n_params"].max()) & (test["n_tokens"] == test["n_tokens"].max())]
    rows = top.dropna(subset=targets).index.intersection(predicted.dropna(subset=targets).index)
    if len(rows) < 2:
        return None
    actual = top.loc[rows, targets].mean(axis=1)
    return round(regret_at_1(actual, predicted.loc[rows, targets].mean(axis=1)), 5)


def bench_fit_time() -> dict:
    df, truth = synthetic_runs(512, 17, sizes=(2e7, 5e7, 1e8, 2e8), tokens=(2e9,), seed=0, n_targets=1)
    target = list(truth)[0]
    start = time.perf_counter()
    fit = fit_law(df, [target], law="auto", folds=5, seed=0)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    fit_law(df, [target], law="linear", folds=5, seed=0)
    peer = time.perf_counter() - start
    per_family = fit.cv.set_index("family")["fit_seconds"].round(2).to_dict()
    return {"fit_seconds_512x17": round(seconds, 2), "peer_linear_only_seconds": round(peer, 2),
            "cv_seconds_per_family": per_family, "chosen": fit.chosen[target]}


def bench_two_step(data: Path) -> dict:
    """Which shipped tables hold per-run task accuracies (``acc``/``accuracy`` columns) for the two-step law."""
    tables = sorted(data.rglob("*.csv"))
    with_acc = [str(p.relative_to(data)) for p in tables
                if any("acc" in str(c).lower() for c in pd.read_csv(p, nrows=0).columns)]
    if not with_acc:
        return {"available": False, "tables_scanned": len(tables),
                "reason": "no shipped table has per-run task accuracies (losses or weights only); "
                          "bench/tasks.py measures the two-step error on the demo's cloze task instead"}
    return {"available": True, "tables": with_acc, "fitted": False,
            "reason": "tables with accuracy columns found; their layout has no reader here yet"}


def bench_repetition() -> dict:
    """The repetition law vs the additive law, extrapolating 4x along D on data-constrained synthetic runs."""
    unique, r_star = (2e6, None, None), 6.0
    X, y = repeated_runs(n_runs=120, unique=unique, r_star=r_star)
    fit, test = X[:, -1] <= 16e6, X[:, -1] > 16e6
    out = {"true_r_star": r_star, "fit_rows": int(fit.sum()), "test_rows": int(test.sum())}
    for name, est in (("repetition", RepetitionLaw(unique_tokens=unique)), ("additive", make("additive"))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X[fit], y[fit])
        out[name] = score(y[test], est.predict(X[test]))
        if name == "repetition":
            out["fitted_r_star"] = float(est.r_star_[0])
    return out


def bench_ot(ref: Path) -> dict:
    """``bench/reveal.py``'s comparison at 5% reveal, 4 splits."""
    import subprocess

    done = subprocess.run([sys.executable, str(Path(__file__).with_name("reveal.py")), "--ref", str(ref),
                           "--splits", "4"], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="folder with mixinglaws/ and dmsl/")
    parser.add_argument("--quick", action="store_true", help="skip the mixinglaws part")
    parser.add_argument("--demo-ref", type=Path, help="a demo run folder (with .mixtures/): adds the ot row")
    args = parser.parse_args()
    out: dict = {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()[0]}
    timing = bench_fit_time()
    print(json.dumps({"fit_time": timing}), flush=True)
    out.update(timing)
    plain = [f for f in LAWS if applies(f)]  # ot and repetition need a project's context: their own rows below
    scaling = [f for f in plain if LAWS.get(f).uses_scale]  # additive, joint
    mixing = [f for f in plain if not LAWS.get(f).uses_scale] + [AUTO]  # linear, gbm, exp, auto
    out["repetition"] = bench_repetition()
    print(json.dumps({"repetition": out["repetition"]}), flush=True)
    if args.demo_ref:
        out["ot"] = bench_ot(args.demo_ref)
    out["dmsl"] = bench_dmsl(args.data, [*scaling, "power_per_mixture"])
    print(json.dumps({"dmsl": out["dmsl"]}), flush=True)
    if not args.quick:
        out["mixinglaws"] = {name: bench_mixinglaws(args.data, name, mixing) for name in ("5Mix", "RedPajama")}
    out["two_step"] = bench_two_step(args.data)
    out["loadavg_end"] = os.getloadavg()[0]
    print(json.dumps(out, default=float))


if __name__ == "__main__":
    main()
