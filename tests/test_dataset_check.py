"""The mixed dataset's blocking check (mixtures.resample.checks), on hand-made manifests."""

from __future__ import annotations

from mixtures.resample.checks import manifest_problems


def _manifest(**domains):
    base = {"drawn_units": 0, "requested_units": 0.0, "drawn_documents": 0, "available_units": 100_000,
            "eligible_documents": 100, "epochs_drawn": 0.0, "max_epochs": 4.0}
    return {"unit": "tokens", "size": 1_000_000, "max_epochs": 4.0,
            "domains": {name: {**base, **info} for name, info in domains.items()}}


def test_shares_within_the_tolerance_pass():
    manifest = _manifest(code={"drawn_units": 97_000, "requested_units": 99_939.0, "drawn_documents": 97},
                         wiki={"drawn_units": 61, "requested_units": 60.5, "drawn_documents": 1})
    assert manifest_problems(manifest, {"code": 0.9994, "wiki": 0.0006}) == []


def test_a_share_drawn_as_nothing_fails_even_when_one_document_is_larger_than_it():
    # issue 19, defect 4: the old rule allowed one mean document of slack, so a domain that is one huge
    # document could draw 0 of its share and pass; the check now says how to fix it
    manifest = _manifest(email={"requested_units": 200_000.0, "available_units": 50_000_000, "eligible_documents": 1})
    problems = manifest_problems(manifest, {"email": 1.0})
    assert len(problems) == 1
    assert problems[0].startswith("email: drew 0 tokens, asked 200000 (-100.0%; the tolerance is 5.0%, at least 2000")
    assert "dataset.split_documents" in problems[0] and "--split-documents" in problems[0]


def test_an_overshoot_beyond_the_tolerance_fails_and_the_manifest_tolerance_is_used():
    manifest = _manifest(web={"drawn_units": 15_870, "requested_units": 10_000.0, "drawn_documents": 1})
    assert manifest_problems(manifest, {"web": 1.0})[0].startswith("web: drew 15870 tokens, asked 10000 (+58.7%")
    assert manifest_problems({**manifest, "tolerance": 0.6}, {"web": 1.0}) == []


def test_a_difference_under_the_floor_of_the_dataset_size_passes():
    # the demo's dataset: wiki's share is 9,579 tokens of 4,000,000 and its one drawn document has 16,263
    manifest = _manifest(wiki={"drawn_units": 16_263, "requested_units": 9_578.8, "drawn_documents": 1})
    assert manifest_problems({**manifest, "size": 4_000_000}, {"wiki": 1.0}) == []
    assert manifest_problems({**manifest, "size": 4_000_000, "tolerance_floor": 0.001}, {"wiki": 1.0})


def test_weight_zero_drawn_and_epochs_above_the_cap_are_named():
    manifest = _manifest(legal={"drawn_units": 500, "requested_units": 0.0, "drawn_documents": 1},
                         email={"drawn_units": 600_000, "requested_units": 600_000.0, "drawn_documents": 600,
                                "epochs_drawn": 6.0})
    problems = manifest_problems(manifest, {"legal": 0.0, "email": 1.0})
    assert any("legal: weight 0 but 500 drawn" in p for p in problems)
    assert any("email: 6.000 epochs > cap 4.0" in p for p in problems)
