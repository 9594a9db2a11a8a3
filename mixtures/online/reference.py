"""DoReMi's reference model: the built-in proxy trained on the baseline mixture, cached on disk.

The reference run is an ordinary built-in proxy run (run id ``reference-<mixture>.<model>.<tokens>.s<seed>``)
in ``<root>/online/reference/<run id>/``; a finished run there is reused (the trainer resumes from its
final checkpoint without training), so the reference is trained once per scale, seed and mixture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.corpus.catalog import natural_mixture
from mixtures.runs import RunSpec
from mixtures.errors import TrainerError
from mixtures.mixture import uniform_mixture
from mixtures.trainers.result import TrainResult


@dataclass
class Reference:
    """The reference model (torch module in eval mode) and the run that trained it."""

    model: object
    result: TrainResult
    cached: bool


def reference_spec(config: ProjectConfig, catalog: pd.DataFrame, mixture: str, model: str, tokens: int,
                   seed: int) -> RunSpec:
    weights = natural_mixture(catalog) if mixture == "natural" else uniform_mixture(config.domain_names)
    name = f"reference-{mixture}"
    return RunSpec(RunSpec.make_run_id(name, model, tokens, seed), name, weights, model, int(tokens), int(seed))


def train_reference(config: ProjectConfig, catalog: pd.DataFrame, spec: RunSpec, *,
                    log: Callable[[str], None] | None = None) -> Reference:
    """Train (or reuse) the reference run of ``spec`` and load its final model."""
    from mixtures.trainers.builtin import CHECKPOINT, load_trained_model, train_builtin

    workdir = config.root / "online" / "reference" / spec.run_id
    existed = (workdir / CHECKPOINT).exists()
    result = train_builtin(config, spec, catalog, workdir, log=log)
    if not result.finished:
        raise TrainerError(f"the DoReMi reference run {spec.run_id} failed: {result.reason}")
    model = load_trained_model(config, spec, workdir)
    cached = existed and result.extra.get("resumed_from_step") == result.extra.get("steps")
    return Reference(model=model, result=result, cached=cached)
