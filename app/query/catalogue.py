"""Counts over the catalogue: facets of a filtered list, topics, providers, totals."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.query.filters import (
    ARTICLE,
    ARTICLE_TOPIC,
    PROVIDER,
    STATE,
    TOPIC,
    A,
    is_sqlite,
)
from app.schemas import iso_z

FACETS = ("topic", "provider", "type", "published", "year", "month")
FACET_SIZE = 50


def _text_order(expression: Any, *, sqlite: bool) -> Any:
    # Code-point order on both backends, whatever the database's collation.
    return expression if sqlite else expression.collate("C")


def facet_counts(
    session: Session, *, name: str, conditions: list[ColumnElement[bool]], sqlite: bool
) -> list[dict[str, Any]]:
    """The top values of one facet over the filtered articles, by count then value."""
    count = func.count().label("n")
    if name == "topic":
        label = func.coalesce(TOPIC.c.name, ARTICLE_TOPIC.c.topic_key)
        statement = (
            select(label, count)
            .select_from(
                ARTICLE.join(ARTICLE_TOPIC, ARTICLE_TOPIC.c.article_pk == A.pk).outerjoin(
                    TOPIC, TOPIC.c.key == ARTICLE_TOPIC.c.topic_key
                )
            )
            .group_by(ARTICLE_TOPIC.c.topic_key, TOPIC.c.name)
            .order_by(count.desc(), _text_order(label, sqlite=sqlite))
        )
    elif name == "provider":
        statement = (
            select(A.provider_key, count, func.max(PROVIDER.c.name))
            .select_from(ARTICLE.outerjoin(PROVIDER, PROVIDER.c.key == A.provider_key))
            .group_by(A.provider_key)
            .order_by(count.desc(), _text_order(A.provider_key, sqlite=sqlite))
        )
    else:
        value = _facet_expression(name, sqlite=sqlite)
        ordered = value if name in ("published", "year") else _text_order(value, sqlite=sqlite)
        statement = (
            select(value, count)
            .where(value.is_not(None))
            .group_by(value)
            .order_by(count.desc(), ordered)
        )
    rows = session.execute(statement.where(*conditions).limit(FACET_SIZE)).all()
    if name == "provider":
        return [{"value": key, "count": n, "name": label} for key, n, label in rows]
    if name == "year":
        return [{"value": int(value), "count": n} for value, n in rows]
    return [{"value": value, "count": n} for value, n in rows]


def _facet_expression(name: str, *, sqlite: bool) -> Any:
    if name in ("type", "published"):
        return A[name]
    length = 4 if name == "year" else 7
    if sqlite:
        # SQLite stores DateTime as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text.
        return func.substr(A.published_at, 1, length)
    return func.to_char(A.published_at, "YYYY" if name == "year" else "YYYY-MM")


def _prefix_condition(col: Any, prefix: str | None) -> list[ColumnElement[bool]]:
    if not prefix:
        return []
    escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return [col.like(escaped + "%", escape="\\")]


def list_topics(
    session: Session, *, prefix: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Topics with their count of visible articles, by count then name; `prefix` on the name."""
    sqlite = is_sqlite(session)
    count = func.count().label("n")
    name = func.coalesce(TOPIC.c.name, ARTICLE_TOPIC.c.topic_key)
    statement = (
        select(name, count)
        .select_from(
            ARTICLE_TOPIC.join(ARTICLE, A.pk == ARTICLE_TOPIC.c.article_pk).outerjoin(
                TOPIC, TOPIC.c.key == ARTICLE_TOPIC.c.topic_key
            )
        )
        .where(A.removed.is_not(True), *_prefix_condition(ARTICLE_TOPIC.c.topic_key, prefix))
        .group_by(ARTICLE_TOPIC.c.topic_key, TOPIC.c.name)
        .order_by(count.desc(), _text_order(name, sqlite=sqlite))
        .limit(limit)
    )
    return [{"name": n, "count": c} for n, c in session.execute(statement)]


def list_providers(
    session: Session, *, prefix: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Each provider domain once, under its most common name, with its visible articles."""
    sqlite = is_sqlite(session)
    count = func.count().label("n")
    name = func.coalesce(func.max(PROVIDER.c.name), func.min(A.provider_name))
    statement = (
        select(name, A.provider_key, count)
        .select_from(ARTICLE.outerjoin(PROVIDER, PROVIDER.c.key == A.provider_key))
        .where(A.removed.is_not(True), *_prefix_condition(A.provider_key, prefix))
        .group_by(A.provider_key)
        .order_by(
            count.desc(),
            _text_order(name, sqlite=sqlite),
            _text_order(A.provider_key, sqlite=sqlite),
        )
        .limit(limit)
    )
    return [{"name": n, "domain": d, "count": c} for n, d, c in session.execute(statement)]


def stats(session: Session) -> dict[str, Any]:
    """Catalogue totals over visible (not removed) articles."""
    visible = A.removed.is_not(True)
    articles, providers, published, first, last = session.execute(
        select(
            func.count(),
            func.count(A.provider_key.distinct()),
            func.count().filter(A.published.is_(True)),
            func.min(A.published_at),
            func.max(A.published_at),
        ).where(visible)
    ).one()
    topics = session.execute(
        select(func.count(ARTICLE_TOPIC.c.topic_key.distinct()))
        .select_from(ARTICLE_TOPIC.join(ARTICLE, A.pk == ARTICLE_TOPIC.c.article_pk))
        .where(visible)
    ).scalar_one()
    last_ingest = session.execute(select(STATE.c.last_ingest_at)).scalar()
    return {
        "articles": articles,
        "providers": providers,
        "topics": topics,
        "published": published,
        "first_published_at": iso_z(first),
        "last_published_at": iso_z(last),
        "last_ingest_at": iso_z(last_ingest),
    }


def catalogue_version(session: Session) -> int:
    """Moves on every committed change to the catalogue; a cache key for readers."""
    return int(session.execute(select(STATE.c.version)).scalar_one())
