"""Repetition on the demo corpus: one domain made scarce, the repetition-aware optimum against the capped one
(issue 22).

    python bench/repetition.py --ref /work/demo_ref --work /tmp/rep [--scarce code] [--keep 0.1]
                               [--no-validate]

``--scarce D --keep F`` (this script's flag) writes a copy of domain ``D`` with a seeded ``F`` of its documents
under ``--work`` and points the demo config at it (every other domain and target set stays the demo's). Then:

1. the demo's proxy design on that corpus is trained (14 runs at 450k tokens; stored under ``--work``, reused
   when present);
2. two laws are fitted on those runs: the demo's ``additive`` law, and the ``repetition`` law with
   ``U_i`` = the catalog's ``train_tokens`` (its R* is fitted when a proxy repeated a domain, else the
   published prior);
3. the optimum of the demo objective at the validation scale (4x the proxy compute): ``capped`` = the additive
   law with at most 1 epoch of every domain (no repetition), ``repetition`` = the repetition law with up to
   ``--max-epochs`` epochs, ``capped_default`` = the additive law under the default ``constraints.max_epochs``;
   each reports the scarce domain's epochs;
4. unless ``--no-validate``: the optima trained at the validation scale with 3 seeds, and the verdict of
   ``repetition`` against each capped one (win / tie / loss: the mean difference above the seed spread and
   Welch's p < 0.05).

Prints ONE JSON object as the last line.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mixtures.corpus.catalog import build_catalog  # noqa: E402
from mixtures.defaults import load_demo_config  # noqa: E402
from mixtures.design import design_runs  # noqa: E402
from mixtures.evaluation.scale import validation_point, validation_specs  # noqa: E402
from mixtures.evaluation.verdict import compare, measured_objectives  # noqa: E402
from mixtures.laws import fit_law  # noqa: E402
from mixtures.laws.robust import ConvergenceWarning  # noqa: E402
from mixtures.objective import objective_weights  # noqa: E402
from mixtures.optimize.problem import build_problem  # noqa: E402
from mixtures.optimize.solvers import SOLVERS  # noqa: E402
from mixtures.runs.execute import execute  # noqa: E402
from mixtures.runs.imports import results_table  # noqa: E402
from mixtures.runs.store import RunStore  # noqa: E402
from mixtures.runs_table import loss_columns  # noqa: E402


def scarce_copy(ref: Path, work: Path, domain: str, keep: float, val_fraction: float, seed: int = 0) -> Path:
    """A copy of the demo domain ``domain`` keeping a seeded ``keep`` share of its training documents (by a hash
    of the id) and every validation document (so its loss is measured on the same documents)."""
    from mixtures.corpus.domains import split_of

    out = work / "scarce" / domain
    out.mkdir(parents=True, exist_ok=True)
    for src in sorted((ref / ".mixtures" / "demo-corpus" / domain).glob("*.jsonl.gz")):
        kept = []
        for line in gzip.open(src, "rt", encoding="utf-8").read().splitlines():
            doc_id = str(json.loads(line)["id"])
            draw = int.from_bytes(hashlib.blake2b(f"{seed}:{doc_id}".encode(), digest_size=8).digest(), "big")
            if split_of(doc_id, val_fraction) == "val" or draw / 2**64 < keep:
                kept.append(line)
        with gzip.open(out / src.name, "wt", encoding="utf-8") as fh:
            fh.write("\n".join(kept) + "\n")
    return out


def scarce_config(ref: Path, work: Path, domain: str, keep: float):
    config = load_demo_config(ref)
    for source in config.domains:
        if source.name == domain:
            source.paths = [str(scarce_copy(ref, work, domain, keep, config.corpus.val_fraction, config.seed))]
    config.storage.root = str(work / ".mixtures")
    config.tracking.uri = f"sqlite:///{work / 'mlflow.db'}"
    return config


def train_all(config, catalog, specs) -> float:
    store = RunStore(config.root)
    started = time.perf_counter()
    for spec in specs:
        execute(config, spec, catalog, store)
    return time.perf_counter() - started


def optimum(config, law, catalog, max_epochs: float, tokens: int, n_params: int) -> dict:
    config = config.model_copy(deep=True)
    config.constraints.max_epochs = max_epochs
    targets = objective_weights(config, None)
    problem = build_problem(config, law, catalog, targets=targets, tokens=tokens, n_params=n_params)
    result = SOLVERS.get("slsqp")().minimize(problem, law, seed=config.seed)
    return {"weights": result.weights, "predicted_objective": float(result.objective)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", type=Path, required=True, help="a demo run folder (holds .mixtures/demo-corpus)")
    parser.add_argument("--work", type=Path, required=True, help="where the scarce corpus and its runs go")
    parser.add_argument("--scarce", default="code")
    parser.add_argument("--keep", type=float, default=0.1)
    parser.add_argument("--max-epochs", type=float, default=20.0)
    parser.add_argument("--no-validate", action="store_true")
    args = parser.parse_args()
    out: dict = {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()[0], "scarce": args.scarce,
                 "keep": args.keep}
    config = scarce_config(args.ref, args.work, args.scarce, args.keep)
    catalog = build_catalog(config)
    config.root.mkdir(parents=True, exist_ok=True)
    unique = catalog.set_index("domain")["train_tokens"]
    out["scarce_unique_tokens"] = int(unique[args.scarce])
    specs = design_runs(config, catalog)
    out["proxy_train_seconds"] = train_all(config, catalog, specs)
    runs, _ = results_table(config, RunStore(config.root), specs)
    print(json.dumps({"proxies": int(runs["run_id"].nunique())}), flush=True)
    n_params, tokens = validation_point(config)
    targets = loss_columns(runs)
    laws = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        laws["capped"] = fit_law(runs, targets, law="additive", folds=5, seed=config.seed).law
        context = {"unique_tokens": tuple(float(unique[d.name]) for d in config.domains)}
        laws["repetition"] = fit_law(runs, targets, law="repetition", folds=5, seed=config.seed, context=context).law
    r_star = {t: float(m.members[0][1].r_star_[0]) for t, m in laws["repetition"].models.items()}
    out["fitted_r_star"] = r_star
    proxy_max_epochs = float((runs[f"w_{args.scarce}"] * runs["n_tokens"]).max() / unique[args.scarce])
    out["proxy_max_epochs_of_scarce"] = proxy_max_epochs
    optima = {"capped": optimum(config, laws["capped"], catalog, 1.0, tokens, n_params),
              "repetition": optimum(config, laws["repetition"], catalog, args.max_epochs, tokens, n_params)}
    # the additive law under the default cap (it repeats, blind to what repeating costs)
    default_cap = type(config.constraints).model_fields["max_epochs"].default
    out["capped_at_default_epochs"] = {"max_epochs": default_cap,
                                       **optimum(config, laws["capped"], catalog, default_cap, tokens, n_params)}
    out["capped_at_default_epochs"]["scarce_epochs"] = (out["capped_at_default_epochs"]["weights"][args.scarce]
                                                        * tokens / float(unique[args.scarce]))
    for result in optima.values():
        result["scarce_epochs"] = result["weights"][args.scarce] * tokens / float(unique[args.scarce])
    out["optima"] = optima
    print(json.dumps({"optima": optima}), flush=True)
    if not args.no_validate:
        mixtures_ = {**{name: r["weights"] for name, r in optima.items()},
                     "capped_default": out["capped_at_default_epochs"]["weights"]}
        vspecs = validation_specs(config, catalog, mixtures_)
        out["validation_train_seconds"] = train_all(config, catalog, vspecs)
        weights = objective_weights(config, None)
        measured = measured_objectives(RunStore(config.root), vspecs, weights)
        by = {n: measured[measured["mixture_name"] == n]["objective"].to_numpy() for n in mixtures_}
        out["validation"] = {n: {"mean": float(v.mean()), "std": float(v.std(ddof=1)), "seeds": v.tolist()}
                             for n, v in by.items()}
        for baseline in ("capped", "capped_default"):
            c = compare(by["repetition"], by[baseline], baseline)
            out[f"repetition_vs_{baseline}"] = {"outcome": c.outcome, "improvement": c.improvement,
                                                "relative": c.relative, "noise": c.noise, "p_value": c.p_value}
    out["loadavg_end"] = os.getloadavg()[0]
    print(json.dumps(out, default=float))


if __name__ == "__main__":
    main()
