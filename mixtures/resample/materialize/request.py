"""What to build: the request that determines a materialized dataset's bytes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from mixtures.errors import MixturesError
from mixtures.mixture import validate_mixture
from mixtures.resample.checks import DEFAULT_TOLERANCE, DEFAULT_TOLERANCE_FLOOR
from mixtures.resample.plan import UNITS

FORMAT_VERSION = 1
DSIR_SCOPES = ("domain", "pool")
# fields added after FORMAT_VERSION 1: left out of the fingerprint while at these defaults, so a
# dataset written before they existed keeps its fingerprint (and is reused, not rebuilt)
_NEW_FIELD_DEFAULTS = {"split_documents": None, "tolerance": DEFAULT_TOLERANCE,
                       "tolerance_floor": DEFAULT_TOLERANCE_FLOOR, "tokenizer": None}


class MaterializeError(MixturesError):
    """The dataset cannot be written as asked (output exists, inputs changed, stage missing)."""


@dataclass(frozen=True)
class DsirSpec:
    """DSIR settings: buckets, minimum tokens, whose raw distribution (domain or pool), smoothing."""

    buckets: int = 10_000
    min_length: int = 0
    scope: str = "domain"
    smoothing: float = 1.0


@dataclass(frozen=True)
class Request:
    """Everything that determines the dataset's bytes (plus where the mixture came from).

    ``split_documents``: documents longer than this many UTF-8 bytes are cut into pieces of at
    most that size before drawing (``None``: never). ``tolerance``: the largest relative
    difference between a domain's drawn and requested units the plan accepts, unless the
    difference is under ``tolerance_floor`` of ``size`` (:mod:`mixtures.resample.checks`).
    ``tokenizer``: the fingerprint of the tokenizer that counts tokens and writes tokenized
    formats (``None``: tokens are UTF-8 bytes).
    """

    mixture: dict[str, float]
    size: int
    unit: str = "tokens"
    seed: int = 0
    max_epochs: float = 4.0
    max_epochs_per_domain: dict[str, float] = field(default_factory=dict)
    shard_mb: float = 64.0
    format: str = "parquet"
    split: str | None = "train"
    dsir: DsirSpec | None = None
    mixture_run: str | None = None
    corpus_fingerprint: str | None = None
    split_documents: int | None = None
    tolerance: float = DEFAULT_TOLERANCE
    tolerance_floor: float = DEFAULT_TOLERANCE_FLOOR
    tokenizer: str | None = None

    def __post_init__(self) -> None:
        from mixtures.resample.formats import OUTPUT_FORMATS

        if self.unit not in UNITS:
            raise MaterializeError(f"unit {self.unit!r} is not one of {UNITS}.")
        if self.format not in OUTPUT_FORMATS:
            raise MaterializeError(OUTPUT_FORMATS.unknown_message(self.format))
        if self.size <= 0:
            raise MaterializeError(f"size is {self.size}; it must be > 0.")
        if self.dsir is not None and self.dsir.scope not in DSIR_SCOPES:
            raise MaterializeError(f"dsir scope {self.dsir.scope!r} is not one of {DSIR_SCOPES}.")
        if self.split_documents is not None and self.split_documents < 16:
            raise MaterializeError(f"split_documents is {self.split_documents}; give at least 16 bytes, or none.")
        if not self.tolerance >= 0 or not 0 <= self.tolerance_floor <= 1:
            raise MaterializeError(f"tolerance is {self.tolerance}, tolerance_floor {self.tolerance_floor}; "
                                   "give tolerance >= 0 and 0 <= tolerance_floor <= 1.")
        validate_mixture(self.mixture, where="mixture")

    @property
    def domains(self) -> list[str]:
        """Domains with a positive weight: the only ones read."""
        return [name for name, weight in self.mixture.items() if weight > 0]

    @property
    def tokenized(self) -> bool:
        """Whether the output format holds token ids (so the spill keeps them)."""
        from mixtures.resample.formats import OUTPUT_FORMATS

        return OUTPUT_FORMATS.get(self.format).tokenized

    def to_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> str:
        """sha256 of the request and the format version (the mixture's run id excluded)."""
        data = {k: v for k, v in self.to_dict().items() if k != "mixture_run"}
        for key, default in _NEW_FIELD_DEFAULTS.items():
            if data[key] == default:
                del data[key]
        data["format_version"] = FORMAT_VERSION
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_config(cls, config, mixture: dict[str, float], **overrides) -> Request:
        """A request from the project config's ``dataset`` and ``constraints`` sections.

        ``overrides`` replace fields (``size``, ``unit``, ``seed``, ``dsir=True/False``, ...).
        """
        ds = config.dataset
        dsir_on = overrides.pop("dsir", ds.dsir.enabled)
        dsir = DsirSpec(buckets=ds.dsir.buckets, min_length=ds.dsir.min_length, scope=ds.dsir.scope,
                        smoothing=ds.dsir.smoothing) if dsir_on is True else dsir_on or None
        fields = {
            "mixture": dict(mixture),
            "size": ds.size,
            "unit": ds.unit,
            "seed": config.seed,
            "max_epochs": config.constraints.max_epochs,
            "max_epochs_per_domain": dict(config.constraints.max_epochs_per_domain),
            "shard_mb": ds.shard_mb,
            "format": ds.format,
            "dsir": dsir,
            "split_documents": ds.split_documents,
            "tolerance": ds.tolerance,
            "tolerance_floor": ds.tolerance_floor,
        }
        fields.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**fields)

    @classmethod
    def from_dict(cls, data: dict) -> Request:
        data = dict(data)
        if data.get("dsir") is not None:
            data["dsir"] = DsirSpec(**data["dsir"])
        return cls(**data)
