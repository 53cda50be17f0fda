"""Helpers for the tests of the HTTP shell (errors, headers, feeds, exports, meta, docs).

Most of these tests only read, so each module shares one ingested catalogue per backend
(`shared_catalogue`); tests that change the catalogue take the function-scoped `database_url`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.ingest.run import IngestReport, ingest_paths
from app.main import create_app
from app.settings import Settings
from app.synth import generate_corpus
from tests.catalogue import migrated_catalogue

ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CORPUS_SIZE = 160
CORPUS_SEED = 7
PROBLEM_KEYS = {"type", "title", "status", "detail", "errors"}
PROBLEM_TYPE = "application/problem+json"

# A file whose text needs escaping everywhere (XML, CSV, JSON); `\v` is not even XML.
HOSTILE_ARTICLE = (
    "---\n"
    'title: "Tags <b>&amp; \\"quotes\\", commas; a\\vvertical tab & more"\n'
    'excerpt: "Line one\\nline two, \\"quoted\\" &nbsp; <script>alert(1)</script>"\n'
    "publishedDateTime: 2099-01-01T00:00:00Z\n"
    'webUrl: "https://hostile.example/a?x=1&y=<2>"\n'
    "provider:\n  name: Hostile & Sons\n  domain: hostile.example\n"
    "quality: 3\nheat: -1\npublished: true\n"
    "topics:\n  - Escaping & Co\n  - Testing\n"
    "---\n"
)


def write_corpus(dest: Path, *, count: int = CORPUS_SIZE, seed: int = CORPUS_SEED) -> Path:
    generate_corpus(dest, count, seed=seed)
    return dest


def write_hostile(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "hostile.md").write_text(HOSTILE_ARTICLE, encoding="utf-8")
    return dest


def ingest(url: str, *paths: Path) -> IngestReport:
    report = ingest_paths(list(paths), url, workers=1)
    assert report.counts["rejected"] == 0, report.errors
    return report


def make_app(url: str, **settings: Any) -> FastAPI:
    return create_app(Settings(DATABASE_URL=url, **settings))


@contextmanager
def client_for(url: str, **settings: Any) -> Iterator[TestClient]:
    """A client whose app ran its lifespan; server errors come back as responses."""
    with TestClient(make_app(url, **settings), raise_server_exceptions=False) as client:
        yield client


@contextmanager
def catalogue_on(backend: str, request: pytest.FixtureRequest, directory: Path) -> Iterator[str]:
    """A fresh migrated catalogue that outlives one test (for module-scoped fixtures)."""
    with migrated_catalogue(backend, request, directory, prefix="newscat_shell") as url:
        yield url


@contextmanager
def shared_catalogue(
    backend: str, request: pytest.FixtureRequest, factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The synthetic corpus plus the hostile article, ingested once."""
    root = factory.mktemp(f"shell-{backend}")
    corpus = write_corpus(root / "corpus")
    write_hostile(root / "corpus" / "hostile")
    with catalogue_on(backend, request, root) as url:
        ingest(url, corpus)
        yield url


def unreachable_url(backend: str, directory: Path) -> str:
    """A catalogue that cannot be opened: a file in a missing folder, or a closed port."""
    if backend == "sqlite":
        return f"sqlite:///{directory / 'missing' / 'catalogue.db'}"
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/newscat"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The one error shape: RFC 9457 fields, `errors` always a list, never a traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_TYPE
    body = response.json()
    assert set(body) == PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["errors"], list)
    assert "Traceback" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    return body


def all_pages(client: TestClient, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of a listing, following `next_cursor`."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page_params = {**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=page_params)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items
