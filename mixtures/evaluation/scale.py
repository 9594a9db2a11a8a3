"""Where the chosen mixture is checked: the validation scale and its runs.

The validation scale defaults to the next model preset above the largest proxy, with enough
tokens for at least 4x the proxy's compute (6 N D) and more tokens than the proxy saw, so the
check is made where the law was not fitted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mixtures.config import ProjectConfig, ScaleConfig
from mixtures.runs import RunSpec, training_setup

COMPUTE_FACTOR = 4.0
MIN_TOKEN_FACTOR = 1.5


def preset_params(model: str) -> int:
    """Non-embedding parameters of a built-in model preset."""
    from mixtures.trainers import get_preset

    return get_preset(model).n_params


def _largest_proxy(config: ProjectConfig) -> ScaleConfig:
    return max(config.proxy.scales, key=lambda s: (preset_params(s.model) * s.tokens, s.tokens))


def validation_scale(config: ProjectConfig) -> ScaleConfig:
    """``validation.scale`` if set, else the next preset up with >= 4x the largest proxy's compute."""
    if config.validation.scale is not None:
        return config.validation.scale
    from mixtures.trainers import MODEL_PRESETS

    proxy = _largest_proxy(config)
    n_proxy = preset_params(proxy.model)
    bigger = sorted((preset_params(name), name) for name in MODEL_PRESETS if preset_params(name) > n_proxy)
    n_val, model = bigger[0] if bigger else (n_proxy, proxy.model)
    tokens = max(COMPUTE_FACTOR * n_proxy * proxy.tokens / n_val, MIN_TOKEN_FACTOR * proxy.tokens)
    return ScaleConfig(model=model, tokens=int(math.ceil(tokens / 1000.0) * 1000))


def validation_point(config: ProjectConfig) -> tuple[int, int]:
    """``(n_params, n_tokens)`` of the validation scale: where the optimum is predicted and then measured."""
    scale = validation_scale(config)
    return preset_params(scale.model), int(scale.tokens)


def validation_specs(config: ProjectConfig, catalog, mixtures: Mapping[str, Mapping[str, float]],
                     seeds=None, methods: Mapping[str, str] | None = None) -> list[RunSpec]:
    """One validation run per mixture and seed (default ``validation.seeds``) at the validation scale;
    ``methods`` names the training procedure a mixture is validated with (e.g. reweighting)."""
    scale = validation_scale(config)
    setup = training_setup(config, catalog)
    return [RunSpec.create(name, weights, scale.model, scale.tokens, seed, kind="validation",
                           method=(methods or {}).get(name), trainer=config.proxy.trainer,
                           threads=config.launch.threads, setup=setup)
            for name, weights in mixtures.items() for seed in (config.validation.seeds if seeds is None else seeds)]
