"""`/articles` as a whole: response shape, defaults, bad parameters, and its OpenAPI entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.ingest.run import ingest_paths
from app.main import create_app
from app.settings import Settings
from tests.api.factory import Corpus, write_corpus
from tests.api.oracle import expected_ids

SUMMARY_KEYS = {
    "id", "url", "title", "excerpt", "published_at", "quality", "heat", "published", "removed",
    "type", "category", "provider", "topics", "image",
}  # fmt: skip


def test_default_page(client: TestClient, corpus: Corpus) -> None:
    response = client.get("/api/v1/articles")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["total", "limit", "next_cursor", "items"]
    assert body["limit"] == 20 and len(body["items"]) == 20
    assert [i["id"] for i in body["items"]] == expected_ids(corpus, {})[:20]
    assert all(set(item) == SUMMARY_KEYS for item in body["items"])
    assert response.headers["link"].startswith("<http://testserver/api/v1/articles?")


def test_an_empty_result(client: TestClient) -> None:
    response = client.get("/api/v1/articles", params={"topic": "nothing at all"})
    assert response.json() == {"total": 0, "limit": 20, "next_cursor": None, "items": []}
    assert "link" not in response.headers


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2021-07-28T12:00:00 02:00"},  # a `+` that arrived as a space
        {"from": "0001-01-01", "to": "9999-12-31"},
        {"to": "9999-12-31T23:59:59.999999Z"},
        {"from": "2021-07-28T12:00Z", "to": "2021-07-28T12:00Z"},
        {"min_quality": 5, "max_quality": 5},
        {"limit": 1},
        {"limit": 100},
        {"offset": 10_000},
        {"published": "false"},
        {"topic": "%", "provider": "_"},
    ],
    ids=repr,
)
def test_edge_values_are_accepted(client: TestClient, params: dict[str, Any]) -> None:
    assert client.get("/api/v1/articles", params=params).status_code == 200


BAD: list[tuple[dict[str, Any], set[str]]] = [
    ({"q": "x" * 501}, {"q"}),
    ({"q": "power\x00"}, {"q"}),
    ({"q": "!!! ***"}, {"q"}),
    ({"topic": ["AI", "A\x00I"]}, {"topic"}),
    ({"exclude_topic": "\x00"}, {"exclude_topic"}),
    ({"provider": "a\x00"}, {"provider"}),
    ({"exclude_provider": "\x00b"}, {"exclude_provider"}),
    ({"type": "\x00"}, {"type"}),
    ({"category": "\x00"}, {"category"}),
    ({"url": "https://x\x00"}, {"url"}),
    ({"from": "2024-02-30"}, {"from"}),
    ({"from": "2021-13-01"}, {"from"}),
    ({"from": "yesterday"}, {"from"}),
    ({"from": ""}, {"from"}),
    ({"from": "2021-07-28T12:00:00"}, {"from"}),
    ({"from": "0001-01-01T00:00:00+01:00"}, {"from"}),
    ({"from": "2021-07-28\x00"}, {"from"}),
    ({"to": "2021-02-29"}, {"to"}),
    ({"to": "2021-07-28T25:00:00Z"}, {"to"}),
    ({"from": "2021-07-29", "to": "2021-07-28"}, {"from"}),
    ({"from": "2021-07-28T12:00:01Z", "to": "2021-07-28T12:00:00Z"}, {"from"}),
    ({"min_quality": "abc"}, {"min_quality"}),
    ({"min_quality": 2**63}, {"min_quality"}),
    ({"max_quality": 1.5}, {"max_quality"}),
    ({"min_heat": -(2**63) - 1}, {"min_heat"}),
    ({"max_heat": "1e3"}, {"max_heat"}),
    ({"min_quality": 10, "max_quality": 5}, {"min_quality"}),
    ({"min_heat": 10, "max_heat": 5}, {"min_heat"}),
    ({"published": "maybe"}, {"published"}),
    ({"include_removed": "2"}, {"include_removed"}),
    ({"sort": "title"}, {"sort"}),
    ({"sort": "published_at; DROP TABLE article"}, {"sort"}),
    ({"sort": "relevance"}, {"sort"}),
    ({"limit": 0}, {"limit"}),
    ({"limit": 101}, {"limit"}),
    ({"limit": "ten"}, {"limit"}),
    ({"offset": -1}, {"offset"}),
    ({"offset": 10_001}, {"offset"}),
    ({"facet": ["topic", "author"]}, {"facet"}),
    ({"from": "nope", "limit": 0, "sort": "x", "q": "\x00"}, {"from", "limit", "sort", "q"}),
    # Checks across parameters, of the filters and of the paging, in the same answer.
    ({"min_quality": 5, "max_quality": 1, "cursor": "abc", "offset": 3}, {"min_quality", "cursor"}),
    # Single-valued parameters given twice: which one was meant?
    ({"q": ["power", "data"]}, {"q"}),
    ({"from": ["2021-01-01", "2022-01-01"], "to": ["2023-01-01", "2023-01-01"]}, {"from", "to"}),
    ({"min_quality": [1, 2]}, {"min_quality"}),
    ({"published": ["true", "true"]}, {"published"}),
    ({"include_removed": ["true", "false"]}, {"include_removed"}),
    ({"url": ["a", "b"]}, {"url"}),
    ({"sort": ["quality", "heat"]}, {"sort"}),
    ({"limit": [5, 6]}, {"limit"}),
    ({"offset": [0, 20]}, {"offset"}),
    ({"cursor": ["abc", "def"]}, {"cursor"}),
]


@pytest.mark.parametrize(("params", "names"), BAD, ids=[repr(p)[:50] for p, _ in BAD])
def test_bad_parameters_are_422_naming_them(
    client: TestClient, params: dict[str, Any], names: set[str]
) -> None:
    response = client.get("/api/v1/articles", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422
    assert {error["parameter"] for error in body["errors"]} == names
    assert len(body["errors"]) == len({tuple(error.values()) for error in body["errors"]})
    assert all(error["message"] for error in body["errors"])


def test_openapi_documents_every_parameter(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/api/v1/articles"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert names == {
        "q", "topic", "exclude_topic", "provider", "exclude_provider", "from", "to",
        "min_quality", "max_quality", "min_heat", "max_heat", "published", "type", "category",
        "url", "include_removed", "sort", "limit", "cursor", "offset", "facet",
    }  # fmt: skip
    for parameter in operation["parameters"]:
        assert parameter.get("description"), parameter["name"]
        assert parameter["schema"].get("examples") or parameter.get("examples"), parameter["name"]
    assert {"200", "422"} <= set(operation["responses"])
    assert operation["summary"] and operation["description"]
    for path in ("/api/v1/articles/{id}", "/api/v1/articles/{id}/related"):
        operation = schema["paths"][path]["get"]
        assert {"200", "404"} <= set(operation["responses"])
        assert operation["parameters"][0]["description"]
    components = schema["components"]["schemas"]
    assert {"ArticleSummary", "ArticleDetail", "RelatedList", "FacetValue"} <= set(components)


def test_routes_sharing_the_filters_document_them(client: TestClient) -> None:
    """Feeds and exports take the filters of `/articles` (exports its sort too), and say so."""
    paths = client.get("/openapi.json").json()["paths"]

    def documented(path: str) -> list[str]:
        return [p["name"] for p in paths[path]["get"]["parameters"] if p["in"] == "query"]

    paging = {"limit", "cursor", "offset", "facet"}
    filters = [name for name in documented("/api/v1/articles") if name not in paging | {"sort"}]
    assert "q" in filters and "include_removed" in filters
    for feed in ("/api/v1/feed.atom", "/api/v1/feed.rss", "/api/v1/feed.json"):
        assert documented(feed) == filters, feed
    for export in ("/api/v1/export.csv", "/api/v1/export.ndjson"):
        assert documented(export) == [*filters, "sort"], export


@pytest.mark.parametrize("path", ["/api/v1/export.csv", "/api/v1/export.ndjson"])
def test_an_export_names_every_bad_parameter_at_once(client: TestClient, path: str) -> None:
    response = client.get(path, params={"sort": "x", "min_quality": "a", "limit": "ignored"})
    assert response.status_code == 422, response.text
    assert {error["parameter"] for error in response.json()["errors"]} == {"sort", "min_quality"}


def test_totals_and_facets_follow_new_ingests(database_url: str, tmp_path: Path) -> None:
    """Counts are cached per catalogue version: an ingest must show in the next answer."""
    corpus = write_corpus(tmp_path / "files", count=40, seed=5)
    first, second = tmp_path / "first", tmp_path / "second"
    for index, spec in enumerate(corpus.specs):
        target = (first if index < 20 else second) / spec.rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "files" / spec.rel_path).rename(target)
    settings = Settings(DATABASE_URL=database_url, NEWSCAT_RESULT_CACHE_SIZE=0)
    with TestClient(create_app(settings)) as client:
        params = {"include_removed": True, "facet": "year", "limit": 1}
        assert client.get("/api/v1/articles", params=params).json()["total"] == 0
        ids = [spec.summary["id"] for spec in corpus.specs]
        for folder, expected in ((first, len(set(ids[:20]))), (second, len(set(ids)))):
            assert ingest_paths([folder], database_url, workers=1).counts["rejected"] == 0
            body = client.get("/api/v1/articles", params=params).json()
            assert body["total"] == expected
            assert sum(v["count"] for v in body["facets"]["year"]) == expected
