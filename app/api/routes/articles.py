"""`/api/v1/articles`: list and search, one article, its related entries."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from app import query
from app.api.deps import (
    ArticleDep,
    ArticlePkDep,
    ListingDep,
    ListingQuery,
    SessionDep,
    query_parameters,
    request_session,
    run_query,
)
from app.schemas import ArticleDetail, ArticleSummary, Page, RelatedList, problem_responses

router = APIRouter(prefix="/api/v1", tags=["articles"])


def _json(body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


@router.get(
    "/articles",
    response_model=Page[ArticleSummary],
    responses=problem_responses(422),
    summary="List and search articles",
    openapi_extra=query_parameters(ListingQuery),
)
async def list_articles(request: Request, listing: ListingDep) -> Response:
    """List and search articles; pages by `cursor` (fast) or `offset`; `Link` has rel="next"."""
    filters, page = listing.filters, listing.page
    async with request_session(request) as session:  # not SessionDep: see request_session
        version: int | None = None  # read by `short` where it is asked; the page reuses it

        def short() -> bool:
            # A new ranking scores every match, a search in another order lists them, an
            # offset reads the rows it skips, and a new count may read every article: each
            # can take long enough to hold up other requests.
            nonlocal version
            searching = filters.search is not None
            if page.offset or (searching and page.sort != "relevance"):
                return False
            version = query.catalogue_version(session)
            if searching and not query.ranking_covers(
                session, version=version, filters=filters, cursor=page.cursor, rows=page.limit + 1
            ):
                return False
            return query.counts_known(session, version=version, filters=filters, facets=page.facets)

        def load() -> dict[str, Any]:
            return query.list_articles(
                session,
                filters=filters,
                sort=page.sort,
                limit=page.limit,
                cursor=page.cursor,
                offset=page.offset,
                facets=page.facets,
                version=version,
            )

        body = await run_query(session, load, short=short)
    headers = None
    if body["next_cursor"] is not None:
        # The next page keeps every other parameter; a cursor replaces any offset.
        next_url = request.url.remove_query_params(["offset", "cursor"]).include_query_params(
            cursor=body["next_cursor"]
        )
        headers = {"Link": f'<{next_url}>; rel="next"'}
    return _json(body, headers)


@router.get(
    "/articles/{id}",
    response_model=ArticleDetail,
    responses=problem_responses(404),
    summary="One article in full",
)
async def get_article(article: ArticleDep) -> Response:
    """One article in full, with its images, related entries and source files."""
    return _json(article)


@router.get(
    "/articles/{id}/related",
    response_model=RelatedList,
    responses=problem_responses(404),
    summary="An article's related entries",
)
def get_related(session: SessionDep, pk: ArticlePkDep) -> Response:
    """An article's related entries in file order: catalogued ones as ArticleSummary."""
    return _json({"items": query.related_articles(session, pk=pk)})
