#!/usr/bin/env python3
"""One-command entry points on a fresh machine (only Python >= 3.11 and pip needed).

    python3 tasks.py demo     # set up .venv, then run the whole pipeline on the embedded demo
    python3 tasks.py test     # set up .venv, then run the test suite (extra args go to pytest)
    python3 tasks.py dagster  # open the Dagster UI on what `demo` produced (http://127.0.0.1:3000)
    python3 tasks.py mlflow   # open the MLflow UI on what `demo` produced (http://127.0.0.1:5000)

The virtual environment is created once and re-installed only when pyproject.toml changes.
PyTorch is installed first with ``$MIXTURES_TORCH`` (default ``torch==2.13.0``, the CPU build
on our machines), so an unpinned ``torch`` never pulls a multi-GB CUDA build.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".mixtures-installed"
EXTRAS = "test,demo-corpus,postgres,bpe,k8s"  # postgres: the team deployment (dagster-postgres, psycopg2);
# bpe: tokenizers; k8s: dagster-k8s (the Kubernetes launcher, checked without a cluster)


def _say(message: str) -> None:
    print(f"[tasks] {message}", flush=True)


def _stamp_value() -> str:
    torch_spec = os.environ.get("MIXTURES_TORCH", "torch==2.13.0")
    payload = (ROOT / "pyproject.toml").read_bytes() + torch_spec.encode() + EXTRAS.encode()
    return hashlib.sha256(payload).hexdigest()


def ensure_env() -> None:
    """Create ``.venv`` and install the project into it unless it is already up to date."""
    if sys.version_info < (3, 11):
        sys.exit(f"mixtures needs Python >= 3.11; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        _say(f"creating the virtual environment {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = _stamp_value()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    torch_spec = os.environ.get("MIXTURES_TORCH", "torch==2.13.0")
    _say(f"installing {torch_spec} (CPU build where available)")
    subprocess.check_call([*pip, torch_spec])
    _say(f"installing mixtures[{EXTRAS}] and its dependencies (a minute or two the first time)")
    subprocess.check_call([*pip, "-e", f"{ROOT}[{EXTRAS}]"])
    STAMP.write_text(wanted)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DAGSTER_HOME", str(ROOT / ".dagster_home"))
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(command: list[str]) -> int:
    try:
        return subprocess.call(command, cwd=ROOT, env=_env())
    except KeyboardInterrupt:
        return 130


def demo(args: list[str]) -> int:
    code = _run([str(BIN / "mixtures"), "run", *args])
    if code == 0:
        _say("done. Look at it with:  python3 tasks.py dagster   and   python3 tasks.py mlflow")
    return code


def test(args: list[str]) -> int:
    """pytest; with no ``-n`` given, on one worker per core plus one (up to 4; pytest-xdist, one module per worker
    at a time, the slow modules first (tests/conftest.py): much of the suite's time is servers, daemons and
    pipelines waiting on each other)."""
    if not any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args):
        args = ["-n", str(min(4, (os.cpu_count() or 1) + 1)), "--dist", "loadgroup", "--no-loadscope-reorder", *args]
    return _run([str(PYTHON), "-m", "pytest", *args])


def dagster(args: list[str]) -> int:
    Path(_env()["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return _run([str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", "3000", *args])


def mlflow(args: list[str]) -> int:
    return _run([str(BIN / "mlflow"), "ui", "--backend-store-uri", f"sqlite:///{ROOT / 'mlflow.db'}",
                 "--host", "127.0.0.1", "--port", "5000", *args])


COMMANDS = {"demo": demo, "test": test, "dagster": dagster, "mlflow": mlflow}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        return 2
    ensure_env()
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
