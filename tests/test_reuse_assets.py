"""The laws and optimum assets under a reuse plan, on a real Dagster instance and MLflow store: the law is fitted over
the components, the optimum keeps the frozen ratios and is expanded to every domain, the decision metrics and
the statement are in the metadata; a task's two-step law rides along (ReusedLaw over a TaskLaw) and the validation
design holds its predicted accuracy per mixture. One materialization, a hand-made run table (no training)."""

from __future__ import annotations

import json
import math

import dagster as dg
import numpy as np
import pandas as pd
import yaml

from assets.corpus import domain_catalog
from assets.laws import mixing_laws
from assets.optimize import optimal_mixture
from assets.validation import validation_design
from mixtures.config import load_config
from mixtures.laws import TaskLaw
from mixtures.layout import OPTIMUM_CATALOG, PROXY_REPEATS, project_file
from mixtures.reuse import VIRTUAL, plan_reuse
from mixtures.reuse.change import CorpusChange
from mixtures.reuse.decide import save_plan
from resources import MlflowTracking, ProjectResource
from tests.corpus_factory import corpus_config

FROZEN = {"prose": 0.5, "legal": 0.3, "speech": 0.2}  # the previous optimum over the unchanged domains


def _loss(code: float, seed: int = 0) -> float:
    """The objective of a swarm mixture: best at code = 0.3, with a seed offset."""
    return 2.0 + (code - 0.3) ** 2 + 0.004 * seed


def test_a_reuse_plan_fits_over_components_and_expands_the_optimum(corpus, mlflow_uri):
    root, _ = corpus
    cfg = corpus_config(root, laws={"law": "additive", "folds": 3, "bootstrap": 0, "min_spearman": -1.0},
                        reuse="always", validation={"scale": {"model": "micro", "tokens": 8000}},
                        optimize={"tokens": 4000})
    cfg["tracking"] = {"uri": mlflow_uri, "experiment": "reuse"}
    cfg["target"]["tasks"] = [{"name": "t", "path": "t.jsonl"}]  # weight 0: predicted and reported, not optimised
    (root / "t.jsonl").write_text("".join(json.dumps({"context": f"c{i}", "choices": [" a", " b"], "answer": 0}) + "\n"
                                          for i in range(4)))
    path = root / "project.yaml"
    path.write_text(yaml.safe_dump(cfg))
    config = load_config(path)
    change = CorpusChange(added=(), removed=(), revised=("code",), unchanged=("prose", "legal", "speech"))
    plan = plan_reuse(FROZEN, change, config.domain_names)
    config.root.mkdir(parents=True, exist_ok=True)
    save_plan(config, plan)
    shares = [0.0, 0.15, 0.3, 0.45, 0.6, 0.8]
    rows = [{"run_id": f"reuse-{i:03d}.micro.4000.s0", **{f"w_{d}": w for d, w in plan.expand(
                {VIRTUAL: 1 - c, "code": c}).items()}, "n_params": 5e4, "n_tokens": 4000, "seed": 0,
             "loss_mixed": _loss(c), "taskloss_t": 1.2 + c, "acc_t": 0.5 + 0.4 / (1 + math.exp(8 * (c - 0.4)))}
            for i, c in enumerate(shares)]
    repeats = [{**rows[2], "run_id": f"reuse-002.micro.4000.s{s}", "seed": s, "loss_mixed": _loss(0.3, s)}
               for s in (1, 2)]
    pd.DataFrame(repeats).to_parquet(project_file(config, PROXY_REPEATS))

    @dg.asset(name="proxy_results")
    def table() -> pd.DataFrame:
        return pd.DataFrame(rows)

    with dg.instance_for_test() as instance:
        result = dg.materialize([domain_catalog, table, mixing_laws, optimal_mixture, validation_design], instance=instance,
                                resources={"project": ProjectResource(config_path=str(path)), "tracking": MlflowTracking()})
        assert result.success
        law = result.output_for_node("mixing_laws")
        assert law.law.domains == [VIRTUAL, "code"] and law.domains == config.domain_names
        assert isinstance(law.law, TaskLaw) and law.targets == ["loss_mixed", "acc_t"]  # the task's two-step law
        assert law.families["loss_mixed"] == "exp"  # laws.reuse_law (default exp), not the full table's laws.law
        laws_meta = result.asset_materializations_for_node("mixing_laws")[0].metadata
        # seeds 0, 1, 2 of one mixture: objective 2.0, 2.004, 2.008 -> sample std 0.004
        assert math.isclose(laws_meta["noise_floor"].value, 0.004, rel_tol=1e-9)
        assert "reuse" in laws_meta and "virtual" in laws_meta["reuse"].value
        document = result.output_for_node("optimal_mixture")
        weights = document["weights"]
        assert set(weights) == set(config.domain_names) and math.isclose(sum(weights.values()), 1.0)
        assert np.isclose(weights["prose"] / weights["legal"], 0.5 / 0.3)  # the frozen ratios hold
        assert document["reuse"]["optimum_components"].keys() == {VIRTUAL, "code"}
        assert document["decision"]["above_noise_floor"] in (True, False)
        assert set(document["predicted"]) == {"loss_mixed"}  # a task of weight 0 is not in the objective
        design = result.output_for_node("validation_design")
        frame = plan.component_table(pd.DataFrame([{f"w_{d}": w for d, w in weights.items()}]))
        frame["n_params"], frame["n_tokens"] = design["scale"]["n_params"], design["scale"]["n_tokens"]
        expected = law.law.tasks["t"].predict(frame).iloc[0]
        predicted = design["predicted_tasks"]["optimal"]  # the verdict's accuracy line reads this
        assert predicted == {c: float(v) for c, v in expected.items()}
        assert predicted["acc_t_lo"] <= predicted["acc_t"] <= predicted["acc_t_hi"]
        meta = result.asset_materializations_for_node("optimal_mixture")[0].metadata
        assert meta["decision"].value.startswith(("the law predicts", "BELOW THE NOISE FLOOR"))
    saved = pd.read_parquet(project_file(config, OPTIMUM_CATALOG))  # what the next change is compared with
    assert set(saved.loc[saved["role"] == "train", "domain"]) == set(config.domain_names)
    assert json.loads(project_file(config, "optimal_mixture.json").read_text())["weights"] == weights
