"""The work folder of one materialization, and how the finished dataset is committed.

A local output is built in ``.<out>.partial/`` beside it and renamed into place at the end. An
output on object storage (``s3://...``, ``gs://...``) is built in a local scratch folder (spills
are memory-mapped, so they stay on local disk); at the end every file is uploaded to a temporary
key and moved onto its name, and ``manifest.json`` is committed last. While files are uploaded a
marker object ``.mixtures-partial`` says the prefix is a dataset being written, so a killed upload
leaves no manifest and a rerun replaces the debris.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from mixtures import storage
from mixtures.resample.materialize.request import MaterializeError, Request

MANIFEST = "manifest.json"
PARTIAL_MARKER = ".mixtures-partial"


def default_scratch() -> Path:
    """Where remote outputs are built: :func:`mixtures.storage.scratch_root` (``$MIXTURES_SCRATCH``)."""
    return storage.scratch_root()


class Workspace:
    """Paths of one materialization: the output (a local path or URL) and its local work folder."""

    def __init__(self, out: str | os.PathLike, scratch: str | os.PathLike | None = None) -> None:
        self.url = storage.url_of(out)
        self.remote = storage.is_url(self.url)
        self.out = storage.as_path(self.url)
        if self.remote:
            key = hashlib.sha256(self.url.encode()).hexdigest()[:16]
            self.work = Path(scratch or default_scratch()).resolve() / f"{storage.name(self.url)}-{key}.partial"
        else:
            self.work = self.out.parent / f".{self.out.name}.partial"

    @property
    def shown(self) -> str:
        """The output as it may appear in messages (no credentials)."""
        return storage.redact(self.url)

    @property
    def dataset(self) -> Path:
        return self.work / "dataset"

    @property
    def pieces(self) -> Path:
        """Per-shard intermediate files of formats that assemble their files at the end."""
        return self.work / "pieces"

    def index_path(self, domain: str) -> Path:
        return self.work / "index" / f"{domain}.npz"

    def counts_path(self, name: str) -> Path:
        return self.work / "index" / f"{name}.counts.npy"

    def features_dir(self, domain: str) -> Path:
        return self.work / "features" / domain

    def spill_path(self, domain: str) -> Path:
        return self.work / "spill" / f"{domain}.arrow"

    def shard_marker(self, shard: int) -> Path:
        return self.work / "shards" / f"{shard:05d}.json"

    @property
    def lock_path(self) -> Path:
        if self.remote:
            return self.work.parent / f".{self.work.name[: -len('.partial')]}.lock"
        return self.out.parent / f".{self.out.name}.lock"

    @contextmanager
    def exclusive(self, log: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold an exclusive lock on this output (``fcntl.flock`` on a ``.<name>.lock`` file beside
        it, or in the scratch folder for a remote output), so two processes materializing the same
        output on one machine run one after the other instead of interleaving their work; the second
        then finds the first one's finished dataset. The lock file stays (removing a lock file
        others may hold open would race)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no locking
            yield
            return
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if log:
                    log(f"waiting for another materialization of {self.shown} (lock {self.lock_path})")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- the output ---------------------------------------------------------------------------------
    def finished_manifest(self, request: Request | None = None) -> dict | None:
        """The output's manifest if it is a finished dataset (of ``request``, when given)."""
        path = storage.join(self.url, MANIFEST)
        if not storage.isfile(path):
            return None
        manifest = storage.read_json(path)
        if request is not None and manifest.get("fingerprint") != request.fingerprint():
            return None
        return manifest

    def _output_exists(self) -> bool:
        if not self.remote:
            return self.out.exists()
        return bool(storage.listdir(self.url))

    def begin(self, request: Request, overwrite: bool = False) -> dict | None:
        """Prepare the work folder; return the manifest if the output is already complete.

        A work folder left by other inputs is discarded; an output that is not this request's
        finished dataset is refused unless ``overwrite`` (then removed). On object storage the
        output's location is written to at once (the partial marker), so a missing bucket or
        denied access fails here, before any work.
        """
        if self._output_exists():
            has_manifest = storage.isfile(storage.join(self.url, MANIFEST))
            done = self.finished_manifest(request) if has_manifest else None
            if done is not None:
                return done
            ours_partial = self.remote and not has_manifest and storage.isfile(storage.join(self.url, PARTIAL_MARKER))
            if not ours_partial:
                if not overwrite:
                    raise MaterializeError(
                        f"{self.shown} already exists and is not this dataset; remove it, choose another output "
                        "folder, or pass overwrite (--overwrite)."
                    )
                if not has_manifest:
                    raise MaterializeError(f"{self.shown} exists and holds no {MANIFEST}; refusing to delete it.")
            storage.remove(self.url, recursive=True)
        if self.remote:
            storage.atomic_write_json(storage.join(self.url, PARTIAL_MARKER), {"fingerprint": request.fingerprint()})
        stored = self.work / "request.json"
        if stored.is_file() and json.loads(stored.read_text()).get("fingerprint") != request.fingerprint():
            shutil.rmtree(self.work)
        if not stored.is_file():
            self.work.mkdir(parents=True, exist_ok=True)
            write_json(stored, {"fingerprint": request.fingerprint(), "request": request.to_dict()})
        return None

    def check(self, request: Request) -> None:
        """Refuse to work on a folder begun for other inputs."""
        stored = self.work / "request.json"
        if not stored.is_file():
            raise MaterializeError(f"{self.work}: not begun; run the plan stage (Workspace.begin) first.")
        if json.loads(stored.read_text()).get("fingerprint") != request.fingerprint():
            raise MaterializeError(f"{self.work} was begun for other inputs; begin again to discard it.")

    def commit(self) -> None:
        """Move the finished ``dataset`` folder (manifest included) to the output, manifest last."""
        if not (self.dataset / MANIFEST).is_file():
            raise MaterializeError(f"{self.dataset}: no {MANIFEST}; the dataset is not assembled yet.")
        if not self.remote:
            if self.out.exists():
                raise MaterializeError(f"{self.shown} appeared while the dataset was written; remove it and run again.")
            os.replace(self.dataset, self.out)
        else:
            files = sorted(p for p in self.dataset.rglob("*") if p.is_file() and p.name != MANIFEST)
            for path in files:
                storage.put_file(path, storage.join(self.url, path.relative_to(self.dataset).as_posix()))
            storage.put_file(self.dataset / MANIFEST, storage.join(self.url, MANIFEST))
            storage.remove(storage.join(self.url, PARTIAL_MARKER))
        shutil.rmtree(self.work, ignore_errors=True)


def write_json(path: Path, data: Any) -> None:
    """JSON (sorted keys, indented) through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def save_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npy")
    np.save(tmp, array)
    tmp.replace(path)
