"""The documents a domain (or target set) reveals: ``revealed`` in its config, a count or a fraction of a split.

The choice is a seeded hash of the document ids (the smallest ``blake2b(seed, id)`` first), so it is the same
in every run and a document stays revealed when others are added.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING

from mixtures.config import ProjectConfig
from mixtures.corpus.domains import iter_documents, source_config

if TYPE_CHECKING:
    import pandas as pd


def revealed_count(revealed: float | None, total: int) -> int:
    """How many of ``total`` documents ``revealed`` (a count >= 1, a fraction < 1, or None: all) reveals (>= 1)."""
    if revealed is None:
        return total
    n = math.ceil(revealed * total) if revealed < 1 else int(revealed)
    return max(1, min(total, n))


def _revealed_order(config: ProjectConfig, name: str, split: str | None, seed: int | None,
                    revealed: float | None = None) -> tuple[list, list[int]]:
    """The documents of ``split`` in corpus order, and the corpus positions of the revealed ones in hash order
    (``revealed``: how many, None: the config's)."""
    seed = config.seed if seed is None else seed
    docs = list(iter_documents(config, name, split))
    key = str(seed).encode()
    order = sorted(range(len(docs)),
                   key=lambda i: hashlib.blake2b(key + b"\0" + docs[i].doc_id.encode(), digest_size=8).digest())
    return docs, order[:revealed_count(source_config(config, name).revealed if revealed is None else revealed,
                                       len(docs))]


def revealed_texts(config: ProjectConfig, name: str, split: str | None = None, seed: int | None = None) -> list[str]:
    """The texts ``name`` reveals of ``split`` (None: every document), in their hash order."""
    docs, chosen = _revealed_order(config, name, split, seed)
    return [docs[i].text for i in chosen]


def revealed_positions(config: ProjectConfig, name: str, split: str = "train",
                       revealed: float | None = None) -> list[int]:
    """The corpus-order positions, ascending, of the documents ``name`` reveals of ``split`` (the same documents
    as :func:`revealed_texts`): where they lie in the token cache's arrays, one document after each end-of-document.
    ``revealed`` (a run spec's value) overrides the config's."""
    return sorted(_revealed_order(config, name, split, None, revealed)[1])


def revealed_sources(config: ProjectConfig) -> dict[str, float]:
    """``{domain: revealed}`` for each training domain that sets ``revealed`` (empty when none does): the proxy
    runs train those domains on their revealed training documents only (:attr:`mixtures.runs.RunSpec.revealed`)."""
    return {d.name: float(d.revealed) for d in config.domains if d.revealed is not None}


def revealed_documents(config: ProjectConfig, catalog: pd.DataFrame) -> dict[str, dict[str, float]]:
    """What each domain and target set that sets ``revealed`` reveals to the ``ot`` law, from the catalog's counts:
    ``{name: {"revealed": the config value, "train_docs": n, "val_docs": n}}`` for a training domain (its revealed
    training and validation documents, :func:`mixtures.laws.revealed.project_revealed_features`), ``{"revealed",
    "documents"}`` for a target set; empty when none sets it."""
    rows = catalog.set_index("domain")
    out: dict[str, dict[str, float]] = {}
    for source, splits in [*((d, ("train_docs", "val_docs")) for d in config.domains),
                           *((t, ("documents",)) for t in config.target.sets)]:
        if source.revealed is not None and source.name in rows.index:
            out[source.name] = {"revealed": float(source.revealed),
                                **{k: revealed_count(source.revealed, int(rows.loc[source.name, k])) for k in splits}}
    return out
