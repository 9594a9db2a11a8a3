"""The domain catalog: per domain its files, documents, bytes, tokens and train/val sizes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where a catalog is built: importing mixtures.corpus stays cheap
    import pandas as pd

from mixtures.config import ProjectConfig
from mixtures.corpus.domains import domain_files, iter_documents, split_of
from mixtures.corpus.readers import ReadStats
from mixtures.errors import CorpusError

TokenCounter = Callable[[Sequence[str]], Sequence[int]]
CATALOG_COLUMNS = [
    "domain", "role", "files", "documents", "bytes", "tokens", "train_docs", "val_docs",
    "train_bytes", "val_bytes", "train_tokens", "val_tokens", "skipped_lines", "content_sha256", "error",
]
_COUNT_BATCH = 512


def catalog_domain(
    config: ProjectConfig, name: str, role: str = "train", token_counter: TokenCounter | None = None
) -> dict:
    """One catalog row; reads every document of the domain once.

    ``tokens`` are byte-level tokens (UTF-8 bytes) unless ``token_counter`` is given, in which case
    they are that tokenizer's tokens and ``bytes`` still counts bytes. ``content_sha256`` fingerprints
    ids and texts. A domain without a validation document is refused: its losses could not be measured.
    """
    stats = ReadStats()
    sums = {k: 0 for k in ("documents", "bytes", "train_docs", "val_docs", "train_bytes", "val_bytes",
                           "train_tokens", "val_tokens")}
    digest = hashlib.sha256()
    pending: list[tuple[str, str]] = []

    def flush() -> None:
        counts = token_counter([text for _, text in pending]) if token_counter else None
        for i, (split, text) in enumerate(pending):
            sums[f"{split}_tokens"] += int(counts[i]) if counts is not None else len(text.encode("utf-8"))
        pending.clear()

    for doc in iter_documents(config, name, stats=stats):
        n_bytes = len(doc.text.encode("utf-8"))
        split = split_of(doc.doc_id, config.corpus.val_fraction)
        sums["documents"] += 1
        sums["bytes"] += n_bytes
        sums[f"{split}_docs"] += 1
        sums[f"{split}_bytes"] += n_bytes
        if token_counter is None:
            sums[f"{split}_tokens"] += n_bytes
        else:
            pending.append((split, doc.text))
            if len(pending) >= _COUNT_BATCH:
                flush()
        digest.update(doc.doc_id.encode("utf-8") + b"\0" + doc.text.encode("utf-8") + b"\0")
    if pending:
        flush()
    if sums["documents"] and not sums["val_docs"]:
        raise CorpusError(
            f"domain {name!r}: none of its {sums['documents']} documents falls in the validation split at "
            f"corpus.val_fraction = {config.corpus.val_fraction:g}, so its loss cannot be measured; raise "
            "corpus.val_fraction or add documents (the split is by a hash of each document id).")
    return {
        "domain": name,
        "role": role,
        "files": len(domain_files(config, name)),
        **sums,
        "tokens": sums["train_tokens"] + sums["val_tokens"],
        "skipped_lines": stats.skipped,
        "content_sha256": digest.hexdigest(),
        "error": "",
    }


def project_token_counter(config: ProjectConfig) -> TokenCounter | None:
    """Counts of ``corpus.tokenizer``'s tokens per text (``None`` for bytes: the byte count is the count)."""
    from mixtures.tokenizers import project_tokenizer, tokenizer_name

    if tokenizer_name(config) == "bytes":
        return None
    tokenizer = project_tokenizer(config)
    return lambda texts: [len(ids) for ids in tokenizer.encode_batch(texts)]


def _failed_row(name: str, role: str, error: CorpusError) -> dict:
    row = {column: 0 for column in CATALOG_COLUMNS}
    return {**row, "domain": name, "role": role, "content_sha256": "", "error": str(error)}


def build_catalog(
    config: ProjectConfig,
    token_counter: TokenCounter | None = None,
    progress: bool = False,
    on_error: str = "raise",
) -> pd.DataFrame:
    """The catalog of every training domain and held-out target set, one row each.

    Token counts are those of the project's tokenizer (``corpus.tokenizer``; a ``bpe`` tokenizer is
    trained first) unless ``token_counter`` is given. ``on_error="record"`` turns a domain's
    :class:`CorpusError` into a row with zero counts and the message in ``error`` (so a check can
    report every broken domain at once) instead of raising.
    """
    names = [(d.name, "train") for d in config.domains] + [(s.name, "target") for s in config.target.sets]
    if token_counter is None:
        try:
            token_counter = project_token_counter(config)
        except CorpusError as exc:  # the tokenizer's training sample hit a broken domain
            if on_error != "record":
                raise
            import pandas as pd

            return pd.DataFrame([_failed_row(n, r, exc) for n, r in names], columns=CATALOG_COLUMNS)
    iterator = names
    if progress:
        from tqdm import tqdm

        iterator = tqdm(names, desc="catalog", unit="domain")
    rows = []
    for name, role in iterator:
        try:
            rows.append(catalog_domain(config, name, role, token_counter))
        except CorpusError as exc:
            if on_error != "record":
                raise
            rows.append(_failed_row(name, role, exc))
    import pandas as pd

    return pd.DataFrame(rows, columns=CATALOG_COLUMNS)


def natural_mixture(catalog: pd.DataFrame) -> dict[str, float]:
    """Token shares of the training domains (the "natural" mixture), from their train split."""
    train = catalog[catalog["role"] == "train"]
    total = float(train["train_tokens"].sum())
    return {row.domain: float(row.train_tokens) / total for row in train.itertuples()}
