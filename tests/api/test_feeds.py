"""Atom, RSS and JSON Feed: valid documents, the newest 50, the `/articles` filters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import feedparser
import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.api.shell_fixtures import all_pages, client_for, shared_catalogue

ATOM = "{http://www.w3.org/2005/Atom}"
FEED_SIZE = 50
JSON_FEED_ITEM_KEYS = {
    "id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
    "banner_image", "date_published", "date_modified", "authors", "tags", "language",
    "attachments",
}  # fmt: skip
FILTERS: list[dict[str, Any]] = [
    {},
    {"topic": "Testing"},
    {"published": "true", "min_quality": 20},
    {"from": "2022-01-01", "to": "2023-12-31"},
    {"provider": "hostile.example"},
    {"q": "zzzznothingmatches"},
]


@pytest.fixture(scope="module")
def client(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    with shared_catalogue(backend, request, tmp_path_factory) as url, client_for(url) as client:
        yield client


def _expected_ids(client: TestClient, params: dict[str, Any]) -> list[str]:
    """The newest 50 by `/articles` (sorted by date, newest first)."""
    listing = client.get(
        "/api/v1/articles", params={**params, "sort": "-published_at", "limit": 50}
    )
    assert listing.status_code == 200, listing.text
    return [item["id"] for item in listing.json()["items"]]


def _urn_ids(values: list[str]) -> list[str]:
    return [value.rsplit(":", 1)[-1] for value in values]


@pytest.mark.parametrize("params", FILTERS)
def test_atom(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/api/v1/feed.atom", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"

    root = etree.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{required}").text
    self_link = root.find(f"{ATOM}link[@rel='self']").get("href")
    assert self_link.startswith("http://testserver/api/v1/feed.atom")
    entries = root.findall(f"{ATOM}entry")
    for entry in entries:
        for required in ("id", "title", "updated"):
            assert entry.find(f"{ATOM}{required}") is not None, required
        assert entry.find(f"{ATOM}link").get("href")
    ids = _urn_ids([entry.find(f"{ATOM}id").text for entry in entries])
    assert ids == _expected_ids(client, params)
    assert len(ids) <= FEED_SIZE


@pytest.mark.parametrize("params", FILTERS)
def test_rss(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/api/v1/feed.rss", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"

    root = etree.fromstring(response.content)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    for required in ("title", "link", "description"):
        assert channel.find(required).text
    items = channel.findall("item")
    for item in items:
        assert item.find("title").text and item.find("link").text and item.find("pubDate").text
    ids = _urn_ids([item.find("guid").text for item in items])
    assert ids == _expected_ids(client, params)


@pytest.mark.parametrize("params", FILTERS)
def test_json_feed(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/api/v1/feed.json", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/feed+json; charset=utf-8"
    feed = response.json()
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"]
    assert feed["feed_url"].startswith("http")
    assert isinstance(feed["items"], list)
    # feedparser reads no JSON Feed: check the 1.1 rules for what this feed uses.
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert item["url"].startswith("http")
        assert datetime.fromisoformat(item["date_published"]).tzinfo is not None
        assert isinstance(item.get("content_html", item.get("content_text")), str)
        assert all(isinstance(tag, str) for tag in item["tags"])
        assert all(isinstance(author["name"], str) for author in item.get("authors", []))
        assert all(key in JSON_FEED_ITEM_KEYS or key.startswith("_") for key in item)
    ids = _urn_ids([item["id"] for item in feed["items"]])
    assert ids == _expected_ids(client, params)


def test_feeds_hold_the_newest_fifty(client: TestClient) -> None:
    everything = all_pages(client, "/api/v1/articles", {"sort": "-published_at"})
    assert len(everything) > FEED_SIZE
    newest = [item["id"] for item in everything[:FEED_SIZE]]
    for path in ("/api/v1/feed.atom", "/api/v1/feed.rss"):
        parsed = feedparser.parse(client.get(path).content)
        assert _urn_ids([entry.id for entry in parsed.entries]) == newest
    items = client.get("/api/v1/feed.json").json()["items"]
    assert _urn_ids([item["id"] for item in items]) == newest


def test_feeds_escape_hostile_text(client: TestClient) -> None:
    params = {"provider": "hostile.example"}
    atom = etree.fromstring(client.get("/api/v1/feed.atom", params=params).content)
    entry = atom.find(f"{ATOM}entry")
    title = entry.find(f"{ATOM}title").text
    assert title.startswith('Tags <b>&amp; "quotes", commas; a') and "\v" not in title
    assert "<script>" in entry.find(f"{ATOM}summary").text
    assert entry.find(f"{ATOM}link").get("href") == "https://hostile.example/a?x=1&y=<2>"
    rss = etree.fromstring(client.get("/api/v1/feed.rss", params=params).content)
    assert rss.find("channel/item/link").text == "https://hostile.example/a?x=1&y=<2>"
    feed = client.get("/api/v1/feed.json", params=params).json()
    assert feed["items"][0]["title"].startswith("Tags <b>&amp;")


def test_feeds_refuse_bad_filters(client: TestClient) -> None:
    for path in ("/api/v1/feed.atom", "/api/v1/feed.rss", "/api/v1/feed.json"):
        response = client.get(path, params={"from": "never"})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
