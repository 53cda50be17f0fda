"""Pages and batches of articles: keyset and offset pages, relevance tiers, exports.

Keyset pages for nullable sort keys run as up to three plain indexed range scans (the rest
of the current tie group, the values beyond it, then the NULLs) rather than one query
ordered by an expression that no index can serve.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Hashable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    bindparam,
    cast,
    func,
    literal_column,
    nulls_last,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app import cursor as cursors
from app.models import ARTICLE_TOPIC
from app.query.counts import (
    CACHE,
    cache_key,
    catalogue_version,
    count_articles,
    facet_counts,
)
from app.query.filters import (
    FTS_PG,
    SORT_COLUMN_INDEX,
    SUMMARY_COLUMNS,
    A,
    ArticleFilters,
    Plan,
    filter_conditions,
    fts_match,
    is_sqlite,
    search_expression,
    summary_from_row,
    topic_keys,
)

ITER_BATCH = 500
# Matching articles beyond which walking the sort's index beats listing the matches first,
# however large the catalogue; a smaller one reaches that point sooner (see _walk_threshold).
WALK_THRESHOLD = 4000
# What one entry walked costs against one match listed (an index step plus a probe).
WALK_COST = 4
# Matches ranked together as the newest tier of a broad search (see _relevance_rows).
RELEVANCE_WINDOW = 1000
# Page statements kept built, per set of filters and shape of page. Building one and
# computing its cache key cost about 0.3 ms, more than the newest page takes to run on
# SQLite; a page's own values (the cursor's, how many rows, how many to skip) are bound
# as ROWS, SKIP and the cursor's `after_value` and `after_id` each time it runs.
STATEMENTS_KEPT = 256
ROWS = bindparam("rows", type_=Integer)
SKIP = bindparam("skip", type_=Integer)
# What a look into CACHE gives for a key it does not hold (None is a value it may keep).
_UNKNOWN = object()


def _keyset_segments(sort: str, after: str) -> list[tuple[list[ColumnElement[bool]], list[Any]]]:
    """(extra conditions, ORDER BY) of each range scan that continues a keyset page.

    `after` is where the page starts: `start`, past a `null` sort value or past a `value`;
    the cursor's value and id are bound as `after_value` and `after_id` when it runs.
    Ties go by id in the sort's own direction, so that one `(key, id)` index read forwards
    or backwards serves either direction with no sort step inside a large tie group.
    """
    name = sort.lstrip("-")
    descending = sort.startswith("-")
    col = A[name]
    nullable = name != "published_at"
    by_id = A.id.desc() if descending else A.id.asc()
    ordered = [col.desc() if descending else col.asc(), by_id]
    null_part: list[tuple[list[ColumnElement[bool]], list[Any]]] = (
        [([col.is_(None)], [by_id])] if nullable else []
    )
    if after == "start":
        return [([col.is_not(None)] if nullable else [], ordered), *null_part]
    after_id = bindparam("after_id", type_=A.id.type)
    past_id = A.id < after_id if descending else A.id > after_id
    if after == "null":
        return [([col.is_(None), past_id], [by_id])]
    value = bindparam("after_value", type_=col.type)
    beyond = col < value if descending else col > value
    return [([col == value, past_id], [by_id]), ([beyond], ordered), *null_part]


@lru_cache(maxsize=STATEMENTS_KEPT)
def _keyset_statements(
    filters: ArticleFilters, *, sqlite: bool, plan: Plan, sort: str, after: str
) -> tuple[Select[Any], ...]:
    """The range scans of a keyset page, each taking `rows` and the cursor when it runs."""
    conditions = filter_conditions(filters, sqlite=sqlite, plan=plan, page=True)
    return tuple(
        select(*SUMMARY_COLUMNS).where(*conditions, *extra).order_by(*order).limit(ROWS)
        for extra, order in _keyset_segments(sort, after)
    )


def _keyset_rows(
    session: Session,
    filters: ArticleFilters,
    *,
    sqlite: bool,
    plan: Plan,
    sort: str,
    after: cursors.Cursor | None,
    count: int,
) -> list[Any]:
    start = "start" if after is None else "null" if after.value is None else "value"
    values = {} if after is None else {"after_value": after.value, "after_id": after.id}
    statements = _keyset_statements(filters, sqlite=sqlite, plan=plan, sort=sort, after=start)
    rows: list[Any] = []
    for statement in statements:
        rows.extend(session.execute(statement, {**values, "rows": count - len(rows)}).all())
        if len(rows) >= count:
            break
    return rows


def _relevance_select(
    filters: ArticleFilters,
    *,
    sqlite: bool,
    plan: Plan,
    tier: str | None = None,
    columns: Sequence[Any] = SUMMARY_COLUMNS,
) -> Select[Any]:
    """Matches best first (bm25 on SQLite, ts_rank on PostgreSQL), then by id; `tier`
    (`newest` or `older`) keeps the ranked matches on that side of `plan.window_start`.
    Each row holds `columns`, which must include the article's id on PostgreSQL."""
    statement = select(*columns)
    conditions = filter_conditions(filters, sqlite=sqlite, positive=False, plan=plan, page=True)
    expression = search_expression(filters, sqlite=sqlite)
    if expression is None:  # only exclusions: nothing to rank by
        return statement.where(*conditions).order_by(A.id)
    key, matching = fts_match(sqlite, expression)
    rank: Any
    if sqlite:
        rank = func.bm25(literal_column("article_fts"))  # lower is better
    else:
        rank = -func.ts_rank(FTS_PG.c.document, cast(expression, TSQUERY))
    ranked = select(key.label("pk"), rank.label("rank")).where(matching)
    if tier is not None:
        boundary = plan.window_start
        ranked = ranked.where(key >= boundary if tier == "newest" else key < boundary)
    # Materialised, so that the rank is computed once per match: a flattened subquery has
    # SQLite score every match again for the sort.
    found = ranked.cte("ranked").prefix_with("MATERIALIZED")
    if sqlite:
        joined = statement.join(found, found.c.pk == A.pk).where(*conditions)
        return joined.order_by(found.c.rank, A.id)
    # PostgreSQL would hash-join the ranked matches against a scan of the whole article
    # table (its cost model prices a thousand key lookups above reading every row). Looked
    # up per match instead; OFFSET 0 keeps the planner from flattening the lookup back.
    article = statement.where(A.pk == found.c.pk, *conditions).offset(0).lateral("matched")
    return (
        select(*article.c)
        .select_from(found.join(article, true()))
        .order_by(found.c.rank, article.c.id)
    )


def _window_start(
    session: Session, filters: ArticleFilters, *, sqlite: bool, version: int
) -> int | None:
    """The smallest search key among the newest RELEVANCE_WINDOW matches of `q`, or None
    when it has no more matches than that (then every match is ranked as one tier).

    It moves only when an ingest commits, so it is kept per catalogue version like the
    counts: every page of a search needs it, and on PostgreSQL finding it reads every match.
    """
    expression = search_expression(filters, sqlite=sqlite)
    if expression is None:
        return None
    key, matching = fts_match(sqlite, expression)
    statement = (
        select(key).where(matching).order_by(key.desc()).limit(1).offset(RELEVANCE_WINDOW - 1)
    )
    return CACHE.get(
        _window_key(session, version, expression), lambda: session.execute(statement).scalar()
    )


def _window_key(session: Session, version: int, expression: str) -> tuple[Hashable, ...]:
    return cache_key(session, version, "window", RELEVANCE_WINDOW, expression)


@lru_cache(maxsize=STATEMENTS_KEPT)
def _relevance_page(
    filters: ArticleFilters, *, sqlite: bool, plan: Plan, tier: str | None
) -> Select[Any]:
    """A page of `_relevance_select`, taking `rows` and `skip` when it runs."""
    statement = _relevance_select(filters, sqlite=sqlite, plan=plan, tier=tier)
    return statement.limit(ROWS).offset(SKIP)


@lru_cache(maxsize=STATEMENTS_KEPT)
def _ranking_select(filters: ArticleFilters, *, sqlite: bool, plan: Plan) -> Select[Any]:
    """The keys (and ids) of the ranked tier's matches, best first."""
    tier = None if plan.window_start is None else "newest"
    return _relevance_select(filters, sqlite=sqlite, plan=plan, tier=tier, columns=(A.pk, A.id))


def _ranking_key(
    session: Session, filters: ArticleFilters, version: int, window_start: int | None
) -> tuple[Hashable, ...]:
    # The ranked tier follows from the filters, the catalogue and where the tier starts
    # (itself kept per version); every plan selects the same rows.
    return cache_key(session, version, "ranking", filters, window_start)


def _ranking(
    session: Session, filters: ArticleFilters, *, sqlite: bool, plan: Plan, version: int
) -> array[int]:
    """The article keys of a search's ranked tier (every match, or the newest
    RELEVANCE_WINDOW of a broad search), best first; kept per catalogue version.

    Ranking scores every match of the tier (bm25 costs about 2 us a match on SQLite), and
    each page of a search, and each request for its first page, would score them again;
    kept as keys (8 bytes each, at most RELEVANCE_WINDOW of them), a page is a slice.
    """
    statement = _ranking_select(filters, sqlite=sqlite, plan=plan)
    return CACHE.get(
        _ranking_key(session, filters, version, plan.window_start),
        lambda: array("q", session.execute(statement).scalars()),
    )


ROWS_BY_KEY = select(*SUMMARY_COLUMNS, A.pk).where(A.pk.in_(bindparam("keys", expanding=True)))


def _rows_by_key(session: Session, keys: Sequence[int]) -> list[Any]:
    """The summary rows of these article keys, in their order (any gone since are left out)."""
    if not keys:
        return []
    found = {row[-1]: row[:-1] for row in session.execute(ROWS_BY_KEY, {"keys": list(keys)})}
    return [found[key] for key in keys if key in found]


def _relevance_rows(
    session: Session,
    filters: ArticleFilters,
    *,
    start: int,
    count: int,
    sqlite: bool,
    plan: Plan,
    version: int,
) -> list[Any]:
    """`count` rows from `start` of the relevance order: a search with more matches than
    RELEVANCE_WINDOW ranks its newest matches (by search key, which grows with each article
    added) first, then the older ones, each tier best first.

    Ranking is the one step whose cost grows with the number of matches, since every match
    must be scored before the best can be taken; the window bounds it for the first pages,
    and the first tier's order is kept per catalogue version (`_ranking`).
    """
    if search_expression(filters, sqlite=sqlite) is None:  # only exclusions: nothing ranked
        statement = _relevance_page(filters, sqlite=sqlite, plan=plan, tier=None)
        return list(session.execute(statement, {"rows": count, "skip": start}).all())
    ranked = _ranking(session, filters, sqlite=sqlite, plan=plan, version=version)
    rows = _rows_by_key(session, ranked[start : start + count])
    if plan.window_start is None or start + count <= len(ranked):
        return rows
    older = _relevance_page(filters, sqlite=sqlite, plan=plan, tier="older")
    skip = max(0, start - len(ranked))
    rows.extend(session.execute(older, {"rows": count - len(rows), "skip": skip}).all())
    return rows


def _plan(
    session: Session, filters: ArticleFilters, *, sqlite: bool, rows: int, sort: str, version: int
) -> Plan:
    """Walk an index past filters that match many articles; list those matching few."""
    if sort == "relevance":
        # Ranked pages start from the matches themselves: there is no index to walk past
        # them, only the newest tier to find.
        window_start = _window_start(session, filters, sqlite=sqlite, version=version)
        expression = None
    else:
        window_start = None
        expression = search_expression(filters, sqlite=sqlite)
    walk_topics = walk_search = False
    if filters.topics or expression is not None:
        # Like the counts, the size and each choice move only when an ingest commits.
        threshold = _walk_threshold(rows, _catalogue_size(session, version))

        def decided(*what: Hashable, matches: Callable[[], Select[Any]]) -> bool:
            key = cache_key(session, version, "walk", *what, threshold)
            return CACHE.get(key, lambda: _at_least(session, matches(), threshold))

        if filters.topics:
            keys = topic_keys(filters.topics)
            walk_topics = decided("topics", *keys, matches=lambda: _tagged(keys))
        if expression is not None:
            walk_search = decided(
                "search", expression, matches=lambda: _matches(sqlite, expression)
            )
    return Plan(walk_topics=walk_topics, walk_search=walk_search, window_start=window_start)


def _catalogue_size(session: Session, version: int) -> int:
    """The key allocator's high mark, which stands in for the catalogue's size."""
    return CACHE.get(
        cache_key(session, version, "size"),
        lambda: session.execute(select(func.max(A.pk))).scalar() or 0,
    )


def _tagged(keys: Sequence[str]) -> Select[Any]:
    return select(ARTICLE_TOPIC.c.article_pk).where(ARTICLE_TOPIC.c.topic_key.in_(keys))


def _matches(sqlite: bool, expression: str) -> Select[Any]:
    key, condition = fts_match(sqlite, expression)
    return select(key).where(condition)


def _walk_threshold(rows: int, size: int) -> int:
    """Matches from which walking beats listing, for `rows` rows of a `size`-article catalogue.

    Walking the sort's index until `rows` of m matches among n articles turn up reads about
    rows * n / m entries; listing reads all m and sorts them. Walking wins once m * m
    exceeds WALK_COST * rows * n, which in a small catalogue comes long before
    WALK_THRESHOLD.
    """
    return max(1, min(WALK_THRESHOLD, math.isqrt(WALK_COST * rows * size)))


def _at_least(session: Session, rows: Select[Any], count: int) -> bool:
    capped = select(func.count()).select_from(rows.limit(count).subquery())
    return int(session.execute(capped).scalar_one()) >= count


def _relevance_start(cursor: cursors.Cursor | None, offset: int | None) -> int:
    if cursor is not None and cursor.offset is not None:
        return cursor.offset
    return offset or 0


def _page_rows(
    session: Session,
    filters: ArticleFilters,
    *,
    sort: str,
    count: int,
    cursor: cursors.Cursor | None,
    offset: int | None,
    sqlite: bool,
    plan: Plan,
    version: int,
) -> list[Any]:
    if sort == "relevance":
        start = _relevance_start(cursor, offset)
        return _relevance_rows(
            session, filters, start=start, count=count, sqlite=sqlite, plan=plan, version=version
        )
    if not offset:
        return _keyset_rows(
            session, filters, sqlite=sqlite, plan=plan, sort=sort, after=cursor, count=count
        )
    # An offset skips rows: those are best checked from the indexes, without their rows.
    conditions = filter_conditions(filters, sqlite=sqlite, plan=plan)
    col = A[sort.lstrip("-")]
    descending = sort.startswith("-")
    order = nulls_last(col.desc() if descending else col.asc())
    by_id = A.id.desc() if descending else A.id.asc()
    statement = select(*SUMMARY_COLUMNS).where(*conditions).order_by(order, by_id)
    return list(session.execute(statement.limit(count).offset(offset)).all())


def list_articles(
    session: Session,
    *,
    filters: ArticleFilters,
    sort: str,
    limit: int,
    cursor: cursors.Cursor | None = None,
    offset: int | None = None,
    facets: Sequence[str] = (),
    version: int | None = None,
) -> dict[str, Any]:
    """One page of `/articles`: `{"total", "limit", "next_cursor", "items"[, "facets"]}`.

    `version`: the catalogue version, where this session has read it already (its read
    transaction still sees that version on SQLite)."""
    sqlite = is_sqlite(session)
    if version is None:
        version = catalogue_version(session)
    start = _relevance_start(cursor, offset) if sort == "relevance" else (offset or 0)
    plan = _plan(
        session, filters, sqlite=sqlite, rows=start + limit + 1, sort=sort, version=version
    )
    rows = _page_rows(
        session,
        filters,
        sort=sort,
        count=limit + 1,
        cursor=cursor,
        offset=offset,
        sqlite=sqlite,
        plan=plan,
        version=version,
    )
    next_cursor: str | None = None
    if len(rows) > limit:
        if sort == "relevance":
            next_cursor = cursors.encode_offset(sort, start + limit)
        else:
            last = rows[limit - 1]
            value = last[SORT_COLUMN_INDEX[sort.lstrip("-")]]
            next_cursor = cursors.encode_keyset(sort, value, last[0])
    total = CACHE.get(
        cache_key(session, version, "total", filters),
        lambda: count_articles(session, filters=filters, sqlite=sqlite),
    )
    page: dict[str, Any] = {
        "total": total,
        "limit": limit,
        "next_cursor": next_cursor,
        "items": [summary_from_row(row) for row in rows[:limit]],
    }
    if facets:
        page["facets"] = {
            name: _facet(session, version, name, filters, sqlite=sqlite)
            for name in dict.fromkeys(facets)
        }
    return page


def ranking_covers(
    session: Session,
    *,
    version: int,
    filters: ArticleFilters,
    cursor: cursors.Cursor | None,
    rows: int,
) -> bool:
    """Whether the ranked order of this search is kept for this version of the catalogue
    and holds the `rows` rows from the cursor on: then its page is a slice and a look-up."""
    expression = search_expression(filters, sqlite=is_sqlite(session))
    if expression is None:
        return False
    window_start = CACHE.peek(_window_key(session, version, expression), _UNKNOWN)
    if window_start is _UNKNOWN:
        return False
    ranked = CACHE.peek(_ranking_key(session, filters, version, window_start))
    if ranked is None:
        return False
    return window_start is None or _relevance_start(cursor, None) + rows <= len(ranked)


def counts_known(
    session: Session, *, version: int, filters: ArticleFilters, facets: Sequence[str]
) -> bool:
    """Whether the total and facets of a page of `filters` are cached for this version of
    the catalogue. Counting a new set of filters may read every article; with the counts
    known, a page (not a search) only walks or lists an index (see `_plan`)."""
    keys = [cache_key(session, version, "total", filters)]
    keys += [cache_key(session, version, "facet", name, filters) for name in facets]
    return all(CACHE.holds(key) for key in keys)


def _facet(
    session: Session, version: int, name: str, filters: ArticleFilters, *, sqlite: bool
) -> list[dict[str, Any]]:
    return CACHE.get(
        cache_key(session, version, "facet", name, filters),
        lambda: facet_counts(session, name=name, filters=filters, sqlite=sqlite),
    )


def iter_articles(
    session: Session, *, filters: ArticleFilters, sort: str, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Every matching ArticleSummary dict in `sort` order, fetched in keyset batches."""
    sqlite = is_sqlite(session)
    version = catalogue_version(session)
    plan = _plan(session, filters, sqlite=sqlite, rows=ITER_BATCH, sort=sort, version=version)
    remaining = limit
    after: cursors.Cursor | None = None
    offset = 0
    while remaining is None or remaining > 0:
        size = ITER_BATCH if remaining is None else min(ITER_BATCH, remaining)
        rows = _page_rows(
            session,
            filters,
            sort=sort,
            count=size,
            cursor=cursors.Cursor(sort=sort, offset=offset) if sort == "relevance" else after,
            offset=None,
            sqlite=sqlite,
            plan=plan,
            version=version,
        )
        offset += len(rows)
        if rows and sort != "relevance":
            last = rows[-1]
            after = cursors.Cursor(
                sort=sort, value=last[SORT_COLUMN_INDEX[sort.lstrip("-")]], id=last[0]
            )
        for row in rows:
            yield summary_from_row(row)
        if remaining is not None:
            remaining -= len(rows)
        if len(rows) < size:
            return
