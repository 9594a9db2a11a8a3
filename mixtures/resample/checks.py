"""The dataset's data checks: does what was drawn (or written) match the mixture?

One rule, used by the plan (before anything is written) and by the manifest check: a domain's
drawn amount may differ from its requested amount by at most ``tolerance`` of the request, or by
``tolerance_floor`` of the whole dataset's size when that is more (a share smaller than a document
or two of its domain may round to none), and at least one unit; its epochs stay under the cap, and
a weight of 0 draws nothing.
"""

from __future__ import annotations

DEFAULT_TOLERANCE = 0.05  # the largest relative difference between a domain's drawn and requested units
DEFAULT_TOLERANCE_FLOOR = 0.002  # ... unless the difference is under this share of the whole dataset

SPLIT_HINT = ("split long documents (dataset.split_documents: BYTES, or --split-documents BYTES), "
              "raise the size, or allow more (dataset.tolerance, --tolerance)")


def share_problem(name: str, requested: float, drawn: float, unit: str, tolerance: float,
                  largest_document: float | None = None, floor: float = 0.0) -> str | None:
    """Why a domain's drawn amount is too far from its request, or ``None``; ``floor`` is the
    difference always accepted (``tolerance_floor`` times the dataset's size), in units."""
    allowed = max(tolerance * requested, floor, 1.0)
    if abs(drawn - requested) <= allowed + 1e-9:
        return None
    off = (drawn - requested) / requested if requested else float("inf")
    why = ""
    if largest_document is not None and largest_document > allowed:
        why = f"; its largest document has {largest_document:.0f} {unit}"
    return (f"{name}: drew {drawn:.0f} {unit}, asked {requested:.0f} ({off:+.1%}; the tolerance is "
            f"{tolerance:.1%}, at least {floor:.0f} {unit}){why}")


def manifest_problems(manifest: dict, mixture: dict[str, float], tolerance: float | None = None) -> list[str]:
    """Where a dataset's manifest disagrees with the mixture: a share off by more than the tolerance
    (the manifest's own, else ``tolerance``, else :data:`DEFAULT_TOLERANCE`; with the manifest's
    ``tolerance_floor``), epochs above the cap, or a domain of weight 0 drawn. Each problem says how
    to fix it."""
    if tolerance is None:
        tolerance = float(manifest.get("tolerance", DEFAULT_TOLERANCE))
    floor = float(manifest.get("tolerance_floor", DEFAULT_TOLERANCE_FLOOR)) * float(manifest.get("size", 0))
    problems = []
    domains = manifest["domains"]
    for name, weight in mixture.items():
        info = domains.get(name)
        if info is None:
            problems.append(f"{name}: missing from the manifest")
            continue
        drawn, requested = float(info["drawn_units"]), float(info["requested_units"])
        problem = share_problem(name, requested, drawn, manifest["unit"], tolerance, floor=floor)
        if problem and weight > 0:
            problems.append(f"{problem}: {SPLIT_HINT}")
        cap = info.get("max_epochs", manifest.get("max_epochs_per_domain", {}).get(name, manifest["max_epochs"]))
        if float(info["epochs_drawn"]) > cap + 1e-9:
            problems.append(f"{name}: {info['epochs_drawn']:.3f} epochs > cap {cap}")
        if weight == 0 and drawn > 0:
            problems.append(f"{name}: weight 0 but {drawn:.0f} drawn")
    return problems
