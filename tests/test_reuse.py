"""Mixture reuse on hand-made catalogs and a synthetic law with a known optimum: the change is detected from the
fingerprints, removal needs no runs, a revised domain is re-swarmed, the known optimum is recovered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixtures.errors import InfeasibleError
from mixtures.reuse import VIRTUAL, detect_change, plan_reuse, reoptimize, reuse_swarm, swarm_size


def _catalog(train: dict[str, str], targets: dict[str, str] | None = None) -> pd.DataFrame:
    rows = [{"domain": d, "role": "train", "content_sha256": h, "train_tokens": 1e6} for d, h in train.items()]
    rows += [{"domain": d, "role": "target", "content_sha256": h, "train_tokens": 0} for d, h in (targets or {}).items()]
    return pd.DataFrame(rows)


PREVIOUS = _catalog({"a": "h-a", "b": "h-b", "c": "h-c"}, {"docs": "h-docs"})
OPTIMUM = {"a": 0.5, "b": 0.3, "c": 0.2}


def test_change_is_read_from_the_fingerprints():
    current = _catalog({"a": "h-a", "b": "h-b2", "d": "h-d"}, {"docs": "h-docs"})
    change = detect_change(PREVIOUS, current)
    assert (change.added, change.removed, change.revised, change.unchanged) == (("d",), ("c",), ("b",), ("a",))
    assert change.changed == ("d", "b") and change.any and not change.targets_changed
    assert not detect_change(PREVIOUS, PREVIOUS).any
    moved = detect_change(PREVIOUS, _catalog({"a": "h-a", "b": "h-b", "c": "h-c"}, {"docs": "other"}))
    assert moved.targets_changed == ("docs",)
    with pytest.raises(InfeasibleError, match="target set"):
        plan_reuse(OPTIMUM, moved, ["a", "b", "c"])


def test_removing_a_domain_needs_no_new_runs():
    change = detect_change(PREVIOUS, _catalog({"a": "h-a", "b": "h-b"}, {"docs": "h-docs"}))
    plan = plan_reuse(OPTIMUM, change, ["a", "b"])
    assert not plan.needs_runs and plan.swarm_size == 0 and plan.components == (VIRTUAL,)
    assert reuse_swarm(plan, {"a": 1.0, "b": 1.0}, seed=0) == {}
    result = reoptimize(plan, pd.DataFrame(), {"loss_docs": 1.0})  # no table at all: nothing is fitted
    assert result.fit is None
    assert result.weights == pytest.approx({"a": 0.5 / 0.8, "b": 0.3 / 0.8})  # the previous ratios


def test_a_revised_domain_is_detected_and_re_swarmed():
    current = _catalog({"a": "h-a", "b": "h-b-revised", "c": "h-c"}, {"docs": "h-docs"})
    change = detect_change(PREVIOUS, current)
    assert change.revised == ("b",) and change.added == ()
    plan = plan_reuse(OPTIMUM, change, ["a", "b", "c"])
    assert plan.components == (VIRTUAL, "b") and plan.frozen == pytest.approx({"a": 0.5 / 0.7, "c": 0.2 / 0.7})
    assert plan.swarm_size == swarm_size(2) == 4
    swarm = reuse_swarm(plan, {"a": 1.0, "b": 0.6, "c": 1.0}, seed=0)
    assert list(swarm)[:2] == ["reuse-virtual", "reuse-uniform"] and len(swarm) == 4
    assert swarm == reuse_swarm(plan, {"a": 1.0, "b": 0.6, "c": 1.0}, seed=0)  # seeded
    shares_b = set()
    for components in swarm.values():
        weights = plan.expand(components)
        assert sum(weights.values()) == pytest.approx(1.0)
        assert weights["b"] <= 0.6 + 1e-9  # b's epoch cap
        if weights["a"] > 0:
            assert weights["a"] / weights["c"] == pytest.approx(0.5 / 0.2)  # the frozen ratio
        shares_b.add(round(weights["b"], 6))
    assert len(shares_b) == 4  # the swarm varies the revised domain
    assert swarm_size(5) == 10 and swarm_size(1) == 0


C = {"a": 1.0, "b": 2.0, "c": 1.5, "d": 2.5}  # a known law: L = 1.2 + 3 / D^0.3 + 1 / sum_j C_j sqrt(w_j)


def _loss(weights: dict[str, float], tokens: float) -> float:
    return 1.2 + 3.0 / (tokens / 1e6) ** 0.3 + 1.0 / sum(C[d] * np.sqrt(weights.get(d, 0.0)) for d in C)


def test_reuse_on_a_known_law_recovers_its_optimum():
    # the optimum of this law is w_j ~ C_j^2; the previous corpus (a, b, c) had its ratios, then d is added
    square = {d: c ** 2 for d, c in C.items()}
    truth = {d: v / sum(square.values()) for d, v in square.items()}
    previous = {d: square[d] / (square["a"] + square["b"] + square["c"]) for d in "abc"}
    change = detect_change(PREVIOUS, _catalog({"a": "h-a", "b": "h-b", "c": "h-c", "d": "h-d"}, {"docs": "h-docs"}))
    plan = plan_reuse(previous, change, ["a", "b", "c", "d"])
    assert plan.components == (VIRTUAL, "d")
    swarm = reuse_swarm(plan, {d: 1.0 for d in C}, seed=0)
    rows = []
    for name, components in swarm.items():
        weights = plan.expand(components)
        for tokens in (1e6, 2e6, 4e6):
            rows.append({"run_id": f"{name}.micro.4000000.s0", **{f"w_{d}": w for d, w in weights.items()},
                         "n_params": 5e4, "n_tokens": tokens, "loss_docs": _loss(weights, tokens)})
    result = reoptimize(plan, pd.DataFrame(rows), {"loss_docs": 1.0}, law="additive", folds=2, seed=0,
                        n_params=5e4, n_tokens=4e6)
    assert len(swarm) == 4 and result.fit is not None
    # the optimum is flat: 4 swarm mixtures place it within 0.03 of the truth, and within 1e-4 of its loss
    assert result.weights == pytest.approx(truth, abs=0.03)
    assert _loss(result.weights, 4e6) - _loss(truth, 4e6) < 1e-4
    assert result.predicted == pytest.approx(_loss(truth, 4e6), abs=1e-3)
    # a law that cannot bend (linear) puts everything on one side: the check above tells them apart
    straight = reoptimize(plan, pd.DataFrame(rows), {"loss_docs": 1.0}, law="linear", folds=2, seed=0)
    assert _loss(straight.weights, 4e6) - _loss(truth, 4e6) > 0.05


def test_the_design_reuses_after_a_revision_and_not_before(tmp_path):
    """The pipeline's decision on the fixture corpus: a previous optimum and its catalog, then one domain revised."""
    import json

    from mixtures.layout import OPTIMAL_MIXTURE, project_file
    from mixtures.reuse.decide import active_plan, decide, reuse_runs, save_optimum_catalog, save_plan
    from mixtures.runs import training_setup
    from tests.proxy_fixture import fixture_catalog, fixture_config

    config = fixture_config(tmp_path, n_mixtures=12).model_copy(update={"reuse": "auto"})
    catalog = fixture_catalog(config)
    assert decide(config, catalog) is None  # no optimum yet: a full design
    config.root.mkdir(parents=True)
    optimum = dict(zip(config.domain_names, [0.4, 0.3, 0.2, 0.1, 0.0], strict=True))
    project_file(config, OPTIMAL_MIXTURE).write_text(json.dumps({"weights": optimum}))
    save_optimum_catalog(config, catalog)
    assert decide(config, catalog) is None  # the same corpus: nothing to reuse, the stored runs stand
    revised = config.domain_names[1]
    changed = catalog.copy()
    changed.loc[(changed["domain"] == revised) & (changed["role"] == "train"), "content_sha256"] = "new content"
    plan = decide(config, changed)
    assert plan is not None and plan.change.revised == (revised,) and plan.components == (VIRTUAL, revised)
    specs = reuse_runs(config, changed, plan)
    assert len(specs) == plan.swarm_size == 4 and all(s.mixture_name.startswith("reuse-") for s in specs)
    assert {s.setup for s in specs} == {training_setup(config, changed)} != {training_setup(config, catalog)}
    first, third = config.domain_names[0], config.domain_names[2]
    for spec in specs:
        if spec.weights[first] > 0:
            assert spec.weights[first] / spec.weights[third] == pytest.approx(0.4 / 0.2)
    save_plan(config, plan)
    assert active_plan(config) == plan
    save_optimum_catalog(config, changed)  # the reuse's optimum, made from the changed corpus
    assert decide(config, changed) == plan  # run again on the same corpus: the reuse's design stands
    save_plan(config, None)
    assert decide(config, changed) is None  # after a full design: the full design stands
    assert active_plan(config) is None
    assert decide(config.model_copy(update={"reuse": "never"}), changed) is None
