"""ATTRIBUTION.md: each source of the built corpus with its license (CC BY / CC BY-SA require it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mixtures.demo_corpus.extractors.common import read_members
from mixtures.demo_corpus.sources import Artifact, DomainSource


def write_license_files(artifacts: Sequence[Artifact], files: Mapping[str, Path], out: Path) -> list[str]:
    """Copy each artifact's license / notice members to ``out/LICENSES/<key>/``; their relative paths."""
    written = []
    for artifact in artifacts:
        for member, data in sorted(read_members(files[artifact.key], artifact.license_files).items()):
            target = Path(out) / "LICENSES" / artifact.key / member.rsplit("/", 1)[-1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.append(target.relative_to(out).as_posix())
    return written


def attribution_markdown(
    sources: Sequence[DomainSource], domains: dict[str, dict[str, Any]], license_files: Sequence[str] = ()
) -> str:
    """The text of ATTRIBUTION.md for the built ``domains`` (their manifest entries)."""
    lines = [
        "# Demo corpus: sources and licenses",
        "",
        "Built by `mixtures corpus build-demo` from pinned registry artifacts (see manifest.json for",
        "their sha256). Each domain's text keeps the license of its source:",
        "",
    ]
    for source in sources:
        if source.domain not in domains:
            continue
        entry = domains[source.domain]
        pins = ", ".join(f"`{a.label}` ({a.filename})" for a in source.artifacts)
        notices = [p for p in license_files for a in source.artifacts if p.startswith(f"LICENSES/{a.key}/")]
        lines += [
            f"## {source.domain}",
            "",
            f"- Source: {pins}",
            f"- License: {source.license}" + (f" (package notices: {', '.join(notices)})" if notices else ""),
            f"- {source.attribution}",
            f"- Kept here: {entry['kept_docs']} documents, {entry['kept_bytes']:,} bytes of text "
            f"(of {entry['available_bytes']:,} available).",
        ]
        if not source.shippable:
            lines.append("- Not for redistribution: build it locally, do not commit or publish this text.")
        lines.append("")
    if "wiki" in domains:
        lines += [
            "Share-alike: the wiki text is CC BY-SA; a dataset or model card that redistributes it must",
            "credit Wikipedia's contributors and keep that text under CC BY-SA.",
            "",
        ]
    return "\n".join(lines)
