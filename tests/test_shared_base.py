"""The shared pieces every backend uses: the registry, the run spec, the byte tokenizer."""

from __future__ import annotations

import numpy as np
import pytest

from mixtures.errors import ConfigError
from mixtures.registry import Registry
from mixtures.runs import RunSpec
from mixtures.tokenizers import ByteTokenizer, project_tokenizer, token_dtype


def test_registry_names_once_and_suggests_a_close_name():
    registry: Registry[int] = Registry("solver", field="optimize.solver")
    registry.add("slsqp", 1)
    registry.add("tpe", 2)
    assert registry.names() == ["slsqp", "tpe"]
    with pytest.raises(ConfigError, match=r"unknown solver 'slsq' \(optimize.solver\); did you mean 'slsqp'"):
        registry.get("slsq")
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("tpe", 3)


def test_run_spec_record_round_trips_and_fixes_identity():
    spec = RunSpec.create("natural", {"a": 0.25, "b": 0.75}, "micro", 4096, 1, kind="validation", threads=2)
    assert spec.run_id == "natural.micro.4096.s1"
    again = RunSpec.from_record(spec.record())
    assert again == spec and again.weights == spec.weights
    assert RunSpec.create("natural", {"a": 0.25, "b": 0.75}, "micro", 4096, 1, kind="validation").record() != spec.record()
    with pytest.raises(ValueError, match="run kind"):
        RunSpec.create("x", {"a": 1.0}, "micro", 1, 0, kind="sweep")


def test_a_stored_spec_keeps_every_digit_of_its_weights(tmp_path):
    """The run table's w_ columns come from the stored spec: a rounded weight moves the laws' fit (it moved the
    demo's optimum in the fourth decimal)."""
    import json

    from mixtures.runs.store import RunStore

    weights = {"a": 0.1591186458740486, "b": 1 - 0.1591186458740486}
    spec = RunSpec.create("natural", weights, "micro", 4096, 0)
    store = RunStore(tmp_path)
    store.plan([spec])
    assert store.spec("proxy", spec.run_id).weights == weights
    assert RunSpec.from_record(json.loads(spec.to_json())).weights == weights


def test_byte_tokenizer_round_trips_text(project):
    tokenizer = project_tokenizer(project)
    assert isinstance(tokenizer, ByteTokenizer)
    text = "naïve café: ∑ x_i"
    ids = tokenizer.encode_batch([text])[0]
    assert ids.dtype == np.uint8 and len(ids) == len(text.encode("utf-8"))
    assert tokenizer.decode(ids) == text
    assert token_dtype(256) == np.uint8 and token_dtype(257) == np.uint16 and token_dtype(70_000) == np.uint32
