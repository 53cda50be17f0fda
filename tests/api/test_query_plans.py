"""Every standard query reaches the article tables through an index, on both backends.

The statements a request runs are captured as the API sends them and explained on the same
catalogue: SQLite must not `SCAN` a table without an index, and PostgreSQL, told to avoid
sequential scans, must find a plan without one (it picks a scan on small tables otherwise,
so that is the only way to ask it whether an index can serve).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.main import create_app
from app.query import articles
from app.query.counts import CACHE
from app.settings import Settings

# The tables that grow with the catalogue; the small lookup tables may be read whole.
LARGE_TABLES = ("article", "article_topic", "article_document", "article_fts", "source_file")


@pytest.fixture(scope="module")
def plan_client(catalogue_url: str) -> Iterator[TestClient]:
    settings = Settings(DATABASE_URL=catalogue_url, NEWSCAT_RESULT_CACHE_SIZE=0)
    with TestClient(create_app(settings)) as client:
        yield client


def _standard_queries(client: TestClient) -> dict[str, tuple[str, dict[str, Any]]]:
    topic = client.get("/api/v1/topics", params={"limit": 1}).json()[0]["name"]
    provider = client.get("/api/v1/providers", params={"limit": 1}).json()[0]["domain"]
    first = client.get("/api/v1/articles", params={"limit": 5}).json()
    combined = {"provider": provider, "published": "true", "from": "2000-01-01",
                "to": "2030-12-31", "min_quality": 10}  # fmt: skip
    return {
        "newest": ("/api/v1/articles", {}),
        "topic": ("/api/v1/articles", {"topic": topic}),
        "combined": ("/api/v1/articles", combined),
        "sorted": ("/api/v1/articles", {"sort": "-quality"}),
        "full-text": ("/api/v1/articles", {"q": "power"}),
        "facets": ("/api/v1/articles", {"facet": ["topic", "provider"]}),
        "deep cursor": ("/api/v1/articles", {"limit": 5, "cursor": first["next_cursor"]}),
        "detail": (f"/api/v1/articles/{first['items'][0]['id']}", {}),
    }


def _captured(engine: Engine, client: TestClient, path: str, params: dict[str, Any]) -> list[Any]:
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        assert client.get(path, params=params).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return seen


def _sqlite_table_scan(detail: str) -> bool:
    """`SCAN article` reads the table; `SCAN article USING ... INDEX ...` walks an index."""
    words = detail.split()
    return (
        words[:1] == ["SCAN"]
        and words[1:2] != []
        and words[1] in LARGE_TABLES
        and ("INDEX" not in words)
    )


def _full_scans(engine: Engine, statement: str, parameters: Any) -> list[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return [str(row[-1]) for row in rows if _sqlite_table_scan(str(row[-1]))]
        conn.exec_driver_sql("SET enable_seqscan = off")
        lines = [str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)]
        conn.rollback()
        return [line for line in lines if any(f"Seq Scan on {t} " in line for t in LARGE_TABLES)]


QUERY_NAMES = ["newest", "topic", "combined", "sorted", "full-text", "facets", "deep cursor",
               "detail"]  # fmt: skip


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_every_standard_query_uses_an_index(plan_client: TestClient, name: str) -> None:
    path, params = _standard_queries(plan_client)[name]
    engine: Engine = plan_client.app.state.engine  # type: ignore[attr-defined]
    CACHE.clear()  # every statement the query needs runs, its counts and ranking included
    statements = _captured(engine, plan_client, path, params)
    assert statements, "the request ran no query"
    for statement, parameters in statements:
        assert _full_scans(engine, statement, parameters) == [], statement


def test_the_check_sees_a_full_scan(plan_client: TestClient) -> None:
    engine: Engine = plan_client.app.state.engine  # type: ignore[attr-defined]
    sqlite = engine.dialect.name == "sqlite"
    unindexed = "SELECT pk FROM article WHERE title = 'nothing'"
    indexed = "SELECT pk FROM article WHERE id = 'nothing'"
    no_parameters: Any = () if sqlite else {}
    assert len(_full_scans(engine, unindexed, no_parameters)) == 1
    assert _full_scans(engine, indexed, no_parameters) == []


PAGE_QUERIES = ["newest", "topic", "combined", "sorted", "full-text", "deep cursor"]


def _lists_removed_keys(plan: list[tuple[Any, ...]]) -> bool:
    """Whether a SQLite plan builds the list of every removed article's key."""
    lists = {row[0] for row in plan if str(row[-1]).startswith("LIST SUBQUERY")}
    return any(row[1] in lists and "ix_article_removed" in str(row[-1]) for row in plan)


def _probes_rows(plan: list[tuple[Any, ...]]) -> bool:
    """Whether a SQLite plan looks up a row again for each candidate (a correlated subquery)."""
    return any(str(row[-1]).startswith("CORRELATED") for row in plan)


@pytest.mark.parametrize("name", PAGE_QUERIES)
def test_a_page_checks_its_own_rows_for_removed_articles(
    plan_client: TestClient, name: str
) -> None:
    """A page reads its candidates' rows and stops after a page, so it checks each row as it
    reads it: listing every removed key first costs more than the page itself on a large
    catalogue (1.7 ms against 0.1 ms for the newest page of a million articles), and probing
    for each key reads the row twice (0.6 ms of a search ranking 1,000 matches)."""
    engine: Engine = plan_client.app.state.engine  # type: ignore[attr-defined]
    if engine.dialect.name != "sqlite":
        pytest.skip("a SQLite plan")
    path, params = _standard_queries(plan_client)[name]
    pages = [
        (statement, parameters)
        for statement, parameters in _captured(engine, plan_client, path, params)
        if "article.excerpt" in statement  # the statement selecting the page's rows
    ]
    assert pages, "no statement selected the page"
    with engine.connect() as conn:
        for statement, parameters in pages:
            plan = list(conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
            assert not _lists_removed_keys(plan), statement
            assert not _probes_rows(plan), statement


def test_the_removed_key_checks_see_a_list_and_a_probe(plan_client: TestClient) -> None:
    engine: Engine = plan_client.app.state.engine  # type: ignore[attr-defined]
    if engine.dialect.name != "sqlite":
        pytest.skip("a SQLite plan")
    listed = "SELECT pk FROM article WHERE pk NOT IN (SELECT pk FROM article WHERE removed = 1)"
    probed = (
        "SELECT pk FROM article WHERE NOT EXISTS "
        "(SELECT 1 FROM article AS hidden WHERE hidden.pk = article.pk AND hidden.removed = 1)"
    )
    with engine.connect() as conn:
        assert _lists_removed_keys(list(conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {listed}")))
        assert _probes_rows(list(conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {probed}")))


@pytest.mark.parametrize(
    "params", [{"topic": "power"}, {"q": "power", "sort": "-published_at"}], ids=["topic", "q"]
)
def test_a_repeated_page_reuses_its_plan(plan_client: TestClient, params: dict[str, Any]) -> None:
    """Whether to walk an index past a topic or search is decided once per catalogue
    version, like the counts: the catalogue's size and the capped match count it is decided
    from change only when an ingest commits."""
    engine: Engine = plan_client.app.state.engine  # type: ignore[attr-defined]
    _captured(engine, plan_client, "/api/v1/articles", params)
    again = _captured(engine, plan_client, "/api/v1/articles", params)
    assert again, "the request ran no query"
    # What is left: the catalogue version and the page itself.
    others = [s for s, _ in again if "catalogue_state" not in s and "article.excerpt" not in s]
    assert others == []


@pytest.mark.parametrize(
    ("params", "built"),
    [({"min_quality": 1}, articles._keyset_statements), ({"q": "power"}, articles._ranking_select)],
    ids=["keyset", "relevance"],
)
def test_pages_of_the_same_filters_reuse_their_statements(
    plan_client: TestClient, params: dict[str, Any], built: Any
) -> None:
    """A page's statements are built once per set of filters and shape of page: the
    cursor's values and the row counts are bound when each runs, so a later page reusing
    them moves on rather than repeating the page they were built for."""
    path = "/api/v1/articles"

    def page(*cursor: str) -> dict[str, Any]:
        query = {**params, "limit": 2, **({"cursor": cursor[0]} if cursor else {})}
        response = plan_client.get(path, params=query)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    first = page()
    second = page(first["next_cursor"])
    assert second["next_cursor"], "a third page is needed"
    built.cache_clear()
    fresh = page(second["next_cursor"])  # the third page, from statements built for it
    built.cache_clear()
    page(first["next_cursor"])  # the second page builds the statements the third reuses
    misses = built.cache_info().misses
    reused = page(second["next_cursor"])
    assert built.cache_info().misses == misses and built.cache_info().hits >= 1
    assert reused["items"] == fresh["items"] != second["items"]


def test_a_repeated_search_is_ranked_once(plan_client: TestClient) -> None:
    """A search's ranked order is kept per catalogue version, like its count: asked again,
    its matches are not scored again, only its page's rows looked up."""
    engine: Engine = plan_client.app.state.engine  # type: ignore[attr-defined]
    scoring = "bm25(" if engine.dialect.name == "sqlite" else "ts_rank("
    CACHE.clear()
    first = _captured(engine, plan_client, "/api/v1/articles", {"q": "power"})
    again = _captured(engine, plan_client, "/api/v1/articles", {"q": "power"})
    assert [s for s, _ in first if scoring in s], "the first request ranks the matches"
    assert again, "the request ran no query"
    assert [s for s, _ in again if scoring in s] == []
