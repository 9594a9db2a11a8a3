"""How many documents each domain contributes, which ones, in which epoch, and where they go.

Given per-document sizes of every domain (:class:`DomainIndex`), a mixture and a target size,
:func:`plan_draws` decides for each domain its share of the target in the chosen unit, draws
documents in a seeded order (a random permutation, or a DSIR Gumbel ranking) without
replacement first and then in further epochs up to the repetition cap, and refuses a mixture
that needs more than the data allows. Every draw gets a slot in one seeded permutation of all
draws (the shuffle across domains), and slots are cut into shards of about ``shard_mb`` MB of
text. Only numbers are held in memory: positions, sizes and slots, never texts.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mixtures.errors import InfeasibleError, MixturesError
from mixtures.mixture import validate_mixture
from mixtures.resample.dsir import gumbel_top_k, stable_seed

UNITS = ("tokens", "bytes", "documents")


class PlanError(MixturesError):
    """A materialization plan cannot be made or loaded as asked."""


@dataclass
class DomainIndex:
    """Per-document numbers of one domain, in the order its documents are read.

    Attributes
    ----------
    n_bytes, tokens : np.ndarray
        UTF-8 bytes and tokens of each document (tokens = bytes for byte-level training).
    log_weight : np.ndarray or None
        DSIR log importance weight of each document, when DSIR is on.
    eligible : np.ndarray or None
        Documents DSIR may draw (long enough); ``None``: all.
    dsir : dict
        DSIR numbers of the domain (excluded documents, KL), JSON-ready.
    """

    n_bytes: np.ndarray
    tokens: np.ndarray
    log_weight: np.ndarray | None = None
    eligible: np.ndarray | None = None
    dsir: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.n_bytes)

    def units(self, unit: str) -> np.ndarray:
        """Size of each document in ``unit`` (int64)."""
        if unit == "documents":
            return np.ones(len(self), dtype=np.int64)
        if unit == "bytes":
            return self.n_bytes.astype(np.int64)
        if unit == "tokens":
            return self.tokens.astype(np.int64)
        raise PlanError(f"unknown size unit {unit!r}; use one of {UNITS}.")

    def save(self, path: Path) -> None:
        arrays = {"n_bytes": self.n_bytes, "tokens": self.tokens}
        if self.log_weight is not None:
            arrays["log_weight"] = self.log_weight
        if self.eligible is not None:
            arrays["eligible"] = self.eligible
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, dsir=np.array(json.dumps(self.dsir, sort_keys=True)), **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> DomainIndex:
        with np.load(path) as data:
            return cls(
                n_bytes=data["n_bytes"],
                tokens=data["tokens"],
                log_weight=data["log_weight"] if "log_weight" in data else None,
                eligible=data["eligible"] if "eligible" in data else None,
                dsir=json.loads(str(data["dsir"])),
            )


@dataclass
class DomainDraw:
    """What one domain contributes: summary numbers and, per draw (in slot order after
    :func:`plan_draws`), its document position, epoch and output slot."""

    name: str
    weight: float
    requested: float
    available: int
    cap_epochs: float
    documents: int
    eligible_documents: int
    drawn_documents: int
    drawn_units: int
    drawn_bytes: int
    drawn_tokens: int
    positions: np.ndarray = field(repr=False)
    epochs: np.ndarray = field(repr=False)
    slots: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def epochs_requested(self) -> float:
        return self.requested / self.available if self.available else 0.0

    @property
    def epochs_drawn(self) -> float:
        return self.drawn_units / self.available if self.available else 0.0

    def summary(self) -> dict:
        """JSON-ready numbers for the manifest."""
        return {
            "weight": self.weight,
            "requested_units": self.requested,
            "available_units": self.available,
            "documents": self.documents,
            "eligible_documents": self.eligible_documents,
            "drawn_documents": self.drawn_documents,
            "drawn_units": self.drawn_units,
            "drawn_bytes": self.drawn_bytes,
            "drawn_tokens": self.drawn_tokens,
            "epochs_requested": self.epochs_requested,
            "epochs_drawn": self.epochs_drawn,
            "max_epochs": self.cap_epochs,
        }


@dataclass
class Plan:
    """Every domain's draws plus the shard layout of the shuffled output.

    ``shard_starts[i]`` is the first slot of shard ``i``; ``shard_starts[-1]`` is the total.
    """

    mixture: dict[str, float]
    size: int
    unit: str
    seed: int
    shard_bytes: int
    domains: dict[str, DomainDraw]
    shard_starts: np.ndarray

    @property
    def total_rows(self) -> int:
        return int(self.shard_starts[-1])

    @property
    def n_shards(self) -> int:
        return len(self.shard_starts) - 1

    def shard_draws(self, domain: str, shard: int) -> slice:
        """The range of a domain's draws (kept in slot order) that fall into ``shard``."""
        slots = self.domains[domain].slots
        lo, hi = np.searchsorted(slots, self.shard_starts[shard: shard + 2], side="left")
        return slice(int(lo), int(hi))

    # -- persistence (the plan is computed once and read by every partition) --------------------
    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"shard_starts": self.shard_starts}
        meta = {k: v for k, v in asdict(self).items() if k not in ("domains", "shard_starts")}
        meta["domains"] = {}
        meta["domain_order"] = list(self.domains)  # JSON keys get sorted; arrays follow this order
        for i, (name, draw) in enumerate(self.domains.items()):
            arrays[f"d{i}_positions"] = draw.positions
            arrays[f"d{i}_epochs"] = draw.epochs
            arrays[f"d{i}_slots"] = draw.slots
            meta["domains"][name] = {
                k: v for k, v in asdict(draw).items() if k not in ("positions", "epochs", "slots")
            }
        tmp = folder / "plan.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.replace(folder / "plan.npz")
        (folder / "plan.json.tmp").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        (folder / "plan.json.tmp").replace(folder / "plan.json")

    @classmethod
    def load(cls, folder: Path) -> Plan:
        try:
            meta = json.loads((folder / "plan.json").read_text())
            with np.load(folder / "plan.npz") as data:
                domains = {}
                for i, name in enumerate(meta["domain_order"]):
                    domains[name] = DomainDraw(
                        **meta["domains"][name],
                        positions=data[f"d{i}_positions"],
                        epochs=data[f"d{i}_epochs"],
                        slots=data[f"d{i}_slots"],
                    )
                shard_starts = data["shard_starts"]
        except (OSError, KeyError, ValueError) as exc:
            raise PlanError(f"{folder}: no readable plan ({type(exc).__name__}: {exc}); compute it again.") from None
        meta.pop("domains")
        meta.pop("domain_order")
        return cls(domains=domains, shard_starts=shard_starts, **meta)


def draw_order(index: DomainIndex, seed: int, name: str) -> np.ndarray:
    """Eligible positions of a domain in draw order: DSIR ranking or a seeded permutation."""
    domain_seed = stable_seed(seed, "draw", name)
    if index.log_weight is not None:
        return gumbel_top_k(index.log_weight, None, domain_seed, index.eligible)
    positions = np.flatnonzero(index.eligible) if index.eligible is not None else np.arange(len(index))
    return np.random.default_rng(domain_seed).permutation(positions).astype(np.int64)


def _count_for(requested: float, cumulative: np.ndarray, limit: float) -> int:
    """Documents of one partial epoch whose cumulative size is closest to ``requested``.

    Never more than ``limit`` units; ties go to the smaller count.
    """
    if requested <= 0 or len(cumulative) == 0:
        return 0
    above = int(np.searchsorted(cumulative, requested, side="left"))  # cumulative[above] >= requested
    if above >= len(cumulative):
        return len(cumulative)
    below_total = cumulative[above - 1] if above > 0 else 0
    take_above = (cumulative[above] - requested) < (requested - below_total) and cumulative[above] <= limit
    return above + 1 if take_above else above


def draw_domain(name: str, index: DomainIndex, weight: float, requested: float, unit: str, seed: int,
                cap: float) -> DomainDraw:
    """One domain's draws: whole epochs of its draw order, then a partial one (see module)."""
    units = index.units(unit)
    eligible = index.eligible if index.eligible is not None else np.ones(len(index), dtype=bool)
    available = int(units[eligible].sum())
    order = draw_order(index, seed, name) if requested > 0 else np.zeros(0, dtype=np.int64)
    full = int(requested // available) if available and requested > 0 else 0
    rest = requested - full * available
    cumulative = np.cumsum(units[order])
    partial = _count_for(rest, cumulative, cap * available - full * available)
    positions = np.concatenate([np.tile(order, full), order[:partial]]).astype(np.int64)
    epochs = np.concatenate([np.repeat(np.arange(full, dtype=np.int32), len(order)),
                             np.full(partial, full, dtype=np.int32)])
    eligible_documents = int(eligible.sum())
    return DomainDraw(
        name=name, weight=weight, requested=float(requested), available=available, cap_epochs=cap,
        documents=len(index), eligible_documents=eligible_documents, drawn_documents=len(positions),
        drawn_units=int(units[positions].sum()), drawn_bytes=int(index.n_bytes[positions].sum()),
        drawn_tokens=int(index.tokens[positions].sum()), positions=positions, epochs=epochs,
    )


def _check_feasible(name: str, requested: float, available: int, cap: float, unit: str, index: DomainIndex) -> str | None:
    if requested <= 0:
        return None
    if available == 0:
        excluded = index.dsir.get("excluded_short", 0)
        why = f" ({excluded} excluded as shorter than dsir.min_length)" if excluded else ""
        return f"{name}: needs {requested:.6g} {unit} but has no eligible document{why}"
    if requested > cap * available * (1 + 1e-12):
        return (
            f"{name}: needs {requested:.6g} {unit} = {requested / available:.3g} epochs of its {available} {unit}, "
            f"over the cap of {cap:g} epochs"
        )
    return None


def plan_draws(
    indexes: dict[str, DomainIndex],
    mixture: dict[str, float],
    size: int,
    unit: str = "tokens",
    seed: int = 0,
    max_epochs: float = 4.0,
    max_epochs_per_domain: dict[str, float] | None = None,
    shard_mb: float = 64.0,
) -> Plan:
    """Plan the draws of every domain and the shard layout (see the module docstring).

    Raises
    ------
    InfeasibleError
        When some domain would need more epochs than its cap, naming every such domain.
    """
    if unit not in UNITS:
        raise PlanError(f"unknown size unit {unit!r}; use one of {UNITS}.")
    if size <= 0:
        raise PlanError(f"target size is {size}; it must be > 0.")
    if shard_mb <= 0:
        raise PlanError(f"shard_mb is {shard_mb}; it must be > 0.")
    weights = validate_mixture(mixture, list(indexes), where="mixture")
    caps = {name: float((max_epochs_per_domain or {}).get(name, max_epochs)) for name in indexes}
    problems = []
    for name, index in indexes.items():
        units = index.units(unit)
        available = int(units[index.eligible].sum() if index.eligible is not None else units.sum())
        problem = _check_feasible(name, weights[name] * size, available, caps[name], unit, index)
        if problem:
            problems.append(problem)
    if problems:
        raise InfeasibleError(
            f"the mixture needs more data than the repetition cap allows for a {size} {unit} dataset:\n  - "
            + "\n  - ".join(problems)
            + "\nLower the target size, lower these domains' weights, raise constraints.max_epochs"
            " (or max_epochs_per_domain), or add data."
        )
    domains = {
        name: draw_domain(name, index, weights[name], weights[name] * size, unit, seed, caps[name])
        for name, index in indexes.items()
    }
    total = sum(d.drawn_documents for d in domains.values())
    if total == 0:
        raise PlanError(f"the plan draws no document for {size} {unit}; raise the size.")
    slots = np.random.default_rng(stable_seed(seed, "shuffle")).permutation(total).astype(np.int64)
    slot_bytes = np.zeros(total, dtype=np.int64)
    offset = 0
    for name, draw in domains.items():
        draw_slots = slots[offset: offset + draw.drawn_documents]
        by_slot = np.argsort(draw_slots)  # stored in slot order: a shard's rows are one range
        draw.slots, draw.positions, draw.epochs = draw_slots[by_slot], draw.positions[by_slot], draw.epochs[by_slot]
        slot_bytes[draw.slots] = indexes[name].n_bytes[draw.positions]
        offset += draw.drawn_documents
    shard_bytes = max(1, int(shard_mb * 1_000_000))
    shard_starts = shard_layout(slot_bytes, shard_bytes)
    return Plan(dict(weights), int(size), unit, int(seed), shard_bytes, domains, shard_starts)


def shard_layout(slot_bytes: np.ndarray, shard_bytes: int) -> np.ndarray:
    """Shard start slots: a new shard begins once the current one holds ``shard_bytes``."""
    cumulative = np.cumsum(slot_bytes)
    total = int(cumulative[-1]) if len(cumulative) else 0
    n_shards = max(1, math.ceil(total / shard_bytes))
    marks = np.arange(1, n_shards, dtype=np.int64) * shard_bytes
    starts = np.searchsorted(cumulative, marks, side="left") + 1  # the slot after the one crossing a mark
    starts = np.unique(np.concatenate([[0], starts[starts < len(slot_bytes)], [len(slot_bytes)]]))
    return starts.astype(np.int64)
