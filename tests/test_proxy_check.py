"""The proxy_runs check: a run is judged on the data it trained on, against that data's unigram baseline."""

from mixtures.evaluation.checks import trained_data_problems


def test_a_barely_sampled_domain_above_its_baseline_is_no_fault():
    losses = {"loss_a": 3.0, "loss_b": 6.0, "loss_target": 5.5}
    assert trained_data_problems(losses, {"loss_a": 4.0, "loss_b": 5.0}, {"a": 0.9, "b": 0.1}) == []


def test_the_training_mixture_above_its_unigram_baseline_is_reported():
    problems = trained_data_problems({"loss_a": 3.0, "loss_b": 6.0}, {"loss_a": 4.0, "loss_b": 5.0}, {"a": 0.3, "b": 0.7})
    assert problems == ["loss on the training mixture 5.1000 bits/byte is not below its unigram baseline 4.7000"]


def test_non_finite_losses_and_unmeasured_mixtures_are_reported():
    assert "loss_a = inf" in trained_data_problems({"loss_a": float("inf")}, {"loss_a": 4.0}, {"a": 1.0})
    assert trained_data_problems({"loss_a": float("nan")}, {"loss_a": 4.0}, {"a": 1.0}) == [
        "no loss measured on any training domain"]
