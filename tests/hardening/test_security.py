"""Security properties of the HTTP edge and of the API's database connection.

CORS never grants credentials; `X-Content-Type-Options: nosniff` is on every response, errors
included; no stack trace or internal path ever reaches a client; and the API's own engine
cannot write to the catalogue, whatever SQL it is handed.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app import query
from app.ingest.run import ingest_paths
from app.main import create_app
from app.settings import Settings
from tests.catalogue import canonical_dump
from tests.hardening.conftest import record_figure, running_server, write_literal_articles

# One worker builds this module's catalogues once (module-scoped fixtures).
pytestmark = pytest.mark.xdist_group("security")

ORIGINS = ["https://evil.example", "null", "http://127.0.0.1:1", "https://app.example"]
PATHS = [
    "/api/v1/articles",
    "/api/v1/articles?limit=0",  # 422
    "/api/v1/articles/0123456789abcdef",  # 404
    "/api/v1/stats",
    "/api/v1/feed.atom",
    "/api/v1/export.csv",
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/docs",
    "/nowhere",  # 404
]
LEAKS = ("Traceback", 'File "', ".py", "/work/", "site-packages", "sqlalchemy", "hunter2")


@pytest.fixture(scope="module")
def client(catalogue: str) -> Iterator[TestClient]:
    with TestClient(
        create_app(Settings(DATABASE_URL=catalogue)), raise_server_exceptions=False
    ) as client:
        yield client


@pytest.fixture
def strict_cors_client(catalogue: str) -> Iterator[TestClient]:
    settings = Settings(DATABASE_URL=catalogue, NEWSCAT_CORS_ORIGINS="https://app.example")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


# CORS


def _cors_requests(client: TestClient) -> Iterator[tuple[str, Any]]:
    for origin in ORIGINS:
        for cookies in ({}, {"Cookie": "session=abc; csrftoken=def"}):
            headers = {"Origin": origin, **cookies}
            for path in PATHS:
                yield f"GET {path} {headers}", client.get(path, headers=headers)
            for requested in ("", "If-None-Match", "Authorization", "Cookie, X-Requested-With"):
                preflight = {**headers, "Access-Control-Request-Method": "GET"}
                if requested:
                    preflight["Access-Control-Request-Headers"] = requested
                for path in ("/api/v1/articles", "/api/v1/stats"):
                    yield f"OPTIONS {path} {preflight}", client.options(path, headers=preflight)
            unsafe = {**headers, "Access-Control-Request-Method": "DELETE"}
            yield f"OPTIONS DELETE {unsafe}", client.options("/api/v1/articles", headers=unsafe)


def _check_cors(client: TestClient, *, allowed: set[str] | None) -> int:
    checked = 0
    for label, response in _cors_requests(client):
        checked += 1
        headers = response.headers
        assert "access-control-allow-credentials" not in headers, label
        granted = headers.get("access-control-allow-origin")
        if allowed is not None and granted is not None:
            assert granted in allowed, label
        methods = headers.get("access-control-allow-methods", "")
        assert not {"POST", "PUT", "PATCH", "DELETE"} & {m.strip() for m in methods.split(",")}
        assert headers["x-content-type-options"] == "nosniff", label
    return checked


def test_cors_never_grants_credentials(client: TestClient, backend: str) -> None:
    checked = _check_cors(client, allowed=None)
    record_figure("cors", backend=backend, requests=checked, credentials_granted=0)


def test_cors_with_configured_origins_grants_only_them(strict_cors_client: TestClient) -> None:
    _check_cors(strict_cors_client, allowed={"https://app.example"})
    response = strict_cors_client.get("/api/v1/stats", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


# nosniff


def test_nosniff_on_every_response(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    responses = {f"GET {path}": client.get(path) for path in PATHS}
    etag = client.get("/api/v1/stats").headers["etag"]
    responses["304"] = client.get("/api/v1/stats", headers={"If-None-Match": etag})
    responses["HEAD"] = client.head("/api/v1/articles")
    responses["405"] = client.post("/api/v1/articles")
    responses["static"] = client.get("/static/swagger-ui.css")
    responses["static 404"] = client.get("/static/nothing.js")
    responses["redoc"] = client.get("/redoc")

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(query, "stats", explode)
    responses["500"] = client.get("/api/v1/stats", params={"fresh": "1"})
    statuses = {response.status_code for response in responses.values()}
    assert {200, 304, 404, 405, 422, 500} <= statuses
    for label, response in responses.items():
        assert response.headers.get("x-content-type-options") == "nosniff", label


def test_nosniff_when_the_database_is_gone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'catalogue.db'}"
    with TestClient(create_app(Settings(DATABASE_URL=url)), raise_server_exceptions=False) as c:
        for path in ("/api/v1/articles", "/readyz"):
            response = c.get(path)
            assert response.status_code == 503
            assert response.headers["x-content-type-options"] == "nosniff"


def test_nosniff_through_the_server(backend: str, catalogue: str, tmp_path: Path) -> None:
    """Through `newscat serve`: once on the app's responses, and on the 400s that the server
    sends itself for malformed requests (before the app sees them)."""
    if backend != "sqlite":
        pytest.skip("the HTTP server does not depend on the backend")
    requests = {
        b"GET /api/v1/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n": b"200",
        b"GET /api/v1/articles?limit=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n": b"422",
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n": b"404",
        b"GARBAGE\r\n\r\n": b"400",
        b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n": b"400",
    }
    with running_server(catalogue, tmp_path) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        for raw, status in requests.items():
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(raw)
                head = sock.recv(65536).split(b"\r\n\r\n", 1)[0].lower()
            assert head.startswith(b"http/1.1 " + status), head
            lines = head.split(b"\r\n")
            assert lines.count(b"x-content-type-options: nosniff") == 1, head.decode()


# Internal errors stay inside


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("list_articles", "/api/v1/articles"),
        ("article_detail", None),
        ("related_articles", None),
        ("stats", "/api/v1/stats"),
        ("list_topics", "/api/v1/topics"),
        ("list_providers", "/api/v1/providers"),
        ("iter_articles", "/api/v1/feed.atom"),
    ],
)
@pytest.mark.parametrize(
    "error",
    [
        RuntimeError('Traceback (most recent call last): File "/work/app/x.py" password=hunter2'),
        KeyError("/srv/secret/path.py"),
        RecursionError("maximum recursion depth exceeded"),
        MemoryError(),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_no_stack_trace_reaches_a_response(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, target: str, path: str | None, error: Any
) -> None:
    if path is None:
        first = client.get("/api/v1/articles", params={"limit": 1}).json()["items"][0]["id"]
        path = f"/api/v1/articles/{first}" + ("/related" if target == "related_articles" else "")

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(query, target, explode)
    response = client.get(path, params={"uncached": target})
    assert response.status_code == 500, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 500 and body["detail"]
    for leak in LEAKS:
        assert leak not in response.text, leak
    assert type(error).__name__ not in response.text


def test_an_error_in_the_middle_of_an_export_leaks_nothing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = query.iter_articles

    def fail_midway(*args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for n, article in enumerate(real(*args, **kwargs)):
            if n == 3:
                raise RuntimeError('Traceback: File "/work/app/query.py", password=hunter2')
            yield article

    monkeypatch.setattr(query, "iter_articles", fail_midway)
    for path in ("/api/v1/export.csv", "/api/v1/export.ndjson"):
        try:
            response = client.get(path, params={"uncached": "1"})
        except Exception:  # the stream was cut short: nothing came after the error
            continue
        for leak in LEAKS:
            assert leak not in response.text, (path, leak)


# The API's connection cannot write


WRITES = {
    "insert": "INSERT INTO topic (key, name) VALUES ('zz-hardening', 'ZZ')",
    "update": "UPDATE article SET title = 'defaced'",
    "delete": "DELETE FROM article",
    "create": "CREATE TABLE hardening_probe (x INTEGER)",
    "drop": "DROP TABLE topic",
    "alter": "ALTER TABLE article ADD COLUMN hardening_probe INTEGER",
    "create index": "CREATE INDEX ix_hardening_probe ON article (title)",
}


def _try_write(engine: Engine, statements: list[str]) -> str | None:
    """None when the statements were refused, else a description of what went through."""
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
            conn.commit()
    except Exception:
        return None
    return f"wrote with {statements}"


@pytest.fixture
def own_catalogue(database_url: str, tmp_path: Path) -> str:
    """A catalogue of this test's own: a write that gets through must harm no other test."""
    write_literal_articles(tmp_path / "articles")
    assert ingest_paths([tmp_path / "articles"], database_url, workers=1).counts["new"] == 4
    return database_url


def test_the_api_engine_cannot_write(own_catalogue: str, backend: str) -> None:
    catalogue = own_catalogue
    before = canonical_dump(catalogue)
    app = create_app(Settings(DATABASE_URL=catalogue))
    with TestClient(app):
        engine: Engine = app.state.engine
        wrote = [w for s in WRITES.values() if (w := _try_write(engine, [s]))]
    assert wrote == []
    assert canonical_dump(catalogue) == before
    record_figure("read-only-engine", backend=backend, statements=len(WRITES), succeeded=0)


ESCALATIONS = {
    "sqlite": [
        ["PRAGMA query_only = OFF", WRITES["insert"]],
        ["PRAGMA query_only = 0", WRITES["delete"]],
    ],
    "postgresql": [],  # see docs/reliability.md: a read-only role is the deployment's job
}


def test_the_api_engine_cannot_be_talked_into_writing(own_catalogue: str, backend: str) -> None:
    """Even SQL that switches the session back to writing must not write (read-only open)."""
    if not ESCALATIONS[backend]:
        pytest.skip("PostgreSQL read-only is a session default; a SELECT-only role enforces it")
    catalogue = own_catalogue
    before = canonical_dump(catalogue)
    app = create_app(Settings(DATABASE_URL=catalogue))
    with TestClient(app):
        engine: Engine = app.state.engine
        wrote = [w for s in ESCALATIONS[backend] if (w := _try_write(engine, s))]
        # Whatever a previous checkout did, a fresh one still cannot write.
        wrote += [w for s in WRITES.values() if (w := _try_write(engine, [s]))]
    assert wrote == []
    assert canonical_dump(catalogue) == before
