"""Mixture reuse on the demo corpus: add the held-back domain, reuse the demo's optimum vs recompute it in full.

    python bench/reuse.py --previous /work/demo_ref/.mixtures --work /tmp/reuse-bench

- **previous**: a finished demo folder (its ``optimal_mixture.json`` and the ``catalog.parquet`` the optimum was
  made from, and its ``demo-corpus/``): the optimum the corpus change starts from.
- **reuse**: the demo config plus the held-back domain ``tests`` (SymPy's test files, ``mixtures corpus build-demo
  --with-held-back --domains tests``), ``reuse: always``, in a folder holding the previous optimum and its catalog:
  ``mixtures run`` designs the reuse swarm (the virtual domain + ``tests``), fits, optimizes, validates.
- **full**: the same eight-domain config, ``reuse: never``, in a fresh folder: the full 14-mixture design.

Both optima are validated like the demo's (4x the proxy compute, seeds 0, 1, 2). Proxy compute is the sum over the
design's fitted proxy runs of ``n_params x n_tokens``; the full side's ``proxy.repeats`` (noise floor) runs are left
out of it (counted beside it), which makes the ratio larger, not smaller.

Prints ONE JSON object last: ``compute_ratio`` (reuse / full), ``objective_reuse`` and ``objective_full`` (the
optimum's mean validation objective, 3 seeds), ``spread`` (the full recompute optimum's seed std), and beside them
each side's runs, wall seconds and its optimum's weights.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mixtures.defaults import DEMO_CONFIG  # noqa: E402
from mixtures.layout import OPTIMUM_CATALOG  # noqa: E402

HELD_BACK = "tests"
HELD_BACK_MB = 2.0


def _config(folder: Path, held_back: Path, reuse: str) -> Path:
    data = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    data["domains"].append({"name": HELD_BACK, "paths": [str(held_back / HELD_BACK)], "id_field": "id"})
    data["reuse"] = reuse
    path = folder / "project.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _folder(work: Path, name: str, previous: Path) -> Path:
    folder = work / name
    if folder.exists():
        shutil.rmtree(folder)
    (folder / ".mixtures").mkdir(parents=True)
    (folder / ".mixtures" / "demo-corpus").symlink_to(previous / "demo-corpus")
    return folder


def _run(folder: Path, config: Path) -> float:
    start = time.perf_counter()
    env = {**os.environ, "DAGSTER_HOME": str(folder / ".dagster_home")}
    log = folder / "run.log"
    with open(log, "w") as out:
        code = subprocess.call([str(Path(sys.executable).with_name("mixtures")), "run", str(config)], cwd=folder,
                               env=env, stdout=out, stderr=subprocess.STDOUT)
    if code != 0:
        raise SystemExit(f"mixtures run failed in {folder} (exit {code}); see {log}:\n{log.read_text()[-3000:]}")
    return time.perf_counter() - start


def _side(folder: Path, seconds: float) -> dict:
    root = folder / ".mixtures"
    results = pd.read_parquet(root / "proxy_results.parquet")  # the fitted runs (the noise-floor repeats aside)
    final = results.groupby("run_id").agg(n_params=("n_params", "first"), n_tokens=("n_tokens", "max"))
    repeats = root / "proxy_repeats.parquet"
    verdict = json.loads((root / "validation.json").read_text())
    optimum = json.loads((root / "optimal_mixture.json").read_text())
    return {"proxy_runs": int(len(final)),
            "repeat_runs": int(pd.read_parquet(repeats)["run_id"].nunique()) if repeats.exists() else 0,
            "proxy_compute": float((final["n_params"] * final["n_tokens"]).sum()),
            "objective": float(verdict["mixtures"]["optimal"]["mean"]),
            "spread": float(verdict["mixtures"]["optimal"]["std"]), "wall_seconds": round(seconds, 1),
            "weights": {d: round(w, 4) for d, w in optimum["weights"].items()}, "reuse": optimum.get("reuse"),
            "summary": verdict["summary"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previous", required=True, type=Path, help="a finished demo's storage root (.mixtures)")
    parser.add_argument("--work", required=True, type=Path, help="folder for the two runs (replaced)")
    args = parser.parse_args()
    previous, work = args.previous.resolve(), args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    held_back = work / "held-back"
    subprocess.check_call([str(Path(sys.executable).with_name("mixtures")), "corpus", "build-demo", "--with-held-back",
                           "--domains", HELD_BACK, "--cap-mb", str(HELD_BACK_MB), "--out", str(held_back), "--quiet"])
    out: dict = {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()[0]}

    reuse = _folder(work, "reuse", previous)
    shutil.copy(previous / "optimal_mixture.json", reuse / ".mixtures" / "optimal_mixture.json")
    shutil.copy(previous / "catalog.parquet", reuse / ".mixtures" / OPTIMUM_CATALOG)
    side_reuse = _side(reuse, _run(reuse, _config(reuse, held_back, "always")))
    print(json.dumps({"reuse": side_reuse}), flush=True)

    full = _folder(work, "full", previous)
    side_full = _side(full, _run(full, _config(full, held_back, "never")))
    print(json.dumps({"full": side_full}), flush=True)

    out.update({
        "compute_ratio": side_reuse["proxy_compute"] / side_full["proxy_compute"],
        "objective_reuse": side_reuse["objective"],
        "objective_full": side_full["objective"],
        "spread": side_full["spread"],
        "within_spread_or_better": side_reuse["objective"] <= side_full["objective"] + side_full["spread"],
        "reuse": side_reuse, "full": side_full, "loadavg_end": os.getloadavg()[0],
    })
    print(json.dumps(out))


if __name__ == "__main__":
    main()
