"""Facet counts over the whole filtered set equal brute-force counts, top 50, ties by value."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.factory import Corpus
from tests.api.oracle import facets

FACETS = ["topic", "provider", "type", "published", "year", "month"]
FILTERS: list[dict[str, Any]] = [
    {},
    {"include_removed": True},
    {"topic": "ai"},
    {"provider": ["microsoft.com", "EXAMPLE.COM"], "min_quality": 10},
    {"q": "power OR cafe", "exclude_topic": "sports"},
    {"from": "2021-07-28", "to": "2021-07-28"},
    {"category": "nothing"},
]


@pytest.mark.parametrize("params", FILTERS, ids=repr)
def test_facets_equal_brute_force(
    client: TestClient, corpus: Corpus, params: dict[str, Any]
) -> None:
    body = client.get("/api/v1/articles", params={**params, "facet": FACETS, "limit": 1}).json()
    assert list(body["facets"]) == FACETS
    for name in FACETS:
        assert body["facets"][name] == facets(corpus, params, name), name
    counted = sum(v["count"] for v in body["facets"]["provider"])
    assert counted == body["total"]


def test_facets_only_when_asked(client: TestClient) -> None:
    assert "facets" not in client.get("/api/v1/articles").json()
    body = client.get("/api/v1/articles", params={"facet": ["year", "year"]}).json()
    assert list(body["facets"]) == ["year"]


def test_topic_facet_uses_display_names_and_merges_case(client: TestClient, corpus: Corpus) -> None:
    values = client.get("/api/v1/articles", params={"facet": "topic"}).json()["facets"]["topic"]
    names = [v["value"] for v in values]
    assert len({n.lower() for n in names}) == len(names)
    assert {corpus.topic_names["ai"], corpus.topic_names["café culture"]} <= set(names)


def test_facets_keep_the_top_fifty(client: TestClient, corpus: Corpus) -> None:
    assert len(corpus.topic_names) > 60
    topics = client.get(
        "/api/v1/articles", params={"facet": "topic", "include_removed": True}
    ).json()["facets"]["topic"]
    assert len(topics) == 50
    assert topics == facets(corpus, {"include_removed": True}, "topic")
    assert topics[-1]["count"] == topics[-2]["count"]  # the cut falls inside a tie
