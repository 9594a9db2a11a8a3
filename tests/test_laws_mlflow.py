"""log_law against a real MLflow sqlite store: layout, pyfunc model, registry and champion."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mixtures.laws import fit_law
from mixtures.laws.tracking import log_law
from mixtures.tracking import Tracker

FIXTURES = Path(__file__).parent / "fixtures" / "laws"


# MLflow suggests type hints on PythonModel.predict when loading; the signature is logged instead.
@pytest.mark.filterwarnings("ignore:Add type hints:UserWarning")
def test_log_law_writes_the_law_fit_layout_and_registers_a_champion(tmp_path, mlflow_uri):
    import mlflow

    runs = pd.read_csv(FIXTURES / "train.csv")
    good = fit_law(runs, ["loss_d0"], law="additive", folds=3)
    worse = fit_law(runs, ["loss_d0"], law="linear", folds=3)
    tracker = Tracker(mlflow_uri, "laws-test")
    with tracker.run("law_fit", tags={"mixtures.role": "law_fit"}) as run:
        first = log_law(run, good.law, good, registered_model="mixlaw")
    with tracker.run("law_fit", tags={"mixtures.role": "law_fit"}) as run2:
        second = log_law(run2, worse.law, worse, registered_model="mixlaw")
    assert first["version"] == 1 and first["champion"]
    assert second["version"] == 2 and not second["champion"]  # higher CV MRE: champion stays

    data = tracker.client.get_run(run.run_id).data
    assert data.tags["mixtures.law_family.loss_d0"] == "additive"
    assert abs(data.metrics["cv_mre.loss_d0"] - good.best_metrics().loc["loss_d0", "mre"]) < 1e-12
    assert {"cv_spearman.loss_d0", "cv_pearson.loss_d0", "cv_mae.loss_d0"} <= set(data.metrics)
    names = {a.path for a in tracker.client.list_artifacts(run.run_id)}
    assert {"law.json", "cv.csv", "predicted_vs_actual.png"} <= names

    mlflow.set_tracking_uri(mlflow_uri)
    mlflow.set_registry_uri(mlflow_uri)
    try:
        model = mlflow.pyfunc.load_model("models:/mixlaw@champion")
        frame = runs[[c for c in runs.columns if c.startswith("w_")] + ["n_params", "n_tokens"]].head(4)
        got = model.predict(frame)
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    pd.testing.assert_frame_equal(pd.DataFrame(got).reset_index(drop=True),
                                  good.law.predict(frame).reset_index(drop=True))
