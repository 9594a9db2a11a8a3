"""Hand the materialized dataset to training stacks.

- Megatron-style blends: ``--data-path W1 PREFIX1 W2 PREFIX2 ...`` with each text shard weighted by
  its share of the dataset's text bytes (the shards are already mixed, so this consumes them
  evenly). Megatron reads its own indexed format: convert each shard first, e.g. with
  ``tools/preprocess_data.py --input shard-00000.jsonl --output-prefix shard-00000 --json-keys text``,
  which writes ``shard-00000_text_document.{bin,idx}``: the prefixes listed here. The ``megatron``
  output format writes the indexed files itself (one per domain, with its own blend).
- Hugging Face ``datasets``: the shard files in order, for ``load_dataset("parquet" | "json", data_files=...)``.

Mixture-level exports (a blend over per-domain datasets, HF interleave probabilities, YAML) are in
:mod:`mixtures.optimize.exports`, built on :func:`format_blend`.
"""

from __future__ import annotations

from pathlib import Path


def read_dataset_manifest(folder: str | Path) -> dict:
    """The ``manifest.json`` of a materialized dataset (a local folder or a URL)."""
    from mixtures import storage

    return storage.read_json(storage.join(folder, "manifest.json"))


def blend_weights(manifest: dict) -> list[tuple[float, str]]:
    """``(weight, shard path)`` per shard, weights = share of text bytes (sum to 1)."""
    shards = manifest["shards"]
    total = sum(s["text_bytes"] for s in shards) or 1
    return [(s["text_bytes"] / total, s["path"]) for s in shards]


def megatron_blend(manifest: dict, root: str | Path | None = None, suffix: str = "_text_document") -> str:
    """The ``--data-path`` argument of a Megatron-style blend over the converted shards.

    Each prefix is the shard's path without its extension plus ``suffix``, under ``root``
    when given (relative to the dataset folder otherwise).
    """
    pairs = []
    for weight, path in blend_weights(manifest):
        stem = Path(path).name.split(".")[0] + suffix
        pairs.append((weight, str(Path(root) / stem) if root is not None else stem))
    return format_blend(pairs)


def format_blend(pairs: list[tuple[float, str]]) -> str:
    """``W1 PREFIX1 W2 PREFIX2 ...``: Megatron's ``--data-path`` blend (weights with 10 significant digits)."""
    for _, prefix in pairs:
        if not prefix or any(ch.isspace() for ch in prefix):
            raise ValueError(f"Megatron data prefix {prefix!r} is empty or contains whitespace")
    return " ".join(f"{weight:.10g} {prefix}" for weight, prefix in pairs)


def parse_blend(text: str) -> list[tuple[float, str]]:
    """The inverse of :func:`format_blend`."""
    tokens = text.split()
    return [(float(tokens[i]), tokens[i + 1]) for i in range(0, len(tokens), 2)]


def hf_data_files(manifest: dict, folder: str | Path) -> list[str]:
    """The shard files in order (absolute paths, or URLs), for ``datasets.load_dataset``."""
    from mixtures import storage

    return [storage.join(storage.url_of(folder), s["path"]) for s in manifest["shards"]]
