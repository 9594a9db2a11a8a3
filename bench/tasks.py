"""Benchmark the demo's cloze task and the two-step prediction of its accuracy at the validation scale.

    python bench/tasks.py --ref /work/demo_ref/.mixtures [--items 1000] [--seed 0] [--ladder OUT | --ladder-table T]

``--ref`` is the storage root of a finished demo (``python3 tasks.py demo``): its demo corpus, its 14
proxy runs (micro, 450k tokens), the law it fitted (``law.json``) and its validation runs (micro, 1.8M
tokens, seeds 0-2, four mixtures). Nothing is trained: every run's final checkpoint holds the averaged
weights its final eval point was measured on, and the task is scored on exactly those with the built-in
trainer's task evaluation (:mod:`mixtures.trainers.task_eval`), so the numbers are what a demo run with
``target.tasks: [cloze]`` records at its last eval point.

1. The task: :func:`mixtures.demo_corpus.tasks.write_cloze_task` on the held-out ``docs`` source (never
   trained on), 4 choices (chance 0.25).
2. Above chance: each validation run's accuracy, its binomial test against chance.
3. Two steps from the proxies only: step 1 loss-to-loss, the demo's law predicts a domain loss at the
   validation scale and :class:`~mixtures.laws.LossToLoss` (fitted on the proxies' final domain loss and
   ``taskloss_cloze``) maps it to the task loss; the domain loss is the one whose map has the lowest
   leave-one-proxy-out error (chosen on the proxies alone; ``--via`` names one instead); step 2
   :class:`~mixtures.laws.two_step.SigmoidAccuracy` fitted on the proxies' (task loss, accuracy). Errors
   per step against the validation runs, in bits per byte and in accuracy points, per mixture and for the
   optimum, over the 3 seeds.

With ``--ladder OUT`` the proxies are also trained again (in ``OUT``, 2 processes) with the task in
``target.tasks``, so every eval point along D has its task loss and accuracy: the model-ladder form,
step 1 the ``additive`` law fitted directly on ``taskloss_cloze`` over (h, D), step 2 the sigmoid on every
eval point (:func:`mixtures.laws.two_step.fit_two_step`). Their domain losses are compared with the
reference's, which they must equal bit for bit (measuring a task does not change training). The ladder
report also gives the two steps with step 1 fitted on the later half of each curve only (``step1_from=0.5``:
eval points at or past half the proxies' final tokens), ``ladder.step1_later_half``. ``--ladder-table
OUT/ladder.parquet`` reads the table an earlier ``--ladder OUT`` wrote instead of training again.

Headline (``optimal_two_step_error_points``, ``goal_within_2_points``: the optimum's error in points, mean over its
3 seeds, goal 2): with a ladder, the two steps the pipeline fits (``mixing_laws``' ``fit_task_laws``, step 1 on the
later half of each curve), beside ``every_validation_mixture_error_points`` and the loss-to-loss numbers under
``loss_to_loss_*``; without one, loss-to-loss (``headline`` says which).

Prints ONE JSON object as the last line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scipy.stats import binomtest  # noqa: E402

from mixtures.demo_corpus.tasks import write_cloze_task  # noqa: E402
from mixtures.laws import LossToLoss, load_law  # noqa: E402
from mixtures.laws.two_step import SigmoidAccuracy  # noqa: E402
from mixtures.tasks import read_items, task_fingerprint  # noqa: E402
from mixtures.tokenizers import ByteTokenizer  # noqa: E402
from mixtures.trainers.builtin import CHECKPOINT, WeightAverage  # noqa: E402
from mixtures.trainers.model import build_model, get_preset  # noqa: E402
from mixtures.trainers.task_eval import encode_task, score_encoded  # noqa: E402



def choose_via(proxies: pd.DataFrame, columns: list[str]) -> tuple[str, dict[str, float]]:
    """The loss column whose loss-to-loss map to the task loss has the lowest leave-one-proxy-out MAE."""
    errors = {}
    for column in columns:
        X, y = proxies[[column]].to_numpy(), proxies["taskloss_cloze"].to_numpy()
        misses = []
        for i in range(len(y)):
            keep = np.arange(len(y)) != i
            fit = LossToLoss(random_state=0).fit(X[keep], y[keep])
            misses.append(abs(float(fit.predict(X[[i]])[0]) - y[i]))
        errors[column] = round(float(np.mean(misses)), 4)
    return min(errors, key=errors.get), errors


def score_checkpoint(workdir: Path, model_name: str, encoded) -> tuple[float, float]:
    """(task loss, accuracy) of a run's final averaged weights."""
    import torch

    saved = torch.load(workdir / CHECKPOINT, map_location="cpu", weights_only=False)
    model = build_model(get_preset(model_name), ByteTokenizer.vocab_size)
    model.load_state_dict(saved["model"])
    average = WeightAverage(model)
    average.load_state_dict(saved["average"])
    with average.swapped_into(model):
        score = score_encoded(model, encoded, pad_id=ByteTokenizer.eod_id, chunk=256, device="cpu",
                              autocast=contextlib.nullcontext)
    return score.loss, score.accuracy


def finished_runs(ref: Path, kind: str) -> list:
    """The finished runs of ``kind`` in the demo's run store (:class:`~mixtures.runs.store.StoredRun`), by run id."""
    from mixtures.runs.store import RunStore

    store = RunStore(ref)
    folders = sorted(p for p in (store.root / kind).iterdir() if p.is_dir())
    return [run for run in (store.finished(store.spec(kind, p.name)) for p in folders) if run is not None]


def scored(ref: Path, kind: str, encoded) -> pd.DataFrame:
    """The last eval point of every finished run of ``kind``, with the task scored on its final checkpoint."""
    from mixtures.runs.store import RunStore

    store, runs = RunStore(ref), finished_runs(ref, kind)
    table = pd.concat([run.rows.iloc[[-1]] for run in runs], ignore_index=True)
    losses, accs = [], []
    for run in runs:
        loss, acc = score_checkpoint(store.workdir(run.spec), run.spec.model, encoded)
        losses.append(loss)
        accs.append(acc)
    table["taskloss_cloze"], table["acc_cloze"] = losses, accs
    return table


def _train_one(args):
    config, spec, catalog, workdir = args
    from mixtures.trainers import train_proxy

    result = train_proxy(config, spec, catalog, workdir)
    if not result.finished:
        raise RuntimeError(f"{spec.run_id}: {result.reason}")
    return result.table


def train_ladder(ref: Path, task: Path, out: Path, workers: int = 2) -> pd.DataFrame:
    """The reference demo's proxy runs trained again with the task measured at every eval point."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from mixtures.config import TaskConfig
    from mixtures.defaults import load_demo_config

    config = load_demo_config(ref.parent)
    config.storage.cache = str(out / "cache")
    config.target.tasks = [TaskConfig(name="cloze", path=str(task))]
    catalog = pd.read_parquet(ref / "catalog.parquet")
    specs = [run.spec for run in finished_runs(ref, "proxy")]
    jobs = [(config, spec, catalog, out / "work" / spec.run_id) for spec in specs]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pd.concat(list(pool.map(_train_one, jobs)), ignore_index=True)


def ladder_report(ref: Path, ladder: pd.DataFrame, validation: pd.DataFrame, chance: float) -> dict:
    """Bitwise check of the domain losses; the model-ladder two-step fit and its errors per step."""
    from mixtures.laws.two_step import fit_two_step

    reference = pd.read_parquet(ref / "proxy_results.parquet").sort_values(["run_id", "n_tokens"])
    mine = ladder.sort_values(["run_id", "n_tokens"])
    losses = [c for c in reference.columns if c.startswith("loss_") and c != "loss_unit"]
    equal = bool(np.array_equal(reference[losses].to_numpy(), mine[losses].to_numpy()))
    law = fit_two_step(ladder, "cloze", chance=chance, law="additive", bootstrap=200, seed=0)
    report = {"domain_losses_bitwise_equal_to_reference": equal, "eval_points": len(ladder),
              **_two_step_report(law, validation)}
    # step 1 on the later half of each curve (D >= half the proxies' final tokens): the early transient does not
    # bend the power law the 4x extrapolation follows; step 2 as above, on every eval point
    late = fit_two_step(ladder, "cloze", chance=chance, law="additive", bootstrap=200, seed=0, step1_from=0.5)
    report["step1_later_half"] = _two_step_report(late, validation)
    return report


def _two_step_report(law, validation: pd.DataFrame) -> dict:
    """A fitted two-step law's errors on the validation runs: per step over all runs, per mixture over seeds."""
    predicted = law.predict(validation)
    frame = validation.assign(pred_taskloss=predicted["taskloss_cloze"], pred_acc=predicted["acc_cloze"])
    per_mixture = {}
    for name, group in frame.groupby("mixture_name", sort=True):
        per_mixture[name] = {
            "step1_taskloss_error": round(float(group["pred_taskloss"].mean() - group["taskloss_cloze"].mean()), 4),
            "predicted_acc": round(float(group["pred_acc"].mean()), 4),
            "measured_acc_mean": round(float(group["acc_cloze"].mean()), 4),
            "two_step_abs_error_points_mean_over_seeds": round(
                100 * float(np.mean(np.abs(group["pred_acc"] - group["acc_cloze"]))), 2)}
    errors = law.step_errors(validation)
    return {"step_errors_all_validation_runs": {k: {m: (round(v, 4) if isinstance(v, float) else v)
                                                    for m, v in e.items()} for k, e in errors.items()},
            "sigmoid_b_k_L0": [round(float(v), 4) for v in law.accuracy.theta_], "validation": per_mixture,
            "optimal_two_step_error_points": per_mixture.get("optimal", {}).get(
                "two_step_abs_error_points_mean_over_seeds")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True, type=Path, help="storage root of a finished demo (.mixtures)")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ladder", type=Path, default=None,
                        help="train the proxies again here with the task at every eval point (minutes)")
    parser.add_argument("--ladder-table", type=Path, default=None,
                        help="the ladder.parquet an earlier --ladder run wrote (its task file cloze.jsonl beside it "
                             "must equal the one built here): the ladder report without training again")
    parser.add_argument("--via", default="auto", help="the domain loss column of step 1 (auto: by proxy LOO error)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    out: dict = {"cpus": os.cpu_count(), "loadavg_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        task_dir = args.ladder or Path(tmp)
        path = write_cloze_task(args.ref / "demo-corpus", task_dir / "cloze.jsonl", n_items=args.items,
                                seed=args.seed)
        items = read_items(path)
        ladder = train_ladder(args.ref, path, args.ladder) if args.ladder else None
        if args.ladder_table is not None:
            used = args.ladder_table.parent / "cloze.jsonl"
            if not used.is_file() or task_fingerprint(used) != task_fingerprint(path):
                raise SystemExit(f"{args.ladder_table}: its task {used} is missing or differs from the one built "
                                 f"here (--items {args.items} --seed {args.seed}); run --ladder again.")
            ladder = pd.read_parquet(args.ladder_table)
    encoded = encode_task(items, ByteTokenizer(), get_preset("micro").seq_len, name="cloze")
    chance = 0.25
    proxies = scored(args.ref, "proxy", encoded)
    validation = scored(args.ref, "validation", encoded)
    out["task"] = {"name": "cloze", "source": "docs (held out)", "items": len(items), "choices": 4,
                   "chance": chance}

    # step 1: the demo's law -> a domain loss at the validation scale -> loss-to-loss -> task loss
    law = load_law(args.ref / "law.json")
    via, via_errors = choose_via(proxies, law.targets) if args.via == "auto" else (args.via, {})
    out["step1_via"], out["step1_via_loo_mae"] = via, via_errors
    loss_map = LossToLoss(random_state=0).fit(proxies[[via]].to_numpy(), proxies["taskloss_cloze"].to_numpy())
    sigmoid = SigmoidAccuracy(chance=chance, bootstrap=200, random_state=0).fit(
        proxies[["taskloss_cloze"]].to_numpy(), proxies["acc_cloze"].to_numpy())
    law_via = law.predict(validation)[via].to_numpy()
    validation["pred_via_loss"] = law_via
    validation["pred_taskloss"] = loss_map.predict(law_via.reshape(-1, 1))
    validation["pred_taskloss_given_via"] = loss_map.predict(validation[[via]].to_numpy())
    validation["pred_acc"] = sigmoid.predict(validation[["pred_taskloss"]].to_numpy())
    validation["pred_acc_given_taskloss"] = sigmoid.predict(validation[["taskloss_cloze"]].to_numpy())
    lo, hi = sigmoid.predict_interval(validation[["pred_taskloss"]].to_numpy(), 0.9)
    validation["pred_acc_lo"], validation["pred_acc_hi"] = lo, hi

    per_mixture = {}
    for name, group in validation.groupby("mixture_name", sort=True):
        measured = group["acc_cloze"].to_numpy()
        tests = [binomtest(round(a * len(items)), len(items), chance, alternative="greater").pvalue for a in measured]
        per_mixture[name] = {
            "measured_acc_per_seed": [round(float(a), 4) for a in measured],
            "measured_acc_mean": round(float(measured.mean()), 4),
            "above_chance_points": round(100 * float(measured.mean() - chance), 2),
            "binomial_p_vs_chance_per_seed": [float(f"{p:.3g}") for p in tests],
            "measured_taskloss_mean": round(float(group["taskloss_cloze"].mean()), 4),
            "measured_via_loss_mean": round(float(group[via].mean()), 4),
            "step1_law_via_loss_error": round(float(group["pred_via_loss"].mean() - group[via].mean()), 4),
            "step1_taskloss_error": round(float(group["pred_taskloss"].mean() - group["taskloss_cloze"].mean()), 4),
            "step1_taskloss_error_given_measured_via_loss": round(
                float(group["pred_taskloss_given_via"].mean() - group["taskloss_cloze"].mean()), 4),
            "step2_error_points_given_measured_taskloss": round(
                100 * float(np.mean(np.abs(group["pred_acc_given_taskloss"] - group["acc_cloze"]))), 2),
            "predicted_acc": round(float(group["pred_acc"].mean()), 4),
            "predicted_acc_90": [round(float(group["pred_acc_lo"].mean()), 4),
                                 round(float(group["pred_acc_hi"].mean()), 4)],
            "two_step_error_points_vs_seed_mean": round(100 * abs(float(group["pred_acc"].mean() - measured.mean())), 2),
            "two_step_abs_error_points_mean_over_seeds": round(
                100 * float(np.mean(np.abs(group["pred_acc"] - group["acc_cloze"]))), 2),
        }
    out["validation"] = per_mixture
    out["proxies"] = {
        "runs": len(proxies),
        "acc_range": [round(float(proxies["acc_cloze"].min()), 4), round(float(proxies["acc_cloze"].max()), 4)],
        "taskloss_range": [round(float(proxies["taskloss_cloze"].min()), 4),
                           round(float(proxies["taskloss_cloze"].max()), 4)],
        "sigmoid_b_k_L0": [round(float(v), 4) for v in sigmoid.theta_],
        "loss_to_loss_theta": [round(float(v), 4) for v in loss_map.theta_],
    }
    optimum = per_mixture.get("optimal", {})
    out["optimal_two_step_error_points"] = optimum.get("two_step_abs_error_points_mean_over_seeds")
    out["optimal_above_chance_points"] = optimum.get("above_chance_points")
    out["goal_within_2_points"] = bool(optimum) and optimum["two_step_abs_error_points_mean_over_seeds"] <= 2.0
    if ladder is not None:
        if args.ladder:
            ladder.to_parquet(args.ladder / "ladder.parquet")
        out["ladder"] = ladder_report(args.ref, ladder, validation, chance)
        print(json.dumps({"ladder": out["ladder"]}), flush=True)
        # the pipeline's own two steps (mixing_laws' fit_task_laws: step 1 on the later half of each curve)
        pipeline = out["ladder"]["step1_later_half"]
        errors = [m["two_step_abs_error_points_mean_over_seeds"] for m in pipeline["validation"].values()]
        out["headline"] = "pipeline two steps (ladder, step 1 on the later half of each curve)"
        out["loss_to_loss_optimal_two_step_error_points"] = out["optimal_two_step_error_points"]
        out["loss_to_loss_goal_within_2_points"] = out["goal_within_2_points"]
        out["optimal_two_step_error_points"] = pipeline["optimal_two_step_error_points"]
        out["goal_within_2_points"] = (pipeline["optimal_two_step_error_points"] is not None
                                       and pipeline["optimal_two_step_error_points"] <= 2.0)
        out["every_validation_mixture_error_points"] = {name: m["two_step_abs_error_points_mean_over_seeds"]
                                                        for name, m in pipeline["validation"].items()}
        out["every_validation_mixture_within_2_points"] = bool(errors) and max(errors) <= 2.0
    else:
        out["headline"] = "loss-to-loss two steps (no ladder: run --ladder or --ladder-table for the pipeline's)"
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["loadavg_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
