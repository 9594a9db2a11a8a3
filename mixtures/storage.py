"""Paths and URLs through one layer: local files, ``file://``, ``s3://``, ``gs://`` (any fsspec protocol).

Every function takes a local path (``str`` or :class:`~pathlib.Path`), a URL, or a
:class:`upath.UPath`. Local paths keep the behaviour of :mod:`os` (a temporary file in the same
folder, then ``os.replace``); object storage has no rename of folders, so an atomic write there
uploads to a temporary key beside the target and then moves it onto the target key: a reader
sees the whole object or none. Multi-file outputs commit a small file last (a manifest), so a
killed writer never leaves a manifest that names a missing or partial object.

Reads stream: :func:`open_read` returns a file object that fetches blocks on demand (no whole-file
download). Credentials come from the protocol's standard sources (for S3: ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` and ``~/.aws``,
``AWS_ENDPOINT_URL`` for S3-compatible servers; for GCS: ``GOOGLE_APPLICATION_CREDENTIALS`` or the
metadata server) and are never part of a URL this module prints: :func:`redact` strips user
info and signed query parameters from every URL that goes into an error message.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mixtures.errors import MixturesError

if TYPE_CHECKING:  # pandas is imported only by the frame writer
    import pandas as pd

PathLike = str | os.PathLike
READ_BLOCK_BYTES = 8 << 20  # bytes fetched per request when streaming from object storage
SCRATCH_ENV = "MIXTURES_SCRATCH"  # the local scratch folder (scratch_root)
_SECRET_QUERY = re.compile(r"(?i)([?&](?:x-amz-[a-z-]*|signature|sig|token|access_token|key|awsaccesskeyid|x-goog-[a-z-]*)=)[^&]*")
_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@")


class StorageError(MixturesError):
    """A path or URL cannot be read or written; the message names the (redacted) URL."""


# -- naming -----------------------------------------------------------------------------------------


def url_of(path: PathLike) -> str:
    """The canonical string of a path or URL: a URL stays a URL, ``file://`` and local paths
    become absolute local paths."""
    if not isinstance(path, str) and hasattr(path, "protocol"):  # a upath.UPath
        if path.protocol in ("", "file", "local"):
            return str(Path(path.path).resolve())
        return str(path)
    text = os.fspath(path) if not isinstance(path, str) else path
    if text.startswith("file://"):
        return str(Path(text[len("file://"):]).resolve())
    if is_url(text):
        return text
    return str(Path(text).expanduser().resolve())


def is_url(path: PathLike) -> bool:
    """True for ``protocol://...`` other than ``file://`` (object storage, HTTP, memory, ...)."""
    text = str(path)
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", text)
    return bool(match) and match.group(1).lower() not in ("file", "local")


def is_local(path: PathLike) -> bool:
    return not is_url(url_of(path) if not isinstance(path, str) else path)


def as_path(path: PathLike):
    """A :class:`~pathlib.Path` for a local path, a :class:`upath.UPath` for a URL."""
    url = url_of(path)
    if is_url(url):
        from upath import UPath

        return UPath(url)
    return Path(url)


def join(base: PathLike, *parts: str) -> str:
    """``base/part/...`` for a local path or a URL (``/`` separators on object storage)."""
    url = url_of(base)
    if not is_url(url):
        return str(Path(url, *parts))
    return "/".join([url.rstrip("/"), *(p.strip("/") for p in parts)])


def parent(path: PathLike) -> str:
    url = url_of(path)
    if not is_url(url):
        return str(Path(url).parent)
    head, _, _ = url.rstrip("/").rpartition("/")
    return head


def name(path: PathLike) -> str:
    return url_of(path).rstrip("/").rpartition("/")[2]


def redact(text: str) -> str:
    """``text`` with URL user info (``user:secret@``) and signed query parameters removed."""
    text = _USERINFO.sub(r"\1***@", str(text))
    return _SECRET_QUERY.sub(r"\1***", text)


def filesystem(path: PathLike):
    """``(fsspec filesystem, path inside it)`` for a path or URL."""
    import fsspec

    url = url_of(path)
    with storage_errors(url, "open"):
        return fsspec.core.url_to_fs(url)


# -- errors -----------------------------------------------------------------------------------------


def describe(exc: BaseException) -> str:
    """What went wrong, in words, for an exception raised by a filesystem (no credentials)."""
    text = redact(f"{type(exc).__name__}: {exc}")
    lowered = text.lower()
    if "nosuchbucket" in lowered or "bucket does not exist" in lowered or "specified bucket does not exist" in lowered:
        return f"the bucket does not exist ({text})"
    if isinstance(exc, PermissionError) or any(
        k in lowered for k in ("accessdenied", "access denied", "invalidaccesskeyid", "signaturedoesnotmatch", "forbidden", "403")
    ):
        return ("access denied: check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
                f"GOOGLE_APPLICATION_CREDENTIALS) and the bucket's policy ({text})")
    if any(k in lowered for k in ("could not connect", "connect timeout", "connection", "endpoint", "timed out",
                                  "cannot connect", "server disconnected", "broken pipe")):
        return f"the storage server cannot be reached or dropped the connection ({text})"
    return text


@contextlib.contextmanager
def storage_errors(url: PathLike, action: str) -> Iterator[None]:
    """Turn a filesystem's exception into one :class:`StorageError` that names the URL."""
    try:
        yield
    except StorageError:
        raise
    except MixturesError:
        raise
    except FileNotFoundError as exc:
        shown = redact(str(url))
        why = describe(exc)
        if "bucket" not in why:
            why = f"no such file or folder ({why})"
        raise StorageError(f"{shown}: cannot {action}: {why}.") from None
    except (OSError, ValueError, RuntimeError, TimeoutError) as exc:
        raise StorageError(f"{redact(str(url))}: cannot {action}: {describe(exc)}.") from None
    except Exception as exc:  # botocore / aiohttp / google errors are not OSError subclasses
        raise StorageError(f"{redact(str(url))}: cannot {action}: {describe(exc)}.") from None


# -- reading ----------------------------------------------------------------------------------------


def open_read(path: PathLike, block_size: int = READ_BLOCK_BYTES) -> IO[bytes]:
    """A binary file object that streams ``path`` (read-ahead blocks on object storage)."""
    url = url_of(path)
    if not is_url(url):
        with storage_errors(url, "read"):
            return open(url, "rb")  # noqa: SIM115 - the caller closes it
    fs, inner = filesystem(url)
    with storage_errors(url, "read"):
        return fs.open(inner, "rb", block_size=block_size, cache_type="readahead")


def read_bytes(path: PathLike) -> bytes:
    with open_read(path) as fh, storage_errors(path, "read"):
        return fh.read()


def read_text(path: PathLike) -> str:
    return read_bytes(path).decode("utf-8")


def read_json(path: PathLike) -> Any:
    return json.loads(read_text(path))


def _ask(path: PathLike, action: str, method: str):
    """``fs.<method>(path)`` on the path's filesystem, errors naming the URL. Listings cached by the
    filesystem are dropped first: a long-running process (a sensor) must see objects that changed."""
    fs, inner = filesystem(path)
    with storage_errors(path, action):
        _invalidate(fs)
        return getattr(fs, method)(inner)


def exists(path: PathLike) -> bool:
    return bool(_ask(path, "check", "exists"))


def isfile(path: PathLike) -> bool:
    return bool(_ask(path, "check", "isfile"))


def isdir(path: PathLike) -> bool:
    return bool(_ask(path, "check", "isdir"))


def size(path: PathLike) -> int:
    return int(_ask(path, "stat", "size"))


def stamp(path: PathLike) -> str:
    """A cheap version stamp of a file (size and modification time, or the object's ETag)."""
    info = _ask(path, "stat", "info")
    version = info.get("ETag") or info.get("etag") or info.get("md5Hash") or info.get("mtime") or info.get("LastModified")
    if not is_url(url_of(path)):
        version = os.stat(url_of(path)).st_mtime_ns
    return f"{info.get('size')}\0{version}"


def _with_protocol(fs, inner: str, like: str) -> str:
    if not is_url(like):
        return str(Path(inner))
    return fs.unstrip_protocol(inner)


def _matches(path: PathLike, method: str) -> list[str]:
    url = url_of(path)
    fs, inner = filesystem(url)
    with storage_errors(url, "list"):
        _invalidate(fs)
        return sorted(_with_protocol(fs, m, url) for m in getattr(fs, method)(inner))


def glob(pattern: PathLike) -> list[str]:
    """Sorted matches of a glob (``**`` recursive) as URLs or local paths."""
    return _matches(pattern, "glob")


def find(folder: PathLike) -> list[str]:
    """Every file under a folder, recursively, sorted (URLs or local paths)."""
    return _matches(folder, "find")


def listdir(folder: PathLike) -> list[str]:
    """Names directly inside a folder (empty when it does not exist)."""
    url = url_of(folder)
    fs, inner = filesystem(url)
    with storage_errors(url, "list"):
        _invalidate(fs)
        if not fs.exists(inner):
            return []
        return sorted(name(m) for m in fs.ls(inner, detail=False))


def has_magic(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


# -- writing ----------------------------------------------------------------------------------------


def _invalidate(fs) -> None:
    with contextlib.suppress(Exception):
        fs.invalidate_cache()


def _temporary_key(url: str) -> str:
    return join(parent(url), f".{name(url)}.{uuid.uuid4().hex[:12]}.tmp")


def _commit_local(target: Path, write) -> Path:
    """``write(file)`` into a temporary file beside ``target``, then ``os.replace`` it onto ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _commit_remote(url: str, upload) -> None:
    """``upload(fs, temporary key)``, then move the temporary key onto ``url`` (removed on failure)."""
    fs, inner = filesystem(url)
    _, tmp_inner = filesystem(_temporary_key(url))
    with storage_errors(url, "write"):
        try:
            upload(fs, tmp_inner)
            fs.mv(tmp_inner, inner)
        except BaseException:
            with contextlib.suppress(Exception):
                fs.rm(tmp_inner)
            raise
        finally:
            _invalidate(fs)


def put_file(local: PathLike, path: PathLike):
    """Copy a local file to ``path`` atomically (upload to a temporary key, then move it)."""
    import shutil

    url = url_of(path)
    if not is_url(url):
        with open(local, "rb") as src:
            return _commit_local(Path(url), lambda fh: shutil.copyfileobj(src, fh, 1 << 20))
    _commit_remote(url, lambda fs, tmp: fs.put_file(str(local), tmp))
    return as_path(url)


def atomic_write_bytes(path: PathLike, data: bytes):
    """Write ``data`` to ``path`` so that it appears complete or not at all; returns the path
    written (a :class:`~pathlib.Path`, or a :class:`upath.UPath` for a URL)."""
    url = url_of(path)
    if not is_url(url):
        return _commit_local(Path(url), lambda fh: fh.write(data))
    _commit_remote(url, lambda fs, tmp: fs.pipe_file(tmp, data))
    return as_path(url)


def atomic_write_text(path: PathLike, text: str):
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: PathLike, data: Any):
    """JSON with sorted keys and a trailing newline (byte-stable for the same data)."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_frame(path: PathLike, frame: pd.DataFrame):
    """A DataFrame as parquet (or CSV when the name ends in .csv), atomically."""
    if name(path).lower().endswith(".csv"):
        return atomic_write_text(path, frame.to_csv(index=False))
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return atomic_write_bytes(path, buffer.getvalue())


def scratch_root() -> Path:
    """The local folder for what object storage cannot hold (memory maps, a run's working files, a
    dataset being built): ``$MIXTURES_SCRATCH``, else ``<system temporary folder>/mixtures-scratch``."""
    return Path(os.environ.get(SCRATCH_ENV) or Path(tempfile.gettempdir()) / "mixtures-scratch").expanduser().resolve()


def local_copy(path: PathLike, folder: PathLike) -> Path:
    """A local file with ``path``'s bytes, for what must be memory-mapped (a local path is itself).

    A URL is downloaded once into ``folder`` (named by a hash of the URL and its version stamp,
    through a temporary file and a rename) and reused while the object is unchanged.
    """
    import hashlib
    import shutil

    url = url_of(path)
    if not is_url(url):
        return Path(url)
    key = hashlib.sha256(f"{url}\0{stamp(url)}".encode()).hexdigest()[:16]
    target = Path(url_of(folder)) / f"{key}-{name(url)}"
    if target.is_file():
        return target
    with open_read(url) as src, storage_errors(url, "read"):
        return _commit_local(target, lambda fh: shutil.copyfileobj(src, fh, READ_BLOCK_BYTES))


def get_file(path: PathLike, local: PathLike) -> Path:
    """Copy ``path`` (a URL or a local file) to the local file ``local`` atomically (a temporary file
    beside it, then a rename); the counterpart of :func:`put_file`."""
    import shutil

    url = url_of(path)
    with open_read(url) as src, storage_errors(url, "read"):
        return _commit_local(Path(local), lambda fh: shutil.copyfileobj(src, fh, READ_BLOCK_BYTES))


def remove(path: PathLike, recursive: bool = False) -> None:
    """Delete a file (or a folder / key prefix with ``recursive``); a missing one is fine."""
    url = url_of(path)
    fs, inner = filesystem(url)
    with storage_errors(url, "delete"):
        try:
            if fs.exists(inner):
                fs.rm(inner, recursive=recursive)
        finally:
            _invalidate(fs)


def makedirs(path: PathLike) -> None:
    """Create a local folder (object storage has no folders: nothing to do)."""
    url = url_of(path)
    if not is_url(url):
        Path(url).mkdir(parents=True, exist_ok=True)


def check_writable(path: PathLike) -> None:
    """Fail early, naming the URL, when ``path``'s location cannot be written (missing bucket,
    denied access, unreachable server): writes and deletes a small probe object beside it."""
    probe = join(parent(path), f".{name(path)}.probe-{uuid.uuid4().hex[:8]}")
    atomic_write_bytes(probe, b"")
    remove(probe)
