"""Benchmark the mixture optimizers against the RegMix 100k-sample random search.

    python bench/optimizer.py --data /work/shared/data

Laws: the Data Mixing Laws per-domain form ``L_i(r) = c_i + k_i * exp(sum_j t_ij r_j)`` fitted
(scipy least squares, soft-L1, a few seeded starts) to the published sweeps in
``<data>/mixinglaws`` (RedPajama 70M and 5Mix 410M at step 30000, fitting runs only, ids < 900);
the objective is the Pile-validation-weighted sum of the 22 per-domain fits ("explicit
aggregation"). This fitting is deliberately minimal: ``mixtures.laws`` replaces it.

Problems (objectives summed per solver): RedPajama unconstrained; RedPajama with data
availability (each domain <= 2 x its share in the default mixture, run 999); RedPajama with
KL(w || default) <= 0.3; 5Mix unconstrained. Prints ONE JSON object last:
``{"solvers": {name: {"objective", "evaluations", "seconds"}}, ...}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mixtures.optimize import SOLVERS, make_problem, solve  # noqa: E402
from mixtures.optimize.solvers import option_names  # noqa: E402

RPJ_DEFAULT = [0.668, 0.168, 0.047, 0.043, 0.043, 0.027, 0.023]  # run 999 (README)


class ExpMixingLaw:
    """``L_i(r) = c_i + k_i exp(t_i . r)`` per target (the optimizer's ``LawLike`` protocol)."""

    uses_scale = False

    def __init__(self, domains, targets, c, k, t):
        self.domains, self.targets = list(domains), list(targets)
        self.c, self.k, self.t = np.asarray(c), np.asarray(k), np.asarray(t)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        r = frame[[f"w_{d}" for d in self.domains]].to_numpy(dtype=np.float64)
        values = self.c[None, :] + self.k[None, :] * np.exp(r @ self.t.T)
        return pd.DataFrame(values, columns=self.targets, index=frame.index)

    def predict_members(self, frame):
        return None


def fit_exp_law(r: np.ndarray, losses: np.ndarray, seed: int = 0, starts: int = 4):
    """Per target: minimize soft-L1 residuals of ``c + k exp(t.r)`` from a few seeded starts."""
    rng = np.random.default_rng(seed)
    n_dom = r.shape[1]
    params = []
    for y in losses.T:
        best = None
        for _ in range(starts):
            x0 = np.concatenate([[y.min() * rng.uniform(0.5, 0.9), y.mean() * rng.uniform(0.1, 0.5)],
                                 rng.normal(0, 0.5, n_dom)])
            lower = np.concatenate([[0.0, 1e-6], np.full(n_dom, -20.0)])
            upper = np.concatenate([[y.min(), 50.0], np.full(n_dom, 20.0)])
            x0 = np.clip(x0, lower + 1e-9, upper - 1e-9)
            fit = least_squares(lambda p: p[0] + p[1] * np.exp(r @ p[2:]) - y, x0, bounds=(lower, upper),
                                loss="soft_l1", f_scale=0.02)
            if best is None or fit.cost < best.cost:
                best = fit
        params.append(best.x)
    params = np.array(params)
    return params[:, 0], params[:, 1], params[:, 2:]


def load_law(data: Path, setting: str, size: str, step: int = 30000):
    frame = pd.read_csv(data / "mixinglaws" / f"dml_{setting}_wide.csv")
    frame = frame[(frame.run_id < 900) & (frame.model_size == size) & (frame.step == step)]
    domains = [c[2:] for c in frame.columns if c.startswith("p_")]
    targets = [c for c in frame.columns if c.startswith("loss_")]
    frame = frame.dropna(subset=targets)
    r = frame[[f"p_{d}" for d in domains]].to_numpy(dtype=np.float64)
    r = r / r.sum(axis=1, keepdims=True)
    c, k, t = fit_exp_law(r, frame[targets].to_numpy(dtype=np.float64))
    weights = json.loads((data / "mixinglaws" / "raw" / "pile_valid_weight.json").read_text())
    total = sum(weights[t[5:]] for t in targets)
    objective = {t: weights[t[5:]] / total for t in targets}
    law = ExpMixingLaw(domains, targets, c, k, t)
    inputs = pd.DataFrame(r, columns=[f"w_{d}" for d in domains])
    total = law.predict(inputs)[targets].to_numpy() @ np.array([objective[t] for t in targets])
    observed = frame["pile_weighted_loss"].to_numpy()
    quality = {"runs": len(frame), "in_sample_spearman": round(float(spearmanr(total, observed)[0]), 3),
               "in_sample_mae": round(float(np.abs(total - observed).mean()), 4)}
    return law, objective, quality


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the shared data folder (with mixinglaws/)")
    parser.add_argument("--trials", type=int, default=300, help="tpe / cmaes trials per problem")
    parser.add_argument("--samples", type=int, default=100_000, help="random-search samples per problem")
    single = [name for name in SOLVERS if not SOLVERS.get(name).pareto]  # the Pareto solvers are for several groups
    parser.add_argument("--solvers", default=",".join(single),
                        help="comma-separated subset of the single-objective solvers (random is the peer)")
    args = parser.parse_args()
    data = Path(args.data)

    started = time.perf_counter()
    rpj, rpj_objective, rpj_fit = load_law(data, "RedPajama", "70M")
    mix5, mix5_objective, mix5_fit = load_law(data, "5Mix", "410M")
    fit_seconds = time.perf_counter() - started
    default = dict(zip(rpj.domains, RPJ_DEFAULT, strict=True))
    problems = {
        "redpajama": (rpj, make_problem(rpj, rpj_objective, natural=default)),
        "redpajama_availability": (rpj, make_problem(
            rpj, rpj_objective, natural=default, tokens=1e9, max_epochs=2,
            available_tokens={d: w * 1e9 for d, w in default.items()})),
        "redpajama_kl": (rpj, make_problem(rpj, rpj_objective, natural=default, kl_max=0.3)),
        "5mix": (mix5, make_problem(mix5, mix5_objective)),
    }
    budget = {"trials": args.trials, "samples": args.samples}
    chosen = [name.strip() for name in args.solvers.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in single]
    if unknown:
        parser.error(f"unknown solver(s) {unknown}; choose from {single}")
    options = {name: {k: v for k, v in budget.items() if k in option_names(name)}
               for name in single if name in chosen or name == "random"}
    solvers, per_problem = {}, {}
    for name, opts in options.items():
        total = {"objective": 0.0, "evaluations": 0, "seconds": 0.0}
        for label, (law, problem) in problems.items():
            result = solve(problem, law, name, seed=0, **opts)
            assert not problem.violations(np.array([result.weights[d] for d in problem.domains])), (name, label)
            total["objective"] += result.objective
            total["evaluations"] += result.evaluations
            total["seconds"] += result.seconds
            per_problem.setdefault(label, {})[name] = {
                "objective": round(result.objective, 6), "evaluations": result.evaluations,
                "weights": {d: round(w, 4) for d, w in result.weights.items()}}
            print(f"[{name:>6}] {label:<24} objective {result.objective:.6f} evaluations {result.evaluations:>7} "
                  f"{result.seconds:6.2f} s", file=sys.stderr, flush=True)
        total["objective"] = round(total["objective"], 6)
        total["seconds"] = round(total["seconds"], 3)
        solvers[name] = total
    random = solvers["random"]
    verdict = {
        name: {"objective_minus_random": round(s["objective"] - random["objective"], 6),
               "evaluation_share_of_random": round(s["evaluations"] / random["evaluations"], 5)}
        for name, s in solvers.items() if name != "random"
    }
    print(json.dumps({
        "solvers": solvers,
        "versus_random": verdict,
        "problems": per_problem,
        "fit": {"redpajama_70M": rpj_fit, "5mix_410M": mix5_fit, "seconds": round(fit_seconds, 2)},
    }))


if __name__ == "__main__":
    main()
