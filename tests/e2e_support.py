"""Helpers for the end-to-end tests: free ports, servers in their own process groups (always
killed), HTTP polling with deadlines, and headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers import missing_server

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chromium_or_skip() -> str:
    """The path of a Chromium binary, or skip the test saying how to get one."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    missing_server("headless Chromium not found (looked for chromium, chromium-browser, google-chrome); "
                "install it with `apt-get install -y chromium` (.ci/run does) to run the browser tests")


def _kill_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after ``grace`` seconds."""
    if process.poll() is None or _group_alive(process.pid):
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and (process.poll() is None or _group_alive(process.pid)):
                time.sleep(0.1)
            if process.poll() is not None and not _group_alive(process.pid):
                break
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL was sent
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True


@contextmanager
def server(command: list[str], log: Path, env: dict[str, str] | None = None, cwd: str | Path | None = None
           ) -> Iterator[subprocess.Popen]:
    """A server in its own process group (session), output to ``log``; the whole group is killed on exit."""
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                   start_new_session=True)
        try:
            yield process
        finally:
            _kill_group(process)


def wait_http(url: str, timeout: float, process: subprocess.Popen | None = None, log: Path | None = None) -> bytes:
    """GET ``url`` until it answers 200 or ``timeout`` seconds pass (failing with the server's log)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    state = f"exited with {process.returncode}" if process is not None and process.poll() is not None else "running"
    raise AssertionError(f"{url} did not answer within {timeout}s (server {state}; last error: {last})\n{tail}")


def http_json(url: str, payload: dict | None = None, timeout: float = 30) -> dict:
    """POST ``payload`` as JSON (or GET without one) and decode the JSON answer."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def chromium(binary: str, target: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run headless Chromium once on ``target`` (a URL) with a fresh profile; returns the finished process."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, target]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process, grace=1)
            raise AssertionError(f"chromium did not finish on {target} within {timeout}s") from None
        finally:
            if _group_alive(process.pid):
                _kill_group(process, grace=1)
    return subprocess.CompletedProcess(command, process.returncode, out.decode(errors="replace"),
                                       err.decode(errors="replace"))


def dump_dom(binary: str, target: str, budget_ms: int = 8000, timeout: float = 60) -> str:
    """The DOM after scripts ran (``--virtual-time-budget`` lets the page settle first)."""
    done = chromium(binary, target, "--dump-dom", f"--virtual-time-budget={budget_ms}",
                    "--window-size=1280,2000", timeout=timeout)
    assert done.returncode == 0, f"chromium --dump-dom failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def screenshot(binary: str, target: str, path: Path, size: str = "1280,3000", timeout: float = 60) -> Path:
    done = chromium(binary, target, f"--screenshot={path}", f"--window-size={size}", timeout=timeout)
    assert done.returncode == 0 and path.exists(), f"chromium --screenshot failed: {done.stderr[-2000:]}"
    return path
