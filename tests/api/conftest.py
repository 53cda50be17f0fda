"""One ingested fixture corpus per backend, shared by the read-only tests of the articles API,
and a brute-force model of what every query must return."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.ingest.run import ingest_paths
from app.main import create_app
from app.settings import Settings
from tests.api.factory import Corpus, write_corpus

ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def corpus_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Corpus]:
    root = tmp_path_factory.mktemp("articles-corpus")
    return root, write_corpus(root)


@pytest.fixture(scope="session")
def corpus(corpus_files: tuple[Path, Corpus]) -> Corpus:
    return corpus_files[1]


@pytest.fixture(scope="session")
def catalogue_url(
    backend: str,
    corpus_files: tuple[Path, Corpus],
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The fixture corpus ingested once per backend; the tests only read it."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        target = tmp_path_factory.mktemp("articles-db") / "catalogue.db"
        shutil.copyfile(template, target)
        url = f"sqlite:///{target}"
        _ingest(url, corpus_files)
        yield url
        return
    template_name: str = request.getfixturevalue("_pg_template")
    name = f"newscat_articles_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    try:
        url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        _ingest(url, corpus_files)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _ingest(url: str, corpus_files: tuple[Path, Corpus]) -> None:
    root, corpus = corpus_files
    report = ingest_paths([root], url, workers=1)
    assert report.counts["rejected"] == 0, report.errors
    assert report.counts["new"] == len(corpus.specs)


@pytest.fixture(scope="session")
def client(catalogue_url: str) -> Iterator[TestClient]:
    # Without the response cache every request runs its queries, which is what is tested.
    settings = Settings(DATABASE_URL=catalogue_url, NEWSCAT_RESULT_CACHE_SIZE=0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def walk(client: TestClient, params: dict[str, Any], *, limit: int = 100) -> dict[str, Any]:
    """Every page of `/articles` by `next_cursor`: the items, each page's total, page count."""
    items: list[dict[str, Any]] = []
    totals: set[int] = set()
    pages = 0
    cursor = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/articles", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        items.extend(body["items"])
        totals.add(body["total"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            assert "link" not in response.headers
            return {"items": items, "totals": totals, "pages": pages}
        assert body["items"], "a page with a next cursor is never empty"
        assert response.headers["link"].endswith('>; rel="next"')
