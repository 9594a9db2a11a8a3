"""The trainer at scale, on CPU: the llama-style presets, BPE proxy runs, bf16 autocast, gradient
accumulation, batch prefetch and kill-and-resume with all of them (the CUDA path's logic)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mixtures.errors import ConfigError
from mixtures.runs import RunSpec
from mixtures.trainers import MODEL_PRESETS, train_proxy
from mixtures.trainers.model import ModelPreset, build_model, scaling_rule_hyperparameters
from tests.proxy_fixture import fixture_catalog, fixture_config, kill_at_first_checkpoint

REPO = Path(__file__).resolve().parents[1]
SCALED = ["1m", "5m", "15m", "30m", "60m", "150m"]
# A llama-family preset small enough for CPU tests (same code as 1m..150m).
PICO = ModelPreset(d_model=64, n_layers=2, n_heads=2, seq_len=64, batch_size=16, lr=3e-3, arch="llama",
                   d_ff=192, warmup_steps=5, micro_batch=4)


@pytest.fixture(autouse=True)
def _pico(monkeypatch):
    monkeypatch.setitem(MODEL_PRESETS, "pico", PICO)


def test_new_presets_parameter_counts_match_a_hand_count():
    import torch

    hand = {  # per layer q,k,v,o 4d^2 + SwiGLU 3 d ff + two RMSNorm d each; + final RMSNorm d
        "1m": 5 * (4 * 128**2 + 3 * 128 * 384 + 2 * 128) + 128,
        "5m": 6 * (4 * 256**2 + 3 * 256 * 704 + 2 * 256) + 256,
        "15m": 8 * (4 * 384**2 + 3 * 384 * 1024 + 2 * 384) + 384,
        "30m": 9 * (4 * 512**2 + 3 * 512 * 1408 + 2 * 512) + 512,
        "60m": 12 * (4 * 640**2 + 3 * 640 * 1728 + 2 * 640) + 640,
        "150m": 12 * (4 * 1024**2 + 3 * 1024 * 2752 + 2 * 1024) + 1024,
    }
    assert hand["5m"] == 4_820_224 and hand["150m"] == 151_806_976
    for name in SCALED:
        preset = MODEL_PRESETS[name]
        with torch.device("meta"):  # shapes only: no memory, no init
            model = build_model(preset, vocab_size=4096)
        total = sum(p.numel() for p in model.parameters())
        assert preset.n_params == model.non_embedding_params() == hand[name], name
        assert preset.embedding_params(4096) == total - hand[name] == 2 * 4096 * preset.d_model, name
        assert 0.7 < preset.n_params / (float(name[:-1]) * 1e6) < 1.1, name  # named by its size


def test_batch_and_learning_rate_follow_the_stated_rule():
    for name in SCALED:
        p = MODEL_PRESETS[name]
        compute = (72 * p.n_layers * p.d_model**2 + 6 * p.n_layers * p.d_model * p.seq_len) * 20 * p.n_params
        assert abs(p.batch_size * p.seq_len - 0.2920 * compute**0.3271) <= 8 * p.seq_len, name
        assert p.lr == pytest.approx(0.3118 * compute**-0.125, rel=2e-3), name
        assert (p.batch_size, p.lr) == scaling_rule_hyperparameters(p.n_params, p.n_layers, p.d_model, p.seq_len)
    sizes = [MODEL_PRESETS[n] for n in SCALED]
    assert [p.batch_size for p in sizes] == sorted(p.batch_size for p in sizes)  # bigger models: bigger batches
    assert [p.lr for p in sizes] == sorted((p.lr for p in sizes), reverse=True)   # ... and smaller steps


def test_readme_preset_sizes_agree_with_the_models():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| [a-z]+ \| ([\d,]+) \|", text, flags=re.M))
    assert set(rows) == set(MODEL_PRESETS) - {"pico"}, "README's preset table must list every preset"
    for name, count in rows.items():
        assert int(count.replace(",", "")) == MODEL_PRESETS[name].n_params, name


def _bpe_config(root: Path, **proxy):
    config = fixture_config(root, eval_points=3, **proxy)
    corpus = config.corpus.model_copy(update={"tokenizer": "bpe", "bpe_vocab_size": 512, "bpe_sample_mb": 0.25})
    return config.model_copy(update={"corpus": corpus})


def _spec(config, model="pico", tokens=30 * 1024, seed=0):
    weights = dict(zip(config.domain_names, [0.3, 0.3, 0.2, 0.1, 0.1], strict=True))
    return RunSpec(RunSpec.make_run_id("mix", model, tokens, seed), "mix", weights, model, tokens, seed)


@pytest.fixture(scope="module")
def bpe_project(tmp_path_factory):
    pytest.importorskip("tokenizers")
    root = tmp_path_factory.mktemp("bpe-run")
    config = _bpe_config(root)
    return root, config, fixture_catalog(config)


@pytest.fixture(scope="module")
def bpe_reference(bpe_project):
    root, config, catalog = bpe_project
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(MODEL_PRESETS, "pico", PICO)
        return train_proxy(config, _spec(config), catalog, root / "runs" / "reference")


def test_a_bpe_proxy_run_trains_below_its_unigram_baseline_in_bits_per_byte(bpe_project, bpe_reference):
    _, config, catalog = bpe_project
    result = bpe_reference
    assert result.status == "finished", result.reason
    assert result.extra["tokenizer"]["name"] == "bpe" and result.extra["tokenizer"]["vocab_size"] == 512
    assert result.extra["runtime"] == {"device": "cpu", "precision": "fp32", "compile": False, "micro_batch": 4}
    assert set(result.table["loss_unit"]) == {"bits_per_byte"}
    baseline, final = result.extra["unigram_baseline"], result.final_losses()
    for name in config.domain_names + ["docs"]:
        assert final[name] < baseline[name], (name, final[name], baseline[name])
        assert 0.5 < final[name] < 6.0, name  # bits per byte, not nats per token (which run ~4x higher)
    assert np.mean([baseline[n] - final[n] for n in final]) > 0.05
    first = result.table.iloc[0]
    assert all(final[n] < first[f"loss_{n}"] for n in final)  # and still falling along the run


def test_bf16_autocast_runs_on_cpu_within_two_percent_of_fp32(bpe_project, bpe_reference):
    root, config, catalog = bpe_project
    bf16 = config.model_copy(update={"proxy": config.proxy.model_copy(update={"precision": "bf16"})})
    result = train_proxy(bf16, _spec(config), catalog, root / "runs" / "bf16")
    assert result.status == "finished" and result.extra["runtime"]["precision"] == "bf16"
    fp32, half = bpe_reference.final_losses(), result.final_losses()
    assert fp32 != half  # a different code path ran
    for name in fp32:
        assert abs(half[name] - fp32[name]) / fp32[name] < 0.02, (name, half[name], fp32[name])


def test_gradient_accumulation_equals_one_pass():
    import torch

    from mixtures.trainers.builtin import train_step

    rng = np.random.default_rng(0)
    tokens = torch.from_numpy(rng.integers(1, 256, size=(16, PICO.seq_len + 1)))
    results = []
    for micro in (None, 4):
        torch.manual_seed(0)
        model = build_model(PICO)
        sgd = torch.optim.SGD(model.parameters(), lr=1.0)  # the step is the (clipped) gradient itself
        losses = train_step(model, sgd, tokens, micro_batch=micro)
        results.append((losses, [p.detach().clone() for p in model.parameters()]))
    (one, params_one), (acc, params_acc) = results
    assert one.shape == acc.shape == (16, PICO.seq_len)
    torch.testing.assert_close(acc, one, rtol=0, atol=1e-5)
    for a, b in zip(params_acc, params_one, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_prefetched_batches_are_the_batches_the_loop_builds(bpe_project):
    from mixtures.tokenizers import project_tokenizer
    from mixtures.trainers.data import TrainingData
    from mixtures.trainers.runtime import BatchPrefetcher

    _, config, catalog = bpe_project
    data = TrainingData(config, catalog, 64, 2048, project_tokenizer(config))
    weights = np.full(5, 0.2)
    prefetch = BatchPrefetcher(lambda step: data.batch(weights, 7, step, 8), "cpu")
    try:
        for step in range(5):
            domains, tokens = prefetch.get(step, 5)
            want_domains, want = data.batch(weights, 7, step, 8)
            assert np.array_equal(domains, want_domains) and np.array_equal(tokens.numpy(), want)
    finally:
        prefetch.close()


def test_runtime_defaults_on_cpu_and_a_missing_gpu_is_named(bpe_project, tmp_path):
    import torch

    from mixtures.trainers.runtime import resolve_runtime

    _, config, catalog = bpe_project
    if torch.cuda.is_available():
        pytest.skip("checks the CPU defaults")
    runtime = resolve_runtime(config.proxy, MODEL_PRESETS["micro"])
    assert runtime.record() == {"device": "cpu", "precision": "fp32", "compile": False, "micro_batch": 16}
    assert resolve_runtime(config.proxy, MODEL_PRESETS["5m"]).micro_batch == 16  # 64 sequences in 4 passes
    gpu = config.model_copy(update={"proxy": config.proxy.model_copy(update={"device": "cuda"})})
    with pytest.raises(ConfigError, match="proxy.device is 'cuda' but torch sees no CUDA device"):
        train_proxy(gpu, _spec(config), catalog, tmp_path)


_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from mixtures.trainers import MODEL_PRESETS, train_proxy
from tests.proxy_fixture import fixture_catalog
from tests.test_trainer_scale import PICO, _bpe_config, _spec
MODEL_PRESETS["pico"] = PICO
config = _bpe_config(Path({root!r}))
train_proxy(config, _spec(config), fixture_catalog(config), Path({workdir!r}))
"""


def test_a_killed_bpe_llama_run_with_accumulation_resumes_bitwise(bpe_project, bpe_reference):
    root, config, catalog = bpe_project
    workdir = root / "runs" / "killed"
    saved = kill_at_first_checkpoint(_CHILD.format(repo=str(REPO), root=str(root), workdir=str(workdir)), workdir)
    assert 0 < saved["step"] < bpe_reference.extra["steps"], "the child must be killed mid-run"
    resumed = train_proxy(config, _spec(config), catalog, workdir)
    assert resumed.status == "finished" and resumed.extra["resumed_from_step"] == saved["step"]
    pd.testing.assert_frame_equal(resumed.table, bpe_reference.table, check_exact=True)
    assert all(math.isfinite(v) for v in resumed.final_losses().values())


def test_the_trainer_does_not_import_the_online_methods():
    """The schedule/signal protocol lives in trainers/schedule.py; online/ implements it."""
    import ast

    for path in (REPO / "mixtures" / "trainers").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m.startswith("mixtures.online")], path.name


def test_the_gpu_example_trains_bpe_proxies_of_5m_to_30m_and_validates_at_ten_times_their_compute():
    from mixtures.config import load_config

    config = load_config(REPO / "examples" / "gpu.yaml")
    assert config.corpus.tokenizer == "bpe"
    sizes = [MODEL_PRESETS[s.model].n_params for s in config.proxy.scales]
    assert min(sizes) >= 4e6 and max(sizes) <= 3.2e7
    compute = max(MODEL_PRESETS[s.model].n_params * s.tokens for s in config.proxy.scales)
    scale = config.validation.scale
    assert MODEL_PRESETS[scale.model].n_params * scale.tokens >= 10 * compute
