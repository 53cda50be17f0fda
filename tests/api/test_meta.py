"""Health probes, catalogue figures checked against brute-force counts, and the OpenAPI document."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.db import make_engine
from tests.api.shell_fixtures import assert_problem, client_for, shared_catalogue

API_PATHS = {
    "/api/v1/articles",
    "/api/v1/articles/{id}",
    "/api/v1/articles/{id}/related",
    "/api/v1/stats",
    "/api/v1/topics",
    "/api/v1/providers",
    "/api/v1/feed.atom",
    "/api/v1/feed.rss",
    "/api/v1/feed.json",
    "/api/v1/export.csv",
    "/api/v1/export.ndjson",
    "/healthz",
    "/readyz",
}


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


def _rows(url: str) -> list[dict[str, Any]]:
    """Every article as stored, read without the app's queries."""
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            result = conn.execute(
                text(
                    "SELECT provider_key, provider_name, published, removed, published_at, "
                    "topics FROM article"
                )
            )
            return [dict(row._mapping) for row in result]
    finally:
        engine.dispose()


def _iso(value: Any) -> str:
    return str(value).replace(" ", "T")


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_migrated(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def test_readyz_on_an_unmigrated_database(empty_database_url: str) -> None:
    with client_for(empty_database_url) as client:
        body = assert_problem(client.get("/readyz"), 503)
        assert "newscat migrate" in body["detail"]
        assert client.get("/healthz").status_code == 200


def test_stats_equal_brute_force_counts(client: TestClient, catalogue: str) -> None:
    visible = [row for row in _rows(catalogue) if not row["removed"]]
    stats = client.get("/api/v1/stats").json()
    assert stats["articles"] == len(visible)
    assert stats["providers"] == len({row["provider_key"] for row in visible})
    topics = {topic.strip().lower() for row in visible for topic in _topics(row)}
    assert stats["topics"] == len(topics)
    assert stats["published"] == sum(1 for row in visible if row["published"])
    dates = sorted(_iso(row["published_at"]) for row in visible)
    assert stats["first_published_at"].rstrip("Z").startswith(dates[0][:19])
    assert stats["last_published_at"].rstrip("Z").startswith(dates[-1][:19])
    assert stats["last_ingest_at"].endswith("Z")


def _topics(row: dict[str, Any]) -> list[str]:
    value = row["topics"]
    if isinstance(value, str):
        value = orjson.loads(value)
    return list(value)


def test_topics_equal_brute_force_counts(client: TestClient, catalogue: str) -> None:
    visible = [row for row in _rows(catalogue) if not row["removed"]]
    expected = Counter(
        key for row in visible for key in {topic.strip().lower() for topic in _topics(row)}
    )
    topics = client.get("/api/v1/topics").json()
    assert {item["name"].lower(): item["count"] for item in topics} == dict(expected)
    counts = [item["count"] for item in topics]
    assert counts == sorted(counts, reverse=True)

    assert len(client.get("/api/v1/topics", params={"limit": 3}).json()) == min(3, len(topics))
    prefix = topics[0]["name"][:2]
    filtered = client.get("/api/v1/topics", params={"q": prefix.upper()}).json()
    assert filtered and all(t["name"].lower().startswith(prefix.lower()) for t in filtered)
    assert client.get("/api/v1/topics", params={"q": "%"}).json() == []


def test_providers_equal_brute_force_counts(client: TestClient, catalogue: str) -> None:
    visible = [row for row in _rows(catalogue) if not row["removed"]]
    expected = Counter(row["provider_key"] for row in visible)
    providers = client.get("/api/v1/providers").json()
    assert {item["domain"].lower(): item["count"] for item in providers} == dict(expected)
    assert all(item["name"] for item in providers)
    hostile = client.get("/api/v1/providers", params={"q": "hostile."}).json()
    assert hostile == [{"name": "Hostile & Sons", "domain": "hostile.example", "count": 1}]
    assert client.get("/api/v1/providers", params={"q": "_"}).json() == []


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["info"]["title"] == "newscat"
    assert "tour" in schema["info"]["description"].lower()
    assert all(tag.get("description") for tag in schema["tags"])
    assert set(schema["paths"]) == API_PATHS
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            assert operation.get("description"), where
            assert operation.get("tags"), where
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    content = response["content"]
                    assert set(content) == {"application/problem+json"}, where
                    ref = content["application/problem+json"]["schema"]["$ref"]
                    assert ref.endswith("/Problem"), where
            if path.startswith("/api/v1/"):
                assert {"304", "422", "503"} <= set(operation["responses"]), where
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "query":
                    assert parameter.get("description"), (where, parameter["name"])
    listing = schema["paths"]["/api/v1/articles"]["get"]
    example = listing["responses"]["422"]["content"]["application/problem+json"]["example"]
    assert example["errors"][0]["parameter"]
    assert "404" in schema["paths"]["/api/v1/articles/{id}"]["get"]["responses"]
