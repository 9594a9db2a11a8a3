"""The laws asset's extrapolation report: across model sizes when the proxies have several, else along D."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from assets.laws import _extrapolation
from mixtures.config import parse_config
from mixtures.laws import fit_law

TRAIN = Path(__file__).parent / "fixtures" / "laws" / "train.csv"


def _config(law: str, domains: list[str]):
    return parse_config({"project": "t", "domains": [{"name": d, "paths": [d]} for d in domains],
                         "laws": {"law": law, "folds": 3}})


def test_one_model_size_is_checked_along_d_and_several_across_n():
    train = pd.read_csv(TRAIN)
    domains = [c[2:] for c in train.columns if c.startswith("w_")]
    one_size = train[train["n_params"] == train["n_params"].max()]
    fit = fit_law(one_size, ["loss_d0"], law="additive", folds=3)
    along_d = _extrapolation(one_size, ["loss_d0"], ["loss_d0"], fit, _config("additive", domains))
    assert along_d.iloc[0]["fit_max"] == 2e9 and along_d.iloc[0]["test_value"] == 4e9
    across_n = _extrapolation(train, ["loss_d0"], ["loss_d0"], fit, _config("additive", domains))
    assert across_n.iloc[0]["test_value"] == train["n_params"].max()
    plain = fit_law(one_size, ["loss_d0"], law="linear", folds=3)  # no scale: nothing to extrapolate
    assert _extrapolation(one_size, ["loss_d0"], ["loss_d0"], plain, _config("linear", domains)) is None
