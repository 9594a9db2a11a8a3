"""The built-in proxy trainer: real tiny training runs on the fixture corpus (micro preset, 1 thread)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mixtures.runs import RunSpec
from mixtures.errors import ConfigError
from mixtures.trainers import MODEL_PRESETS, ModelPreset, train_proxy, unigram_baseline
from mixtures.trainers.tokens import EOD, content_key, domain_tokens, token_paths
from mixtures.tokenizers import ByteTokenizer
from tests.proxy_fixture import fixture_catalog, fixture_config, kill_at_first_checkpoint

REPO = Path(__file__).resolve().parents[1]
TOKENS = 40_000


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("MIXTURES_TRAIN_THREADS", "1")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer")
    config = fixture_config(root, eval_points=4)
    return root, config, fixture_catalog(config)


def _spec(config, tokens=TOKENS, seed=0, model="micro", name="skewed"):
    weights = dict(zip(config.domain_names, [0.4, 0.3, 0.1, 0.2, 0.0], strict=True))
    return RunSpec(RunSpec.make_run_id(name, model, tokens, seed), name, weights, model, tokens, seed)


@pytest.fixture(scope="module")
def reference(project):
    root, config, catalog = project
    os.environ["MIXTURES_TRAIN_THREADS"] = "1"
    return train_proxy(config, _spec(config), catalog, root / "runs" / "reference")


def test_run_table_has_the_conventional_columns(project, reference):
    _, config, _ = project
    assert reference.status == "finished", reference.reason
    table = reference.table
    names = config.domain_names + ["docs"]
    expected = (["run_id", "mixture_name", "model"] + [f"w_{d}" for d in config.domain_names]
                + ["n_params", "n_tokens", "seed", "trainer", "step"] + [f"loss_{n}" for n in names] + ["loss_unit"])
    assert list(table.columns) == expected
    assert len(table) == 4
    assert table["n_tokens"].is_monotonic_increasing and table["n_tokens"].iloc[-1] >= TOKENS
    assert set(table["trainer"]) == {"builtin"} and set(table["loss_unit"]) == {"bits_per_byte"}
    assert (table["n_params"] == MODEL_PRESETS["micro"].n_params).all()
    assert reference.n_params == MODEL_PRESETS["micro"].n_params
    assert table[[f"loss_{n}" for n in names]].notna().all().all()
    assert reference.extra["tokens_per_s"] > 0
    summary = reference.summary()
    assert summary["status"] == "finished" and summary["final_loss"] == reference.final_losses()


def test_loss_falls_below_the_unigram_baseline(project, reference):
    _, config, catalog = project
    baseline = unigram_baseline(config, catalog, reference.spec.weights, model="micro", tokens=TOKENS)
    assert baseline == pytest.approx(reference.extra["unigram_baseline"])
    final = reference.final_losses()
    first = reference.table.iloc[0]
    gains = []
    for name in config.domain_names + ["docs"]:
        assert 3.0 < baseline[name] < 6.5
        assert final[name] < baseline[name], (name, final[name], baseline[name])
        assert final[name] < first[f"loss_{name}"]
        gains.append(baseline[name] - final[name])
    assert np.mean(gains) > 0.3


def test_same_seed_is_bitwise_identical_other_seed_differs(project):
    root, config, catalog = project
    first = train_proxy(config, _spec(config, tokens=8_000, seed=0), catalog, root / "runs" / "first")
    again = train_proxy(config, _spec(config, tokens=8_000, seed=0), catalog, root / "runs" / "again")
    pd.testing.assert_frame_equal(again.table, first.table, check_exact=True)
    other = train_proxy(config, _spec(config, tokens=8_000, seed=1), catalog, root / "runs" / "seed1")
    assert other.final_losses() != first.final_losses()


_CHILD = """
import os, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.proxy_fixture import fixture_config, fixture_catalog
from tests.test_trainer import _spec
from mixtures.trainers import train_proxy
config = fixture_config(Path({root!r}), eval_points=4)
train_proxy(config, _spec(config), fixture_catalog(config), Path({workdir!r}))
print("done")
"""


def test_killed_run_resumes_to_the_same_final_loss(project, reference):
    root, config, catalog = project
    workdir = root / "runs" / "killed"
    saved = kill_at_first_checkpoint(_CHILD.format(repo=str(REPO), root=str(root), workdir=str(workdir)), workdir)
    steps = reference.extra["steps"]
    assert 0 < saved["step"] < steps, "the child must be killed mid-run"

    resumed = train_proxy(config, _spec(config), catalog, workdir)
    assert resumed.status == "finished"
    assert resumed.extra["resumed_from_step"] == saved["step"]
    pd.testing.assert_frame_equal(resumed.table, reference.table, check_exact=True)


class _SwitchingSchedule:
    """Only the first domain for the first half of the run, then only the second; records signals."""

    def __init__(self, n_domains: int, switch: int) -> None:
        self.n, self.switch, self.seen = n_domains, switch, []

    def weights(self, step: int) -> np.ndarray:
        w = np.zeros(self.n)
        w[0 if step < self.switch else 1] = 1.0
        return w

    def observe(self, step, signals) -> None:
        self.seen.append((step, signals["domain_loss"].copy(), signals["domain_count"].copy()))

    def final_mixture(self) -> np.ndarray:
        return self.weights(self.switch)


def test_schedule_hook_drives_sampling_and_sees_per_domain_losses(project):
    root, config, catalog = project
    spec = _spec(config, tokens=20 * MODEL_PRESETS["micro"].tokens_per_step, name="sched")
    schedule = _SwitchingSchedule(len(config.domain_names), switch=10)
    result = train_proxy(config, spec, catalog, root / "runs" / "sched", schedule=schedule)
    assert result.status == "finished"
    trajectory = result.extra["weight_trajectory"]
    assert [p["step"] for p in trajectory] == [0, 10]
    assert trajectory[1]["weights"] == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert len(schedule.seen) == 20
    step, loss, count = schedule.seen[3]
    assert count.tolist() == [MODEL_PRESETS["micro"].batch_size, 0, 0, 0, 0]
    assert math.isfinite(loss[0]) and np.isnan(loss[1:]).all()
    assert schedule.seen[15][2][1] == MODEL_PRESETS["micro"].batch_size
    assert result.extra["final_mixture"] == [0.0, 1.0, 0.0, 0.0, 0.0]


def test_diverging_run_ends_failed_with_the_reason(project, monkeypatch):
    root, config, catalog = project
    monkeypatch.setitem(MODEL_PRESETS, "explode", ModelPreset(64, 1, 2, 64, 16, lr=1e4))
    result = train_proxy(config, _spec(config, tokens=30 * 1024, model="explode"), catalog, root / "runs" / "boom")
    assert result.status == "failed"
    assert "training loss" in result.reason and ("non-finite" in result.reason or "diverged" in result.reason)
    assert result.table.empty


def test_token_cache_is_keyed_by_content_split_and_tokenizer_and_holds_the_bytes(project):
    _, config, catalog = project
    splits = domain_tokens(config, catalog, "legal")
    row = catalog.set_index("domain").loc["legal"]
    assert len(splits["train"]) == row["train_bytes"] + row["train_docs"]
    assert int((np.asarray(splits["val"]) == EOD).sum()) == row["val_docs"]
    assert len(splits.val_bytes) == len(splits.val) and int(splits.val_bytes.sum()) == row["val_bytes"]
    key = content_key(config, catalog, "legal")
    paths = token_paths(config, "legal", key, ByteTokenizer())
    assert paths["train"].exists() and paths["train"].parent == config.cache_dir / "tokens"
    assert splits.paths == paths and paths["train"].name == f"legal-{key}.train.u8"
    other = config.model_copy(update={"corpus": config.corpus.model_copy(update={"val_fraction": 0.3})})
    assert content_key(other, catalog, "legal") != key


def test_unknown_presets_are_refused(project, tmp_path):
    _, config, catalog = project
    with pytest.raises(ConfigError, match="presets"):
        train_proxy(config, _spec(config, model="huge"), catalog, tmp_path)


def test_an_eval_point_along_a_run_is_where_a_shorter_run_ends(project):
    """Constant learning rate after a fixed warm-up and step-seeded batches: the loss at D tokens does
    not depend on the run's total budget, so eval points along one run are honest points along D."""
    root, config, catalog = project
    short = train_proxy(config, _spec(config, tokens=8_192), catalog, root / "runs" / "prefix-short")
    long = train_proxy(config, _spec(config, tokens=16_384), catalog, root / "runs" / "prefix-long")
    point = long.table[long.table["n_tokens"] == short.table["n_tokens"].iloc[-1]]
    assert len(point) == 1
    losses = [c for c in short.table.columns if c.startswith("loss_") and c != "loss_unit"]
    np.testing.assert_allclose(point[losses].to_numpy()[0], short.table[losses].to_numpy()[-1], rtol=0, atol=1e-9)


def test_weight_average_follows_its_warmed_up_decay_and_the_swap_restores_the_live_weights():
    import torch

    from mixtures.trainers.builtin import WeightAverage

    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    average = WeightAverage(model, decay=0.99)
    expected = torch.ones(1, 2)
    for t, value in enumerate([3.0, -1.0, 5.0], start=1):
        with torch.no_grad():
            model.weight.fill_(value)
        average.update(model)
        beta = min(0.99, (1 + t) / (10 + t))
        expected = beta * expected + (1 - beta) * value
    assert torch.allclose(average.params[0], expected)
    with pytest.raises(RuntimeError), average.swapped_into(model):
        assert torch.allclose(model.weight, expected)
        raise RuntimeError("evaluation failed")
    assert torch.equal(model.weight, torch.full((1, 2), 5.0))  # live weights back, even after an error
    restored = WeightAverage(torch.nn.Linear(2, 1, bias=False))
    restored.load_state_dict(average.state_dict())
    assert restored.updates == 3 and torch.equal(restored.params[0], average.params[0])


class _RecordingSchedule:
    """A static mixture that records each step's training sequences and their domains (the signal_source hook)."""

    def __init__(self, weights) -> None:
        from mixtures.trainers.schedule import StaticSchedule

        self.static, self.drawn = StaticSchedule(weights), []
        self.weights, self.observe, self.final_mixture = self.static.weights, self.static.observe, self.static.final_mixture

    def signal_source(self, view):
        def record(step, tokens, chosen, per_token):
            self.drawn.append((np.asarray(chosen).copy(), tokens.cpu().numpy().copy()))
            return {}
        return record


def test_a_unique_token_cap_makes_the_run_repeat_that_subset_of_the_domain(project):
    from mixtures.tokenizers import project_tokenizer

    root, config, catalog = project
    scarce, cap, width = config.domain_names[0], 1500, MODEL_PRESETS["micro"].seq_len + 1
    plain = _spec(config, tokens=12 * MODEL_PRESETS["micro"].tokens_per_step, name="plain")
    capped = RunSpec.create("capped", plain.weights, plain.model, plain.tokens, plain.seed, unique_tokens={scarce: cap})
    assert "unique_tokens" not in plain.record() and capped.record()["unique_tokens"] == {scarce: cap}
    assert RunSpec.from_record(capped.record()) == capped and RunSpec.from_record(plain.record()) == plain
    train = np.asarray(domain_tokens(config, catalog, scarce, project_tokenizer(config)).train)
    assert len(train) > 20 * cap  # the domain has far more than the cap
    inside = {tuple(train[i:i + width]) for i in range(cap - width + 1)}  # every window of its first cap tokens
    drawn = {}
    for spec in (plain, capped):
        schedule = _RecordingSchedule([spec.weights[d] for d in config.domain_names])
        result = train_proxy(config, spec, catalog, root / "runs" / spec.run_id, schedule=schedule)
        assert result.status == "finished", result.reason
        drawn[spec.run_id] = [tuple(seq) for chosen, tokens in schedule.drawn
                              for d, seq in zip(chosen, tokens, strict=True) if d == 0]
    seen = drawn[capped.run_id]
    assert all(seq in inside for seq in seen)  # every sequence of the scarce domain lies in its first cap tokens
    assert len(seen) * width > 2 * cap  # and the run drew more of it than that: it repeated the subset
    assert sum(seq in inside for seq in drawn[plain.run_id]) < len(drawn[plain.run_id]) / 2  # uncapped: all over
    with pytest.raises(ValueError, match="unique_tokens must be whole token counts"):
        RunSpec.create("bad", plain.weights, plain.model, plain.tokens, 0, unique_tokens={scarce: 0})


def test_a_revealed_run_trains_a_domain_on_its_revealed_documents_only(tmp_path):
    from mixtures.corpus.revealed import revealed_positions, revealed_texts
    from mixtures.trainers.data import TrainingData
    from mixtures.tokenizers import project_tokenizer
    from tests.proxy_fixture import DOMAINS

    domains = [{**d, "revealed": 0.1} if d["name"] == "legal" else d for d in DOMAINS]
    config = fixture_config(tmp_path, domains=domains)
    catalog = fixture_catalog(config)
    tokenizer = project_tokenizer(config)
    j = config.domain_names.index("legal")
    full = TrainingData(config, catalog, 64, 2048, tokenizer)
    data = TrainingData(config, catalog, 64, 2048, tokenizer, revealed={"legal": 0.1})
    positions = revealed_positions(config, "legal")
    assert 0 < len(positions) < catalog.set_index("domain").loc["legal", "train_docs"] / 5
    texts = revealed_texts(config, "legal", "train")  # what the ot law reads
    ordered = [t for t in _corpus_order(config, "legal") if t in set(texts)]  # those documents in corpus order
    assert len(ordered) == len(texts) == len(positions)
    want = np.concatenate([np.append(np.asarray(ids), tokenizer.eod_id) for ids in tokenizer.encode_batch(ordered)])
    np.testing.assert_array_equal(np.asarray(data.train[j]), want)  # exactly the revealed documents' tokens
    assert len(data.train[j]) < len(full.train[j]) / 5
    for k in range(len(config.domain_names)):  # the other domains keep every document
        if k != j:
            np.testing.assert_array_equal(np.asarray(data.train[k]), np.asarray(full.train[k]))
    # the run spec's value decides, not the config's: a spec recorded at 30% trains on the first 30% in hash order
    more = TrainingData(config, catalog, 64, 2048, tokenizer, revealed={"legal": 0.3})
    wider = revealed_positions(config, "legal", "train", 0.3)
    assert set(positions) < set(wider) and len(more.train[j]) > len(data.train[j])
    assert int(np.sum(np.asarray(more.train[j]) == tokenizer.eod_id)) == len(wider)


def _corpus_order(config, name):
    from mixtures.corpus.domains import iter_documents

    return [d.text for d in iter_documents(config, name, "train")]
