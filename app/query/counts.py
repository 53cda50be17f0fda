"""Counting articles: page totals and facets.

Article rows are wide, so reading one per counted article is what makes counts slow on a
large catalogue. Counts are therefore taken from indexes where the filters allow it: from
`article_topic` for topics, from the full-text table for a search, from the table's own
count for everything. Results are cached per catalogue version, so walking the pages of one
list counts once.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.models import ARTICLE, ARTICLE_TOPIC, PROVIDER, STATE, TOPIC
from app.query.filters import (
    HIDDEN_PKS,
    REMOVED,
    A,
    ArticleFilters,
    filter_conditions,
    fts_match,
    search_expression,
    topic_keys,
)

FACET_SIZE = 50
NAME_LOOKUP_LIMIT = 500
CACHE_SIZE = 1024
T = TypeVar("T")


class _VersionedCache:
    """A small LRU of computed counts, keyed by the catalogue version they were read at."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[Hashable, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
        value = compute()
        with self.lock:
            self.entries[key] = value
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return value

    def holds(self, key: Hashable) -> bool:
        with self.lock:
            return key in self.entries

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """The value kept for `key`, else `default`; computes nothing."""
        with self.lock:
            return self.entries.get(key, default)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


CACHE = _VersionedCache(CACHE_SIZE)


def catalogue_version(session: Session) -> int:
    """Moves on every committed change to the catalogue; a cache key for readers."""
    return int(session.execute(select(STATE.c.version)).scalar_one())


# Each engine's URL as text, rendered once: hashing a URL object renders it every time.
_ENGINE_KEYS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def cache_key(session: Session, version: int, *parts: Hashable) -> tuple[Hashable, ...]:
    engine = session.get_bind().engine
    name = _ENGINE_KEYS.get(engine)
    if name is None:
        name = _ENGINE_KEYS[engine] = engine.url.render_as_string(hide_password=False)
    return (name, version, *parts)


def _shape(filters: ArticleFilters, *, sqlite: bool) -> str:
    """Which index can count these filters: `all`, `topics`, `search`, or `other` (none)."""
    rest = replace(filters, include_removed=False, topics=(), search=None)
    if rest != ArticleFilters():
        return "other"
    if filters.search is None:
        return "topics" if filters.topics else "all"
    negatives = filters.search.excluded
    if filters.topics or negatives or search_expression(filters, sqlite=sqlite) is None:
        return "other"
    return "search"


def _indexed_count(
    shape: str, filters: ArticleFilters, *, sqlite: bool, removed: bool
) -> Select[Any]:
    """COUNT of the articles matching filters in any removed state, or of the removed ones."""
    if shape == "all":
        statement = select(func.count()).select_from(ARTICLE)
        return statement.where(REMOVED) if removed else statement
    if shape == "topics":
        keys = topic_keys(filters.topics)
        key = ARTICLE_TOPIC.c.article_pk
        # An article has each topic key once, so one key needs no DISTINCT.
        counted = func.count() if len(keys) == 1 else func.count(key.distinct())
        statement = select(counted).where(ARTICLE_TOPIC.c.topic_key.in_(keys))
    else:
        expression = search_expression(filters, sqlite=sqlite)
        assert expression is not None
        key, condition = fts_match(sqlite, expression)
        statement = select(func.count()).select_from(key.table).where(condition)
    return statement.where(key.in_(HIDDEN_PKS)) if removed else statement


def count_articles(session: Session, *, filters: ArticleFilters, sqlite: bool) -> int:
    """How many articles match the filters."""
    shape = _shape(filters, sqlite=sqlite)
    if shape == "other":
        conditions = filter_conditions(filters, sqlite=sqlite)
        statement = select(func.count()).select_from(ARTICLE).where(*conditions)
        return int(session.execute(statement).scalar_one())
    # Visible = all - removed: two index-only counts, where checking each article's
    # `removed` would probe once per counted article.
    count = session.execute(_indexed_count(shape, filters, sqlite=sqlite, removed=False))
    total = int(count.scalar_one())
    if not filters.include_removed:
        hidden = session.execute(_indexed_count(shape, filters, sqlite=sqlite, removed=True))
        total -= int(hidden.scalar_one())
    return total


# -- facets -----------------------------------------------------------------------------


def _facet_key(name: str, *, sqlite: bool) -> Any:
    if name in ("type", "published"):
        return A[name]
    if name == "provider":
        return A.provider_key
    length = 4 if name == "year" else 7
    if sqlite:
        # SQLite stores DateTime as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text.
        return func.substr(A.published_at, 1, length)
    return func.to_char(A.published_at, "YYYY" if name == "year" else "YYYY-MM")


def group_counts(
    session: Session,
    *,
    name: str,
    sqlite: bool,
    conditions: Sequence[ColumnElement[bool]] = (),
    removed: bool = False,
) -> Counter[Any]:
    """Articles per facet key (topic key, provider key, type, ...) among those matching
    `conditions` (in any removed state), or among the removed ones; NULL keys left out."""
    if name == "topic":
        key = ARTICLE_TOPIC.c.topic_key
        statement = select(key, func.count()).group_by(key)
        if conditions:
            pks = select(A.pk).where(*conditions)
            statement = statement.where(ARTICLE_TOPIC.c.article_pk.in_(pks))
        if removed:
            statement = statement.where(ARTICLE_TOPIC.c.article_pk.in_(HIDDEN_PKS))
    else:
        key = _facet_key(name, sqlite=sqlite)
        statement = (
            select(key, func.count())
            .where(key.is_not(None), *conditions, *([REMOVED] if removed else []))
            .group_by(key)
        )
    return Counter({key: n for key, n in session.execute(statement)})


def visible_counts(session: Session, *, name: str, sqlite: bool) -> Counter[Any]:
    """Articles per facet key over the whole catalogue, removed ones left out: an index-only
    scan minus the few removed, cheaper than checking each article on the way."""
    counts = group_counts(session, name=name, sqlite=sqlite)
    counts.subtract(group_counts(session, name=name, sqlite=sqlite, removed=True))
    return +counts  # drops keys left with nothing


def names_of(session: Session, table: Any, keys: Iterable[str]) -> dict[str, str]:
    """Display names (`topic` or `provider` table) of these keys; a key without one is its own."""
    wanted = sorted(set(keys))
    statement = select(table.c.key, table.c.name)
    if len(wanted) <= NAME_LOOKUP_LIMIT:  # beyond it, reading the whole table is cheaper
        statement = statement.where(table.c.key.in_(wanted))
    found: dict[str, str] = {key: name for key, name in session.execute(statement)}
    return {key: found.get(key, key) for key in wanted}


def top(counts: Counter[Any], label: Callable[[list[Any]], dict[Any, Any]], size: int) -> list[Any]:
    """The `size` largest counts, ties by label: labels are only looked up near the cut."""
    ranked = counts.most_common()
    if len(ranked) > size:
        floor = ranked[size - 1][1]
        ranked = [item for item in ranked if item[1] >= floor]
    labels = label([key for key, _ in ranked])
    ranked.sort(key=lambda item: (-item[1], labels[item[0]]))
    return [(key, labels[key], n) for key, n in ranked[:size]]


def facet_counts(
    session: Session,
    *,
    name: str,
    filters: ArticleFilters,
    sqlite: bool,
) -> list[dict[str, Any]]:
    """The top values of one facet over the filtered articles, by count then value."""
    if _shape(filters, sqlite=sqlite) == "all" and not filters.include_removed:
        counts = visible_counts(session, name=name, sqlite=sqlite)
    else:
        conditions = filter_conditions(filters, sqlite=sqlite)
        counts = group_counts(session, name=name, sqlite=sqlite, conditions=conditions)
    if name == "topic":
        ranked = top(counts, lambda keys: names_of(session, TOPIC, keys), FACET_SIZE)
        return [{"value": label, "count": n} for _, label, n in ranked]
    if name == "provider":
        ranked = top(counts, lambda keys: {k: k for k in keys}, FACET_SIZE)
        names = names_of(session, PROVIDER, [key for key, _, _ in ranked])
        return [{"value": key, "count": n, "name": names[key]} for key, _, n in ranked]
    if name == "year":
        counts = Counter({int(key): n for key, n in counts.items()})
    ranked = top(counts, lambda keys: {k: k for k in keys}, FACET_SIZE)
    return [{"value": key, "count": n} for key, _, n in ranked]
