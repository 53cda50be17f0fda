"""One article: its full detail and its related entries, each from statements built once."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import JSON, Select, bindparam, func, select
from sqlalchemy.orm import Session

from app.entries import related_entries
from app.models import ARTICLE, DOCUMENT, SOURCE
from app.query.filters import SUMMARY_COLUMNS, A, article_id, is_sqlite, summary_from_row
from app.schemas import iso_z

# One article's statements are built once: building one costs more than running it.
ARTICLE_PK = select(A.pk).where(A.id == bindparam("article_id"))
FRONT_MATTER = select(DOCUMENT.c.front_matter).where(DOCUMENT.c.article_pk == bindparam("pk"))
RELATED_ROWS = select(*SUMMARY_COLUMNS).where(A.id.in_(bindparam("ids", expanding=True)))


def article_pk(session: Session, *, article_id: str) -> int | None:
    """The internal key of the article with this public id, or None."""
    return session.execute(ARTICLE_PK, {"article_id": article_id}).scalar()


def _catalogue_rows(session: Session, urls: Sequence[str | None]) -> dict[str, Any]:
    """Summary rows of the articles at these canonical URLs, by URL, in one query."""
    wanted = {u for u in urls if u}
    if not wanted:
        return {}
    ids = sorted({article_id(u) for u in wanted})
    return {row[1]: row for row in session.execute(RELATED_ROWS, {"ids": ids}) if row[1] in wanted}


def _with_id(entry: dict[str, Any], catalogue_id: str | None) -> dict[str, Any]:
    """A shaped related entry (app/entries.py, its URL already trimmed) with its catalogue id."""
    return {"id": catalogue_id, **entry}


@cache
def _detail_select(sqlite: bool) -> Select[Any]:
    # The source files' paths come along as one JSON array, saving a query per request.
    aggregate = func.json_group_array if sqlite else func.json_agg
    source_paths = (
        select(aggregate(SOURCE.c.rel_path, type_=JSON))
        .where(SOURCE.c.article_pk == A.pk)
        .scalar_subquery()
    )
    detail_columns = (
        A.original_url, A.amp_url, A.cdn_amp_url, A.featured_content, A.secured,
        A.ingested_at, A.updated_at, DOCUMENT.c.images, DOCUMENT.c.front_matter, source_paths,
    )  # fmt: skip
    return (
        select(*SUMMARY_COLUMNS, *detail_columns)
        .select_from(ARTICLE.outerjoin(DOCUMENT, DOCUMENT.c.article_pk == A.pk))
        .where(A.id == bindparam("article_id"))
    )


def article_detail(session: Session, *, article_id: str) -> dict[str, Any] | None:
    """The full ArticleDetail dict of the article with this public id, or None."""
    statement = _detail_select(is_sqlite(session))
    row = session.execute(statement, {"article_id": article_id}).one_or_none()
    if row is None:
        return None
    base = len(SUMMARY_COLUMNS)
    (
        original_url,
        amp_url,
        cdn_amp_url,
        featured,
        secured,
        ingested,
        updated,
        images,
        front_matter,
        paths,
    ) = row[base:]
    related = related_entries(front_matter)
    found = _catalogue_rows(session, [entry["url"] for entry in related])
    detail = summary_from_row(row)
    detail.update(
        original_url=original_url,
        amp_url=amp_url,
        cdn_amp_url=cdn_amp_url,
        images=images or [],
        related=[
            _with_id(entry, found[url][0] if (url := entry["url"]) in found else None)
            for entry in related
        ],
        featured_content=featured,
        secured=secured,
        source_paths=sorted(paths or []),
        ingested_at=iso_z(ingested),
        updated_at=iso_z(updated),
    )
    return detail


def related_articles(session: Session, *, pk: int) -> list[dict[str, Any]]:
    """The article's related entries in file order: summaries where catalogued, else as given."""
    related = related_entries(session.execute(FRONT_MATTER, {"pk": pk}).scalar())
    found = _catalogue_rows(session, [entry["url"] for entry in related])
    items = []
    for entry in related:
        row = found.get(entry["url"])
        if row is not None:
            items.append({**summary_from_row(row), "in_catalogue": True})
        else:
            items.append({**_with_id(entry, None), "in_catalogue": False})
    return items
