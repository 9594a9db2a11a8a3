"""The mixed dataset's blocking check, on hand-made manifests."""

from __future__ import annotations

from assets.dataset import manifest_problems


def _manifest(**domains):
    base = {"drawn_units": 0, "requested_units": 0.0, "drawn_documents": 0, "available_units": 100_000,
            "eligible_documents": 100, "epochs_drawn": 0.0, "max_epochs": 4.0}
    return {"unit": "tokens", "max_epochs": 4.0, "domains": {name: {**base, **info} for name, info in domains.items()}}


def test_a_share_smaller_than_a_document_may_draw_nothing():
    manifest = _manifest(code={"drawn_units": 99_939, "requested_units": 99_939.0, "drawn_documents": 97},
                         wiki={"requested_units": 61.0})  # mean document: 1,000 tokens
    assert manifest_problems(manifest, {"code": 0.9994, "wiki": 0.0006}) == []


def test_a_share_of_several_documents_drawn_as_nothing_is_named():
    manifest = _manifest(wiki={"requested_units": 5_000.0})
    problems = manifest_problems(manifest, {"wiki": 1.0})
    assert problems == ["wiki: drew 0 tokens, asked 5000 (more than one document off)"]


def test_weight_zero_drawn_and_epochs_above_the_cap_are_named():
    manifest = _manifest(legal={"drawn_units": 500, "requested_units": 0.0, "drawn_documents": 1},
                         email={"drawn_units": 600_000, "requested_units": 600_000.0, "drawn_documents": 600,
                                "epochs_drawn": 6.0})
    problems = manifest_problems(manifest, {"legal": 0.0, "email": 1.0})
    assert any("legal: weight 0 but 500 drawn" in p for p in problems)
    assert any("email: 6.000 epochs > cap 4.0" in p for p in problems)
