"""A real S3 API server for tests: ``moto`` in server mode on 127.0.0.1, in its own process, with IAM
authentication switched on after setup, and a TCP relay in front of it that a test can cut (a
connection dropped mid-write) without losing the server's state.

Under ``CI=true`` a server that cannot start fails the test; elsewhere it skips, saying why.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass

import pytest

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the S3 test server cannot start under CI: {reason}")
    pytest.skip(f"the S3 test server cannot start: {reason}")


class MotoServer:
    """``python -m moto.server`` on a free port of 127.0.0.1 (ended by :meth:`stop`)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> MotoServer:
        try:
            import moto.server  # noqa: F401
        except ImportError as exc:
            _unavailable(f"moto[server] is not installed ({exc}); pip install 'moto[server]'")
        # its request log goes to a file: a pipe nobody reads fills up and stalls the server mid-pipeline
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                _unavailable(f"moto.server exited with {self.proc.returncode}: "
                             f"{self.log.read()[-2000:].decode('utf-8', 'replace')}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2).read()
                return self
            time.sleep(0.1)
        self.stop()
        _unavailable(f"moto.server did not answer on {self.url} within {timeout:.0f} s")
        return self

    def require_auth(self) -> None:
        """From now on every request must be signed with an IAM user's key."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset-auth", data=b"0", method="POST",
                                         headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(request, timeout=10).read()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None) is not None:
            self.log.close()


class Relay:
    """A TCP relay 127.0.0.1:port -> the server. :meth:`cut_after` drops every connection once
    ``limit`` bytes have gone upstream and refuses new ones until :meth:`restore`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.limit: int | None = None
        self.sent = 0
        self.cut = threading.Event()
        self.closed = False
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, limit: int) -> None:
        with self.lock:
            self.sent, self.limit = 0, limit
            self.cut.clear()

    def restore(self) -> None:
        with self.lock:
            self.limit = None
            self.cut.clear()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, dest: socket.socket, upstream: bool) -> None:
        try:
            while not self.cut.is_set():
                data = source.recv(65536)
                if not data:
                    break
                if upstream:
                    with self.lock:
                        self.sent += len(data)
                        if self.limit is not None and self.sent > self.limit:
                            self.cut.set()
                            break
                dest.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, dest):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self.closed = True
        self.cut.set()
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.close()


@dataclass
class S3:
    """The running server, the relay in front of it and an IAM user's working key."""

    server: MotoServer
    relay: Relay
    key: str
    secret: str

    def env(self, key: str | None = None, secret: str | None = None, via_relay: bool = False) -> dict[str, str]:
        """Environment variables that point boto/s3fs at the server (the standard AWS ones)."""
        return {"AWS_ACCESS_KEY_ID": key or self.key, "AWS_SECRET_ACCESS_KEY": secret or self.secret,
                "AWS_ENDPOINT_URL": self.relay.url if via_relay else self.server.url, "AWS_DEFAULT_REGION": REGION,
                "AWS_MAX_ATTEMPTS": "2", "AWS_RETRY_MODE": "standard"}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.server.url, region_name=REGION, aws_access_key_id=self.key,
                            aws_secret_access_key=self.secret)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def start_s3() -> S3:
    """Start the server, make an IAM user with full S3 rights and its key, then require signatures."""
    import boto3

    server = MotoServer().start()
    setup = {"endpoint_url": server.url, "region_name": REGION, "aws_access_key_id": "setup",
             "aws_secret_access_key": "setup"}
    iam = boto3.client("iam", **setup)
    iam.create_user(UserName="mixtures")
    iam.put_user_policy(UserName="mixtures", PolicyName="s3", PolicyDocument=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'))
    key = iam.create_access_key(UserName="mixtures")["AccessKey"]
    server.require_auth()
    return S3(server, Relay(server.port), key["AccessKeyId"], key["SecretAccessKey"])
