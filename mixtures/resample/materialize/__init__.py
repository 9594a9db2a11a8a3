"""Write the mixed training set: streaming, deterministic, atomic and resumable.

Stages (each one a function a Dagster partition can run on its own; all state is in files):

1. :func:`index_domain` (per domain, :mod:`.spill`): the one pass over the domain through the
   corpus layer: per-document bytes and tokens, the documents spilled in reading order to an
   uncompressed Arrow IPC file (token ids too for tokenized formats), DSIR features once.
2. :func:`prepare_target` and :func:`score_domain` (DSIR only; per domain, :mod:`.spill`): log
   importance weights toward the target and eligibility (``min_length``).
3. :func:`make_plan` (once, :mod:`.shards`): documents per domain, epochs, the shuffle across
   domains and the shard layout (:mod:`mixtures.resample.plan`); a plan whose shares miss the
   mixture by more than the tolerance is refused here, before anything is written.
4. :func:`write_shard` (per shard, :mod:`.shards`): the shard's rows from the memory-mapped
   spills, in slot order, written by the output format (:mod:`mixtures.resample.formats`).
5. :func:`assemble` (:mod:`.manifest`): the format's files, the manifest, then the commit
   (:mod:`.workspace`): one rename of a local folder, or uploads with the manifest last.

The request (:mod:`.request`) fixes the bytes; :func:`materialize` (:mod:`.driver`) runs all
stages over ``n_jobs`` processes. A killed job never leaves an output that looks complete; a
rerun with the same inputs skips every finished stage and ends with the same bytes. Memory
holds per-document numbers, one read batch and one shard; disk holds one uncompressed copy of the
drawn domains' text while the job runs.
"""

from mixtures.resample.inputs import ConfigReader
from mixtures.resample.materialize.driver import materialize, token_layout, tokenizer_record
from mixtures.resample.formats import FORMATS, OUTPUT_FORMATS, PARQUET_COMPRESSION, TokenLayout
from mixtures.resample.materialize.manifest import assemble
from mixtures.resample.materialize.request import DsirSpec, MaterializeError, Request
from mixtures.resample.materialize.shards import OUTPUT_SCHEMA, ShortfallError, make_plan, write_shard
from mixtures.resample.materialize.spill import (
    SPILL_BATCH_CHARS,
    SPILL_SCHEMA,
    importance_model,
    index_domain,
    prepare_target,
    score_domain,
)
from mixtures.resample.materialize.workspace import Workspace

__all__ = [
    "FORMATS",
    "OUTPUT_FORMATS",
    "OUTPUT_SCHEMA",
    "PARQUET_COMPRESSION",
    "SPILL_BATCH_CHARS",
    "SPILL_SCHEMA",
    "ConfigReader",
    "DsirSpec",
    "MaterializeError",
    "Request",
    "ShortfallError",
    "TokenLayout",
    "Workspace",
    "assemble",
    "importance_model",
    "index_domain",
    "make_plan",
    "materialize",
    "prepare_target",
    "score_domain",
    "token_layout",
    "tokenizer_record",
    "write_shard",
]
