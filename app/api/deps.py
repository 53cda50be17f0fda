"""Dependencies shared by the routes: the session, list filters, sort and paging, and the
article an `{id}` names. Each value is checked by its own validator, so one 422 names every
bad parameter; checks across parameters (`from` after `to`, ...) follow once those pass."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import cursor as cursors
from app import query
from app.api.values import Instant, Text, check_q, parse_instant
from app.query import ArticleFilters
from app.search import parse_query

__all__ = [
    "ArticleDep",
    "ArticleFilters",
    "ArticlePkDep",
    "FiltersDep",
    "PageDep",
    "PageParams",
    "SessionDep",
    "SortDep",
    "get_article",
    "get_article_pk",
    "get_filters",
    "get_page",
    "get_session",
    "get_sort",
    "refuse_repeats",
    "request_session",
    "run_query",
]

T = TypeVar("T")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_Q_LENGTH = 500
MAX_OFFSET = 10_000
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
SortKey = Literal[
    "-published_at", "published_at", "-quality", "quality", "-heat", "heat", "relevance"
]
FacetName = Literal["topic", "provider", "type", "published", "year", "month"]
ID_PATTERN = re.compile(r"[0-9a-f]{16}")
FILTER_SINGLES = (
    "q", "from", "to", "min_quality", "max_quality", "min_heat", "max_heat", "published",
    "type", "category", "url", "include_removed",
)  # fmt: skip


async def run_query(
    session: Session, work: Callable[[], T], *, short: Callable[[], bool] | None = None
) -> T:
    """Run database work on the event loop when it is short and stays in this process
    (SQLite: a hop to a worker thread and back costs more, 0.4 ms here); `short`, asked on
    SQLite only, says whether it is (default: yes). Longer work, and every round trip to a
    server, goes to a worker thread so as not to hold up the loop."""
    if session.get_bind().dialect.name == "sqlite" and (short is None or short()):
        return work()
    return await run_in_threadpool(work)


@asynccontextmanager
async def request_session(request: Request) -> AsyncIterator[Session]:
    """A session for the request; it connects on first use, where its first query runs.

    Made on the event loop and closed there on SQLite (`run_query`), saving two thread hops
    a request. Closing returns the connection to the pool, which rolls it back. The hottest
    routes open theirs with this directly: as a generator dependency (`SessionDep`) it costs
    FastAPI an exit stack per request, a tenth of a detail's time on SQLite.
    """
    session = Session(request.app.state.engine)
    try:
        yield session
    finally:
        await run_query(session, session.close)


async def get_session(request: Request) -> AsyncIterator[Session]:
    async with request_session(request) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


class _Errors:
    """Parameter errors in the shape FastAPI's own validation produces."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, parameter: str, message: str) -> None:
        self.items.append(
            {"loc": ("query", parameter), "msg": message, "type": "value_error", "input": None}
        )

    def once(self, request: Request, names: Sequence[str]) -> None:
        """Refuse single-valued parameters given more than once: which one was meant?"""
        for name in names:
            if len(request.query_params.getlist(name)) > 1:
                self.add(name, f"give `{name}` once, not several times")

    def raise_any(self) -> None:
        if self.items:
            raise RequestValidationError(self.items)


def _int64(description: str, example: int) -> Any:
    return Query(description=description, examples=[example], ge=INT64_MIN, le=INT64_MAX)


async def get_filters(
    request: Request,
    q: Annotated[
        str | None,
        AfterValidator(check_q),
        Query(
            max_length=MAX_Q_LENGTH,
            description=(
                'Full-text search over title and excerpt: words are AND-ed, `"a phrase"`, '
                "`-word` excludes, `a OR b`, `word*` is a prefix. Case- and accent-insensitive, "
                "no stemming. At most 500 characters."
            ),
            examples=["facial recognition -police", '"power apps" OR powerapps'],
        ),
    ] = None,
    topic: Annotated[
        list[Text],
        Query(
            description="Repeatable: articles with any of these topics (exact name, any case)",
            examples=[["AI", "Computer Vision"]],
        ),
    ] = [],  # noqa: B006  (FastAPI copies defaults; a list is how it documents repeats)
    exclude_topic: Annotated[
        list[Text],
        Query(description="Repeatable: articles with none of these topics", examples=[["Sports"]]),
    ] = [],  # noqa: B006
    provider: Annotated[
        list[Text],
        Query(
            description="Repeatable: articles from any of these provider domains (any case)",
            examples=[["microsoft.com"]],
        ),
    ] = [],  # noqa: B006
    exclude_provider: Annotated[
        list[Text],
        Query(
            description="Repeatable: articles from none of these provider domains",
            examples=[["example.com"]],
        ),
    ] = [],  # noqa: B006
    from_: Annotated[
        Instant,
        Query(
            alias="from",
            description=(
                "Published at or after: a date (UTC midnight) or a datetime with a zone "
                "(`Z` or `+02:00`); a datetime without a zone is refused"
            ),
            examples=["2021-07-28", "2021-07-28T09:00:00+02:00"],
        ),
    ] = None,
    to: Annotated[
        Instant,
        Query(
            description=(
                "Published at or before: a date covers that whole UTC day; or a datetime "
                "with a zone"
            ),
            examples=["2021-07-31", "2021-07-31T18:00:00Z"],
        ),
    ] = None,
    min_quality: Annotated[int | None, _int64("Quality at least this", 50)] = None,
    max_quality: Annotated[int | None, _int64("Quality at most this", 90)] = None,
    min_heat: Annotated[int | None, _int64("Heat at least this (-1 means unknown)", 0)] = None,
    max_heat: Annotated[int | None, _int64("Heat at most this", 100)] = None,
    published: Annotated[
        bool | None,
        Query(description="`true` or `false`: the article's published state", examples=[True]),
    ] = None,
    type_: Annotated[
        Text | None,
        Query(alias="type", description="Exact type", examples=["article", "video"]),
    ] = None,
    category: Annotated[Text | None, Query(description="Exact category", examples=["news"])] = None,
    url: Annotated[
        Text | None,
        Query(
            description="The article with this canonical URL (`webUrl`, else `originalUrl`)",
            examples=["https://powerapps.microsoft.com/en-us/blog/"],
        ),
    ] = None,
    include_removed: Annotated[
        bool,
        Query(description="`true` to include articles marked removed", examples=[False]),
    ] = False,
) -> ArticleFilters:
    """The filters of `/articles`, shared by feeds and exports."""
    # Each value was checked on its own by its validator; what is left spans parameters.
    errors = _Errors()
    errors.once(request, FILTER_SINGLES)
    search = parse_query(q) if q is not None and q.strip() else None
    start = parse_instant(from_, end=False) if from_ is not None else None
    before = parse_instant(to, end=True) if to is not None else None
    if start is not None and before is not None and start >= before:
        errors.add("from", "`from` is later than `to`")
    for low, high, name in ((min_quality, max_quality, "quality"), (min_heat, max_heat, "heat")):
        if low is not None and high is not None and low > high:
            errors.add(f"min_{name}", f"`min_{name}` is greater than `max_{name}`")
    errors.raise_any()
    return ArticleFilters(
        search=search,
        topics=tuple(topic),
        exclude_topics=tuple(exclude_topic),
        providers=tuple(provider),
        exclude_providers=tuple(exclude_provider),
        published_from=start,
        published_before=before,
        min_quality=min_quality,
        max_quality=max_quality,
        min_heat=min_heat,
        max_heat=max_heat,
        published=published,
        type=type_,
        category=category,
        url=url.strip() if url is not None else None,
        include_removed=include_removed,
    )


FiltersDep = Annotated[ArticleFilters, Depends(get_filters)]


def refuse_repeats(*names: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing these single-valued parameters when given more than once, for
    routes whose parameters are not declared here (`dependencies=[Depends(...)]`)."""

    async def check(request: Request) -> None:
        errors = _Errors()
        errors.once(request, names)
        errors.raise_any()

    return check


async def get_sort(
    request: Request,
    sort: Annotated[
        SortKey | None,
        Query(
            description=(
                "Order: `-published_at` (default), `published_at`, `-quality`, `quality`, "
                "`-heat`, `heat`, or `relevance` (default with `q`, which it needs). Ties go by "
                "`id` in the same direction; missing quality/heat sort last either way. "
                "`relevance` ranks the best matches first (bm25 on SQLite, ts_rank on "
                "PostgreSQL); when the words match more than 1,000 articles, the 1,000 most "
                "recently added come first, each group best first."
            ),
            examples=["-published_at"],
        ),
    ] = None,
) -> str:
    """The validated sort key: relevance needs something to be relevant to."""
    # `q` is read raw rather than through FiltersDep: a dependency used twice in one request
    # is validated twice, and would report each bad parameter twice. A non-blank `q` is
    # exactly when the filters carry a search (a bad one is get_filters' 422).
    q = request.query_params.get("q")
    searching = q is not None and bool(q.strip())
    errors = _Errors()
    errors.once(request, ("sort",))
    if sort == "relevance" and not searching:
        errors.add("sort", "`relevance` needs a `q` to rank by")
    errors.raise_any()
    if sort is None:
        return "relevance" if searching else "-published_at"
    return sort


SortDep = Annotated[str, Depends(get_sort)]


@dataclass(frozen=True, slots=True)
class PageParams:
    sort: str
    limit: int
    cursor: cursors.Cursor | None
    offset: int | None
    facets: tuple[str, ...]


async def get_page(
    request: Request,
    sort: SortDep,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_LIMIT, description="Items per page, 1 to 100", examples=[20]),
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            description="Opaque: the previous page's `next_cursor` (same sort)",
            examples=[
                "eyJzIjoiLXB1Ymxpc2hlZF9hdCIsInYiOiIyMDIxLTA3LTI4VDEyOjM5OjAwIiwiaSI6IjAwIn0"
            ],
        ),
    ] = None,
    offset: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_OFFSET,
            description="Rows to skip, 0 to 10,000, for page-number UIs (not with `cursor`)",
            examples=[40],
        ),
    ] = None,
    facet: Annotated[
        list[FacetName],
        Query(
            description="Repeatable: count the whole filtered set by these fields (top 50)",
            examples=[["topic", "provider"]],
        ),
    ] = [],  # noqa: B006
) -> PageParams:
    """Paging and facets of `/articles`."""
    errors = _Errors()
    errors.once(request, ("limit", "cursor", "offset"))
    decoded = None
    if cursor is not None:
        if offset is not None:
            errors.add("cursor", "give either `cursor` or `offset`, not both")
        else:
            try:
                decoded = cursors.decode(cursor, sort=sort)
            except cursors.CursorError as exc:
                errors.add("cursor", str(exc))
    errors.raise_any()
    return PageParams(
        sort=sort, limit=limit, cursor=decoded, offset=offset, facets=tuple(dict.fromkeys(facet))
    )


PageDep = Annotated[PageParams, Depends(get_page)]


NOT_FOUND = "No article has this id."
ArticleId = Annotated[
    str,
    Path(
        description="The article's id: 16 hex digits of SHA-256 of its canonical URL",
        examples=["b015dcdd5efe684a"],
    ),
]


def _found(value: T | None) -> T:
    if value is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    return value


def get_article_pk(session: SessionDep, id: ArticleId) -> int:
    """The article this `{id}` names, or a 404 (malformed ids are simply unknown)."""
    return _found(query.article_pk(session, article_id=id) if ID_PATTERN.fullmatch(id) else None)


ArticlePkDep = Annotated[int, Depends(get_article_pk)]


async def get_article(request: Request, id: ArticleId) -> dict[str, Any]:
    """The ArticleDetail dict of the article this `{id}` names, or a 404: looked up and
    loaded in one go (two index look-ups, about 0.15 ms on SQLite)."""
    if not ID_PATTERN.fullmatch(id):
        return _found(None)
    async with request_session(request) as session:
        load = partial(query.article_detail, session, article_id=id)
        return _found(await run_query(session, load))


ArticleDep = Annotated[dict[str, Any], Depends(get_article)]
