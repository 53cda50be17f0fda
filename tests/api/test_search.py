"""`q`: the same sets on SQLite and PostgreSQL, equal to a brute-force evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from app.ingest.run import ingest_paths
from app.main import create_app
from app.models import ARTICLE
from app.query import article_id
from app.query import articles as articles_query
from app.settings import Settings
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


def _offset_walk(client: TestClient, params: dict[str, Any], limit: int) -> list[str]:
    ids: list[str] = []
    while True:
        query = {**params, "limit": limit, "offset": len(ids)}
        body = client.get("/api/v1/articles", params=query).json()
        ids.extend(item["id"] for item in body["items"])
        if len(body["items"]) < limit:
            return ids


@pytest.mark.parametrize(
    ("q", "words", "topic"),
    [("power", "power", None), ("power OR cloud -data", "power OR cloud", None),
     ("data", "data", "ai")],
)  # fmt: skip
def test_a_broad_search_ranks_its_newest_matches_first(
    client: TestClient,
    corpus: Corpus,
    catalogue_url: str,
    monkeypatch: pytest.MonkeyPatch,
    q: str,
    words: str,
    topic: str | None,
) -> None:
    """The window holds the newest articles matching the words; exclusions and other
    filters then apply to both tiers alike."""
    params: dict[str, Any] = {
        "q": q,
        "include_removed": True,
        **({"topic": topic} if topic else {}),
    }
    window = 4
    ranked = [item["id"] for item in walk(client, params)["items"]]
    assert len(ranked) > window
    engine = create_engine(catalogue_url)
    try:
        with engine.connect() as conn:
            keys = {row.id: row.pk for row in conn.execute(select(ARTICLE.c.id, ARTICLE.c.pk))}
    finally:
        engine.dispose()
    newest = set(
        sorted(expected_ids(corpus, {"q": words, "include_removed": True}), key=keys.__getitem__)[
            -window:
        ]
    )
    newest &= set(ranked)
    assert len(newest) > 0, "the window must hold some of the results"

    monkeypatch.setattr(articles_query, "RELEVANCE_WINDOW", window)
    # Each tier keeps the order that ranking every match together gives.
    expected = [i for i in ranked if i in newest] + [i for i in ranked if i not in newest]
    assert [item["id"] for item in walk(client, params, limit=3)["items"]] == expected
    for limit in (1, 3, 5, 100):  # pages that start and end inside, before and after the tier
        assert _offset_walk(client, params, limit) == expected


def _write_articles(folder: Path, names: range) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / f"zeppelin-{n:02d}.md").write_text(
            f"---\ntitle: Zeppelin report number {n}\npublishedDateTime: 2021-07-{n + 1:02d}\n"
            f"webUrl: https://example.com/zeppelin/{n}\n"
            "provider: {name: Example, domain: example.com}\n---\n",
            encoding="utf-8",
        )


def test_the_relevance_window_moves_with_each_ingest(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window's boundary is kept per catalogue version: articles added by a later ingest
    join the newest tier on the next request."""
    monkeypatch.setattr(articles_query, "RELEVANCE_WINDOW", 2)
    settings = Settings(DATABASE_URL=database_url, NEWSCAT_RESULT_CACHE_SIZE=0)
    with TestClient(create_app(settings)) as client:

        def window_ids() -> set[str]:
            body = client.get("/api/v1/articles", params={"q": "zeppelin", "limit": 2}).json()
            return {item["id"] for item in body["items"]}

        _write_articles(tmp_path / "first", range(0, 4))
        assert ingest_paths([tmp_path / "first"], database_url, workers=1).counts["new"] == 4
        before = window_ids()
        assert window_ids() == before  # asked again, same catalogue: same tier
        _write_articles(tmp_path / "second", range(4, 6))
        assert ingest_paths([tmp_path / "second"], database_url, workers=1).counts["new"] == 2
        added = {article_id(f"https://example.com/zeppelin/{n}") for n in (4, 5)}
        assert window_ids() == added != before


def test_a_kept_ranking_takes_in_what_a_later_ingest_adds(
    database_url: str, tmp_path: Path
) -> None:
    """A search's ranked order is kept per catalogue version: matches that a later ingest
    adds are ranked on the next request, also where the search has no window."""
    settings = Settings(DATABASE_URL=database_url, NEWSCAT_RESULT_CACHE_SIZE=0)
    with TestClient(create_app(settings)) as client:

        def found() -> set[str]:
            body = client.get("/api/v1/articles", params={"q": "zeppelin"}).json()
            assert body["total"] == len(body["items"])
            return {item["id"] for item in body["items"]}

        _write_articles(tmp_path / "first", range(0, 3))
        assert ingest_paths([tmp_path / "first"], database_url, workers=1).counts["new"] == 3
        assert (
            found()
            == found()
            == {article_id(f"https://example.com/zeppelin/{n}") for n in range(3)}
        )
        _write_articles(tmp_path / "second", range(3, 5))
        assert ingest_paths([tmp_path / "second"], database_url, workers=1).counts["new"] == 2
        assert found() == {article_id(f"https://example.com/zeppelin/{n}") for n in range(5)}
