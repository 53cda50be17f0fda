"""Where requests run their queries (the event loop or a worker thread), and how many
worker threads run them at once, per backend."""

from __future__ import annotations

import threading
from typing import Any

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import cursor as cursors
from app import query
from app.main import create_app
from app.query import articles, counts
from app.settings import Settings
from tests.api.factory import Corpus

DEFAULT_TOKENS = 40  # anyio's own default, which the app keeps for PostgreSQL


async def _tokens() -> float:
    return anyio.to_thread.current_default_thread_limiter().total_tokens


def _limit_in_app(settings: Settings) -> float:
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/articles?limit=1").status_code == 200
        assert client.portal is not None
        return client.portal.call(_tokens)


def test_sqlite_runs_few_query_threads_postgresql_many(catalogue_url: str, backend: str) -> None:
    configured = _limit_in_app(Settings(DATABASE_URL=catalogue_url, NEWSCAT_SQLITE_THREADS=3))
    assert configured == (3 if backend == "sqlite" else DEFAULT_TOKENS)
    default = _limit_in_app(Settings(DATABASE_URL=catalogue_url, NEWSCAT_SQLITE_THREADS=2))
    assert default == (2 if backend == "sqlite" else DEFAULT_TOKENS)
    assert Settings.model_fields["sqlite_threads"].default == 2


def _threads_running(monkeypatch: pytest.MonkeyPatch, name: str) -> list[threading.Thread]:
    """The thread of each call of the query function `name` from now on."""
    threads: list[threading.Thread] = []
    function = getattr(query, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return function(*args, **kwargs)

    monkeypatch.setattr(query, name, recording)
    return threads


def test_sqlite_loads_a_detail_on_the_event_loop_postgresql_in_a_thread(
    catalogue_url: str, backend: str, corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the look-up costs less than a hop to a worker thread; elsewhere it is a
    round trip, which must not hold up the event loop."""
    loaded_in = _threads_running(monkeypatch, "article_detail")
    article = next(iter(corpus.articles))
    with TestClient(create_app(Settings(DATABASE_URL=catalogue_url))) as client:
        response = client.get(f"/api/v1/articles/{article}")
        assert client.portal is not None
        loop_thread = client.portal.call(_current_thread)
    assert response.status_code == 200
    assert response.json()["id"] == article
    assert len(loaded_in) == 1
    assert (loaded_in[0] is loop_thread) == (backend == "sqlite")


@pytest.mark.parametrize(
    ("path", "short"),
    [
        ("/api/v1/articles?limit=3", True),
        ("/api/v1/articles?limit=3&published=true&facet=topic&facet=year", True),
        ("/api/v1/articles?q=power", True),  # ranked once, then a slice of the ranking
        ("/api/v1/articles?q=power&sort=-quality", False),  # lists every match to sort them
        ("/api/v1/articles?q=-power", False),  # only exclusions: nothing ranked to keep
        ("/api/v1/articles?offset=2", False),  # an offset reads what it skips
    ],
)
def test_sqlite_lists_a_page_on_the_event_loop_once_its_counts_are_known(
    catalogue_url: str, backend: str, monkeypatch: pytest.MonkeyPatch, path: str, short: bool
) -> None:
    """A new count may read every article, so it is taken in a worker thread; later pages of
    the same filters (counts cached for this catalogue version) are index walks, cheaper
    than the hop to a thread. So are later pages of a ranked search, its order kept like
    the counts. A search in another order, or an offset, always goes to a thread."""
    loaded_in = _threads_running(monkeypatch, "list_articles")
    counts.CACHE.clear()  # other tests may have counted these filters already
    settings = Settings(DATABASE_URL=catalogue_url, NEWSCAT_RESULT_CACHE_SIZE=0)
    with TestClient(create_app(settings)) as client:
        first, again = client.get(path), client.get(path)
        assert client.portal is not None
        loop_thread = client.portal.call(_current_thread)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert [thread is loop_thread for thread in loaded_in] == [
        False,
        short and backend == "sqlite",
    ]


def test_sqlite_pages_a_kept_ranking_on_the_event_loop_up_to_its_end(
    catalogue_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broad search keeps the order of its newest tier only: a page inside it is a slice,
    a page reaching past it ranks the older matches, in a thread."""
    monkeypatch.setattr(articles, "RELEVANCE_WINDOW", 4)
    loaded_in = _threads_running(monkeypatch, "list_articles")
    counts.CACHE.clear()
    settings = Settings(DATABASE_URL=catalogue_url, NEWSCAT_RESULT_CACHE_SIZE=0)
    path, search = "/api/v1/articles", {"q": "power", "limit": 1}
    with TestClient(create_app(settings)) as client:
        pages = [client.get(path, params=search)]  # ranks the newest tier
        # From the third match, its page (and the match telling whether more follow) lies
        # in the tier; from the fourth, that next match lies past it.
        for start in (2, 3):
            cursor = cursors.encode_offset("relevance", start)
            pages.append(client.get(path, params={**search, "cursor": cursor}))
        assert client.portal is not None
        loop_thread = client.portal.call(_current_thread)
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert all(page.json()["next_cursor"] for page in pages), "more than four matches needed"
    sqlite = backend == "sqlite"
    assert [thread is loop_thread for thread in loaded_in] == [False, sqlite, False]


def test_a_page_reads_the_catalogue_version_once(
    catalogue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deciding where a page runs reads the version; the page itself reuses it (the same
    read transaction), rather than asking again on the hot path."""
    reads: list[int] = []
    original = articles.catalogue_version

    def counted(session: Any) -> int:
        reads.append(1)
        return original(session)

    monkeypatch.setattr(query, "catalogue_version", counted)
    monkeypatch.setattr(articles, "catalogue_version", counted)
    counts.CACHE.clear()
    settings = Settings(DATABASE_URL=catalogue_url, NEWSCAT_RESULT_CACHE_SIZE=0)
    with TestClient(create_app(settings)) as client:
        for _ in range(2):  # a new count (in a thread), then a counted page (on the loop)
            reads.clear()
            assert client.get("/api/v1/articles?limit=2&type=video").status_code == 200
            assert len(reads) == 1


async def _current_thread() -> threading.Thread:
    return threading.current_thread()


def test_every_request_gives_its_connection_back(
    catalogue_url: str, corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Routes that open their own session (not SessionDep) close it on every path, a
    query that fails after connecting included."""
    article = next(iter(corpus.articles))
    paths = {
        "/api/v1/articles?limit=2": 200,  # a new count: in a thread
        "/api/v1/articles?limit=2&sort=quality": 200,  # counted: on the loop (SQLite)
        "/api/v1/articles?q=power&offset=1": 200,
        f"/api/v1/articles/{article}": 200,
        "/api/v1/articles/0000000000000000": 404,
        f"/api/v1/articles/{article}/related": 200,
    }
    settings = Settings(DATABASE_URL=catalogue_url, NEWSCAT_RESULT_CACHE_SIZE=0)
    with TestClient(create_app(settings)) as client:
        pool = client.app.state.engine.pool  # type: ignore[attr-defined]
        for path, status in paths.items():
            assert client.get(path).status_code == status, path
            assert pool.checkedout() == 0, path

    def fails_once_connected(session: Session, *args: Any, **kwargs: Any) -> Any:
        session.execute(text("SELECT 1"))
        raise RuntimeError("the query failed")

    monkeypatch.setattr(query, "list_articles", fails_once_connected)
    monkeypatch.setattr(query, "article_detail", fails_once_connected)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        pool = app.state.engine.pool
        for path in list(paths)[:4]:
            assert client.get(path).status_code == 500, path
            assert pool.checkedout() == 0, path
