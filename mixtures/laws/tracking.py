"""Log a fitted law to MLflow: tags, CV metrics, artifacts, a pyfunc model, the registry.

Layout (role ``law_fit``): tags ``mixtures.law_family.<target>``; metrics
``cv_spearman.<target>``, ``cv_pearson.<target>``, ``cv_mae.<target>``, ``cv_mre.<target>``;
artifacts ``law.json``, ``cv.csv``, ``predicted_vs_actual.png``; a pyfunc model ``law`` logged
"from code" (:mod:`mixtures.laws.pyfunc_model`), optionally registered, with the alias
``champion`` on the version with the lowest mean CV MRE.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from mixtures.laws.mixture_law import MixtureLaw
from mixtures.laws.selection import LawFit
from mixtures.tracking import RunLogger, with_retry

CHAMPION = "champion"
SCORE_TAG = "mixtures.cv_mre"


def predicted_vs_actual_figure(fit: LawFit):
    """One panel per target: out-of-fold prediction of the chosen family vs actual loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(fit.chosen)
    fig, axes = plt.subplots(1, len(targets), figsize=(3.6 * len(targets), 3.4), squeeze=False)
    for ax, target in zip(axes[0], targets):
        oof = fit.oof[target]
        actual, pred = oof["actual"].to_numpy(), oof[fit.chosen[target]].to_numpy()
        ax.scatter(actual, pred, s=12, alpha=0.8)
        lo, hi = np.nanmin([actual, pred]), np.nanmax([actual, pred])
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--")
        ax.set_title(f"{target} ({fit.chosen[target]})", fontsize=9)
        ax.set_xlabel("actual (held-out fold)")
        ax.set_ylabel("predicted")
    fig.tight_layout()
    return fig


def fit_score(fit: LawFit) -> float:
    """Mean CV MRE of the chosen models (lower is better); used to pick the champion."""
    values = fit.best_metrics()["mre"].to_numpy(dtype=np.float64)
    return float(np.nanmean(values)) if len(values) else math.inf


def log_law(run: RunLogger, law: MixtureLaw, fit: LawFit | None = None,
            registered_model: str | None = None) -> dict:
    """Log ``law`` (and its CV ``fit``) to ``run``; register it if ``registered_model`` is given.

    Returns ``{"model_uri", "version", "champion"}`` (version/champion None when not registered).
    """
    run.set_tags({f"mixtures.law_family.{t}": f for t, f in law.families.items()})
    with tempfile.TemporaryDirectory() as tmp:
        law_path = Path(tmp) / "law.json"
        law.save(law_path)
        run.log_artifact(law_path)
        if fit is not None:
            best = fit.best_metrics()
            metrics = {}
            for target, row in best.iterrows():
                for name in ("spearman", "pearson", "mae", "mre"):
                    if np.isfinite(row[name]):
                        metrics[f"cv_{name}.{target}"] = float(row[name])
            run.log_metrics(metrics)
            run.log_table(fit.cv, "cv.csv")
            fig = predicted_vs_actual_figure(fit)
            run.log_figure(fig, "predicted_vs_actual.png")
            import matplotlib.pyplot as plt

            plt.close(fig)
        model_uri, version = _log_pyfunc(run, law, law_path, registered_model)
    out = {"model_uri": model_uri, "version": None, "champion": False}
    if registered_model:
        out.update(_champion(run, registered_model, version, fit_score(fit) if fit else math.inf))
    return out


def _log_pyfunc(run: RunLogger, law: MixtureLaw, law_path: Path,
                registered_model: str | None) -> tuple[str, int | None]:
    import mlflow
    from mlflow.models import infer_signature

    code = Path(__file__).with_name("pyfunc_model.py")
    example = _example_frame(law)
    signature = infer_signature(example, law.predict(example))
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    # set_tracking_uri also sets $MLFLOW_TRACKING_URI, which the project config honours: put it back as it was
    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(run.tracker.uri)
    mlflow.set_registry_uri(run.tracker.uri)
    try:
        with mlflow.start_run(run_id=run.run_id, nested=mlflow.active_run() is not None), \
                warnings.catch_warnings():
            # MLflow nags about type hints and input examples; the signature is given explicitly.
            warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")
            info = with_retry(lambda: mlflow.pyfunc.log_model(
                name="law", python_model=str(code), artifacts={"law": str(law_path)},
                signature=signature, registered_model_name=registered_model,
                await_registration_for=0, pip_requirements=["mixtures", "mlflow", "pandas", "numpy",
                                                       "scikit-learn", "scipy", "lightgbm"]))
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    version = info.registered_model_version
    return info.model_uri, int(version) if version is not None else None


def _example_frame(law: MixtureLaw):
    import pandas as pd

    k = len(law.domains)
    frame = pd.DataFrame([[1.0 / k] * k], columns=[f"w_{d}" for d in law.domains])
    if law.uses_scale:
        frame["n_params"] = 1e8
        frame["n_tokens"] = 2e9
    return frame


def _champion(run: RunLogger, name: str, version: int, score: float) -> dict:
    """Tag the new version with its score; give it the ``champion`` alias if it beats the holder."""
    client = run.tracker.client
    with_retry(lambda: client.set_model_version_tag(name, str(version), SCORE_TAG, repr(score)))
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except Exception:  # no champion yet
        current = None
    best = current is None or score < float(current.tags.get(SCORE_TAG, "inf"))
    if best:
        with_retry(lambda: client.set_registered_model_alias(name, CHAMPION, str(version)))
    return {"version": version, "champion": bool(best)}
