"""Online schedules inside real (tiny) built-in training runs on the shipped fixture corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mixtures.corpus import build_catalog
from mixtures.runs import RunSpec
from mixtures.mixture import from_vector
from mixtures.online.reference import train_reference
from mixtures.online.runner import make_schedule, online_spec, run_online
from mixtures.trainers import get_preset, train_proxy
from tests.online_fixture import DOMAINS, online_cache, online_config  # noqa: F401 (a fixture)

TPS = get_preset("micro").tokens_per_step


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("MIXTURES_TRAIN_THREADS", "1")


def _on_simplex(weights) -> bool:
    w = np.asarray(list(weights.values()) if isinstance(weights, dict) else weights)
    return bool(np.all(w >= 0) and abs(w.sum() - 1) < 1e-6)


def test_doremi_moves_toward_the_domain_whose_excess_loss_is_made_larger(tmp_path, online_cache):
    config = online_config(tmp_path, cache=online_cache, tokens=16 * TPS, online={"steps_per_update": 4})
    catalog = build_catalog(config)
    # A reference trained mostly on code has a low code loss, so the proxy's excess loss on code is large.
    code_heavy = {"speeches": 0.05, "literature": 0.05, "code": 0.8, "legal": 0.05, "email": 0.05}
    reference = train_reference(config, catalog, RunSpec(f"ref-code.micro.{16 * TPS}.s0", "ref-code",
                                                           code_heavy, "micro", 16 * TPS, 0))
    schedule = make_schedule("doremi", config, catalog, reference=reference.model)
    init = schedule.policy.copy()
    spec = RunSpec(f"doremi.micro.{16 * TPS}.s0", "doremi", from_vector(init, config.domain_names), "micro",
                     16 * TPS, 0)
    result = train_proxy(config, spec, catalog, tmp_path / "doremi-run", schedule=schedule)
    assert result.finished
    code = config.domain_names.index("code")
    excess = np.asarray(schedule.excess_history)
    # after the first window (both models near init), code's excess loss leads on the whole
    assert len(excess) == 4 and excess[1:].sum(axis=0).argmax() == code and excess[-1].argmax() == code
    assert schedule.policy.argmax() == code and schedule.policy[code] > init[code] + 0.05
    average = schedule.final_mixture()
    assert _on_simplex(average) and average[code] > init[code]
    assert result.extra["final_mixture"] == [float(x) for x in average]


def test_gradient_alignment_moves_toward_the_domain_that_matches_the_target(tmp_path, online_cache):
    # The target set is the code domain's own files: its validation windows are code.
    config = online_config(tmp_path, cache=online_cache, tokens=20 * TPS,
                           target={"sets": [{"name": "code_target", "paths": ["code"]}]},
                           online={"dga": {"probe_sequences": 16}})
    catalog = build_catalog(config)
    result = run_online(config, catalog, online_spec(config, catalog, "dga", 0), workdir=tmp_path / "dga")
    code = config.domain_names.index("code")
    alignments = np.asarray(result.details["alignments"])
    assert alignments.shape == (5, 5) and np.all(alignments.argmax(axis=1) == code)
    final = result.trajectory[-1]["weights"]
    assert int(np.argmax(final)) == code and final[code] > 1.5 * result.trajectory[0]["weights"][code]
    assert max(result.mixture, key=result.mixture.get) == "code" and _on_simplex(result.mixture)
    assert result.probe_tokens > 0 and result.compute_tokens == result.train_tokens + result.probe_tokens
    assert result.overhead_seconds > 0


def test_loss_reweighting_gives_duplicated_easy_samples_less_weight(tmp_path, online_cache):
    text = ("It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
            "foolishness, it was the epoch of belief, it was the epoch of incredulity. ") * 4
    with open(tmp_path / "dup.jsonl", "w", encoding="utf-8") as fh:
        for i in range(150):  # the same document 150 times: quickly learned, low loss
            fh.write(json.dumps({"id": f"dup-{i}", "text": text}) + "\n")
    domains = DOMAINS[:4] + [{"name": "dup", "paths": [str(tmp_path / "dup.jsonl")]}]
    config = online_config(tmp_path, cache=online_cache, tokens=20 * TPS, domains=domains)
    catalog = build_catalog(config)
    result = run_online(config, catalog, online_spec(config, catalog, "reweight", 0), workdir=tmp_path / "rw")
    dup = config.domain_names.index("dup")
    mean_weight = np.asarray(result.details["domain_weight"])  # per window of steps, mean weight per domain
    assert np.all(mean_weight[:, dup] < 1.0) and np.all(mean_weight[1:, dup] == np.nanmin(mean_weight[1:], axis=1))
    assert result.mixture["dup"] < 0.5 * result.train.spec.weights["dup"]  # its share of the weight vs of the samples
    ess = np.asarray(result.details["ess"])
    assert len(ess) == result.train.extra["steps"] and np.all((ess >= 1) & (ess <= get_preset('micro').batch_size))
    assert _on_simplex(result.mixture)


class _Stop(Exception):
    pass


def test_a_resumed_online_run_keeps_the_schedule_state_and_runs_are_seeded(tmp_path, online_cache):
    config = online_config(tmp_path, cache=online_cache, tokens=14 * TPS,
                           online={"steps_per_update": 2, "aioli": {"probe_steps": 1}})
    config.proxy.eval_points = 3  # checkpoints after steps 5, 9 and 14: the first one is mid-round
    catalog = build_catalog(config)

    def run(workdir: Path, stop_at_first_eval: bool, seed: int = 0):
        schedule = make_schedule("aioli", config, catalog)
        spec = RunSpec(f"aioli.micro.{14 * TPS}.s{seed}", "aioli", from_vector(schedule.policy, config.domain_names),
                         "micro", 14 * TPS, seed)

        def on_eval(point):
            if stop_at_first_eval:
                raise _Stop(point["step"])

        return schedule, train_proxy(config, spec, catalog, workdir, schedule=schedule, on_eval=on_eval)

    whole, whole_result = run(tmp_path / "whole", False)
    with pytest.raises(_Stop):
        run(tmp_path / "resumed", True)
    resumed, resumed_result = run(tmp_path / "resumed", False)
    assert resumed_result.extra["resumed_from_step"] == 5
    assert len(whole.history) == 3  # two rounds of 7 steps, each ending in an update
    assert resumed.history == whole.history and resumed.matrices == whole.matrices
    np.testing.assert_array_equal(resumed.final_mixture(), whole.final_mixture())
    assert resumed_result.final_losses() == whole_result.final_losses()
    for point in whole.history:
        assert _on_simplex(point["weights"])
    other, _ = run(tmp_path / "other-seed", False, seed=1)  # seeded: another seed draws other batches
    assert other.matrices != whole.matrices
