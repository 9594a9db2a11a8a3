"""Design of experiments: which mixtures (and scales, seeds) the proxy runs train on.

RegMix-style: besides the ``natural`` (train-token shares) and ``uniform`` mixtures, mixtures are
drawn from a Dirichlet around the natural distribution. The concentration is ``prior * strength``
with ``prior = shares ** proxy.temperature`` (renormalised) and ``strength`` log-uniform in
``proxy.strength``. A sample is rejected when some domain would be repeated more than
``proxy.max_epochs`` times at the largest proxy budget; weights below ``proxy.min_weight`` are
set to 0 (then renormalised); duplicates are dropped. With ``proxy.space_filling`` the design keeps,
greedily, the candidates farthest (max-min Euclidean distance) from those already chosen.
Everything is seeded by ``config.seed``: the same config and catalog give the same design.
``proxy.repeat_runs`` adds runs that repeat a subset of a domain (:func:`repeat_runs`), for the repetition law.
A domain that sets ``revealed`` trains in every proxy run on its revealed training documents only
(:attr:`RunSpec.revealed`), and its epoch cap counts those: the catalog's training tokens times the revealed
share of its training documents.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.corpus.catalog import natural_mixture
from mixtures.corpus.revealed import revealed_count, revealed_sources
from mixtures.errors import InfeasibleError
from mixtures.runs import RunSpec, training_setup
from mixtures.runs_table import unique_column, weight_column

DECIMALS = 6
_MAX_DRAWS_PER_MIXTURE = 500
_BLOCK = 256


def _train_tokens(config: ProjectConfig, catalog: pd.DataFrame) -> np.ndarray:
    train = catalog[catalog["role"] == "train"].set_index("domain")
    missing = [d for d in config.domain_names if d not in train.index]
    if missing:
        raise InfeasibleError(f"the domain catalog has no row for training domain(s) {missing}; rebuild the catalog.")
    tokens = train.loc[config.domain_names, "train_tokens"].to_numpy(dtype=np.float64)
    empty = [d for d, t in zip(config.domain_names, tokens, strict=True) if not t > 0]
    if empty:
        raise InfeasibleError(f"training domain(s) {empty} have no training tokens; add data or remove them.")
    return tokens


def usable_tokens(config: ProjectConfig, catalog: pd.DataFrame) -> np.ndarray:
    """The training tokens a proxy run may draw per domain: all of them, or for a domain that sets ``revealed``
    the revealed share of its training documents (in tokens, the domain's mean per document)."""
    tokens = _train_tokens(config, catalog)
    docs = catalog[catalog["role"] == "train"].set_index("domain")["train_docs"]
    for j, domain in enumerate(config.domains):
        if domain.revealed is not None:
            total = int(docs[domain.name])
            tokens[j] *= revealed_count(domain.revealed, total) / total
    return tokens


def _clean(vector: np.ndarray, min_weight: float) -> np.ndarray | None:
    """Threshold small weights, renormalise and round (None when nothing is left)."""
    if not np.all(np.isfinite(vector)) or vector.sum() <= 0:
        return None
    vector = vector / vector.sum()
    out = np.where(vector < min_weight, 0.0, vector)
    if out.sum() <= 0:
        return None
    out = np.round(out / out.sum(), DECIMALS)
    out[int(np.argmax(out))] += 1.0 - out.sum()  # exact sum to 1 after rounding
    return out


def _check_caps(caps: np.ndarray, config: ProjectConfig, budget: int) -> None:
    if caps.sum() < 1.0:
        detail = ", ".join(f"{d} <= {c:.3g}" for d, c in zip(config.domain_names, caps, strict=True))
        raise InfeasibleError(
            f"proxy.max_epochs={config.proxy.max_epochs} at the largest proxy budget ({budget} tokens) allows "
            f"weights {detail}, which cannot sum to 1; lower the proxy tokens, raise proxy.max_epochs or add data."
        )


def design_mixtures(config: ProjectConfig, catalog: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The design's mixtures, ordered: ``natural``, ``uniform``, ``dirichlet-000``, ...

    ``config.proxy.n_mixtures`` counts natural and uniform. Raises :class:`InfeasibleError`
    when the epoch caps leave no room for enough distinct Dirichlet samples.
    """
    proxy = config.proxy
    domains = config.domain_names
    tokens = usable_tokens(config, catalog)
    natural_map = natural_mixture(catalog)
    natural = np.array([natural_map[d] for d in domains], dtype=np.float64)
    natural = natural / natural.sum()
    uniform = np.full(len(domains), 1.0 / len(domains))
    budget = max(scale.tokens for scale in proxy.scales)
    caps = proxy.max_epochs * tokens / budget
    _check_caps(caps, config, budget)

    chosen: dict[str, np.ndarray] = {"natural": natural, "uniform": uniform}
    wanted = max(proxy.n_mixtures - 2, 0)
    if wanted == 0 or len(domains) == 1:
        return {name: _as_dict(vec, domains) for name, vec in chosen.items()}

    prior = natural**proxy.temperature
    prior = prior / prior.sum()
    lo, hi = proxy.strength
    rng = np.random.default_rng([int(config.seed), 0x4D495854])  # "MIXT": the design's own stream
    n_candidates = wanted * (proxy.candidates_per_mixture if proxy.space_filling else 1)
    seen = {tuple(np.round(v, 4)) for v in chosen.values()}
    candidates: list[np.ndarray] = []
    draws = 0
    max_draws = _MAX_DRAWS_PER_MIXTURE * n_candidates
    rejected_cap = np.zeros(len(domains), dtype=np.int64)
    while len(candidates) < n_candidates and draws < max_draws:
        # Blocks of Dirichlet draws as normalised Gamma variates (one strength per draw).
        strengths = np.exp(rng.uniform(math.log(lo), math.log(hi), size=_BLOCK))
        gammas = rng.standard_gamma(np.maximum(prior[None, :] * strengths[:, None], 1e-12))
        for raw in gammas:
            if len(candidates) >= n_candidates:
                break
            draws += 1
            sample = _clean(raw, proxy.min_weight)
            if sample is None:
                continue
            over = sample > caps + 1e-12
            if over.any():
                rejected_cap += over
                continue
            key = tuple(np.round(sample, 4))
            if key in seen:
                continue
            seen.add(key)
            candidates.append(sample)
    if len(candidates) < wanted:
        worst = domains[int(np.argmax(rejected_cap))] if rejected_cap.any() else None
        why = (
            f"most rejections: domain {worst!r} (usable train tokens {int(tokens[domains.index(worst)])}, "
            f"weight cap {caps[domains.index(worst)]:.3g} at {budget} proxy tokens and max_epochs={proxy.max_epochs})"
            if worst else "too many duplicates"
        )
        raise InfeasibleError(
            f"could draw only {len(candidates)} of {wanted} distinct Dirichlet mixtures in {draws} draws; {why}. "
            "Lower proxy.n_mixtures or the proxy tokens, raise proxy.max_epochs or proxy.strength, or add data."
        )
    if proxy.space_filling:
        picked = max_min_select(np.array(candidates), np.array(list(chosen.values())), wanted)
    else:
        picked = candidates[:wanted]
    for i, vec in enumerate(picked):
        chosen[f"dirichlet-{i:03d}"] = vec
    return {name: _as_dict(vec, domains) for name, vec in chosen.items()}


def max_min_select(candidates: np.ndarray, anchors: np.ndarray, k: int) -> list[np.ndarray]:
    """Greedy max-min (farthest point) selection of ``k`` candidates, away from ``anchors``."""
    nearest = np.min(np.linalg.norm(candidates[:, None, :] - anchors[None, :, :], axis=2), axis=1)
    picked: list[np.ndarray] = []
    available = np.ones(len(candidates), dtype=bool)
    for _ in range(k):
        scores = np.where(available, nearest, -np.inf)
        best = int(np.argmax(scores))  # ties: the earliest candidate (deterministic)
        picked.append(candidates[best])
        available[best] = False
        nearest = np.minimum(nearest, np.linalg.norm(candidates - candidates[best], axis=1))
    return picked


def _as_dict(vector: np.ndarray, domains: list[str]) -> dict[str, float]:
    return {d: float(v) for d, v in zip(domains, vector, strict=True)}


def repeat_seeds(config: ProjectConfig) -> list[int]:
    """The seeds of the noise-floor repeats: ``proxy.repeats`` seeds after the largest of ``proxy.seeds``."""
    first = max(config.proxy.seeds) + 1
    return list(range(first, first + config.proxy.repeats))


def design_runs(config: ProjectConfig, catalog: pd.DataFrame) -> list[RunSpec]:
    """Every proxy run of the design: mixtures x ``proxy.scales`` x ``proxy.seeds``, then the noise-floor
    repeats (``proxy.repeats_mixture`` x scales x :func:`repeat_seeds`), which :func:`is_repeat` tells apart."""
    setup = training_setup(config, catalog)
    mixtures = design_mixtures(config, catalog)
    groups = [(name, weights, config.proxy.seeds) for name, weights in mixtures.items()]
    if config.proxy.repeats:
        name = config.proxy.repeats_mixture
        if name not in mixtures:
            raise InfeasibleError(f"proxy.repeats_mixture {name!r} is not a design mixture; use one of {list(mixtures)[:4]}...")
        groups.append((name, mixtures[name], repeat_seeds(config)))
    specs = [RunSpec.create(name, weights, scale.model, scale.tokens, seed, kind="proxy", trainer=config.proxy.trainer,
                            threads=config.launch.threads, setup=setup, revealed=revealed_sources(config))
             for name, weights, seeds in groups for scale in config.proxy.scales for seed in seeds]
    return specs + repeat_runs(config, catalog, setup)


def repeat_runs(config: ProjectConfig, catalog: pd.DataFrame, setup: str) -> list[RunSpec]:
    """The runs of ``proxy.repeat_runs`` (none when unset): for each of its domains ``d``, ``n`` mixtures
    ``repeat-<d>-<i>`` giving ``d`` a share ``h`` from 0.3 to 0.7 and the other domains ``1 - h`` in natural
    proportions, at every proxy scale and the first proxy seed, each capping ``d`` at ``unique_fraction x h x tokens``
    unique tokens (:attr:`RunSpec.unique_tokens`)."""
    repeat = config.proxy.repeat_runs
    if repeat is None:
        return []
    domains = config.domain_names
    tokens = usable_tokens(config, catalog)
    natural_map = natural_mixture(catalog)
    natural = np.array([natural_map[d] for d in domains], dtype=np.float64)
    shares = np.linspace(0.3, 0.7, repeat.n) if repeat.n > 1 else np.array([0.5])
    specs = []
    for name in repeat.domains:
        j = domains.index(name)
        rest = np.where(np.arange(len(domains)) == j, 0.0, natural)
        for i, share in enumerate(shares):
            vector = (1.0 - share) * rest / rest.sum() if rest.sum() > 0 else np.zeros(len(domains))
            vector[j] = share if rest.sum() > 0 else 1.0
            vector = np.round(vector, DECIMALS)
            vector[int(np.argmax(rest)) if rest.sum() > 0 else j] += 1.0 - vector.sum()  # the share stays exact
            for scale in config.proxy.scales:
                cap = max(1, int(round(repeat.unique_fraction * vector[j] * scale.tokens)))
                if cap > tokens[j]:
                    raise InfeasibleError(
                        f"proxy.repeat_runs: domain {name!r} has {int(tokens[j])} training tokens (revealed ones "
                        f"where it sets revealed), fewer than the {cap} unique ones a run of {scale.tokens} tokens "
                        f"at share {vector[j]:.2f} would see; "
                        "lower proxy.repeat_runs.unique_fraction or the proxy tokens.")
                specs.append(RunSpec.create(f"repeat-{name}-{i}", _as_dict(vector, domains), scale.model, scale.tokens,
                                            config.proxy.seeds[0], kind="proxy", trainer=config.proxy.trainer,
                                            threads=config.launch.threads, setup=setup, unique_tokens={name: cap},
                                            revealed=revealed_sources(config)))
    return specs


def is_repeat(config: ProjectConfig, spec: RunSpec) -> bool:
    """True for a noise-floor repeat: measured for the seed spread, kept out of the law's fit and the baselines."""
    return spec.mixture_name == config.proxy.repeats_mixture and spec.seed in repeat_seeds(config)


def design_frame(specs: list[RunSpec]) -> pd.DataFrame:
    """The design as a table: ``run_id, mixture_name, model, tokens, seed, w_<domain>...``."""
    rows = []
    for spec in specs:
        row = {"run_id": spec.run_id, "mixture_name": spec.mixture_name, "model": spec.model,
               "tokens": spec.tokens, "seed": spec.seed}
        row.update({weight_column(d): w for d, w in spec.weights.items()})
        row.update({unique_column(d): n for d, n in spec.unique_tokens.items()})  # repeat runs only
        rows.append(row)
    return pd.DataFrame(rows)
