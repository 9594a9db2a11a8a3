"""The laws' extrapolation policy (evaluation core): across model sizes when the proxies have several, else along D."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mixtures.evaluation.checks import extrapolation_report
from mixtures.laws import fit_law

TRAIN = Path(__file__).parent / "fixtures" / "laws" / "train.csv"


def test_one_model_size_is_checked_along_d_and_several_across_n():
    train = pd.read_csv(TRAIN)
    one_size = train[train["n_params"] == train["n_params"].max()]
    fit = fit_law(one_size, ["loss_d0"], law="additive", folds=3)
    along_d = extrapolation_report(one_size, ["loss_d0"], ["loss_d0"], law="additive",
                                   uses_scale=fit.law.uses_scale, seed=0)
    assert along_d.iloc[0]["fit_max"] == 2e9 and along_d.iloc[0]["test_value"] == 4e9
    across_n = extrapolation_report(train, ["loss_d0"], ["loss_d0"], law="additive", uses_scale=True, seed=0)
    assert across_n.iloc[0]["test_value"] == train["n_params"].max()
    plain = fit_law(one_size, ["loss_d0"], law="linear", folds=3)  # no scale: nothing to extrapolate
    assert extrapolation_report(one_size, ["loss_d0"], ["loss_d0"], law="linear", uses_scale=plain.law.uses_scale,
                                seed=0) is None
