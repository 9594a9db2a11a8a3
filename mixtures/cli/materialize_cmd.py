"""``mixtures materialize``: write the mixed training set (shards + manifest) for a mixture.

    mixtures materialize --config project.yaml --mixture optimal.json --out data/mixed
    mixtures materialize --weights web=0.5 code=0.3 books=0.2 --size 50000000 --unit tokens --out data/mixed
    mixtures materialize --mixture natural --dsir-target target.jsonl --out data/mixed
    mixtures materialize --mixture optimal.json --format megatron --out s3://bucket/mixed

Sizes, unit, shard size, format, seed and epoch caps default to the config's ``dataset``,
``seed`` and ``constraints`` sections. ``--out`` is a folder or a URL (s3://, gs://, file://).
A killed run resumes when run again with the same inputs. A mixture whose shares the corpus
cannot draw within ``--tolerance`` (a domain of a few huge documents) is refused before anything
is written; ``--split-documents BYTES`` cuts long documents into pieces.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mixtures.cli.argtypes import in_range, non_negative, positive
from mixtures.errors import MixtureError
from mixtures.storage import redact, url_of


def parse_weights(items: list[str]) -> dict[str, float]:
    """``["web=0.5", "code=0.5"]`` -> ``{"web": 0.5, "code": 0.5}``, with clear errors."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise MixtureError(f"--weights item {item!r} is not DOMAIN=WEIGHT (e.g. web=0.5).")
        try:
            out[name] = float(value)
        except ValueError:
            raise MixtureError(f"--weights item {item!r}: {value!r} is not a number.") from None
    return out


def read_mixture_file(path: str) -> tuple[dict[str, float], str | None]:
    """A mixture JSON file: ``{domain: weight}``, or an object with ``weights`` / ``mixture``
    and optionally the MLflow run that chose it (``mlflow_run_id``, ``run_id`` or ``mixture_run``)."""
    file = Path(path)
    if not file.is_file():
        raise MixtureError(f"{path}: no such mixture file.")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MixtureError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    if not isinstance(data, dict):
        raise MixtureError(f"{path}: expected a JSON object of domain weights.")
    run = next((str(data[k]) for k in ("mlflow_run_id", "run_id", "mixture_run") if data.get(k)), None)
    for key in ("weights", "mixture"):
        if isinstance(data.get(key), dict):
            data = data[key]
            break
    bad = [k for k, v in data.items() if not isinstance(v, (int, float)) or isinstance(v, bool)]
    if bad:
        raise MixtureError(f"{path}: value(s) of {bad} are not numbers; give {{domain: weight}}.")
    return {k: float(v) for k, v in data.items()}, run


def materialize_command(args: argparse.Namespace) -> int:
    from mixtures.cli.corpus_cmd import project_config
    from mixtures.mixture import validate_mixture
    from mixtures.resample.inputs import ConfigReader, corpus_fingerprint, dsir_target_batches
    from mixtures.resample.materialize import DsirSpec, Request, materialize
    from mixtures.tokenizers import project_tokenizer

    config = project_config(args.config)
    run = args.mixture_run
    if args.weights:
        mixture = parse_weights(args.weights)
    elif args.mixture == "natural":
        from mixtures.corpus import build_catalog, natural_mixture

        mixture = natural_mixture(build_catalog(config))
    elif args.mixture:
        mixture, file_run = read_mixture_file(args.mixture)
        run = run or file_run
    else:
        raise MixtureError("give the mixture: --mixture FILE.json, --mixture natural, or --weights DOMAIN=WEIGHT ...")
    mixture = validate_mixture(mixture, config.domain_names, where=args.mixture or "--weights")

    dsir_cfg = config.dataset.dsir
    dsir_on = (dsir_cfg.enabled or bool(args.dsir_target)) and not args.no_dsir
    dsir = None
    if dsir_on:
        dsir = DsirSpec(
            buckets=dsir_cfg.buckets,
            min_length=args.dsir_min_length if args.dsir_min_length is not None else dsir_cfg.min_length,
            scope=args.dsir_scope,
        )
    request = Request.from_config(
        config, mixture, size=args.size, unit=args.unit, seed=args.seed, shard_mb=args.shard_mb,
        format=args.format, dsir=dsir or False, mixture_run=run, split_documents=args.split_documents,
        tolerance=args.tolerance, tolerance_floor=args.tolerance_floor,
        corpus_fingerprint=corpus_fingerprint(config, [d for d, w in mixture.items() if w > 0]),
    )
    target = dsir_target_batches(config, args.dsir_target or []) if dsir_on else None

    def log(message: str) -> None:
        if not args.json:
            print(f"[materialize] {message}", file=sys.stderr, flush=True)

    manifest = materialize(request, args.out, ConfigReader(config), target=target,
                           tokenizer=project_tokenizer(config), n_jobs=args.jobs, overwrite=args.overwrite, log=log)
    if args.json:
        print(json.dumps(manifest, indent=2, sort_keys=True))
        return 0
    unit = manifest["unit"]
    print(f"{'domain':<16}{'weight':>8}{'requested ' + unit:>22}{'drawn ' + unit:>20}{'docs':>10}{'epochs':>8}")
    for name, info in manifest["domains"].items():
        print(f"{name:<16}{info['weight']:>8.4f}{info['requested_units']:>22.0f}{info['drawn_units']:>20}"
              f"{info['drawn_documents']:>10}{info['epochs_drawn']:>8.3f}")
    totals = manifest["totals"]
    print(f"{len(manifest['shards'])} {manifest['format']} shards, {totals['documents']} documents, "
          f"{totals['bytes']} text bytes, {totals['written_tokens']} tokens written in {redact(url_of(args.out))}")
    if manifest.get("dsir"):
        print(f"DSIR: KL(target || pool) {manifest['dsir']['kl_pool']:.4f} -> dataset {manifest['dsir']['kl_dataset']:.4f} "
              f"(reduction {manifest['dsir']['kl_reduction']:.4f})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from mixtures.resample.formats import FORMATS

    parser = sub.add_parser(
        "materialize", help="write the mixed training set (shards + manifest) for a mixture",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="project config YAML (default: the embedded demo)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--mixture", help="mixture JSON file ({domain: weight}), or 'natural'")
    source.add_argument("--weights", nargs="+", action="extend", metavar="DOMAIN=WEIGHT", help="the mixture on the command line")
    parser.add_argument("--out", required=True, help="output folder or URL (must not exist, unless --overwrite)")
    parser.add_argument("--size", type=positive(int), help="target size (default: dataset.size)")
    parser.add_argument("--unit", choices=("tokens", "bytes", "documents"), help="unit of --size (default: dataset.unit)")
    parser.add_argument("--seed", type=non_negative(int), help="seed of the draws and the shuffle (default: the config's seed)")
    parser.add_argument("--shard-mb", type=positive(float), help="text MB per shard (default: dataset.shard_mb)")
    parser.add_argument("--format", choices=FORMATS, help="output format (default: dataset.format)")
    parser.add_argument("--split-documents", type=in_range(16, kind=int), metavar="BYTES",
                        help="cut documents longer than BYTES into pieces before drawing (default: dataset.split_documents)")
    parser.add_argument("--tolerance", type=non_negative(float),
                        help="largest relative difference of a domain's drawn and asked share (default: dataset.tolerance)")
    parser.add_argument("--tolerance-floor", type=in_range(0, 1),
                        help="a difference under this share of --size is always accepted (default: dataset.tolerance_floor)")
    parser.add_argument("--dsir-target", nargs="+", action="extend", metavar="PATH", help="target examples: turns DSIR resampling on")
    parser.add_argument("--dsir-min-length", type=non_negative(int), help="DSIR: minimum tokens of a document (default: dataset.dsir.min_length)")
    parser.add_argument("--dsir-scope", choices=("domain", "pool"), default="domain",
                        help="DSIR raw distribution: each domain's own, or the whole pool's")
    parser.add_argument("--no-dsir", action="store_true", help="turn DSIR off even if the config enables it")
    parser.add_argument("--mixture-run", help="the MLflow run id that chose the mixture (recorded in the manifest)")
    parser.add_argument("--jobs", type=non_negative(int), default=1, help="worker processes (0: every core)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    parser.set_defaults(func=materialize_command)
