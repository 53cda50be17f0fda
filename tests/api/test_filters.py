"""Every filter, alone and combined, returns exactly what a brute-force filter returns."""

from __future__ import annotations

import random
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.query import articles as article_queries
from app.query import counts
from tests.api.conftest import walk
from tests.api.factory import PROVIDERS, TOPICS, Corpus
from tests.api.oracle import expected_ids

SINGLE: list[dict[str, Any]] = [
    {},
    {"include_removed": True},
    {"include_removed": False},
    {"topic": "AI"},
    {"topic": "ai"},
    {"topic": "COMPUTER VISION"},
    {"topic": ["Sports", "data"]},
    {"topic": "café culture"},
    {"topic": "CAFÉ CULTURE"},
    {"topic": "100% Pure"},
    {"topic": "100%"},
    {"topic": "snake_case"},
    {"topic": "snake%"},
    {"topic": "no such topic"},
    {"exclude_topic": "AI"},
    {"exclude_topic": ["ai", "Sports"]},
    {"provider": "microsoft.com"},
    {"provider": "MICROSOFT.COM"},
    {"provider": ["example.com", "thestar.com.my"]},
    {"provider": "per%cent.org"},
    {"provider": "per_cent.org"},
    {"provider": "under_score.net"},
    {"provider": "underXscore.net"},
    {"exclude_provider": "Example.com"},
    {"exclude_provider": ["microsoft.com", "zuerich.ch"]},
    {"from": "2021-07-28"},
    {"to": "2021-07-28"},
    {"from": "2021-07-28", "to": "2021-07-28"},
    {"from": "2021-07-29", "to": "2021-07-29"},
    {"from": "2021-07-28T23:59:59Z"},
    {"to": "2021-07-28T23:59:59Z"},
    {"to": "2021-07-28T23:59:59.999999Z"},
    {"from": "2021-07-29T01:59:59.999999+02:00", "to": "2021-07-29T02:00:00+02:00"},
    {"from": "2021-07-28T05:30:00+05:30", "to": "2021-07-28T14:09:00+01:30"},
    {"from": "2024-02-29", "to": "2024-02-29"},
    {"from": "2020-12-31T23:00:00-00:00"},
    {"min_quality": 50},
    {"max_quality": 50},
    {"min_quality": 0, "max_quality": 0},
    {"min_quality": -(2**63), "max_quality": 2**63 - 1},
    {"min_quality": 2**62},
    {"min_heat": 0},
    {"max_heat": -1},
    {"min_heat": 2**63 - 1},
    {"max_heat": -(2**63)},
    {"published": True},
    {"published": False},
    {"type": "article"},
    {"type": "Article"},
    {"type": "video"},
    {"category": "news"},
    {"category": "News"},
    {"category": "nothing"},
]


def _urls(corpus: Corpus) -> list[dict[str, Any]]:
    specs = sorted(corpus.articles.values(), key=lambda s: s.rel_path)
    removed = next(s for s in specs if s.summary["removed"] is True)
    return [
        {"url": specs[0].url},
        {"url": f"  {specs[1].url} "},
        {"url": specs[2].url + "/"},
        {"url": specs[3].url.upper()},
        {"url": removed.url},
        {"url": removed.url, "include_removed": True},
    ]


SORTS = ["-published_at", "published_at", "-quality", "quality", "-heat", "heat"]


def _any_case(rng: random.Random, domain: str) -> str:
    return domain.upper() if rng.random() < 0.3 else domain


def _random_combinations(count: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    choices: list[tuple[str, Any]] = [
        ("topic", lambda: rng.sample(TOPICS, rng.randint(1, 3))),
        ("exclude_topic", lambda: rng.sample(TOPICS, rng.randint(1, 2))),
        (
            "provider",
            lambda: [d.upper() if rng.random() < 0.3 else d for _, d in rng.sample(PROVIDERS, 3)],
        ),
        ("exclude_provider", lambda: [rng.choice(PROVIDERS)[1]]),
        ("from", lambda: rng.choice(["2021-07-28", "2021-01-01T00:30:00+00:00", "2019-01-01"])),
        ("to", lambda: rng.choice(["2021-07-29", "2022-04-01T12:00:00-05:00", "2030-01-01"])),
        ("min_quality", lambda: rng.choice([-5, 0, 37, 50])),
        ("max_quality", lambda: rng.choice([50, 90, 2**62])),
        ("min_heat", lambda: rng.choice([-1, 0, 7])),
        ("max_heat", lambda: rng.choice([-1, 100])),
        ("published", lambda: rng.choice([True, False])),
        ("type", lambda: rng.choice(["article", "video"])),
        ("category", lambda: rng.choice(["news", "blog"])),
        ("include_removed", lambda: rng.choice([True, False])),
        (
            "sort",
            lambda: rng.choice(
                ["-published_at", "published_at", "-quality", "quality", "-heat", "heat"]
            ),
        ),
    ]
    combos = []
    for _ in range(count):
        picked = rng.sample(choices, rng.randint(2, 5))
        combos.append({name: make() for name, make in picked})
    return combos


def _check(client: TestClient, corpus: Corpus, params: dict[str, Any]) -> None:
    expected = expected_ids(corpus, params)
    result = walk(client, params)
    assert [item["id"] for item in result["items"]] == expected, params
    assert result["totals"] == {len(expected)}, params


@pytest.mark.parametrize("params", SINGLE, ids=lambda p: repr(p)[:60])
def test_each_filter_alone(client: TestClient, corpus: Corpus, params: dict[str, Any]) -> None:
    _check(client, corpus, params)


def test_url_filter(client: TestClient, corpus: Corpus) -> None:
    for params in _urls(corpus):
        _check(client, corpus, params)
    found = client.get("/api/v1/articles", params=_urls(corpus)[1]).json()
    assert found["total"] == 1


@pytest.mark.parametrize("params", _random_combinations(60), ids=lambda p: repr(p)[:60])
def test_filters_combined(client: TestClient, corpus: Corpus, params: dict[str, Any]) -> None:
    _check(client, corpus, params)


def test_every_filter_at_once(client: TestClient, corpus: Corpus) -> None:
    params = {
        "topic": ["ai", "Data", "Power Apps"],
        "exclude_topic": "sports",
        "provider": ["microsoft.com", "EXAMPLE.com", "thestar.com.my"],
        "exclude_provider": "thestar.com.my",
        "from": "2020-01-01",
        "to": "2022-12-31T23:59:59+00:00",
        "min_quality": -5,
        "max_quality": 90,
        "min_heat": -1,
        "max_heat": 100,
        "type": "article",
        "category": "news",
        "include_removed": True,
        "q": "power OR data OR new OR cloud OR vision OR robot*",
        "sort": "quality",
    }
    _check(client, corpus, params)


def test_the_fixture_exercises_the_filters(corpus: Corpus) -> None:
    """Guard against a fixture too bland to catch mistakes."""
    summaries = corpus.summaries()
    assert sum(s["removed"] is True for s in summaries) >= 10
    assert sum(s["quality"] is None for s in summaries) >= 20
    assert sum(s["heat"] is None for s in summaries) >= 20
    assert len(corpus.articles) < len(corpus.specs)
    assert {s["provider"]["domain"] for s in summaries} >= {"microsoft.com", "Microsoft.com"}


WALKED_FILTERS: list[dict[str, Any]] = [
    {"topic": "AI"},
    {"q": "power OR data", "sort": "-published_at"},
    {"q": "cafe -robot*", "sort": "heat", "include_removed": True},
    {"q": '"new york"', "provider": "example.com", "sort": "-quality"},
    {"topic": ["ai", "Sports"], "include_removed": True},
    {"topic": "data", "provider": "microsoft.com", "sort": "-quality"},
    {"topic": "ai", "q": "power OR data", "sort": "published_at"},
    {"topic": "ai", "q": "power OR data"},
]


@pytest.mark.parametrize("threshold", [1, 10**9], ids=["index-walk", "listed"])
@pytest.mark.parametrize("params", WALKED_FILTERS, ids=repr)
def test_walking_an_index_and_listing_matches_agree(
    client: TestClient,
    corpus: Corpus,
    params: dict[str, Any],
    threshold: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Common topics and words are checked while walking the sort's index, rare ones are
    listed first: the same answers either way."""
    monkeypatch.setattr(article_queries, "WALK_THRESHOLD", threshold)
    monkeypatch.setattr(article_queries, "WALK_COST", threshold**2)  # listed: however small
    counts.CACHE.clear()
    expected = expected_ids(corpus, params)
    result = walk(client, params, limit=7)
    ids = [item["id"] for item in result["items"]]
    if "q" in params and "sort" not in params:
        assert sorted(ids) == sorted(expected)
    else:
        assert ids == expected
    assert result["totals"] == {len(expected)}


@pytest.mark.parametrize(
    "params",
    [{}, {"topic": ["ai", "data"]}, {"q": "power OR cloud"}, {"q": "robot*"}, {"topic": "sports"}],
    ids=repr,
)
@pytest.mark.parametrize("include_removed", [True, False])
def test_index_counts_subtract_removed_articles(
    client: TestClient, corpus: Corpus, params: dict[str, Any], include_removed: bool
) -> None:
    """The filters counted from an index alone (everything, topics, a plain search)."""
    params = {**params, "include_removed": include_removed, "limit": 1}
    body = client.get("/api/v1/articles", params=params).json()
    assert body["total"] == len(expected_ids(corpus, params))


@pytest.mark.parametrize(
    ("matches", "size", "walked"),
    [(2661, 10_000, True), (300, 10_000, False), (3999, 10**6, False), (4000, 10**6, True)],
)
def test_a_small_catalogue_walks_its_index_for_fewer_matches(
    matches: int, size: int, walked: bool
) -> None:
    """Walking reads about rows * size / matches entries: in a small catalogue a common topic
    is walked long before WALK_THRESHOLD matches; in a large one the threshold holds."""
    assert (matches >= article_queries._walk_threshold(21, size)) is walked
