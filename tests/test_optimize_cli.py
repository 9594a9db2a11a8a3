"""``mixtures optimize`` end to end on a law fitted by ``mixtures.laws`` (lands from another branch:
skipped until it is merged)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mixtures.cli import main

DOMAINS = ["web", "code", "books"]


def runs_table(seed: int = 0) -> pd.DataFrame:
    """40 proxy runs whose losses follow a smooth mixing law with an interior optimum."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(3), size=40)
    rows = []
    for i, w in enumerate(weights):
        row = {"run_id": f"dirichlet-{i:03d}.tiny.1000000.s0", "mixture_name": f"dirichlet-{i:03d}", "model": "tiny",
               "n_params": 1e6, "n_tokens": 1e6, "seed": 0, "trainer": "imported", "step": 100,
               "loss_unit": "bits_per_byte"}
        row.update({f"w_{d}": float(v) for d, v in zip(DOMAINS, w, strict=True)})
        for j, d in enumerate(DOMAINS):
            row[f"loss_{d}"] = float(1.0 + 0.8 * np.exp(-3.0 * w[j]) + 0.01 * rng.normal())
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def law_path(tmp_path):
    laws = pytest.importorskip("mixtures.laws")
    fit = laws.fit_law(runs_table(), [f"loss_{d}" for d in DOMAINS], folds=3, seed=0)
    path = tmp_path / "law.json"
    fit.law.save(path)
    return path, laws.load_law(path)


def scale_args(law) -> list[str]:
    """The final scale, when the chosen law family uses it (the runs are all at one scale)."""
    return ["--params", "1000000", "--tokens", "1000000"] if law.uses_scale else []


def test_optimize_prints_one_json_object(law_path, tmp_path, capsys):
    path, law = law_path
    code = main(["optimize", "--law", str(path), "--target", "loss_code=2", "--target", "loss_web=1",
                 "--bounds", "books=0.1:0.5", "--out", str(tmp_path / "out"), "--json", *scale_args(law)])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert {"weights", "predicted", "evaluations", "solver"} <= set(out)
    assert out["solver"] == "slsqp" and out["evaluations"] > 0
    w = out["weights"]
    assert sum(w.values()) == pytest.approx(1.0, abs=1e-12) and 0.1 <= w["books"] <= 0.5
    frame = pd.DataFrame([{f"w_{d}": w[d] for d in law.domains}])
    if law.uses_scale:
        frame["n_params"], frame["n_tokens"] = 1e6, 1e6
    predicted = law.predict(frame).iloc[0]
    assert out["predicted"]["loss_code"] == pytest.approx(predicted["loss_code"])
    objective = (2 * predicted["loss_code"] + predicted["loss_web"]) / 3  # weights 2 and 1, normalised
    assert out["objective"] == pytest.approx(objective, rel=1e-9)
    uniform = next(r for r in out["comparison"] if r["mixture"] == "uniform")
    assert objective <= uniform["objective"] + 1e-9
    assert json.loads((tmp_path / "out" / "mixture.json").read_text())["weights"] == w


def test_infeasible_availability_is_refused(law_path, capsys):
    path, law = law_path
    code = main(["optimize", "--law", str(path), "--tokens", "1e8", *scale_args(law)[:2], "--available", "web=1e6",
                 "--available", "code=1e6", "--available", "books=1e6", "--json"])
    assert code == 2
    assert "sum of per-domain maxima" in capsys.readouterr().err


def test_config_sections_apply(law_path, tmp_path, capsys):
    path, law = law_path
    config = {
        "domains": [{"name": d, "paths": [f"{d}.jsonl"]} for d in DOMAINS],
        "target": {"domains": {"code": 1.0}},
        "constraints": {"bounds": {"web": [0.3, 0.6]}, "max_epochs": 1},
        "optimize": {"tokens": 10_000_000, "solver": "random"},
        "validation": {"mixtures": {"mostly_web": {"web": 0.8, "code": 0.1, "books": 0.1}}},
    }
    (tmp_path / "project.yaml").write_text(json.dumps(config))
    pd.DataFrame({"domain": DOMAINS, "role": ["train"] * 3, "train_tokens": [9e6, 2e6, 5e6],
                  "tokens": [1e7, 2.2e6, 5.5e6]}).to_csv(tmp_path / "catalog.csv", index=False)
    code = main(["optimize", "--law", str(path), "--config", str(tmp_path / "project.yaml"),
                 "--catalog", str(tmp_path / "catalog.csv"), "--samples", "2000", "--json", *scale_args(law)[:2]])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["solver"] == "random" and out["evaluations"] == 2001
    assert 0.3 <= out["weights"]["web"] <= 0.6 and out["weights"]["code"] <= 0.2  # 1 epoch x 2M / 10M
    assert set(out["predicted"]) == {"loss_code"}
    assert [r["mixture"] for r in out["comparison"]] == ["optimal", "natural", "uniform", "mostly_web"]


def _budget(solver: str) -> list[str]:
    """Small budgets for the solvers that have them (an option a solver lacks is refused)."""
    from mixtures.optimize.solvers import option_names

    small = {"trials": "20", "samples": "500", "starts": "2", "batch": "10"}
    return [arg for key, value in small.items() if key in option_names(solver)
            for arg in ("--option", f"{key}={value}")]


def test_the_cli_accepts_exactly_the_registrys_solvers(law_path, capsys):
    from mixtures.optimize import SOLVERS

    path, law = law_path
    for solver in SOLVERS.names():
        code = main(["optimize", "--law", str(path), "--solver", solver, *_budget(solver), "--json", *scale_args(law)])
        assert code == 0, (solver, capsys.readouterr().err)
        out = json.loads(capsys.readouterr().out)
        assert sum(out["weights"].values()) == pytest.approx(1.0, abs=1e-9)
    for wrong in ("slsq", "adam"):
        assert main(["optimize", "--law", str(path), "--solver", wrong, "--json", *scale_args(law)]) == 2
        err = capsys.readouterr().err
        assert f"unknown solver '{wrong}'" in err and "Traceback" not in err
    assert main(["optimize", "--law", str(path), "--solver", "tpe", "--starts", "3", *scale_args(law)]) == 2
    assert "solver 'tpe' has no option 'starts'" in capsys.readouterr().err
