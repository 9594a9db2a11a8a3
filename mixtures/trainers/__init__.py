"""Proxy trainers: the built-in transformer (over the project's tokenizer) and the user's own command.

:func:`train_proxy` dispatches on ``config.proxy.trainer``.
"""

from __future__ import annotations

import os

# Small models mean many short parallel regions per step; OpenMP threads that spin while waiting
# make a shared CPU several times slower (measured: tiny preset, 2 threads, loaded 2-core machine,
# 4.0k -> 19.3k tokens/s). Read once when torch loads OpenMP, so set it before torch is imported;
# an explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections.abc import Callable  # noqa: E402
from pathlib import Path
from typing import Any

import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.runs import RunSpec
from mixtures.trainers.baseline import unigram_baseline
from mixtures.trainers.model import DEFAULT_PRESET, MODEL_PRESETS, ModelPreset, get_preset
from mixtures.trainers.result import TrainResult, eval_names, run_rows
from mixtures.trainers.schedule import MixtureSchedule, SignalSchedule, StaticSchedule, TrainingView

__all__ = [
    "DEFAULT_PRESET", "MODEL_PRESETS", "MixtureSchedule", "ModelPreset", "SignalSchedule", "StaticSchedule",
    "TrainResult", "TrainingView", "eval_names", "get_preset", "run_rows", "train_proxy", "unigram_baseline",
]


def train_proxy(
    config: ProjectConfig,
    spec: RunSpec,
    catalog: pd.DataFrame,
    workdir: str | Path,
    *,
    log: Callable[[str], None] | None = None,
    schedule: MixtureSchedule | None = None,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train one proxy run with the configured trainer (``builtin`` or ``command``).

    ``workdir`` holds the run's checkpoint (built-in) or its input/output JSON and logs (command).
    ``log`` receives progress lines; ``schedule`` overrides the static mixture (built-in only);
    ``on_eval`` receives each eval point ``{"step", "n_tokens", "loss": {name: bits/byte}}`` as it is
    measured (built-in only).
    """
    if config.proxy.trainer == "command":
        from mixtures.trainers.command import train_command

        if schedule is not None:
            from mixtures.errors import ConfigError

            raise ConfigError(
                "a mixture schedule needs proxy.trainer: builtin; the command trainer trains static mixtures."
            )
        return train_command(config, spec, catalog, workdir, log=log)
    from mixtures.trainers.builtin import train_builtin

    return train_builtin(config, spec, catalog, workdir, log=log, schedule=schedule, on_eval=on_eval)
