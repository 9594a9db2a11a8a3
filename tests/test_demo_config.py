"""The embedded demo's config asks a real question at a fair scale."""

from __future__ import annotations

from mixtures.defaults import DEMO_CAPS_MB, load_demo_config
from mixtures.objective import objective_weights
from mixtures.evaluation.scale import preset_params, validation_scale


def test_demo_validates_at_four_times_the_proxy_compute_on_targets_it_never_trains_on(tmp_path):
    config = load_demo_config(tmp_path)
    proxy = max(config.proxy.scales, key=lambda s: preset_params(s.model) * s.tokens)
    check = validation_scale(config)
    ratio = preset_params(check.model) * check.tokens / (preset_params(proxy.model) * proxy.tokens)
    assert ratio >= 4.0 and check.tokens > proxy.tokens and len(config.validation.seeds) >= 3
    targets = [s.name for s in config.target.sets]
    assert targets and not set(targets) & set(config.domain_names)  # held out: not training domains
    assert set(targets) <= set(DEMO_CAPS_MB)  # built with the corpus
    assert objective_weights(config) == {f"loss_{t}": 1 / len(targets) for t in targets}
