"""Shared pieces of the reliability suite: a local throttle cache, a three-condition study,
and helpers to run the real server (gunicorn) against the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"

needs_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")


@pytest.fixture(autouse=True)
def throttle_cache(settings):
    """Rate limits count in a per-test in-memory cache, not in a cache shared with other runs."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "reliability-tests"}}
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(host: str = "127.0.0.1", port: int | None = None, name: str | None = None) -> str:
    """The URL of the test database (the one pytest-django created), optionally via another port."""
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port or db.get('PORT') or 5432}/{name or db['NAME']}"


class Server:
    """A gunicorn process serving the project on a free port, against the test database."""

    def __init__(self, tmp_path: Path, *, env: dict | None = None, workers: int = 3, threads: int = 8):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "gunicorn.log"
        base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY", "DEBUG")}
        self.env = {**base, "DATABASE_URL": database_url(), "VAR_DIR": str(tmp_path / "var"),
                    "SECRET_KEY": "reliability-" + "x" * 50, "DEBUG": "0", "SECURE_SSL_REDIRECT": "0",
                    "SECURE_COOKIES": "0", "ALLOWED_HOSTS": "127.0.0.1,localhost", "DB_CONN_MAX_AGE": "60",
                    "THROTTLE_JOIN": "100000/minute", "THROTTLE_SUBMIT": "100000/minute",
                    "LOG_LEVEL": "ERROR", **(env or {})}
        self.args = [sys.executable, "-m", "gunicorn", "evalplatform.wsgi:application", "--bind",
                     f"127.0.0.1:{self.port}", "--workers", str(workers), "--threads", str(threads),
                     "--worker-class", "gthread", "--timeout", "60", "--graceful-timeout", "5",
                     "--backlog", "512"]
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "Server":
        self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=open(self.log, "ab"),
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class TcpProxy:
    """A small TCP proxy to cut and restore a service (PostgreSQL, Redis) for one process only,
    without touching the shared server. ``cut()`` closes the listening socket and every open
    connection (clients see "connection refused" / "server closed the connection");
    ``restore()`` listens again on the same port."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.listener: socket.socket | None = None
        self.connections = 0

    def restore(self) -> "TcpProxy":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    start = restore

    def cut(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.close()
        with self.lock:
            doomed, self.sockets = self.sockets, set()
        for s in doomed:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    stop = cut

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.listener is not listener:  # cut while connecting
                    client.close()
                    upstream.close()
                    return
                self.sockets |= {client, upstream}
                self.connections += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            with self.lock:
                self.sockets -= {source, sink}
