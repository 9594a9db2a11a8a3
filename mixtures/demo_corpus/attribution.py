"""ATTRIBUTION.md: each source of the built corpus with its license (CC BY / CC BY-SA require it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mixtures.demo_corpus.sources import DomainSource


def attribution_markdown(sources: Sequence[DomainSource], domains: dict[str, dict[str, Any]]) -> str:
    """The text of ATTRIBUTION.md for the built ``domains`` (their manifest entries)."""
    lines = [
        "# Demo corpus: sources and licenses",
        "",
        "Built by `mixtures build-demo-corpus` from pinned registry artifacts (see manifest.json for",
        "their sha256). Each domain's text keeps the license of its source:",
        "",
    ]
    for source in sources:
        if source.domain not in domains:
            continue
        entry = domains[source.domain]
        pins = ", ".join(f"`{a.label}` ({a.filename})" for a in source.artifacts)
        lines += [
            f"## {source.domain}",
            "",
            f"- Source: {pins}",
            f"- License: {source.license}",
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
