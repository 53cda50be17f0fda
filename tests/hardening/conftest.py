"""Fixtures of the hardening suite: ingested catalogues, servers in subprocesses, a TCP proxy.

Every test owns what it starts: catalogues are private (a copied SQLite file or a cloned
PostgreSQL database), servers listen on free loopback ports and are stopped by their finaliser.
Tests report their figures through `record_figure`, which prints them and, when
`NEWSCAT_FIGURES` names a file, appends them there as JSON lines (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from app.ingest.run import ingest_paths
from app.synth import generate_corpus
from tests.catalogue import migrated_catalogue

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SMALL_CORPUS_SIZE = 80
SMALL_CORPUS_SEED = 505

# Articles whose values hold LIKE wildcards, each with a near twin the wildcard would match.
_LITERAL = """---
title: "{title}"
excerpt: "{title}, as a literal."
publishedDateTime: 2020-0{n}-01T10:00:00Z
webUrl: "{url}"
provider:
  name: {provider}
  domain: {domain}
category: "{category}"
type: article
quality: {n}
topics:
  - "{topic}"
---
"""
LITERAL_ARTICLES = {
    "percent": dict(
        title="Everything 100% off",
        url="https://literal.example/100%25",
        provider="Per Cent",
        domain="per%cent.example",
        category="promo_code",
        topic="100%",
    ),
    "percent-twin": dict(
        title="Everything 1000 off",
        url="https://literal.example/1000",
        provider="Perx Cent",
        domain="perxcent.example",
        category="promoXcode",
        topic="1000",
    ),
    "underscore": dict(
        title="Names in snake_case",
        url="https://literal.example/a_c",
        provider="Under Score",
        domain="under_score.example",
        category="snake_case",
        topic="snake_case",
    ),
    "underscore-twin": dict(
        title="Names in snakeXcase",
        url="https://literal.example/abc",
        provider="Under X Score",
        domain="underxscore.example",
        category="snakeXcase",
        topic="snakeXcase",
    ),
}


def record_figure(name: str, **values: Any) -> None:
    """A measured figure for docs/reliability.md: printed, and kept when NEWSCAT_FIGURES is set."""
    line = json.dumps({"case": name, **values}, default=str, sort_keys=True)
    print(f"FIGURE {line}")
    target = os.environ.get("NEWSCAT_FIGURES")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def write_literal_articles(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for n, (name, values) in enumerate(LITERAL_ARTICLES.items(), start=1):
        (directory / f"{name}.md").write_text(_LITERAL.format(n=n, **values), encoding="utf-8")


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass; returns whether it held."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        pause.wait(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Catalogues that outlive one test


def _admin_engine() -> Any:
    return create_engine(
        ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )


@contextmanager
def private_catalogue(
    backend: str, request: pytest.FixtureRequest, directory: Path
) -> Iterator[str]:
    """A fresh migrated catalogue for a module-scoped fixture, dropped afterwards."""
    with migrated_catalogue(backend, request, directory, prefix="newscat_hard") as url:
        yield url


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic corpus plus the articles with LIKE wildcards in their values."""
    root = tmp_path_factory.mktemp("small-corpus")
    generate_corpus(root / "synthetic", SMALL_CORPUS_SIZE, seed=SMALL_CORPUS_SEED)
    write_literal_articles(root / "literal")
    return root


@pytest.fixture(scope="module")
def catalogue(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    small_corpus: Path,
) -> Iterator[str]:
    """The small corpus ingested once per module and backend; tests only read it."""
    with private_catalogue(backend, request, tmp_path_factory.mktemp("catalogue")) as url:
        report = ingest_paths([small_corpus], url, workers=1)
        assert report.counts["rejected"] == 0, report.errors
        yield url


# Servers in subprocesses


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def running_server(
    database_url: str, directory: Path, *, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """`newscat serve` on a free loopback port; stopped (then killed) at the end."""
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / f"server-{port}.log"
    # `newscat serve`, as users run it: the server's own settings are part of what is tested.
    command = [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)]
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "NEWSCAT_LOG_LEVEL": "warning",  # no access log
        **(env or {}),
    }
    with open(log_path, "wb") as log:
        # The working directory is the test's own, so no stray `.env` is read.
        process = subprocess.Popen(
            command, cwd=directory, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        ready = wait_until(
            lambda: process.poll() is not None or _healthy(server.base_url), timeout=60
        )
        assert ready and process.poll() is None, f"server did not start:\n{server.log()}"
        yield server
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(grace)


# A TCP proxy that can be stopped and restarted on the same port


class TcpProxy:
    """Forwards a loopback port to `target`; `stop()` drops every connection, like a dead server."""

    def __init__(self, target: tuple[str, int], port: int | None = None) -> None:
        self.target = target
        self.port = port or free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.connections = 0

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._spawn(self._accept, listener)

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(10)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # stopped meanwhile
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
                self.connections += 1
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
