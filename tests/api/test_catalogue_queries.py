"""`query.list_topics`, `query.list_providers` and `query.stats` against brute-force counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app import query
from app.db import make_engine
from tests.api.factory import Corpus


@pytest.fixture
def session(catalogue_url: str) -> Iterator[Session]:
    engine = make_engine(catalogue_url, read_only=True)
    with Session(engine) as session:
        yield session
    engine.dispose()


def _visible(corpus: Corpus) -> list[dict[str, Any]]:
    return [s for s in corpus.summaries() if s["removed"] is not True]


def _topics(corpus: Corpus, prefix: str = "") -> list[dict[str, Any]]:
    counts = Counter(
        key
        for s in _visible(corpus)
        for key in {t.strip().lower() for t in s["topics"]}
        if key.startswith(prefix.lower())
    )
    rows = [{"name": corpus.topic_names[k], "count": n} for k, n in counts.items()]
    return sorted(rows, key=lambda r: (-r["count"], r["name"]))


def _providers(corpus: Corpus, prefix: str = "") -> list[dict[str, Any]]:
    counts = Counter(s["provider"]["domain"].lower() for s in _visible(corpus))
    rows = [
        {"name": corpus.provider_names[k], "domain": k, "count": n}
        for k, n in counts.items()
        if k.startswith(prefix.lower())
    ]
    return sorted(rows, key=lambda r: (-r["count"], r["name"], r["domain"]))


@pytest.mark.parametrize("prefix", [None, "", "a", "AI", "snake_", "snake", "100%", "CAF", "x"])
def test_topics(session: Session, corpus: Corpus, prefix: str | None) -> None:
    assert query.list_topics(session, prefix=prefix) == _topics(corpus, prefix or "")
    assert query.list_topics(session, prefix=prefix, limit=3) == _topics(corpus, prefix or "")[:3]


@pytest.mark.parametrize("prefix", [None, "m", "MICRO", "per%", "per_", "under_", "under%", "zz"])
def test_providers(session: Session, corpus: Corpus, prefix: str | None) -> None:
    expected = _providers(corpus, prefix or "")
    assert query.list_providers(session, prefix=prefix) == expected
    assert query.list_providers(session, prefix=prefix, limit=2) == expected[:2]


def test_like_wildcards_are_literal(session: Session) -> None:
    assert [t["name"] for t in query.list_topics(session, prefix="snake_")] == ["snake_case"]
    assert [p["domain"] for p in query.list_providers(session, prefix="per%")] == ["per%cent.org"]
    assert query.list_providers(session, prefix="per_") == []


def test_stats(session: Session, corpus: Corpus) -> None:
    visible = _visible(corpus)
    dates = sorted((s["published_at"] for s in visible), key=datetime.fromisoformat)
    stats = query.stats(session)
    last_ingest = stats.pop("last_ingest_at")
    assert isinstance(last_ingest, str) and last_ingest.endswith("Z")
    assert stats == {
        "articles": len(visible),
        "providers": len({s["provider"]["domain"].lower() for s in visible}),
        "topics": len({t.strip().lower() for s in visible for t in s["topics"]}),
        "published": sum(s["published"] is True for s in visible),
        "first_published_at": dates[0],
        "last_published_at": dates[-1],
    }
    assert query.catalogue_version(session) > 0
