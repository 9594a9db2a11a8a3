"""The report's sections. Each takes :class:`~mixtures.report.data.ReportData` and returns HTML;
a section whose runs are absent says so instead of failing."""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd

from mixtures import plots
from mixtures.report import html as h
from mixtures.report.data import ReportData
from mixtures.evaluation.baselines import OPTIMAL as REFERENCE

MAX_ROWS = 200
CV_METRICS = ("cv_spearman", "cv_pearson", "cv_mae", "cv_mre")
FAMILY_TAG = "mixtures.law_family."


def _weight_cols(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("w_")]


def _loss_cols(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("loss_")]


def _weights(row: pd.Series) -> dict[str, float]:
    return {c[2:]: float(row[c]) for c in row.index if c.startswith("w_") and pd.notna(row[c])}


def _links(data: ReportData, frame: pd.DataFrame) -> dict[str, str]:
    return {str(name): data.url(run_id) for name, run_id in zip(frame["run_name"], frame["run_id"]) if name}


def _limited(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if len(frame) <= MAX_ROWS:
        return frame, ""
    return frame.head(MAX_ROWS), h.paragraph(f"first {MAX_ROWS} of {len(frame)} runs shown", "note")


def _scales(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The frame split by scale (model, n_tokens) when it holds more than one."""
    keys = [k for k in ("model", "n_tokens") if k in frame.columns]
    if not keys or frame[keys].drop_duplicates().shape[0] <= 1:
        return [("", frame)]
    return [(" / ".join(f"{k}={v}" for k, v in zip(keys, key if isinstance(key, tuple) else (key,))), group)
            for key, group in frame.groupby(keys, sort=True)]


# -- overview --------------------------------------------------------------------------------------


def overview(data: ReportData) -> str:
    runs = data.runs
    parts = [h.paragraph(f"MLflow experiment {data.experiment!r} at {data.uri}: {len(runs)} runs read.")]
    if runs.empty:
        return h.section("overview", "Overview", parts + [h.empty("no runs logged yet in this experiment")])
    counts = (runs.assign(role=runs["role"].replace("", "(untagged)"))
              .groupby(["role", "status"]).size().rename("runs").reset_index())
    parts.append(h.table(counts))
    pipelines = sorted(p for p in runs["pipeline"].unique() if p)
    if pipelines:
        parts.append(h.paragraph("pipelines (config fingerprints): " + ", ".join(pipelines), "note"))
    return h.section("overview", "Overview", parts)


# -- mixtures side by side ------------------------------------------------------------------------


def _compared_mixtures(data: ReportData) -> dict[str, dict[str, float]]:
    mixtures: dict[str, dict[str, float]] = {}
    validation = data.role("validation_run")
    for name, group in (validation.groupby("mixture_name", sort=False) if not validation.empty else []):
        weights = _weights(group.iloc[-1])
        if weights and name:
            mixtures[str(name)] = weights
    optimization = data.role("optimization")
    for _, row in optimization.iterrows():
        weights = _weights(row)
        label = f"optimized ({row.get('solver') or row['run_name']})"
        if weights and weights != mixtures.get(REFERENCE):
            mixtures.setdefault(label, weights)
    if not validation.empty:
        return mixtures
    proxies = data.role("proxy_run")
    for name in ("natural", "uniform"):
        found = proxies[proxies["mixture_name"] == name] if not proxies.empty else proxies
        if not found.empty:
            mixtures.setdefault(name, _weights(found.iloc[-1]))
    return mixtures


def _predicted_vs_measured(data: ReportData) -> str:
    optimization = data.role("optimization")
    validation = data.role("validation_run")
    predicted: dict[str, float] = {}
    if not optimization.empty:
        last = optimization.iloc[-1]
        predicted = {c[len("predicted."):]: float(last[c]) for c in optimization.columns
                     if c.startswith("predicted.") and pd.notna(last[c])}
        if "predicted_objective" in optimization.columns and pd.notna(last["predicted_objective"]):
            predicted["objective"] = float(last["predicted_objective"])
    measured_cols = [c for c in _loss_cols(validation) + ["objective"] if c in validation.columns]
    if not predicted and not measured_cols:
        return h.empty("no predicted or measured losses logged yet (optimization / validation runs)")
    targets = list(dict.fromkeys([*predicted, *(c for c in measured_cols)]))
    table = pd.DataFrame({"target": targets})
    table["predicted (optimization)"] = [predicted.get(t, float("nan")) for t in targets]
    if measured_cols:
        means = validation.groupby("mixture_name", sort=True)[measured_cols].mean()
        stds = validation.groupby("mixture_name", sort=True)[measured_cols].std(ddof=1)
        names = sorted(means.index, key=lambda n: (n != REFERENCE, n))
        for name in names:
            table[f"{name} mean"] = [means.loc[name].get(t, float("nan")) for t in targets]
            table[f"{name} std"] = [stds.loc[name].get(t, float("nan")) for t in targets]
    note = h.paragraph("predicted: the latest optimization run's predicted.<target> metrics; measured: "
                       "final losses of the validation runs, mean and standard deviation over seeds.", "note")
    return h.table(table) + note


def mixtures_section(data: ReportData) -> str:
    mixtures = _compared_mixtures(data)
    parts = ["<h3>Weights</h3>"]
    if not mixtures:
        parts.append(h.empty("no mixtures logged yet (no optimization or validation runs)"))
    else:
        domains = list(dict.fromkeys(d for m in mixtures.values() for d in m))
        table = pd.DataFrame({"domain": domains, **{n: [m.get(d, 0.0) for d in domains] for n, m in mixtures.items()}})
        parts += [h.table(table), h.figure(plots.mixture_bars(mixtures, "mixtures compared"), "mixtures compared")]
    parts += ["<h3>Predicted vs measured losses</h3>", _predicted_vs_measured(data)]
    return h.section("mixtures", "Mixtures compared", parts)


# -- proxy runs -------------------------------------------------------------------------------------


def proxy_section(data: ReportData) -> str:
    proxies = data.role("proxy_run")
    if proxies.empty:
        return h.section("proxy-runs", "Proxy runs", [h.empty("no proxy runs logged yet")])
    weights, losses = _weight_cols(proxies), _loss_cols(proxies)
    columns = [c for c in ["run_name", "mixture_name", "model", "n_tokens", "seed", "trainer", "status", "objective"]
               if c in proxies.columns] + weights + losses
    shown, note = _limited(proxies[columns])
    scales = proxies[[c for c in ("model", "n_tokens") if c in proxies.columns]].drop_duplicates()
    parts = [h.paragraph(f"{len(proxies)} proxy runs, {len(scales)} scale(s), "
                         f"{proxies['mixture_name'].nunique()} mixtures."), h.table(shown, links=_links(data, proxies)),
             note]
    domains = [c[2:] for c in weights]
    if domains and any(f"loss_{d}" in proxies.columns for d in domains):
        parts.append(h.figure(plots.loss_vs_weight(proxies, domains), "loss vs weight",
                              "each domain's final loss against its weight in the mixture"))
    if domains and "objective" in proxies.columns:
        figure = plots.loss_vs_weight(proxies, domains, loss="objective", title="objective vs domain weight")
        parts.append(h.figure(figure, "objective vs weight", "the target objective against each domain's weight"))
    return h.section("proxy-runs", "Proxy runs", parts)


# -- law fits ---------------------------------------------------------------------------------------


EXTRAPOLATION_METRIC = "extrapolation_mre"  # logged by the mixing_laws asset, one per target


def laws_section(data: ReportData) -> str:
    fits = data.role("law_fit")
    if fits.empty:
        return h.section("laws", "Law fit quality", [h.empty("no law fits logged yet")])
    parts = []
    for _, row in fits.iloc[::-1].iterrows():  # newest first
        tags = data.tags.get(row["run_id"], {})
        with_cv = {c.split(".", 1)[1] for c in fits.columns if c.startswith(CV_METRICS) and "." in c and pd.notna(row[c])}
        with_family = {k[len(FAMILY_TAG):] for k in tags if k.startswith(FAMILY_TAG)}
        targets = sorted(with_cv | with_family)
        table = pd.DataFrame({"target": targets})
        table["family"] = [tags.get(f"{FAMILY_TAG}{t}", "") for t in targets]
        for metric in CV_METRICS:
            table[metric[3:]] = [float(row.get(f"{metric}.{t}", float("nan"))) for t in targets]
        extrapolated = [float(row.get(f"{EXTRAPOLATION_METRIC}.{t}", float("nan"))) for t in targets]
        if any(pd.notna(v) for v in extrapolated):
            table["extrapolation_mre"] = extrapolated
        title = h.esc(row["run_name"] or row["run_id"])
        parts.append(f'<h3><a href="{h.esc(data.url(row["run_id"]))}">{title}</a></h3>')
        parts.append(h.table(table) if targets else h.empty("this law fit logged no cv metrics"))
        parts.append(_decision_quality(row, tags))
        png = data.artifact_bytes(row["run_id"], "predicted_vs_actual.png")
        if png:
            parts.append(h.image(png, "predicted vs actual", "cross-validated predictions (law_fit artifact)"))
    parts.append(_decision_statement(data))
    parts.append(h.paragraph("cross-validated: spearman / pearson correlation and mean absolute / relative error "
                             "between held-out predictions and measured losses, per target. extrapolation_mre: "
                             "refitted on the smaller model sizes (or, with one size, on the first half of each "
                             "run's curve along D) and checked at the largest. noise floor: the seed spread of "
                             "the objective over mixtures with repeated seeds (proxy.repeats); out-of-fold "
                             "regret@1: how much worse, on held-out folds, the mixture the law ranks first is than "
                             "the best measured one.", "note"))
    return h.section("laws", "Law fit quality", parts)


DECISION_METRICS = ("noise_floor", "oof_regret_at_1")


def _decision_quality(row: pd.Series, tags: dict[str, str]) -> str:
    """The fit's noise floor and out-of-fold regret@1 (a table), and its message."""
    values = {m: float(row[m]) if m in row and pd.notna(row[m]) else float("nan") for m in DECISION_METRICS}
    message = tags.get("mixtures.decision_quality")
    if message is None and all(pd.isna(v) for v in values.values()):
        return h.empty("this law fit logged no decision metrics (noise floor, regret@1)")
    frame = pd.DataFrame({"metric": ["noise floor (seed spread)", "out-of-fold regret@1"],
                          "value": [values[m] for m in DECISION_METRICS]})
    return h.table(frame) + (h.paragraph(message) if message else "")


def _decision_statement(data: ReportData) -> str:
    """Whether the newest optimum's predicted gain over the best baseline is above the noise floor."""
    runs = data.role("optimization")
    for _, row in runs.iloc[::-1].iterrows():
        tags = data.tags.get(row["run_id"], {})
        if "mixtures.decision" in tags:
            above = tags.get("mixtures.above_noise_floor", "unknown")
            label = {"true": "above the noise floor", "false": "below the noise floor"}.get(above, "noise floor unknown")
            return h.paragraph(f"Decision: {label}. {tags['mixtures.decision']}", "decision")
    return h.empty("no optimization run logged a decision statement yet")


# -- optimizer --------------------------------------------------------------------------------------


def optimizer_section(data: ReportData) -> str:
    runs = data.role("optimization")
    if runs.empty:
        return h.section("optimizer", "Optimizer results", [h.empty("no optimization runs logged yet")])
    predicted = sorted(c for c in runs.columns if c.startswith("predicted."))
    columns = [c for c in ["run_name", "solver", "predicted_objective", "evaluations", "seconds"] if c in runs.columns]
    parts = [h.table(runs[columns + predicted + _weight_cols(runs)], links=_links(data, runs))]
    mixtures = {}
    for i, (_, row) in enumerate(runs.iterrows()):
        label = str(row.get("solver") or row["run_name"] or "optimal")
        if _weights(row):
            mixtures[f"{label} #{i + 1}" if len(runs) > 1 else label] = _weights(row)
    if mixtures:
        parts.append(h.figure(plots.mixture_bars(mixtures, "optimized mixtures by solver"), "optimized weights"))
    for _, row in runs.iloc[::-1].iterrows():
        png = data.artifact_bytes(row["run_id"], "pareto.png")
        if png:
            parts.append(h.image(png, "Pareto front", f"Pareto front of {row['run_name']} (optimization artifact)"))
            break
    else:
        if len(runs) > 1 and len(predicted) >= 2:
            labels = runs["solver"] if "solver" in runs.columns else runs["run_name"]
            points = runs[predicted[:2]].assign(label=labels.astype(str)).dropna()
            if len(points) > 1:
                parts.append(h.figure(plots.pareto_front(points, predicted[0], predicted[1], label="label",
                                                         title="predicted targets of the optimized mixtures"),
                                      "Pareto front"))
    return h.section("optimizer", "Optimizer results", parts)


# -- validation -------------------------------------------------------------------------------------


def stored_verdict(data: ReportData) -> tuple[str, dict] | None:
    """The newest verdict the pipeline stored (``validation.json`` of a run tagged ``mixtures.role=validation``)."""
    runs = data.role("validation")
    for run_id in list(runs["run_id"])[::-1] if not runs.empty else []:
        raw = data.artifact_bytes(run_id, "validation.json")
        if raw is None:
            continue
        try:
            return run_id, json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
    return None


def _verdict_tables(run_id: str, verdict: dict) -> list[str]:
    """The stored verdict as it is: per-mixture statistics and each comparison's outcome (nothing recomputed)."""
    def interval(ci) -> str:
        return "" if not ci or None in ci else f"{ci[0]:.4g} .. {ci[1]:.4g}"

    stats = pd.DataFrame([{"mixture": name, "seeds": entry.get("n"), "mean": entry.get("mean"), "std": entry.get("std"),
                           "ci95": interval(entry.get("ci95")), "predicted": entry.get("predicted")}
                          for name, entry in verdict.get("mixtures", {}).items()])
    columns = ["baseline", "improvement", "relative", "noise", "p_value", "outcome"]
    comparisons = pd.DataFrame(verdict.get("comparisons", []), columns=columns)
    parts = [f"<h3>verdict (validation.json of run {h.esc(run_id)})</h3>"]
    wins = verdict.get("optimal_wins")
    parts.append(h.paragraph(str(verdict.get("summary", "")).replace("\n", " "), "good" if wins else "bad"))
    if not stats.empty:
        parts.append(h.table(stats))
    if not comparisons.empty:
        parts.append(h.table(comparisons, digits=4))
    tasks = pd.DataFrame([{"task": t.get("task"), "chance": t.get("chance"), "predicted": t.get("predicted"),
                           "interval": interval(t.get("predicted_interval")), "measured (mean)": t.get("measured_mean"),
                           "seeds": t.get("n"), "abs error (points)": t.get("abs_error_points")}
                          for t in verdict.get("tasks", [])])
    if not tasks.empty:
        parts += ["<p>task accuracy of the optimal mixture: two-step prediction (interval: the sigmoid's bootstrap at "
                  "the predicted task loss) vs measured over seeds:</p>", h.table(tasks, digits=4)]
    return parts


def validation_section(data: ReportData) -> str:
    runs = data.role("validation_run")
    stored = stored_verdict(data)
    parts: list[str] = [] if stored is None else _verdict_tables(*stored)
    if stored is None:
        parts.append(h.empty("no validation runs logged yet" if runs.empty
                             else "no verdict stored yet (the validation_verdict asset writes it)"))
    for label, group in ([] if runs.empty else _scales(runs)):
        if label:
            parts.append(f"<h3>{h.esc(label)}</h3>")
        if "objective" in group.columns and group["objective"].notna().any():
            order = ["optimal", *sorted(n for n in group["mixture_name"].unique() if n != "optimal")]
            parts.append(h.figure(plots.validation_comparison(group, "objective", order=order), "validation comparison"))
        losses = _loss_cols(group)
        if losses:
            means = group.groupby("mixture_name", sort=True)[losses].mean().reset_index()
            parts += ["<p>final losses, mean over seeds:</p>", h.table(means)]
    parts.append(h.paragraph("improvement = baseline mean - optimal mean (positive: optimal has the lower loss); "
                             "outcome: win or loss when the difference exceeds the larger seed spread and Welch's "
                             "two-sided t-test gives p < 0.05, else tie (mixtures.evaluation.verdict).", "note"))
    return h.section("validation", "Validation outcome", parts)


# -- online methods ---------------------------------------------------------------------------------


def online_section(data: ReportData) -> str:
    runs = data.role("online_run")
    if runs.empty:
        return h.section("online", "Online methods", [h.empty("no online runs logged yet")])
    columns = [c for c in ["run_name", "mixture_name", "model", "n_tokens", "seed", "objective"] if c in runs.columns]
    parts = [h.table(runs[columns + _weight_cols(runs) + _loss_cols(runs)], links=_links(data, runs))]
    for _, row in runs.iterrows():
        keys = [k for k in data.metric_keys.get(row["run_id"], []) if k.startswith("weight.")]
        if not keys:
            continue
        history = None
        for key in keys:
            steps = pd.DataFrame(data.history(row["run_id"], key), columns=["step", "w_" + key[len("weight."):]])
            history = steps if history is None else history.merge(steps, on="step", how="outer")
        parts.append(h.figure(plots.weight_trajectory(history, title=f"{row['run_name']}: domain weights"),
                              "weight trajectory", "metrics weight.<domain> by training step"))
    return h.section("online", "Online methods", parts)


SECTIONS: list[tuple[str, str, Callable[[ReportData], str]]] = [
    ("overview", "Overview", overview),
    ("mixtures", "Mixtures", mixtures_section),
    ("proxy-runs", "Proxy runs", proxy_section),
    ("laws", "Law fits", laws_section),
    ("optimizer", "Optimizer", optimizer_section),
    ("validation", "Validation", validation_section),
    ("online", "Online", online_section),
]
