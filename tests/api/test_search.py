"""`q`: the same sets on SQLite and PostgreSQL, equal to a brute-force evaluation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import walk
from tests.api.factory import Corpus
from tests.api.oracle import expected_ids

QUERIES = [
    "power",
    "Power APPS",
    "POWER apps cloud",
    '"new york"',
    '"York New"',
    '"new york" data',
    "cafe",
    "CAFÉ",
    "café -cafe",
    "resume",
    "Résumé",
    "zurich",
    "ZÜRICH",
    "naive",
    "robot*",
    "rob*",
    "ROBOT",
    "robotics",
    "market*",
    "market",
    "power -apps",
    "-power",
    '-"new york"',
    "-power -data -cloud",
    "power OR cloud",
    "data power OR cloud",
    "power OR cloud data",
    "vision OR robot* -new",
    '"new york" OR zurich',
    "x11",
    "2021",
    "or",
    "mixed case",
    "nbsp",
    "at t",
    '"at t"',
    "nosuchword",
    "power nosuchword",
    "nosuchword OR power",
]


@pytest.mark.parametrize("q", QUERIES)
def test_search_matches_brute_force(client: TestClient, corpus: Corpus, q: str) -> None:
    params: dict[str, Any] = {"q": q, "include_removed": True}
    expected = expected_ids(corpus, params)
    result = walk(client, params)
    ids = [item["id"] for item in result["items"]]
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids))
    assert result["totals"] == {len(expected)}
    # The same set under an explicit sort comes in that sort's order.
    by_date = walk(client, {**params, "sort": "-published_at"})
    assert [i["id"] for i in by_date["items"]] == expected_ids(
        corpus, {**params, "sort": "-published_at"}
    )


def test_search_combines_with_filters(client: TestClient, corpus: Corpus) -> None:
    params = {"q": "power OR data -cloud", "topic": "ai", "sort": "heat", "min_quality": 0}
    assert [i["id"] for i in walk(client, params)["items"]] == expected_ids(corpus, params)


def test_the_queries_are_not_trivial(corpus: Corpus) -> None:
    sizes = {q: len(expected_ids(corpus, {"q": q, "include_removed": True})) for q in QUERIES}
    assert sum(0 < n < len(corpus.articles) for n in sizes.values()) >= len(QUERIES) - 6
    assert sizes["cafe"] == sizes["CAFÉ"] and sizes["rob*"] > sizes["ROBOT"]


def test_relevance_is_the_default_with_q(client: TestClient) -> None:
    ranked = client.get("/api/v1/articles", params={"q": "power", "limit": 100}).json()
    explicit = client.get(
        "/api/v1/articles", params={"q": "power", "limit": 100, "sort": "relevance"}
    ).json()
    assert ranked["items"] == explicit["items"]


def test_a_blank_q_is_no_search(client: TestClient, corpus: Corpus) -> None:
    for q in ("", "   "):
        body = client.get("/api/v1/articles", params={"q": q}).json()
        assert body["total"] == len(expected_ids(corpus, {}))
