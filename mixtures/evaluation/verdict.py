"""The verdict of the validation stage: did the chosen mixture win where it was not fitted?

Input is one row per validation run (a mixture trained at the validation scale with one seed):
``mixture_name``, ``seed``, ``objective`` (the measured target objective, lower is better) and
optionally ``predicted`` (the law's prediction of that objective at this scale). The verdict
compares the optimal mixture with every baseline across seeds, says whether each difference is
larger than the noise between seeds, and how far the law's predictions were off. A loss is
reported as plainly as a win. :func:`task_accuracies` sets each task's predicted accuracy of the optimum
(two-step) beside the one measured over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mixtures.errors import MixturesError
from mixtures.objective import objective_of
from mixtures.tasks import acc_column

OPTIMAL = "optimal"
STANDARD_BASELINES = ("natural", "uniform")


@dataclass
class Comparison:
    """The optimal mixture against one baseline (objective: lower is better)."""

    baseline: str
    improvement: float  # baseline mean - optimal mean (> 0: optimal is better)
    relative: float  # improvement / baseline mean
    noise: float  # the larger of the two seed spreads (std)
    p_value: float  # Welch's t-test, two-sided (nan with a single seed)
    outcome: str  # "win", "loss" or "tie"

    def sentence(self) -> str:
        pct = 100 * self.relative
        if self.outcome == "win":
            return (f"optimal beats {self.baseline} by {self.improvement:.4f} ({pct:.2f}%), more than the seed "
                    f"spread {self.noise:.4f}" + (f" (p={self.p_value:.3g})" if math.isfinite(self.p_value) else ""))
        if self.outcome == "loss":
            return (f"optimal LOSES to {self.baseline} by {-self.improvement:.4f} ({-pct:.2f}%), more than the seed "
                    f"spread {self.noise:.4f}")
        return (f"optimal and {self.baseline} are tied within noise (difference {self.improvement:+.4f}, "
                f"seed spread {self.noise:.4f})")


@dataclass
class Verdict:
    """Per-mixture statistics, comparisons with each baseline, and the law's error at this scale."""

    stats: pd.DataFrame  # index mixture_name: mean, std, n, ci_low, ci_high, predicted, predicted_error
    comparisons: list[Comparison]
    law_mre: float  # mean relative error of the law's predictions over all mixtures (nan if none)
    best_baseline: str | None
    summary: str = field(default="")

    @property
    def improvement_vs_best_baseline(self) -> float:
        for comparison in self.comparisons:
            if comparison.baseline == self.best_baseline:
                return comparison.improvement
        return float("nan")

    @property
    def optimal_wins(self) -> bool:
        return bool(self.comparisons) and all(c.outcome == "win" for c in self.comparisons)

    def to_json(self) -> dict:
        """The ``validation.json`` document (fields fixed by the CLI contract, more beside them)."""
        def entry(name: str) -> dict:
            if name not in self.stats.index:
                return {"mean": None, "std": None, "n": 0}
            row = self.stats.loc[name]
            return {"mean": _num(row["mean"]), "std": _num(row["std"]), "n": int(row["n"]),
                    "ci95": [_num(row["ci_low"]), _num(row["ci_high"])], "predicted": _num(row["predicted"])}

        predicted = self.stats["predicted"].get(OPTIMAL, float("nan")) if OPTIMAL in self.stats.index else float("nan")
        return {
            "optimal": entry(OPTIMAL),
            "natural": entry("natural"),
            "uniform": entry("uniform"),
            "mixtures": {name: entry(name) for name in self.stats.index},
            "predicted_optimal": _num(predicted),
            "improvement_vs_best_baseline": _num(self.improvement_vs_best_baseline),
            "best_baseline": self.best_baseline,
            "law_mre": _num(self.law_mre),
            "comparisons": [
                {"baseline": c.baseline, "improvement": _num(c.improvement), "relative": _num(c.relative),
                 "noise": _num(c.noise), "p_value": _num(c.p_value), "outcome": c.outcome}
                for c in self.comparisons
            ],
            "optimal_wins": self.optimal_wins,
            "summary": self.summary,
        }


@dataclass
class TaskAccuracy:
    """A task's accuracy of the optimal mixture at the validation scale: the two-step prediction (with step 2's
    bootstrap interval at the predicted task loss) against the measurement over seeds."""

    task: str
    predicted: float
    predicted_low: float
    predicted_high: float
    measured: np.ndarray  # one accuracy per seed (finite ones only)
    chance: float = float("nan")
    level: float = 0.9

    @property
    def measured_mean(self) -> float:
        return float(self.measured.mean()) if len(self.measured) else float("nan")

    @property
    def error_points(self) -> float:
        """Predicted minus the seeds' mean measured accuracy, in accuracy points (x 100)."""
        return 100.0 * (self.predicted - self.measured_mean)

    def to_json(self) -> dict:
        seeds = len(self.measured)
        return {
            "task": self.task, "chance": _num(self.chance),
            "predicted": _num(self.predicted),
            "predicted_interval": [_num(self.predicted_low), _num(self.predicted_high)], "interval_level": self.level,
            "measured_mean": _num(self.measured_mean),
            "measured_std": _num(self.measured.std(ddof=1)) if seeds > 1 else (0.0 if seeds else None),
            "measured_per_seed": [float(v) for v in self.measured], "n": seeds,
            "abs_error_points": _num(abs(self.error_points)),
            "abs_error_points_mean_over_seeds": _num(100.0 * np.abs(self.predicted - self.measured).mean())
            if seeds else None,
            "measured_within_interval": bool(self.predicted_low <= self.measured_mean <= self.predicted_high)
            if seeds else None,
        }

    def sentence(self) -> str:
        if not len(self.measured):
            return f"{self.task}: predicted accuracy {100 * self.predicted:.2f}%; no validation run measured it."
        return (f"{self.task}: predicted accuracy {100 * self.predicted:.2f}% "
                f"({100 * self.level:.0f}% interval {100 * self.predicted_low:.2f}-{100 * self.predicted_high:.2f}), "
                f"measured {100 * self.measured_mean:.2f}% over {len(self.measured)} seed(s): "
                f"off by {abs(self.error_points):.2f} points.")


def task_accuracies(results: pd.DataFrame, predicted: Mapping[str, Mapping[str, float]],
                    chances: Mapping[str, float], level: float = 0.9) -> list[TaskAccuracy]:
    """One :class:`TaskAccuracy` per task of ``chances`` (``{task: chance}``), for the optimal mixture.

    ``results`` holds the validation runs (``mixture_name`` and the measured ``acc_<task>`` of each);
    ``predicted`` is the optimum's two-step prediction, ``{acc_<task>, acc_<task>_lo, acc_<task>_hi}``
    (:func:`mixtures.evaluation.baselines.predicted_task_accuracies` of ``optimal``).
    """
    optimal = results[results["mixture_name"] == OPTIMAL]
    out = []
    for task, chance in chances.items():
        column = acc_column(task)
        missing = [c for c in (column, f"{column}_lo", f"{column}_hi") if c not in predicted]
        if missing:
            raise MixturesError(f"task {task!r}: the optimum's prediction lacks {missing}; predict it with the "
                                "law's two-step laws (mixtures.evaluation.baselines.predicted_task_accuracies).")
        measured = optimal[column].to_numpy(dtype=float) if column in optimal.columns else np.array([])
        out.append(TaskAccuracy(task, float(predicted[column]), float(predicted[f"{column}_lo"]),
                                float(predicted[f"{column}_hi"]), measured[np.isfinite(measured)], float(chance),
                                level))
    return out


def _num(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _t_ci(values: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    if len(values) < 2:
        return float("nan"), float("nan")
    mean = float(values.mean())
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean - half, mean + half


def mixture_stats(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof=1), n and 95% t-interval of the objective per mixture, with the law's
    mean prediction and its relative error when ``predicted`` is given."""
    rows = {}
    for name, group in results.groupby("mixture_name", sort=False):
        values = group["objective"].to_numpy(dtype=float)
        low, high = _t_ci(values)
        mean = float(values.mean())
        predicted = float(group["predicted"].mean()) if "predicted" in group and group["predicted"].notna().any() else float("nan")
        rows[name] = {
            "mean": mean, "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0, "n": len(values),
            "ci_low": low, "ci_high": high, "predicted": predicted,
            "predicted_error": (predicted - mean) / mean if math.isfinite(predicted) and mean else float("nan"),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def compare(optimal: np.ndarray, baseline: np.ndarray, name: str, alpha: float = 0.05) -> Comparison:
    """Compare two sets of seed objectives.

    A win (or loss) needs both: the mean difference exceeds the larger seed spread, and, with at
    least two seeds on each side, Welch's t-test rejects equality at ``alpha``. Anything else is a tie.
    """
    from scipy import stats

    improvement = float(baseline.mean() - optimal.mean())
    spreads = [v.std(ddof=1) for v in (optimal, baseline) if len(v) > 1]
    noise = float(max(spreads)) if spreads else 0.0
    p_value = float("nan")
    if len(optimal) > 1 and len(baseline) > 1:
        if noise == 0.0:
            p_value = 0.0 if improvement != 0 else 1.0
        else:
            p_value = float(stats.ttest_ind(optimal, baseline, equal_var=False).pvalue)
    significant = abs(improvement) > noise and (not math.isfinite(p_value) or p_value < alpha)
    outcome = "tie" if not significant else ("win" if improvement > 0 else "loss")
    relative = improvement / float(baseline.mean()) if baseline.mean() else float("nan")
    return Comparison(name, improvement, relative, noise, p_value, outcome)


def verdict_from_runs(results: pd.DataFrame, baselines: list[str] | None = None, alpha: float = 0.05) -> Verdict:
    """The verdict over ``results`` (columns ``mixture_name``, ``seed``, ``objective``, optional ``predicted``).

    ``baselines`` default to every mixture other than ``optimal``. The best baseline is the one
    with the lowest mean objective.
    """
    missing = [c for c in ("mixture_name", "objective") if c not in results.columns]
    if missing:
        raise MixturesError(f"validation results lack column(s) {missing}.")
    if not (results["mixture_name"] == OPTIMAL).any():
        raise MixturesError("validation results have no runs of the 'optimal' mixture.")
    finite = results[np.isfinite(results["objective"].astype(float))]
    stats = mixture_stats(finite)
    names = baselines if baselines is not None else [n for n in stats.index if n != OPTIMAL]
    names = [n for n in names if n in stats.index and n != OPTIMAL]
    opt = finite.loc[finite["mixture_name"] == OPTIMAL, "objective"].to_numpy(dtype=float)
    comparisons = [
        compare(opt, finite.loc[finite["mixture_name"] == n, "objective"].to_numpy(dtype=float), n, alpha)
        for n in names
    ]
    best = min(names, key=lambda n: stats.loc[n, "mean"]) if names else None
    errors = stats["predicted_error"].abs().dropna()
    law_mre = float(errors.mean()) if len(errors) else float("nan")
    verdict = Verdict(stats, comparisons, law_mre, best)
    verdict.summary = _summary(verdict)
    return verdict


def _summary(verdict: Verdict) -> str:
    lines = []
    stats = verdict.stats
    if OPTIMAL in stats.index:
        row = stats.loc[OPTIMAL]
        lines.append(f"optimal: {row['mean']:.4f} +- {row['std']:.4f} over {int(row['n'])} seed(s)")
    if verdict.best_baseline is not None:
        wins = [c for c in verdict.comparisons if c.outcome == "win"]
        losses = [c for c in verdict.comparisons if c.outcome == "loss"]
        if verdict.optimal_wins:
            lines.append(f"The optimal mixture beats every baseline ({len(wins)}), by more than the seed spread.")
        elif losses:
            lines.append(f"The optimal mixture does NOT win: it loses to {', '.join(c.baseline for c in losses)}.")
        else:
            lines.append("The optimal mixture does not clearly win: "
                         + ", ".join(c.baseline for c in verdict.comparisons if c.outcome == "tie")
                         + " tie with it within noise.")
    lines.extend(c.sentence() for c in verdict.comparisons)
    if math.isfinite(verdict.law_mre):
        lines.append(f"The law's mean relative error at the validation scale: {100 * verdict.law_mre:.2f}%.")
    return "\n".join(lines)


def measured_objectives(store, specs, weights) -> pd.DataFrame:
    """One row per validation run of ``specs``: its final losses, ``mixture_name``, ``seed`` and measured
    ``objective`` (NaN, with ``failure``, for a run the store does not hold)."""
    rows = []
    for spec in specs:
        stored = store.finished(spec)
        if stored is None:
            rows.append({"run_id": spec.run_id, "mixture_name": spec.mixture_name, "seed": spec.seed,
                         "objective": float("nan"), "failure": store.failure(spec) or "not trained"})
            continue
        final = stored.rows.sort_values("n_tokens").iloc[[-1]]
        row = final.iloc[0].to_dict()
        row.update({"mixture_name": spec.mixture_name, "seed": spec.seed,
                    "objective": float(objective_of(final, weights)[0]), "failure": ""})
        rows.append(row)
    return pd.DataFrame(rows)
