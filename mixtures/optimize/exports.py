"""Hand an optimized mixture to training stacks.

- ``mixture.json``: ``{"weights": {...}, "solver", "objective", "predicted", ...}`` (readable by
  ``mixtures materialize --mixture``).
- Megatron-LM: ``--data-path W1 PREFIX1 W2 PREFIX2 ...`` over per-domain indexed datasets
  (one prefix per domain, e.g. ``/data/web_text_document``); zero-weight domains are left out.
- Hugging Face ``datasets.interleave_datasets(datasets, probabilities=...)``: the probabilities
  in the order of ``domains``.
- A YAML block (``data_mixture:``) a training config can include.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from mixtures.errors import MixtureError
from mixtures.optimize.result import OptimizationResult
from mixtures.resample.exports import format_blend
from mixtures.storage import atomic_write_text

DIGITS = 10


def _rounded(weights: Mapping[str, float]) -> dict[str, float]:
    return {d: float(f"{w:.{DIGITS}g}") for d, w in weights.items()}


def mixture_json(result: OptimizationResult, extra: Mapping | None = None) -> str:
    """The mixture and how it was chosen, as JSON (sorted keys, deterministic)."""
    payload = {
        "weights": result.weights,
        "solver": result.solver,
        "objective": result.objective,
        "objectives": result.objectives,
        "predicted": result.predicted,
        "evaluations": result.evaluations,
        **(dict(extra) if extra else {}),
    }
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def megatron_data_path(weights: Mapping[str, float], prefixes: Mapping[str, str] | None = None) -> str:
    """Megatron-LM ``--data-path`` blend: ``weight prefix`` per domain with weight > 0.
    ``prefixes`` maps domain -> dataset prefix (default: the domain name)."""
    prefixes = prefixes or {}
    try:
        return format_blend([(w, prefixes.get(d, d)) for d, w in weights.items() if w > 0])
    except ValueError as exc:
        raise MixtureError(f"Megatron export: {exc}") from None


def hf_probabilities(weights: Mapping[str, float], domains: Sequence[str] | None = None) -> list[float]:
    """``probabilities`` for ``datasets.interleave_datasets``, in the order of ``domains``."""
    order = list(domains) if domains is not None else list(weights)
    unknown = [d for d in weights if d not in order]
    if unknown:
        raise MixtureError(f"HF export: domain(s) {unknown} are not in the dataset order {order}")
    probs = [float(weights.get(d, 0.0)) for d in order]
    total = sum(probs)
    return [p / total for p in probs]


def mixture_yaml(result: OptimizationResult, prefixes: Mapping[str, str] | None = None) -> str:
    """A ``data_mixture:`` YAML block (weights, optional per-domain prefixes, provenance)."""
    block = {"data_mixture": {
        "weights": _rounded(result.weights),
        "solver": result.solver,
        "predicted_objective": float(f"{result.objective:.{DIGITS}g}"),
    }}
    if prefixes:
        block["data_mixture"]["paths"] = {d: prefixes[d] for d in result.weights if d in prefixes}
    return yaml.safe_dump(block, sort_keys=False)


def write_exports(result: OptimizationResult, folder: str | Path, prefixes: Mapping[str, str] | None = None,
                  extra: Mapping | None = None) -> dict[str, Path]:
    """Write ``mixture.json``, ``megatron_blend.txt``, ``hf_probabilities.json``, ``mixture.yaml``
    (atomically) into ``folder``; returns ``{name: path}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    domains = list(result.weights)
    texts = {
        "mixture.json": mixture_json(result, extra),
        "megatron_blend.txt": megatron_data_path(result.weights, prefixes) + "\n",
        "hf_probabilities.json": json.dumps({"domains": domains, "probabilities": hf_probabilities(result.weights, domains)},
                                            indent=2) + "\n",
        "mixture.yaml": mixture_yaml(result, prefixes),
    }
    paths = {}
    for name, text in texts.items():
        atomic_write_text(folder / name, text)
        paths[name] = folder / name
    return paths
