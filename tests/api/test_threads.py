"""How many worker threads run requests' queries at once, per backend."""

from __future__ import annotations

import anyio.to_thread
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

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
