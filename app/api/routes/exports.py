"""Every article matching the `/articles` filters, streamed as CSV or NDJSON.

The generators are synchronous: Starlette runs each step in a worker thread, so the database
reads never block the event loop, and each step renders a whole batch of rows so that the
hop to a thread is paid once per batch, not once per row. Memory stays flat at any size.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from app import query
from app.api.deps import ExportDep, ExportQuery, SessionDep, query_parameters
from app.query import ArticleFilters

router = APIRouter(prefix="/api/v1", tags=["exports"])

ROWS_PER_CHUNK = 500
CSV_COLUMNS = (
    "id", "url", "title", "excerpt", "published_at", "quality", "heat", "published", "removed",
    "type", "category", "provider_name", "provider_domain", "topics", "image_url",
)  # fmt: skip
TOPIC_SEPARATOR = "|"
CSV_TYPE = "text/csv; charset=utf-8"
NDJSON_TYPE = "application/x-ndjson"


def csv_row(article: dict[str, Any]) -> list[Any]:
    """A summary flattened to CSV_COLUMNS; null is an empty field, booleans are true/false."""
    provider = article.get("provider") or {}
    image = article.get("image") or {}
    values = (
        article["id"],
        article["url"],
        article["title"],
        article.get("excerpt"),
        article["published_at"],
        article.get("quality"),
        article.get("heat"),
        article.get("published"),
        article.get("removed"),
        article.get("type"),
        article.get("category"),
        provider.get("name"),
        provider.get("domain"),
        TOPIC_SEPARATOR.join(article.get("topics") or ()),
        image.get("url"),
    )
    return ["" if v is None else str(v).lower() if isinstance(v, bool) else v for v in values]


def _batches(
    session: Session, filters: ArticleFilters, sort: str
) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for article in query.iter_articles(session, filters=filters, sort=sort):
        batch.append(article)
        if len(batch) >= ROWS_PER_CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def csv_chunks(session: Session, filters: ArticleFilters, sort: str) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue().encode()
    for batch in _batches(session, filters, sort):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(csv_row(article) for article in batch)
        yield buffer.getvalue().encode()


def ndjson_chunks(session: Session, filters: ArticleFilters, sort: str) -> Iterator[bytes]:
    for batch in _batches(session, filters, sort):
        yield b"".join(orjson.dumps(article) + b"\n" for article in batch)


def _download(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    summary="Export as CSV",
    openapi_extra=query_parameters(ExportQuery),
    responses={
        200: {
            "description": "A header row, then one row per article; `topics` joined by `|`",
            "content": {"text/csv": {"example": ",".join(CSV_COLUMNS) + "\r\n"}},
        }
    },
)
def export_csv(session: SessionDep, export: ExportDep) -> StreamingResponse:
    """Every article matching the filters as CSV (RFC 4180), streamed, with no page cap."""
    return StreamingResponse(
        csv_chunks(session, export.filters, export.sort),
        media_type=CSV_TYPE,
        headers=_download("newscat-articles.csv"),
    )


@router.get(
    "/export.ndjson",
    response_class=StreamingResponse,
    summary="Export as NDJSON",
    openapi_extra=query_parameters(ExportQuery),
    responses={
        200: {
            "description": "One ArticleSummary JSON object per line",
            "content": {NDJSON_TYPE: {}},
        }
    },
)
def export_ndjson(session: SessionDep, export: ExportDep) -> StreamingResponse:
    """Every article matching the filters as NDJSON (one ArticleSummary a line), streamed."""
    return StreamingResponse(
        ndjson_chunks(session, export.filters, export.sort),
        media_type=NDJSON_TYPE,
        headers=_download("newscat-articles.ndjson"),
    )
