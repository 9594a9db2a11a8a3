"""What changed in a corpus since a previous optimum: domains added, removed or revised, from the catalogs'
per-domain fingerprints (``content_sha256``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from mixtures.errors import TableError

TRAIN = "train"


@dataclass(frozen=True)
class CorpusChange:
    """The training domains of the current catalog against the previous one, and the target sets that changed.

    ``revised``: same name, other content. ``targets_changed``: an evaluation set (a role other than ``train``)
    added, removed or revised; the objective itself moved, so nothing measured before speaks for it.
    """

    added: tuple[str, ...]
    removed: tuple[str, ...]
    revised: tuple[str, ...]
    unchanged: tuple[str, ...]
    targets_changed: tuple[str, ...] = ()

    @property
    def changed(self) -> tuple[str, ...]:
        """The domains that need new runs: added and revised."""
        return self.added + self.revised

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.revised or self.targets_changed)

    def to_dict(self) -> dict:
        return {k: list(v) for k, v in asdict(self).items()}

    def message(self) -> str:
        if not self.any:
            return "the corpus is unchanged"
        parts = [f"{label} {', '.join(names)}" for label, names in
                 (("added", self.added), ("removed", self.removed), ("revised", self.revised),
                  ("target sets changed:", self.targets_changed)) if names]
        return "; ".join(parts)


def fingerprints(catalog: pd.DataFrame, role: str | None = TRAIN) -> dict[str, str]:
    """``{domain: content_sha256}`` of one role (``None``: every role but ``train``)."""
    missing = [c for c in ("domain", "role", "content_sha256") if c not in catalog.columns]
    if missing:
        raise TableError(f"the domain catalog lacks column(s) {missing}; rebuild it with 'mixtures corpus catalog'.")
    rows = catalog[catalog["role"] == role] if role is not None else catalog[catalog["role"] != TRAIN]
    return {str(d): str(h) for d, h in zip(rows["domain"], rows["content_sha256"], strict=True)}


def detect_change(previous: pd.DataFrame, current: pd.DataFrame) -> CorpusChange:
    """The :class:`CorpusChange` from ``previous`` to ``current`` (two domain catalogs), in ``current``'s order
    (removed domains in ``previous``'s)."""
    before, after = fingerprints(previous), fingerprints(current)
    targets_before, targets_after = fingerprints(previous, None), fingerprints(current, None)
    targets = sorted(set(targets_before) ^ set(targets_after)
                     | {t for t in set(targets_before) & set(targets_after) if targets_before[t] != targets_after[t]})
    return CorpusChange(
        added=tuple(d for d in after if d not in before),
        removed=tuple(d for d in before if d not in after),
        revised=tuple(d for d in after if d in before and before[d] != after[d]),
        unchanged=tuple(d for d in after if d in before and before[d] == after[d]),
        targets_changed=tuple(targets))
