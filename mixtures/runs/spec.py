"""The run spec: one training of any kind (proxy, validation, online), everything that fixes its result.

A spec names the mixture and its weights, the scale (model preset and token budget), the seed, the
trainer, the online method where one applies, and the thread count. Two runs of the same spec give
the same losses wherever they execute (a laptop, a Slurm node, a pod), so the run store reuses a
finished run only when its stored spec equals the requested one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

RunKind = Literal["proxy", "validation", "online"]
KINDS: tuple[str, ...] = ("proxy", "validation", "online")
_RUN_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class RunSpec:
    """One training run.

    ``run_id`` (``f"{mixture_name}.{model}.{tokens}.s{seed}"``) is also its Dagster partition key.
    ``method`` names the online method that drives the run's schedule (``None``: a static mixture) and
    ``options`` its parameters (a change of them is another run).
    ``threads`` is the number of CPU threads the trainer uses; it is part of the spec because it can
    change the last bits of the losses. ``setup`` is a digest of what else shapes a run's result: the data
    (the catalog's content hashes), the tokenizer and the trainer's settings (:func:`training_setup`).
    ``unique_tokens`` caps a domain's unique training tokens (``{domain: tokens}``): the trainer samples that
    domain from its first ``tokens`` only, so a run drawing more repeats them (the runs that fit the repetition
    law's R*, ``proxy.repeat_runs``); empty for every other run, and then not in :meth:`record`.
    ``revealed`` (``{domain: the config's revealed}``) trains each listed domain on its revealed training
    documents only (:func:`mixtures.corpus.revealed.revealed_positions`): the proxy runs of a partly revealed
    domain; empty (and not in :meth:`record`) for every other run.
    """

    run_id: str
    mixture_name: str
    weights: dict[str, float] = field(hash=False)
    model: str
    tokens: int
    seed: int
    kind: str = "proxy"
    trainer: str = "builtin"
    method: str | None = None
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    threads: int = 1
    setup: str = ""
    unique_tokens: dict[str, int] = field(default_factory=dict, hash=False)
    revealed: dict[str, float] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"run kind {self.kind!r} is not one of {KINDS}")
        if not _RUN_ID.match(self.run_id):
            raise ValueError(f"run id {self.run_id!r} has characters outside [A-Za-z0-9_.-]")
        if int(self.threads) < 1:
            raise ValueError(f"run {self.run_id}: threads must be >= 1, got {self.threads}")
        bad = {d: n for d, n in self.unique_tokens.items() if not (isinstance(n, int) and n >= 1)}
        if bad:
            raise ValueError(f"run {self.run_id}: unique_tokens must be whole token counts >= 1, got {bad}")
        bad = {d: v for d, v in self.revealed.items() if not v > 0}
        if bad:
            raise ValueError(f"run {self.run_id}: revealed must be document counts or fractions > 0, got {bad}")

    @staticmethod
    def make_run_id(mixture_name: str, model: str, tokens: int, seed: int) -> str:
        run_id = f"{mixture_name}.{model}.{int(tokens)}.s{int(seed)}"
        if not _RUN_ID.match(run_id):
            raise ValueError(f"run id {run_id!r} has characters outside [A-Za-z0-9_.-]; rename the mixture or model")
        return run_id

    @classmethod
    def create(cls, mixture_name: str, weights: dict[str, float], model: str, tokens: int, seed: int,
               **fields: Any) -> RunSpec:
        """A spec whose ``run_id`` is made from its mixture, scale and seed."""
        return cls(run_id=cls.make_run_id(mixture_name, model, tokens, seed), mixture_name=mixture_name,
                   weights={d: float(w) for d, w in weights.items()}, model=model, tokens=int(tokens),
                   seed=int(seed), **fields)

    def record(self) -> dict[str, Any]:
        """The identity of the run as JSON-able data (what must match for a stored result to be reused)."""
        return {"run_id": self.run_id, "kind": self.kind, "mixture_name": self.mixture_name, "model": self.model,
                "tokens": int(self.tokens), "seed": int(self.seed), "trainer": self.trainer, "method": self.method,
                "options": self.options, "threads": int(self.threads), "setup": self.setup,
                # exact: JSON round-trips a float, and the run table's w_ columns (what the laws fit) come from here
                "weights": {d: float(w) for d, w in self.weights.items()},
                # only where set: the record (and the reuse of a stored run) of every other run is unchanged
                **({"unique_tokens": dict(self.unique_tokens)} if self.unique_tokens else {}),
                **({"revealed": dict(self.revealed)} if self.revealed else {})}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> RunSpec:
        """The spec of a :meth:`record` (e.g. read back from the run store or a worker's input)."""
        return cls(run_id=str(data["run_id"]), mixture_name=str(data["mixture_name"]),
                   weights={str(d): float(w) for d, w in data["weights"].items()}, model=str(data["model"]),
                   tokens=int(data["tokens"]), seed=int(data["seed"]), kind=str(data.get("kind", "proxy")),
                   trainer=str(data.get("trainer", "builtin")), method=data.get("method"),
                   options=dict(data.get("options") or {}), threads=int(data.get("threads", 1)),
                   setup=str(data.get("setup", "")),
                   unique_tokens={str(d): int(n) for d, n in (data.get("unique_tokens") or {}).items()},
                   revealed={str(d): float(v) for d, v in (data.get("revealed") or {}).items()})

    def to_json(self) -> str:
        return json.dumps(self.record(), sort_keys=True)


def training_setup(config, catalog) -> str:
    """A digest of everything besides the spec's own fields that shapes a run's losses: the content of every
    training domain and target set, the tokenizer, the split, the eval points and the trainer's settings.
    Runs of two setups are different runs (a changed corpus or tokenizer trains again)."""
    import hashlib

    contents = {str(r["domain"]): str(r["content_sha256"]) for r in catalog[["domain", "content_sha256"]].to_dict("records")}
    proxy = config.proxy.model_dump(mode="json", include={"eval_points", "device", "precision", "compile",
                                                          "micro_batch", "trainer", "command"})
    payload = {"contents": contents, "corpus": config.corpus.model_dump(mode="json", exclude={"batch_docs"}),
               "proxy": proxy}
    if config.target.tasks:  # only then: a setup without tasks keeps its digest
        from mixtures.tasks import task_fingerprints

        payload["tasks"] = task_fingerprints(config)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
