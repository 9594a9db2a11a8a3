"""Design of experiments: seeded, on the simplex, within the epoch caps, named and ordered."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mixtures.corpus import natural_mixture
from mixtures.runs import RunSpec
from mixtures.design import design_frame, design_mixtures, design_runs
from mixtures.errors import InfeasibleError
from tests.proxy_fixture import fixture_catalog, fixture_config


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    config = fixture_config(tmp_path_factory.mktemp("design"), n_mixtures=12)
    return config, fixture_catalog(config)


def _vectors(mixtures, domains):
    return np.array([[m[d] for d in domains] for m in mixtures.values()])


def test_design_is_seeded_and_ordered(setup):
    config, catalog = setup
    first = design_mixtures(config, catalog)
    again = design_mixtures(config, catalog)
    assert first == again
    names = list(first)
    assert names[:2] == ["natural", "uniform"]
    assert names[2:] == [f"dirichlet-{i:03d}" for i in range(10)]
    assert first["natural"] == pytest.approx(natural_mixture(catalog))
    other = design_mixtures(config.model_copy(update={"seed": 1}), catalog)
    assert other["natural"] == first["natural"]
    assert other["dirichlet-000"] != first["dirichlet-000"]


def test_mixtures_on_simplex_distinct_and_thresholded(setup):
    config, catalog = setup
    mixtures = design_mixtures(config, catalog)
    vectors = _vectors(mixtures, config.domain_names)
    assert np.all(vectors >= 0)
    assert np.allclose(vectors.sum(axis=1), 1.0, atol=1e-12)
    sampled = vectors[2:]
    assert np.all((sampled == 0) | (sampled >= config.proxy.min_weight - 1e-6))
    assert len({tuple(np.round(v, 4)) for v in vectors}) == len(vectors)
    assert (sampled == 0).any(), "small Dirichlet strengths give sparse mixtures"


def test_epoch_cap_rejects_oversampling(tmp_path):
    config = fixture_config(tmp_path, n_mixtures=10, max_epochs=1.0, scales=[{"model": "micro", "tokens": 100_000}])
    catalog = fixture_catalog(config)
    train = catalog.set_index("domain").loc[config.domain_names, "train_tokens"].to_numpy(float)
    caps = config.proxy.max_epochs * train / 100_000
    vectors = _vectors(design_mixtures(config, catalog), config.domain_names)
    assert np.all(vectors[2:] <= caps + 1e-9)
    loose = fixture_config(tmp_path, n_mixtures=10, max_epochs=100.0, scales=[{"model": "micro", "tokens": 100_000}])
    assert np.any(_vectors(design_mixtures(loose, catalog), config.domain_names)[2:] > caps + 1e-9)


def test_impossible_caps_raise_a_clear_error(tmp_path):
    config = fixture_config(tmp_path, max_epochs=0.5, scales=[{"model": "micro", "tokens": 10_000_000}])
    with pytest.raises(InfeasibleError, match="cannot sum to 1"):
        design_mixtures(config, fixture_catalog(config))
    tight = fixture_config(tmp_path, n_mixtures=40, max_epochs=1.0, min_weight=0.0,
                           scales=[{"model": "micro", "tokens": 230_000}])
    with pytest.raises(InfeasibleError, match=r"could draw only \d+ of 38"):
        design_mixtures(tight, fixture_catalog(tight))


def test_space_filling_spreads_the_design(setup):
    config, catalog = setup

    def min_distance(cfg):
        v = _vectors(design_mixtures(cfg, catalog), cfg.domain_names)
        d = np.linalg.norm(v[:, None] - v[None], axis=2)
        d[0, 1] = d[1, 0] = np.inf  # natural-uniform is fixed by the data, not by the design
        return d[np.triu_indices(len(v), 1)].min()

    spread = config.model_copy(update={"proxy": config.proxy.model_copy(update={"space_filling": True})})
    assert min_distance(spread) > min_distance(config)
    assert design_mixtures(spread, catalog) == design_mixtures(spread, catalog)


def test_runs_cross_mixtures_scales_and_seeds(setup):
    config, catalog = setup
    proxy = config.proxy.model_copy(update={
        "n_mixtures": 4, "seeds": [0, 3],
        "scales": [type(config.proxy.scales[0])(model="micro", tokens=20_000),
                   type(config.proxy.scales[0])(model="tiny", tokens=40_000)]})
    specs = design_runs(config.model_copy(update={"proxy": proxy}), catalog)
    assert len(specs) == 4 * 2 * 2
    assert len({s.run_id for s in specs}) == len(specs)
    assert specs[0] == RunSpec("natural.micro.20000.s0", "natural", specs[0].weights, "micro", 20_000, 0,
                               setup=specs[0].setup)
    assert len({s.setup for s in specs}) == 1 and len(specs[0].setup) == 16
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", s.run_id) for s in specs)
    frame = design_frame(specs)
    assert list(frame.columns[:5]) == ["run_id", "mixture_name", "model", "tokens", "seed"]
    assert [c for c in frame.columns if c.startswith("w_")] == [f"w_{d}" for d in config.domain_names]
    assert np.allclose(frame.filter(like="w_").sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="outside"):
        RunSpec.make_run_id("my mix", "micro", 1, 0)


def test_repeats_add_seeds_of_one_mixture_after_the_design(setup):
    from mixtures.design import is_repeat

    config, catalog = setup
    plain = design_runs(config, catalog)
    proxy = config.proxy.model_copy(update={"seeds": [0, 2], "repeats": 3, "repeats_mixture": "uniform"})
    repeated = config.model_copy(update={"proxy": proxy})
    specs = design_runs(repeated, catalog)
    base = [s for s in specs if not is_repeat(repeated, s)]
    extra = [s for s in specs if is_repeat(repeated, s)]
    assert specs[:len(base)] == base  # the design first, unchanged, then the repeats
    assert [s.seed for s in extra] == [3, 4, 5] and {s.mixture_name for s in extra} == {"uniform"}
    assert {s.run_id for s in base if s.seed == 0} == {s.run_id for s in plain}
    assert all(s.weights == extra[0].weights for s in extra)
    with pytest.raises(InfeasibleError, match="repeats_mixture 'nope'"):
        design_runs(config.model_copy(update={"proxy": proxy.model_copy(update={"repeats_mixture": "nope"})}), catalog)


def test_repeat_runs_cap_a_domains_unique_tokens_after_an_unchanged_design(setup, tmp_path):
    from mixtures.config import RepeatRunsConfig
    from mixtures.errors import ConfigError

    config, catalog = setup
    plain = design_runs(config, catalog)
    scarce = config.domain_names[1]
    proxy = config.proxy.model_copy(update={"repeat_runs": RepeatRunsConfig(domains=[scarce], unique_fraction=0.1, n=3)})
    specs = design_runs(config.model_copy(update={"proxy": proxy}), catalog)
    assert specs[:len(plain)] == plain and all(not s.unique_tokens for s in plain)  # the design itself unchanged
    extra = specs[len(plain):]
    assert [s.mixture_name for s in extra] == [f"repeat-{scarce}-{i}" for i in range(3)]
    shares = [s.weights[scarce] for s in extra]
    assert shares == pytest.approx([0.3, 0.5, 0.7]) and all(sum(s.weights.values()) == pytest.approx(1) for s in extra)
    for s in extra:  # each caps the domain at 10% of what it draws from it: ~10 passes over the subset
        assert s.unique_tokens == {scarce: round(0.1 * s.weights[scarce] * s.tokens)}
        assert s.weights[scarce] * s.tokens / s.unique_tokens[scarce] == pytest.approx(10, rel=1e-3)
    others = [d for d in config.domain_names if d != scarce]
    natural = natural_mixture(catalog)
    ratio = np.array([extra[0].weights[d] / natural[d] for d in others])
    assert np.allclose(ratio, ratio[0], rtol=1e-4)  # the rest in natural proportions
    frame = design_frame(specs)
    assert frame[f"unique_{scarce}"].notna().sum() == 3 and len(frame) == len(specs)
    too_big = proxy.model_copy(update={"repeat_runs": RepeatRunsConfig(domains=[scarce], unique_fraction=0.99)})
    tight = config.model_copy(update={"proxy": too_big.model_copy(update={"scales": [
        type(config.proxy.scales[0])(model="micro", tokens=int(catalog.set_index("domain").loc[scarce, "train_tokens"]) * 4)]})})
    with pytest.raises(InfeasibleError, match=rf"repeat_runs: domain '{scarce}' has \d+ training tokens"):
        design_runs(tight, catalog)
    with pytest.raises(ConfigError, match=r"proxy.repeat_runs.domains names unknown domain\(s\) \['nope'\]"):
        fixture_config(tmp_path, repeat_runs={"domains": ["nope"]})
    with pytest.raises(ConfigError, match=f"domain {scarce} is listed twice"):
        fixture_config(tmp_path, repeat_runs={"domains": [scarce, scarce]})
    with pytest.raises(ConfigError, match="only the builtin trainer"):
        fixture_config(tmp_path, repeat_runs={"domains": [scarce]}, trainer="command", command={"args": ["x"]})


def test_a_partly_revealed_domain_is_capped_at_its_revealed_tokens_and_trains_on_them(tmp_path):
    from tests.proxy_fixture import DOMAINS

    scarce = "code"
    domains = [{**d, "revealed": 0.05} if d["name"] == scarce else d for d in DOMAINS]
    scales = [{"model": "micro", "tokens": 100_000}]
    plain = fixture_config(tmp_path / "plain", n_mixtures=10, max_epochs=1.0, scales=scales)
    partial = fixture_config(tmp_path / "partial", domains=domains, n_mixtures=10, max_epochs=1.0, scales=scales)
    catalog = fixture_catalog(partial)
    row = catalog.set_index("domain").loc[scarce]
    revealed_tokens = row["train_tokens"] * np.ceil(0.05 * row["train_docs"]) / row["train_docs"]
    j = partial.domain_names.index(scarce)
    full = _vectors(design_mixtures(plain, catalog), plain.domain_names)[2:, j]
    capped = _vectors(design_mixtures(partial, catalog), partial.domain_names)[2:, j]
    assert (full * 100_000 > revealed_tokens).any()  # the full domain's design goes past what is revealed ...
    assert (capped * 100_000 <= revealed_tokens * 1.0 + 1e-6).all()  # ... the partly revealed one never does
    specs = design_runs(partial, catalog)
    assert all(s.revealed == {scarce: 0.05} for s in specs)  # every proxy run trains on the revealed documents
    assert all("revealed" not in s.record() for s in design_runs(plain, catalog))  # others: records unchanged
    assert RunSpec.from_record(specs[0].record()) == specs[0] and specs[0].record()["revealed"] == {scarce: 0.05}
    with pytest.raises(ValueError, match="revealed must be"):
        RunSpec.create("bad", specs[0].weights, "micro", 1000, 0, revealed={scarce: 0.0})
