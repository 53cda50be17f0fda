"""Catalogue-wide figures: topics, providers and totals, over visible (not removed) articles."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from app.models import ARTICLE, PROVIDER, STATE, TOPIC
from app.query.counts import names_of, visible_counts
from app.query.filters import REMOVED, VISIBLE_ROW, A, is_sqlite
from app.schemas import iso_z


def _starting(counts: Counter[str], prefix: str | None) -> Counter[str]:
    """Keys (lower case) starting with `prefix` in any case; `%` and `_` are plain characters."""
    if not prefix:
        return counts
    start = prefix.lower()
    return Counter({key: n for key, n in counts.items() if key.startswith(start)})


def list_topics(
    session: Session, *, prefix: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Topics with their count of visible articles, by count then name; `prefix` on the name."""
    counts = _starting(visible_counts(session, name="topic", sqlite=is_sqlite(session)), prefix)
    names = names_of(session, TOPIC, counts)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], names[item[0]]))
    return [{"name": names[key], "count": n} for key, n in ranked[:limit]]


def list_providers(
    session: Session, *, prefix: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Each provider domain once, under its most common name, with its visible articles;
    by count, then name; `prefix` on the domain."""
    counts = visible_counts(session, name="provider", sqlite=is_sqlite(session))
    counts = _starting(counts, prefix)
    names = names_of(session, PROVIDER, counts)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], names[item[0]], item[0]))
    return [{"name": names[key], "domain": key, "count": n} for key, n in ranked[:limit]]


PUBLISHED = A.published == true()


def _edge(session: Session, *, last: bool) -> Any:
    # ORDER BY ... LIMIT 1 walks the index and stops at the first visible article.
    order = A.published_at.desc() if last else A.published_at.asc()
    statement = select(A.published_at).where(VISIBLE_ROW).order_by(order).limit(1)
    return session.execute(statement).scalar()


def stats(session: Session) -> dict[str, Any]:
    """Catalogue totals over visible (not removed) articles."""
    sqlite = is_sqlite(session)
    # Each count is answered by an index: all rows, published ones, removed ones.
    everything = session.execute(select(func.count()).select_from(ARTICLE)).scalar_one()
    published = session.execute(select(func.count()).where(PUBLISHED)).scalar_one()
    hidden, hidden_published = session.execute(
        select(func.count(), func.count().filter(A.published.is_(True))).where(REMOVED)
    ).one()
    providers = visible_counts(session, name="provider", sqlite=sqlite)
    topics = visible_counts(session, name="topic", sqlite=sqlite)
    last_ingest = session.execute(select(STATE.c.last_ingest_at)).scalar()
    return {
        "articles": everything - hidden,
        "providers": len(providers),
        "topics": len(topics),
        "published": published - hidden_published,
        "first_published_at": iso_z(_edge(session, last=False)),
        "last_published_at": iso_z(_edge(session, last=True)),
        "last_ingest_at": iso_z(last_ingest),
    }
