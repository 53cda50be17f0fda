"""Validators, caching, nosniff, CORS and gzip; and the response cache following ingests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from fastapi.testclient import TestClient

from app import query
from app.middleware import ResponseCacheMiddleware
from tests.api.shell_fixtures import (
    client_for,
    ingest,
    make_app,
    shared_catalogue,
    write_corpus,
)

STATS = "/api/v1/stats"
LISTING = "/api/v1/articles"
ORIGIN = "https://frontend.example"


@pytest.fixture(scope="module")
def catalogue(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with shared_catalogue(backend, request, tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="module")
def client(catalogue: str) -> Iterator[TestClient]:
    with client_for(catalogue) as client:
        yield client


@pytest.mark.parametrize(
    "path",
    [
        LISTING,
        f"{LISTING}?topic=AI&sort=-quality&limit=5",
        STATS,
        "/api/v1/topics",
        "/api/v1/providers?q=a",
        "/api/v1/feed.atom",
        "/api/v1/feed.json?published=true",
        "/api/v1/export.csv",
        "/api/v1/export.ndjson?limit=3",
        "/openapi.json",
        "/docs",
    ],
)
def test_etag_and_304(client: TestClient, path: str) -> None:
    first = client.get(path)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert first.headers["cache-control"] == "public, max-age=60"
    assert client.get(path).headers["etag"] == etag

    for validator in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get(path, headers={"If-None-Match": validator})
        assert response.status_code == 304, validator
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == "public, max-age=60"
        assert response.headers["x-content-type-options"] == "nosniff"

    stale = client.get(path, headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200 and stale.content == first.content


def test_etags_differ_by_query_and_encoding(client: TestClient) -> None:
    plain = client.get(LISTING, headers={"Accept-Encoding": "identity"})
    zipped = client.get(LISTING, headers={"Accept-Encoding": "gzip"})
    other = client.get(LISTING, params={"limit": 3}, headers={"Accept-Encoding": "identity"})
    assert len({plain.headers["etag"], zipped.headers["etag"], other.headers["etag"]}) == 3
    # Parameter order does not make a different resource.
    a = client.get(f"{LISTING}?limit=3&sort=heat")
    b = client.get(f"{LISTING}?sort=heat&limit=3")
    assert a.headers["etag"] == b.headers["etag"] and a.content == b.content


def test_head_is_a_bodiless_get(client: TestClient) -> None:
    for path in (LISTING, STATS, "/healthz", "/api/v1/export.csv"):
        get = client.get(path)
        head = client.head(path)
        assert head.status_code == 200 and head.content == b""
        assert head.headers.get("etag") == get.headers.get("etag")
        assert head.headers["x-content-type-options"] == "nosniff"


def test_nosniff_and_cache_control_on_every_status(catalogue: str) -> None:
    app = make_app(catalogue)

    def explode() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/api/v1/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        ok = client.get(STATS)
        responses = {
            200: ok,
            304: client.get(STATS, headers={"If-None-Match": ok.headers["etag"]}),
            404: client.get("/api/v1/articles/0000000000000000"),
            405: client.delete(STATS),
            422: client.get(LISTING, params={"limit": 0}),
            500: client.get("/api/v1/explode"),
        }
    for status, response in responses.items():
        assert response.status_code == status
        assert response.headers["x-content-type-options"] == "nosniff", status
        expected = "public, max-age=60" if status in {200, 304} else "no-store"
        assert response.headers["cache-control"] == expected, status


def test_health_probes_are_never_cached(client: TestClient) -> None:
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.headers["cache-control"] == "no-store"
        assert "etag" not in response.headers


def test_cache_max_age_is_configurable(catalogue: str) -> None:
    with client_for(catalogue, NEWSCAT_CACHE_MAX_AGE=5) as client:
        assert client.get(STATS).headers["cache-control"] == "public, max-age=5"


def test_cors_preflight_and_simple_get(client: TestClient) -> None:
    preflight = client.options(
        LISTING,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "If-None-Match",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in preflight.headers
    assert preflight.headers["x-content-type-options"] == "nosniff"

    refused = client.options(
        LISTING, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"}
    )
    assert refused.status_code == 400

    for _ in range(2):  # a miss, then a cache hit: both get their CORS headers
        simple = client.get(LISTING, headers={"Origin": ORIGIN})
        assert simple.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in simple.headers
        assert "etag" in simple.headers["access-control-expose-headers"].lower()
    error = client.get(LISTING, params={"limit": 0}, headers={"Origin": ORIGIN})
    assert error.headers["access-control-allow-origin"] == "*"


def test_cors_origins_are_configurable(catalogue: str) -> None:
    with client_for(catalogue, NEWSCAT_CORS_ORIGINS=ORIGIN) as client:
        allowed = client.get(STATS, headers={"Origin": ORIGIN})
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert "access-control-allow-credentials" not in allowed.headers
        other = client.get(STATS, headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers


def test_gzip_for_large_bodies_only(client: TestClient) -> None:
    for _ in range(2):  # a miss, then a cache hit
        large = client.get(LISTING, params={"limit": 100}, headers={"Accept-Encoding": "gzip"})
        assert large.headers["content-encoding"] == "gzip"
        assert "Accept-Encoding" in large.headers["vary"]
        assert large.json()["items"]
    plain = client.get(LISTING, params={"limit": 100}, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.json() == large.json()
    small = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
    raw = client.get("/api/v1/export.ndjson", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.text.count("\n") == plain.json()["total"]


def _count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """A list that grows by one on each call of `query.<name>` from now on."""
    calls: list[int] = []
    original = getattr(query, name)

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(query, name, counting)
    return calls


def test_cache_hits_skip_the_query(catalogue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_calls(monkeypatch, "stats")
    with client_for(catalogue) as client:
        bodies = {client.get(STATS).content for _ in range(5)}
        assert len(calls) == 1 and len(bodies) == 1
    with client_for(catalogue, NEWSCAT_RESULT_CACHE_SIZE=0) as client:
        for _ in range(3):
            client.get(STATS)
        assert len(calls) == 4


def test_cache_serves_new_data_after_an_ingest(database_url: str, tmp_path: Path) -> None:
    first = write_corpus(tmp_path / "first", count=30, seed=11)
    second = write_corpus(tmp_path / "second", count=25, seed=12)
    ingest(database_url, first)
    with client_for(database_url) as client:
        before = client.get(STATS)
        listing = client.get(LISTING, params={"limit": 1})
        assert client.get(STATS).json() == before.json()  # served from the cache
        total = before.json()["articles"]
        assert listing.json()["total"] == total

        ingest(database_url, second)
        after = client.get(STATS)
        assert after.json()["articles"] > total
        assert after.headers["etag"] != before.headers["etag"]
        assert client.get(LISTING, params={"limit": 1}).json()["total"] == after.json()["articles"]
        # The old validator no longer matches: the client gets the new body.
        revalidated = client.get(STATS, headers={"If-None-Match": before.headers["etag"]})
        assert revalidated.status_code == 200
        assert revalidated.json() == after.json()


def test_an_ingest_that_changes_nothing_keeps_validators(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write_corpus(tmp_path / "corpus", count=20, seed=13)
    ingest(database_url, corpus)
    listings = _count_calls(monkeypatch, "list_articles")
    with client_for(database_url) as client:
        listing = client.get(LISTING, params={"limit": 2})
        stats = client.get(STATS)
        assert ingest(database_url, corpus).counts["unchanged"] == 20

        # Same catalogue: the listing keeps its ETag and is still served from the cache.
        revalidated = client.get(
            LISTING, params={"limit": 2}, headers={"If-None-Match": listing.headers["etag"]}
        )
        assert revalidated.status_code == 304
        assert client.get(LISTING, params={"limit": 2}).content == listing.content
        assert len(listings) == 1
        # The figures show when the last ingest ran: they follow the new stamp.
        restamped = client.get(STATS, headers={"If-None-Match": stats.headers["etag"]})
        assert restamped.status_code == 200
        stamps = [datetime.fromisoformat(r.json()["last_ingest_at"]) for r in (stats, restamped)]
        assert stamps[1] > stamps[0]
        assert restamped.json() == {**stats.json(), "last_ingest_at": ANY}


class _Probe:
    """Stands for the version probe: reports whatever fingerprint the test sets."""

    def __init__(self) -> None:
        self.value: tuple[object, ...] = (1, "stamp-1")

    async def fingerprint(self) -> tuple[object, ...]:
        return self.value


def test_a_restamp_frees_only_the_stamped_responses() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    probe = _Probe()
    cache = ResponseCacheMiddleware(app, probe=probe, max_age=60, max_entries=10)

    async def get(path: str) -> None:
        scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}

        async def send(message: Any) -> None:
            pass

        await cache(scope, None, send)

    def cached_paths() -> list[str]:
        return sorted(key[2][3] for key in cache.entries)

    async def scenario() -> list[list[str]]:
        await get(LISTING)
        await get(STATS)
        seen = [cached_paths()]
        probe.value = (1, "stamp-2")  # an ingest that changed nothing
        await get(LISTING)
        seen.append(cached_paths())
        probe.value = (2, "stamp-3")  # one that changed the catalogue
        await get(LISTING)
        seen.append(cached_paths())
        return seen

    before, restamped, changed = asyncio.run(scenario())
    assert before == [LISTING, STATS]
    assert restamped == [LISTING]  # the old stamp's figures are gone, the listing stays
    assert changed == [LISTING] and all(key[1] == (2,) for key in cache.entries)
    assert cache.bytes == sum(entry.size for entry in cache.entries.values())
