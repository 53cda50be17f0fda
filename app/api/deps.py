"""Dependencies shared by the routes: the session, list filters, sort and paging, and the
article an `{id}` names. Each value is checked by its own validator, so one 422 names every
bad parameter; checks across parameters (`from` after `to`, ...) follow once those pass."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache, partial
from typing import Annotated, Any, Literal, TypeVar, get_origin

from fastapi import Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, Field, ValidationError
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
    "Export",
    "ExportDep",
    "ExportQuery",
    "FilterQuery",
    "FiltersDep",
    "Listing",
    "ListingDep",
    "ListingQuery",
    "PageParams",
    "SessionDep",
    "get_article",
    "get_article_pk",
    "get_export",
    "get_filters",
    "get_listing",
    "get_session",
    "query_parameters",
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
    return Field(description=description, examples=[example], ge=INT64_MIN, le=INT64_MAX)


def _repeatable(description: str, example: list[str]) -> Any:
    # A list default (pydantic copies it for each request) documents a repeatable parameter.
    return Field(default=[], description=description, examples=[example])


class FilterQuery(BaseModel):
    """The filters of `/articles`, shared by feeds and exports, as query parameters."""

    q: Annotated[
        str | None,
        AfterValidator(check_q),
        Field(
            max_length=MAX_Q_LENGTH,
            description=(
                'Full-text search over title and excerpt: words are AND-ed, `"a phrase"`, '
                "`-word` excludes, `a OR b`, `word*` is a prefix. Case- and accent-insensitive, "
                "no stemming. At most 500 characters."
            ),
            examples=["facial recognition -police", '"power apps" OR powerapps'],
        ),
    ] = None
    topic: list[Text] = _repeatable(
        "Repeatable: articles with any of these topics (exact name, any case)",
        ["AI", "Computer Vision"],
    )
    exclude_topic: list[Text] = _repeatable(
        "Repeatable: articles with none of these topics", ["Sports"]
    )
    provider: list[Text] = _repeatable(
        "Repeatable: articles from any of these provider domains (any case)", ["microsoft.com"]
    )
    exclude_provider: list[Text] = _repeatable(
        "Repeatable: articles from none of these provider domains", ["example.com"]
    )
    from_: Annotated[
        Instant,
        Field(
            alias="from",
            description=(
                "Published at or after: a date (UTC midnight) or a datetime with a zone "
                "(`Z` or `+02:00`); a datetime without a zone is refused"
            ),
            examples=["2021-07-28", "2021-07-28T09:00:00+02:00"],
        ),
    ] = None
    to: Annotated[
        Instant,
        Field(
            description=(
                "Published at or before: a date covers that whole UTC day; or a datetime "
                "with a zone"
            ),
            examples=["2021-07-31", "2021-07-31T18:00:00Z"],
        ),
    ] = None
    min_quality: Annotated[int | None, _int64("Quality at least this", 50)] = None
    max_quality: Annotated[int | None, _int64("Quality at most this", 90)] = None
    min_heat: Annotated[int | None, _int64("Heat at least this (-1 means unknown)", 0)] = None
    max_heat: Annotated[int | None, _int64("Heat at most this", 100)] = None
    published: Annotated[
        bool | None,
        Field(description="`true` or `false`: the article's published state", examples=[True]),
    ] = None
    type_: Annotated[
        Text | None,
        Field(alias="type", description="Exact type", examples=["article", "video"]),
    ] = None
    category: Annotated[Text | None, Field(description="Exact category", examples=["news"])] = None
    url: Annotated[
        Text | None,
        Field(
            description="The article with this canonical URL (`webUrl`, else `originalUrl`)",
            examples=["https://powerapps.microsoft.com/en-us/blog/"],
        ),
    ] = None
    include_removed: Annotated[
        bool,
        Field(description="`true` to include articles marked removed", examples=[False]),
    ] = False


class SortQuery(BaseModel):
    sort: Annotated[
        SortKey | None,
        Field(
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
    ] = None


class PageQuery(BaseModel):
    limit: Annotated[
        int, Field(ge=1, le=MAX_LIMIT, description="Items per page, 1 to 100", examples=[20])
    ] = DEFAULT_LIMIT
    cursor: Annotated[
        str | None,
        Field(
            description="Opaque: the previous page's `next_cursor` (same sort)",
            examples=[
                "eyJzIjoiLXB1Ymxpc2hlZF9hdCIsInYiOiIyMDIxLTA3LTI4VDEyOjM5OjAwIiwiaSI6IjAwIn0"
            ],
        ),
    ] = None
    offset: Annotated[
        int | None,
        Field(
            ge=0,
            le=MAX_OFFSET,
            description="Rows to skip, 0 to 10,000, for page-number UIs (not with `cursor`)",
            examples=[40],
        ),
    ] = None
    facet: list[FacetName] = Field(
        default=[],
        description="Repeatable: count the whole filtered set by these fields (top 50)",
        examples=[["topic", "provider"]],
    )


class ExportQuery(SortQuery, FilterQuery):
    """`/export.*`: the filters and an order."""


class ListingQuery(PageQuery, SortQuery, FilterQuery):
    """`/articles`: the filters, an order, paging and facets."""


QueryModel = TypeVar("QueryModel", bound=BaseModel)


@cache
def _query_fields(model: type[BaseModel]) -> tuple[tuple[str, bool], ...]:
    """(name in the query string, repeatable) of each of the model's parameters."""
    return tuple(
        (field.alias or name, get_origin(field.annotation) is list)
        for name, field in model.model_fields.items()
    )


def _validated(request: Request, model: type[QueryModel]) -> QueryModel:
    """The request's query parameters as `model`, validated in one go; a 422 names each bad
    one, as FastAPI's own checks do. Parameters declared one by one cost FastAPI about
    30 microseconds each per request, a quarter of the event loop's time on the newest
    page on SQLite (py-spy, 21 parameters): the routes of
    `/articles` and what shares its filters read theirs here, and document them with
    `query_parameters`."""
    received = request.query_params
    values: dict[str, Any] = {}
    for name, repeatable in _query_fields(model):
        if repeatable:
            if items := received.getlist(name):
                values[name] = items
        elif (value := received.get(name)) is not None:
            values[name] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


def query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting `model`'s fields as query parameters, in the shape
    FastAPI gives parameters it validates itself."""
    schema = model.model_json_schema(by_alias=True)
    assert "$defs" not in schema, "a query parameter's type must be documented inline"
    required = set(schema.get("required", ()))
    parameters = [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": field,
            "description": field["description"],
        }
        for name, field in schema["properties"].items()
    ]
    return {"parameters": parameters}


def _filters(request: Request, params: FilterQuery, errors: _Errors) -> ArticleFilters:
    """Checks across the filter parameters, each already valid on its own."""
    errors.once(request, FILTER_SINGLES)
    q = params.q
    search = parse_query(q) if q is not None and q.strip() else None
    start = parse_instant(params.from_, end=False) if params.from_ is not None else None
    before = parse_instant(params.to, end=True) if params.to is not None else None
    if start is not None and before is not None and start >= before:
        errors.add("from", "`from` is later than `to`")
    quality = (params.min_quality, params.max_quality, "quality")
    heat = (params.min_heat, params.max_heat, "heat")
    for low, high, name in (quality, heat):
        if low is not None and high is not None and low > high:
            errors.add(f"min_{name}", f"`min_{name}` is greater than `max_{name}`")
    return ArticleFilters(
        search=search,
        topics=tuple(params.topic),
        exclude_topics=tuple(params.exclude_topic),
        providers=tuple(params.provider),
        exclude_providers=tuple(params.exclude_provider),
        published_from=start,
        published_before=before,
        min_quality=params.min_quality,
        max_quality=params.max_quality,
        min_heat=params.min_heat,
        max_heat=params.max_heat,
        published=params.published,
        type=params.type_,
        category=params.category,
        url=params.url.strip() if params.url is not None else None,
        include_removed=params.include_removed,
    )


def _sort(request: Request, params: SortQuery, errors: _Errors, *, searching: bool) -> str:
    """The sort key: relevance needs something to be relevant to (`searching`: the filters
    carry a search)."""
    errors.once(request, ("sort",))
    if params.sort == "relevance" and not searching:
        errors.add("sort", "`relevance` needs a `q` to rank by")
    if params.sort is None:
        return "relevance" if searching else "-published_at"
    return params.sort


@dataclass(frozen=True, slots=True)
class PageParams:
    sort: str
    limit: int
    cursor: cursors.Cursor | None
    offset: int | None
    facets: tuple[str, ...]


def _page(request: Request, params: PageQuery, sort: str, errors: _Errors) -> PageParams:
    errors.once(request, ("limit", "cursor", "offset"))
    decoded = None
    if params.cursor is not None:
        if params.offset is not None:
            errors.add("cursor", "give either `cursor` or `offset`, not both")
        else:
            try:
                decoded = cursors.decode(params.cursor, sort=sort)
            except cursors.CursorError as exc:
                errors.add("cursor", str(exc))
    return PageParams(
        sort=sort,
        limit=params.limit,
        cursor=decoded,
        offset=params.offset,
        facets=tuple(dict.fromkeys(params.facet)),
    )


async def get_filters(request: Request) -> ArticleFilters:
    """The filters of `/articles`, for the routes sharing them (`query_parameters(FilterQuery)`
    documents them)."""
    errors = _Errors()
    filters = _filters(request, _validated(request, FilterQuery), errors)
    errors.raise_any()
    return filters


FiltersDep = Annotated[ArticleFilters, Depends(get_filters)]


@dataclass(frozen=True, slots=True)
class Export:
    filters: ArticleFilters
    sort: str


async def get_export(request: Request) -> Export:
    """The filters and order of an export (`query_parameters(ExportQuery)`)."""
    params = _validated(request, ExportQuery)
    errors = _Errors()
    filters = _filters(request, params, errors)
    sort = _sort(request, params, errors, searching=filters.search is not None)
    export = Export(filters, sort)
    errors.raise_any()
    return export


ExportDep = Annotated[Export, Depends(get_export)]


@dataclass(frozen=True, slots=True)
class Listing:
    filters: ArticleFilters
    page: PageParams


async def get_listing(request: Request) -> Listing:
    """The filters, order, paging and facets of `/articles` (`query_parameters(ListingQuery)`)."""
    params = _validated(request, ListingQuery)
    errors = _Errors()
    filters = _filters(request, params, errors)
    sort = _sort(request, params, errors, searching=filters.search is not None)
    page = _page(request, params, sort, errors)
    errors.raise_any()
    return Listing(filters, page)


ListingDep = Annotated[Listing, Depends(get_listing)]


def refuse_repeats(*names: str) -> Callable[[Request], Awaitable[None]]:
    """A dependency refusing these single-valued parameters when given more than once, for
    routes whose parameters are not declared here (`dependencies=[Depends(...)]`)."""

    async def check(request: Request) -> None:
        errors = _Errors()
        errors.once(request, names)
        errors.raise_any()

    return check


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
