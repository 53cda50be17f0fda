"""Keyset and offset paging: every match exactly once, in order, whatever the sort and size."""

from __future__ import annotations

import base64
import json
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app import query
from app.db import make_engine
from app.query import articles as article_queries
from tests.api.conftest import walk
from tests.api.factory import Corpus
from tests.api.oracle import expected_ids

SORTS = ["-published_at", "published_at", "-quality", "quality", "-heat", "heat"]
# A subset with ties and missing values in every sort key, small enough to walk one by one.
SUBSET = {"provider": ["example.com", "per%cent.org"], "include_removed": True}


def test_the_subset_has_ties_and_nulls(corpus: Corpus) -> None:
    ids = set(expected_ids(corpus, SUBSET))
    rows = [s for s in corpus.summaries() if s["id"] in ids]
    for name in ("published_at", "quality", "heat"):
        counts = Counter(s[name] for s in rows)
        assert max(counts.values()) >= 3, name
        assert name == "published_at" or counts[None] >= 3, name


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("limit", [1, 7, 100])
def test_walking_yields_each_match_once_in_order(
    client: TestClient, corpus: Corpus, sort: str, limit: int
) -> None:
    params = {**(SUBSET if limit == 1 else {"include_removed": True}), "sort": sort}
    expected = expected_ids(corpus, params)
    result = walk(client, params, limit=limit)
    assert [item["id"] for item in result["items"]] == expected
    assert result["totals"] == {len(expected)}
    assert result["pages"] == max(1, -(-len(expected) // limit))


@pytest.mark.parametrize("limit", [1, 7, 100])
def test_walking_by_relevance_yields_each_match_once(
    client: TestClient, corpus: Corpus, limit: int
) -> None:
    params = {"q": "robot* OR zurich" if limit == 1 else "power OR data OR york"}
    result = walk(client, params, limit=limit)
    ids = [item["id"] for item in result["items"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(expected_ids(corpus, params))
    assert result["totals"] == {len(ids)}


@pytest.mark.parametrize("sort", SORTS)
def test_offset_pages_are_slices_of_the_order(
    client: TestClient, corpus: Corpus, sort: str
) -> None:
    expected = expected_ids(corpus, {"sort": sort})
    for offset, limit in [(0, 5), (3, 7), (17, 100), (len(expected) - 2, 10), (10_000, 3)]:
        body = client.get(
            "/api/v1/articles", params={"sort": sort, "offset": offset, "limit": limit}
        ).json()
        assert [i["id"] for i in body["items"]] == expected[offset : offset + limit]
        assert body["total"] == len(expected)
        more = offset + limit < len(expected)
        assert (body["next_cursor"] is not None) == more
        if more:  # an offset page's cursor continues right after it
            after = client.get(
                "/api/v1/articles",
                params={"sort": sort, "cursor": body["next_cursor"], "limit": 5},
            ).json()
            assert [i["id"] for i in after["items"]] == expected[
                offset + limit : offset + limit + 5
            ]


def test_offset_by_relevance(client: TestClient, corpus: Corpus) -> None:
    params = {"q": "power OR data"}
    everything = [i["id"] for i in walk(client, params)["items"]]
    body = client.get("/api/v1/articles", params={**params, "offset": 4, "limit": 6}).json()
    assert [i["id"] for i in body["items"]] == everything[4:10]


def test_link_header_keeps_the_other_parameters(client: TestClient) -> None:
    params: dict[str, Any] = {
        "topic": ["AI", "Data"],
        "sort": "-quality",
        "limit": 3,
        "offset": 2,
        "facet": "topic",
    }
    response = client.get("/api/v1/articles", params=params)
    link = response.headers["link"]
    assert link.startswith("<http://testserver/api/v1/articles?") and link.endswith('>; rel="next"')
    next_url = link[1 : link.index(">")]
    sent = parse_qs(urlsplit(next_url).query)
    assert sent["topic"] == ["AI", "Data"] and sent["sort"] == ["-quality"]
    assert sent["limit"] == ["3"] and sent["facet"] == ["topic"]
    assert "offset" not in sent and sent["cursor"] == [response.json()["next_cursor"]]
    following = client.get(next_url).json()
    everything = client.get("/api/v1/articles", params={**params, "offset": 0, "limit": 100})
    ids = [i["id"] for i in everything.json()["items"]]
    assert [i["id"] for i in following["items"]] == ids[5:8]


def _token(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


ID = "0123456789abcdef"
QUALITY = {"sort": "-quality"}
RELEVANCE = {"sort": "relevance", "q": "power"}
BAD_CURSORS: list[tuple[dict[str, str], str]] = [
    ({}, "not a cursor"),
    ({}, "!!!!"),
    ({}, "eyJ"),
    ({}, "é"),
    ({}, "A" * 600),
    ({}, _token([1, 2])),
    ({}, _token({"s": "-published_at"})),
    ({}, _token({"s": "-published_at", "v": "yesterday", "i": ID})),
    ({}, _token({"s": "-published_at", "v": "2021-07-28T00:00:00+00:00", "i": ID})),
    ({}, _token({"s": "-published_at", "v": 5, "i": ID})),
    ({}, _token({"s": "-published_at", "v": "2021-07-28T00:00:00", "i": "'; drop table x"})),
    ({}, _token({"s": "-published_at", "v": "2021-07-28T00:00:00", "i": ID, "x": 1})),
    (QUALITY, _token({"s": "-quality", "v": 2**64, "i": ID})),
    (QUALITY, _token({"s": "-quality", "v": "5", "i": ID})),
    (QUALITY, _token({"s": "-quality", "v": True, "i": ID})),
    (QUALITY, _token({"s": "-quality", "v": 1.5, "i": ID})),
    (RELEVANCE, _token({"s": "relevance", "o": -1})),
    (RELEVANCE, _token({"s": "relevance", "o": "5"})),
    (RELEVANCE, _token({"s": "relevance", "o": 2**70})),
]


@pytest.mark.parametrize(("params", "cursor"), BAD_CURSORS)
def test_bad_cursors_are_422(client: TestClient, params: dict[str, str], cursor: str) -> None:
    response = client.get("/api/v1/articles", params={**params, "cursor": cursor})
    assert response.status_code == 422, response.text
    assert [e["parameter"] for e in response.json()["errors"]] == ["cursor"]


def test_a_cursor_only_works_with_its_own_sort(client: TestClient) -> None:
    cursors = {}
    for sort in [*SORTS, "relevance"]:
        params = {"sort": sort, "limit": 2, **({"q": "power"} if sort == "relevance" else {})}
        cursors[sort] = client.get("/api/v1/articles", params=params).json()["next_cursor"]
    for made_for, cursor in cursors.items():
        for sort in [*SORTS, "relevance"]:
            params = {"sort": sort, "cursor": cursor, "q": "power"}
            status = client.get("/api/v1/articles", params=params).status_code
            assert status == (200 if sort == made_for else 422), (made_for, sort)


def test_cursor_and_offset_together_are_422(client: TestClient) -> None:
    cursor = client.get("/api/v1/articles", params={"limit": 1}).json()["next_cursor"]
    response = client.get("/api/v1/articles", params={"cursor": cursor, "offset": 0})
    assert response.status_code == 422
    assert "cursor" in {e["parameter"] for e in response.json()["errors"]}


@pytest.mark.parametrize("sort", [*SORTS, "relevance"])
def test_iter_articles_batches(
    catalogue_url: str, corpus: Corpus, sort: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(article_queries, "ITER_BATCH", 7)
    params: dict[str, Any] = {"include_removed": True}
    filters = query.ArticleFilters(include_removed=True)
    if sort == "relevance":
        from app.search import parse_query

        params["q"] = "power OR data OR york"
        filters = query.ArticleFilters(include_removed=True, search=parse_query(params["q"]))
    engine = make_engine(catalogue_url, read_only=True)
    try:
        with Session(engine) as session:
            ids = [a["id"] for a in query.iter_articles(session, filters=filters, sort=sort)]
            first = [
                a["id"] for a in query.iter_articles(session, filters=filters, sort=sort, limit=10)
            ]
    finally:
        engine.dispose()
    expected = expected_ids(corpus, {**params, "sort": sort if sort != "relevance" else "id"})
    if sort == "relevance":
        assert sorted(ids) == sorted(expected) and len(set(ids)) == len(ids)
    else:
        assert ids == expected
    assert first == ids[:10]
