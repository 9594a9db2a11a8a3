"""The online schedules' update rules, on constructed signals (no training: fast and exact)."""

from __future__ import annotations

import numpy as np
import pytest

from mixtures.errors import TrainerError
from mixtures.online import (AioliSchedule, DoReMiSchedule, GradientAlignmentSchedule, LossReweightSchedule,
                             effective_sample_size, exp_grad_step, sample_weights)
from mixtures.online.aioli import interaction_matrix, probe_mixtures
from mixtures.online.dga import alignment
from mixtures.online.doremi import domain_excess

UNIFORM4 = np.full(4, 0.25)


def on_simplex(w: np.ndarray) -> bool:
    return bool(np.all(w >= 0) and abs(w.sum() - 1) < 1e-9)


def test_exp_grad_step_moves_toward_the_gradient_and_keeps_a_floor():
    w = exp_grad_step(UNIFORM4, np.array([0.0, 0.0, 5.0, 0.0]), eta=1.0, smoothing=0.1)
    assert on_simplex(w) and w.argmax() == 2
    assert w.min() >= 0.1 / 4 - 1e-12
    huge = exp_grad_step(UNIFORM4, np.array([1e6, 0, 0, np.nan]), eta=10.0, smoothing=0.0)
    assert on_simplex(huge) and huge[0] == pytest.approx(1.0)


def _doremi_signals(rng: np.random.Generator, hard: int, batch: int = 16, seq: int = 8) -> dict:
    chosen = rng.integers(0, 4, size=batch)
    reference = rng.uniform(1.0, 2.0, size=(batch, seq))
    per_token = reference + rng.uniform(0.0, 0.2, size=(batch, seq))
    per_token[chosen == hard] += 1.0  # this domain's excess over the reference is made larger on purpose
    return {"per_token_loss": per_token, "reference_loss": reference, "chosen": chosen}


def test_domain_excess_clips_per_token_and_marks_absent_domains():
    per_token = np.array([[2.0, 0.0], [1.0, 1.0]])
    reference = np.array([[1.0, 1.0], [0.5, 0.5]])
    excess, present = domain_excess(per_token, reference, np.array([0, 2]), 3)
    np.testing.assert_allclose(excess, [0.5, 0.0, 0.5])  # (1 + max(-1, 0)) / 2 ; absent ; 0.5
    assert present.tolist() == [True, False, True]


def test_doremi_keeps_the_last_excess_of_a_domain_absent_from_the_batch():
    schedule = DoReMiSchedule(np.full(2, 0.5), reference=None, eta=1.0, smoothing=0.0, steps_per_update=2)
    ones = np.ones((1, 2))
    schedule.observe(0, {"per_token_loss": ones * 3, "reference_loss": ones, "chosen": np.array([1])})
    schedule.observe(1, {"per_token_loss": ones * 2, "reference_loss": ones, "chosen": np.array([1])})
    # domain 0 never seen: it keeps log(256) (a uniform guess over bytes); domain 1 averages 2 and 1
    np.testing.assert_allclose(schedule.excess_history[-1], [np.log(256), 1.5])


def test_doremi_reweight_loss_mode_samples_the_initial_mixture_and_weights_losses():
    init = np.array([0.5, 0.25, 0.25])
    schedule = DoReMiSchedule(init, reference=None, steps_per_update=1, mode="reweight_loss", smoothing=0.0)
    signals = {"per_token_loss": np.array([[1.0], [3.0], [1.5]]), "reference_loss": np.ones((3, 1)),
               "chosen": np.array([0, 1, 2])}
    schedule.observe(0, signals)
    assert schedule.policy.argmax() == 1 and schedule.policy[1] > init[1]
    np.testing.assert_array_equal(schedule.weights(1), init)
    w = schedule.sample_weights(1, np.zeros(3), np.array([0, 1, 2]))
    np.testing.assert_allclose(w, schedule.policy / init)
    assert DoReMiSchedule(init, reference=None).sample_weights is None  # sample mode: plain mean loss


def test_doremi_moves_toward_the_domain_with_the_larger_excess_loss():
    rng = np.random.default_rng(0)
    schedule = DoReMiSchedule(UNIFORM4, reference=None, eta=1.0, smoothing=1e-3, steps_per_update=2)
    for step in range(20):
        schedule.observe(step, _doremi_signals(rng, hard=1))
        assert on_simplex(schedule.weights(step + 1))
    assert len(schedule.history) == 11
    path = [h["weights"][1] for h in schedule.history]
    assert path[-1] > 0.9 and all(b >= a for a, b in zip(path, path[1:]))
    average = schedule.final_mixture()
    assert on_simplex(average) and 0.25 < average[1] < path[-1]  # the paper's output: the average over steps


def test_aioli_recovers_a_linear_law_and_follows_the_target():
    p = np.array([0.4, 0.3, 0.2, 0.1])
    q = probe_mixtures(p, 0.5)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    a_true = np.array([[0.3, 0.1, 0.0, 0.0], [0.0, 0.2, 0.0, 0.1], [0.05, 0.0, 0.4, 0.0],
                       [0.0, 0.0, 0.0, 0.2], [0.5, 0.0, 0.0, 0.0]])  # 5 eval names x 4 domains
    change = -(q @ a_true.T)
    np.testing.assert_allclose(interaction_matrix(q, change), a_true, atol=1e-12)

    names = ["a", "b", "c", "d", "target"]
    schedule = AioliSchedule(p, names, {"target": 1.0}, eta=1.0, epsilon=0.5, probe_steps=1, steps_per_update=2,
                             smoothing=0.0)
    losses = np.full(5, 5.0)
    for step in range(3 * schedule.round):
        w = schedule.weights(step)
        assert on_simplex(w)
        losses = losses - a_true @ w * 0.5  # the true law drives the measured losses
        signals = {"eval_loss": dict(zip(names, losses, strict=True))} if schedule.needs_at(step) else {}
        schedule.observe(step, signals)
    assert len(schedule.history) == 4
    np.testing.assert_allclose(np.array(schedule.matrices[-1]), a_true * 0.5, atol=1e-9)
    # only domain a helps the target: three steps of exp(eta * 0.25) on it
    assert schedule.policy.argmax() == 0 and schedule.policy[0] > p[0] + 0.15


def test_gradient_alignment_upweights_the_aligned_domain():
    target = np.array([1.0, 0.0, 0.0])
    grads = np.array([[2.0, 0.1, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(alignment(grads, target), [2 / np.hypot(2, 0.1), 0, -1, 0])
    schedule = GradientAlignmentSchedule(UNIFORM4, {"t": 1.0}, eta=1.0, steps_per_update=3, smoothing=0.01)
    for step in range(12):
        signals = {"domain_grads": grads, "target_grad": target} if schedule.needs_at(step) else {}
        assert bool(signals) == ((step + 1) % 3 == 0)
        schedule.observe(step, signals)
    w = schedule.policy
    assert on_simplex(w) and w.argmax() == 0 and w[2] == w.min()


def test_sample_weights_downweight_easy_samples_and_report_ess():
    losses = np.array([0.5, 0.5, 2.0, 2.5, 3.0])
    w = sample_weights(losses, "downweight_easy", temperature=1.0, strength=1.0)
    assert w.mean() == pytest.approx(1.0) and w[0] < w[2] < w[4]
    hard = sample_weights(losses, "downweight_hard")
    assert hard[0] > hard[4]
    np.testing.assert_allclose(sample_weights(losses, strength=0.0), 1.0)
    np.testing.assert_allclose(sample_weights(np.full(4, 1.3)), 1.0)
    assert effective_sample_size(np.ones(8)) == pytest.approx(8)
    assert 1.0 <= effective_sample_size(w) < 5
    with pytest.raises(ValueError, match="strategy"):
        sample_weights(losses, "upweight_everything")


def _drive(schedule, steps: range, rng_seed: int = 3) -> None:
    for step in steps:
        rng = np.random.default_rng([rng_seed, step])  # the signals of a step do not depend on where a run started
        chosen = rng.integers(0, 4, size=16)
        losses = rng.uniform(1, 3, size=16) + (chosen == 0)
        if getattr(schedule, "sample_weights", None) is not None:
            schedule.sample_weights(step, losses, chosen)
        signals = {"per_token_loss": np.tile(losses[:, None], (1, 4)), "reference_loss": np.ones((16, 4)),
                   "chosen": chosen, "domain_grads": rng.normal(size=(4, 6)), "target_grad": rng.normal(size=6),
                   "eval_loss": {n: float(v) for n, v in zip("abcde", rng.uniform(2, 3, size=5), strict=True)}}
        schedule.observe(step, signals)


@pytest.mark.parametrize("make", [
    lambda: DoReMiSchedule(UNIFORM4, None, steps_per_update=3),
    lambda: AioliSchedule(UNIFORM4, list("abcde"), {"e": 1.0}, steps_per_update=2, probe_steps=1),
    lambda: GradientAlignmentSchedule(UNIFORM4, {"e": 1.0}, steps_per_update=2),
    lambda: LossReweightSchedule(UNIFORM4, steps_per_update=2),
], ids=["doremi", "aioli", "dga", "reweight"])
def test_state_dict_resumes_exactly_and_runs_are_deterministic(make):
    whole = make()
    _drive(whole, range(0, 25))
    first = make()
    _drive(first, range(0, 11))
    state = first.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    _drive(resumed, range(11, 25))
    assert resumed.history == whole.history
    np.testing.assert_array_equal(resumed.final_mixture(), whole.final_mixture())
    assert on_simplex(whole.final_mixture())
    again = make()
    _drive(again, range(0, 25))
    assert again.state_dict()["history"] == whole.state_dict()["history"]


def test_a_checkpoint_of_another_method_is_refused():
    state = DoReMiSchedule(UNIFORM4, None).state_dict()
    with pytest.raises(TrainerError, match="doremi"):
        GradientAlignmentSchedule(UNIFORM4, {"e": 1.0}).load_state_dict(state)


def test_validation_scale_is_the_next_preset_up_with_more_compute_and_tokens():
    from mixtures.config import parse_config
    from mixtures.evaluation.scale import validation_scale
    from mixtures.trainers import MODEL_PRESETS, get_preset

    scales = [{"model": "micro", "tokens": 200_000}, {"model": "micro", "tokens": 50_000}]
    config = parse_config({"domains": [{"name": "a", "paths": ["a"]}], "proxy": {"scales": scales}})
    scale = validation_scale(config)
    n_micro, n_val = get_preset("micro").n_params, get_preset(scale.model).n_params
    bigger = sorted(p.n_params for p in MODEL_PRESETS.values() if p.n_params > n_micro)
    assert n_val == bigger[0]
    assert scale.tokens >= 1.5 * 200_000 and n_val * scale.tokens >= 4 * n_micro * 200_000
    config.validation.scale = config.proxy.scales[1]
    assert validation_scale(config) == config.proxy.scales[1]


def test_judge_uses_the_shared_verdict_against_each_present_baseline():
    import pandas as pd

    from mixtures.online.compare import judge, verdict_sentence

    runs = pd.DataFrame({"mixture_name": ["natural"] * 3 + ["dga"] * 3 + ["aioli"] * 3,
                         "seed": [0, 1, 2] * 3,
                         "objective": [2.0, 2.1, 1.9, 1.5, 1.6, 1.4, 2.05, 1.95, 2.0]})
    comparisons, source = judge(runs, ["dga", "aioli"], ["natural", "uniform"])
    assert source == "mixtures.evaluation.verdict.verdict_from_runs"
    outcome = {c["method"]: c["outcome"] for c in comparisons}
    assert outcome == {"dga": "win", "aioli": "tie"} and {c["baseline"] for c in comparisons} == {"natural"}
    stats = runs.groupby("mixture_name")["objective"].agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    compute = {"dga": {"online_tokens": 1200}, "aioli": {"online_tokens": 1000}, "natural": {"online_tokens": 0}}
    sentence = verdict_sentence(stats, comparisons, ["dga", "aioli"], ["natural"], compute)
    assert sentence.startswith("Lowest target objective: dga (1.5000") and "aioli ties" in sentence
    assert "dga beats the best baseline natural" in sentence
    assert sentence.endswith("Compute to choose the mixture: dga 1,200 online tokens; aioli 1,000 online tokens.")
