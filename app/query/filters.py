"""What a list selects: the filter value object and its SQL conditions, shared by every
list-shaped query (pages, facets, feeds, exports)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, cast, column, exists, literal_column, select, table, true
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.models import ARTICLE, ARTICLE_TOPIC
from app.schemas import iso_z
from app.search import SearchQuery, negatives_fts5, negatives_tsquery, to_fts5, to_tsquery

FTS_SQLITE = table("article_fts", column("rowid", Integer))
FTS_PG = table("article_fts", column("pk", Integer), column("document"))

SORTS = ("-published_at", "published_at", "-quality", "quality", "-heat", "heat", "relevance")
FACETS = ("topic", "provider", "type", "published", "year", "month")

A = ARTICLE.c
SUMMARY_COLUMNS = (
    A.id, A.url, A.title, A.excerpt, A.published_at, A.quality, A.heat, A.published,
    A.removed, A.type, A.category, A.provider_name, A.provider_domain, A.topics, A.image,
)  # fmt: skip
SORT_COLUMN_INDEX = {"published_at": 4, "quality": 5, "heat": 6}
# `= true` rather than `IS TRUE`: the same rows, and an index can answer it on both backends.
REMOVED = A.removed == true()
HIDDEN_PKS = select(A.pk).where(REMOVED)
# Removed articles are rare and indexed: excluding their keys needs no article row, where
# `removed IS NOT TRUE` would read the row of every candidate, even when an index could
# otherwise answer alone (counts, facets, pages skipping past many rows).
VISIBLE = A.pk.not_in(HIDDEN_PKS)
# The same rows for a query that reads each candidate's row anyway and stops after a page:
# checked on that row, where `VISIBLE` first lists every removed key, which on a large
# catalogue costs more than the page (1.7 ms against 0.1 ms for the newest page of 1M), and
# a probe for the key (NOT EXISTS) reads the row a second time (0.6 ms of a 4 ms ranked
# search of 1,000 matches).
VISIBLE_ROW = A.removed.is_not(true())


@dataclass(frozen=True, slots=True)
class ArticleFilters:
    """What `/articles` (and feeds and exports) select. Empty means no restriction.

    Topic and provider values are matched case-insensitively. `published_from` is an
    inclusive bound and `published_before` an exclusive one, both naive UTC.
    """

    search: SearchQuery | None = None
    topics: tuple[str, ...] = ()
    exclude_topics: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    exclude_providers: tuple[str, ...] = ()
    published_from: datetime | None = None
    published_before: datetime | None = None
    min_quality: int | None = None
    max_quality: int | None = None
    min_heat: int | None = None
    max_heat: int | None = None
    published: bool | None = None
    type: str | None = None
    category: str | None = None
    url: str | None = None
    include_removed: bool = False


def article_id(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def topic_key(name: str) -> str:
    return name.strip().lower()


def topic_keys(names: Sequence[str]) -> list[str]:
    return sorted({topic_key(name) for name in names})


def search_expression(filters: ArticleFilters, *, sqlite: bool) -> str | None:
    """The positive part of `q` in the backend's full-text syntax, if there is one."""
    if filters.search is None:
        return None
    return to_fts5(filters.search) if sqlite else to_tsquery(filters.search)


def fts_match(sqlite: bool, expression: str) -> tuple[Any, ColumnElement[bool]]:
    """(the full-text table's article key column, its MATCH condition)."""
    if sqlite:
        return FTS_SQLITE.c.rowid, literal_column("article_fts").op("MATCH")(expression)
    return FTS_PG.c.pk, FTS_PG.c.document.op("@@")(cast(expression, TSQUERY))


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


@dataclass(frozen=True, slots=True)
class Plan:
    """How a page query reaches its rows; every plan selects the same rows.

    A filter matching many articles is best checked while walking the sort's index, which
    stops after one page; one matching few is best listed first and the list sorted.
    `window_start` is where a broad search's newest tier begins (see query/articles.py).
    """

    walk_topics: bool = False
    walk_search: bool = False
    window_start: int | None = None


def match(sqlite: bool, expression: str, *, walk: bool = False) -> ColumnElement[bool]:
    """`article.pk IN (articles whose text matches expression)`."""
    key, condition = fts_match(sqlite, expression)
    # On SQLite `pk + 0` keeps the match list from driving the query (PostgreSQL's planner
    # weighs both ways from its statistics).
    pk = A.pk + 0 if walk and sqlite else A.pk
    return pk.in_(select(key).where(condition))


def topic_condition(keys: Sequence[str], *, walk: bool) -> ColumnElement[bool]:
    """Articles with any of these topic keys: as `pk IN (list)` for rare topics, as a
    correlated EXISTS checked while walking an index for common ones (`walk`)."""
    tagged = ARTICLE_TOPIC.c.topic_key.in_(keys)
    if walk:
        return exists().where(ARTICLE_TOPIC.c.article_pk == A.pk, tagged)
    return A.pk.in_(select(ARTICLE_TOPIC.c.article_pk).where(tagged))


def filter_conditions(
    filters: ArticleFilters,
    *,
    sqlite: bool,
    positive: bool = True,
    plan: Plan = Plan(),
    page: bool = False,
) -> list[ColumnElement[bool]]:
    """`page`: the rows are read, a page of them, none skipped (see `VISIBLE_ROW`)."""
    conditions: list[ColumnElement[bool]] = []
    if filters.search is not None:
        expression = search_expression(filters, sqlite=sqlite) if positive else None
        if expression is not None:
            conditions.append(match(sqlite, expression, walk=plan.walk_search))
        negatives = (negatives_fts5 if sqlite else negatives_tsquery)(filters.search)
        conditions.extend(~match(sqlite, negative) for negative in negatives)
    if filters.topics:
        conditions.append(topic_condition(topic_keys(filters.topics), walk=plan.walk_topics))
    if filters.exclude_topics:
        keys = topic_keys(filters.exclude_topics)
        conditions.append(
            A.pk.not_in(
                select(ARTICLE_TOPIC.c.article_pk).where(ARTICLE_TOPIC.c.topic_key.in_(keys))
            )
        )
    if filters.providers:
        conditions.append(A.provider_key.in_(sorted({p.lower() for p in filters.providers})))
    if filters.exclude_providers:
        keys = sorted({p.lower() for p in filters.exclude_providers})
        conditions.append(A.provider_key.not_in(keys))
    if filters.published_from is not None:
        conditions.append(A.published_at >= filters.published_from)
    if filters.published_before is not None:
        conditions.append(A.published_at < filters.published_before)
    for bound, col, is_min in (
        (filters.min_quality, A.quality, True),
        (filters.max_quality, A.quality, False),
        (filters.min_heat, A.heat, True),
        (filters.max_heat, A.heat, False),
    ):
        if bound is not None:
            conditions.append(col >= bound if is_min else col <= bound)
    if filters.published is not None:
        conditions.append(A.published.is_(filters.published))
    if filters.type is not None:
        conditions.append(A.type == filters.type)
    if filters.category is not None:
        conditions.append(A.category == filters.category)
    if filters.url is not None:
        url = filters.url.strip()
        conditions.extend((A.id == article_id(url), A.url == url))
    if not filters.include_removed:
        conditions.append(VISIBLE_ROW if page else VISIBLE)
    return conditions


def summary_from_row(row: Sequence[Any]) -> dict[str, Any]:
    """An ArticleSummary dict from a row of SUMMARY_COLUMNS."""
    return {
        "id": row[0],
        "url": row[1],
        "title": row[2],
        "excerpt": row[3],
        "published_at": iso_z(row[4]),
        "quality": row[5],
        "heat": row[6],
        "published": row[7],
        "removed": row[8],
        "type": row[9],
        "category": row[10],
        "provider": {"name": row[11], "domain": row[12]},
        "topics": row[13],
        "image": row[14],
    }
