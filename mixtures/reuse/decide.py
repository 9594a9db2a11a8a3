"""Whether a pipeline reuses the previous optimum (``reuse: auto | never | always``), and the runs it trains.

The optimum keeps the catalog it was made from beside it (``OPTIMUM_CATALOG``); the design compares the
current catalog with it. ``never``: a full design. ``always``: reuse whenever there is a previous optimum and
the corpus changed (an error when it cannot). ``auto``: reuse when it can and its swarm is smaller than the full
design (``proxy.n_mixtures``); otherwise a full design. The plan in force is written to ``REUSE_PLAN`` for the
laws and the optimizer, and removed by a full design.
"""

from __future__ import annotations

import json

import pandas as pd

from mixtures import storage
from mixtures.config import ProjectConfig
from mixtures.corpus.revealed import revealed_sources
from mixtures.design import usable_tokens
from mixtures.errors import InfeasibleError
from mixtures.layout import OPTIMAL_MIXTURE, OPTIMUM_CATALOG, REUSE_PLAN, project_file
from mixtures.reuse.change import detect_change
from mixtures.reuse.plan import ReusePlan, caps_from_tokens, plan_reuse, reuse_swarm
from mixtures.runs import RunSpec, training_setup


def previous_optimum(config: ProjectConfig) -> tuple[dict[str, float], pd.DataFrame] | None:
    """The stored optimum's weights and the catalog it was made from, or None (no optimum, or one made before
    optima kept their catalog)."""
    optimum, catalog = project_file(config, OPTIMAL_MIXTURE), project_file(config, OPTIMUM_CATALOG)
    if not (storage.exists(optimum) and storage.exists(catalog)):
        return None
    with storage.open_read(catalog) as handle:
        frame = pd.read_parquet(handle)
    return {d: float(w) for d, w in storage.read_json(optimum)["weights"].items()}, frame


def decide(config: ProjectConfig, catalog: pd.DataFrame) -> ReusePlan | None:
    """The reuse plan this design follows, or None for a full design (see the module docstring)."""
    mode = config.reuse
    previous = previous_optimum(config) if mode != "never" else None
    if previous is None:
        return None
    weights, before = previous
    change = detect_change(before, catalog)
    if not change.any:
        # the corpus the optimum was made from: the design that made it stands (its runs are stored), be it a
        # reuse (the plan in force) or a full design
        current = active_plan(config)
        return current if current is not None and list(current.domains) == config.domain_names else None
    try:
        plan = plan_reuse(weights, change, config.domain_names)
        if not plan.needs_runs:
            # a removal needs no runs (mixtures.reuse.reoptimize), but the pipeline's laws and optimizer stages
            # need a table to fit: here it recomputes
            raise InfeasibleError(f"reuse: {change.message()} needs no new runs; the pipeline recomputes instead "
                                  "(mixtures.reuse.reoptimize gives the renormalised optimum directly)")
    except InfeasibleError:
        if mode == "always":
            raise
        return None
    if mode == "auto" and plan.swarm_size >= config.proxy.n_mixtures:
        return None
    return plan


def reuse_runs(config: ProjectConfig, catalog: pd.DataFrame, plan: ReusePlan) -> list[RunSpec]:
    """The swarm's proxy runs (every mixture expanded to every domain) x ``proxy.scales`` x ``proxy.seeds``."""
    train = dict(zip(config.domain_names, usable_tokens(config, catalog).tolist(), strict=True))
    budget = max(scale.tokens for scale in config.proxy.scales)
    caps = caps_from_tokens(train, budget, config.proxy.max_epochs)
    setup = training_setup(config, catalog)
    return [RunSpec.create(name, plan.expand(components), scale.model, scale.tokens, seed, kind="proxy",
                           trainer=config.proxy.trainer, threads=config.launch.threads, setup=setup,
                           revealed=revealed_sources(config))
            for name, components in reuse_swarm(plan, caps, config.seed, config.proxy.min_weight).items()
            for scale in config.proxy.scales for seed in config.proxy.seeds]


def save_plan(config: ProjectConfig, plan: ReusePlan | None) -> None:
    """Write the plan in force (``None``: remove it, a full design)."""
    path = project_file(config, REUSE_PLAN)
    if plan is None:
        if storage.exists(path):
            storage.remove(path)
        return
    storage.atomic_write_text(path, json.dumps(plan.to_dict(), indent=1, sort_keys=True))


def active_plan(config: ProjectConfig) -> ReusePlan | None:
    """The plan the current design follows (None: a full design)."""
    path = project_file(config, REUSE_PLAN)
    return ReusePlan.from_dict(storage.read_json(path)) if storage.exists(path) else None


def save_optimum_catalog(config: ProjectConfig, catalog: pd.DataFrame) -> None:
    """Keep the catalog an optimum was made from beside it (what the next corpus change is compared with)."""
    storage.atomic_write_frame(project_file(config, OPTIMUM_CATALOG), catalog)
