"""CSV and NDJSON exports: every match of the filters, in order, with no page cap."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.routes import exports
from tests.api.shell_fixtures import all_pages, client_for, shared_catalogue

FILTERS: list[dict[str, Any]] = [
    {},
    {"topic": "Testing"},
    {"exclude_topic": "Testing", "published": "false"},
    {"min_quality": 30, "max_heat": 50},
    {"from": "2022-06-01", "to": "2023-06-30"},
    {"provider": "hostile.example"},
    {"include_removed": "true", "sort": "quality"},
    {"sort": "-heat"},
    {"q": "zzzznothingmatches"},
]
COLUMNS = [
    "id", "url", "title", "excerpt", "published_at", "quality", "heat", "published", "removed",
    "type", "category", "provider_name", "provider_domain", "topics", "image_url",
]  # fmt: skip


@pytest.fixture(scope="module")
def client(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    with shared_catalogue(backend, request, tmp_path_factory) as url, client_for(url) as client:
        yield client


def _listing(client: TestClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    return all_pages(client, "/api/v1/articles", params)


def _flatten(item: dict[str, Any]) -> list[str]:
    def text(value: Any) -> str:
        if value is None:
            return ""
        return str(value).lower() if isinstance(value, bool) else str(value)

    return [
        *(text(item[key]) for key in COLUMNS[:11]),
        text(item["provider"]["name"]),
        text(item["provider"]["domain"]),
        "|".join(item["topics"]),
        text((item["image"] or {}).get("url")),
    ]


@pytest.mark.parametrize("params", FILTERS)
def test_csv_holds_every_match(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/api/v1/export.csv", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    assert rows[0] == COLUMNS
    expected = _listing(client, params)
    assert len(rows) - 1 == len(expected)
    assert rows[1:] == [_flatten(item) for item in expected]


@pytest.mark.parametrize("params", FILTERS)
def test_ndjson_holds_every_match(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/api/v1/export.ndjson", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = response.content.splitlines()
    assert response.content == b"" or response.content.endswith(b"\n")
    assert [orjson.loads(line) for line in lines] == _listing(client, params)


def test_exports_have_no_page_cap(client: TestClient) -> None:
    total = client.get("/api/v1/articles", params={"include_removed": "true"}).json()["total"]
    assert total > 100  # more than one page can hold
    ndjson = client.get("/api/v1/export.ndjson", params={"include_removed": "true"})
    assert len(ndjson.content.splitlines()) == total
    csv_rows = list(csv.reader(io.StringIO(client.get("/api/v1/export.csv").text, newline="")))
    assert len(csv_rows) - 1 == client.get("/api/v1/articles").json()["total"]


def test_exports_stream_in_batches(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "ROWS_PER_CHUNK", 7)
    total = client.get("/api/v1/articles").json()["total"]
    with client.stream(
        "GET", "/api/v1/export.ndjson", headers={"Accept-Encoding": "identity"}
    ) as response:
        chunks = [chunk for chunk in response.iter_raw() if chunk]
    assert "content-length" not in response.headers
    assert len(chunks) >= total // 7
    assert sum(chunk.count(b"\n") for chunk in chunks) == total


def test_hostile_text_survives_csv(client: TestClient) -> None:
    response = client.get("/api/v1/export.csv", params={"provider": "hostile.example"})
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert len(rows) == 1
    row = rows[0]
    assert row["title"].startswith('Tags <b>&amp; "quotes", commas; a')
    assert row["excerpt"].startswith('Line one\nline two, "quoted"')
    assert row["topics"] == "Escaping & Co|Testing"
    assert row["published"] == "true" and row["removed"] == ""
