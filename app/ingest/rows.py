"""Database-ready values for one record, computed in the parser workers.

Serialising JSON and building the search document cost as much as the inserts; doing
them where the file was parsed keeps the single writer process free for writing. The
values travel to the writer as plain tuples in column order: they pickle and unpickle
several times faster than dataclasses, and the writer only has to add the row's keys.

Importing this module must stay cheap (no SQLAlchemy): every parser worker does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import orjson

from app.ingest.plain_sql import sqlite_datetime
from app.ingest.record import ArticleRecord
from app.search import fts5_document, tsvector_literal

# The article columns the parsed file decides, in the order of `Prepared.article`; the
# writer adds pk, source_path and the two timestamps.
ARTICLE_VALUES = (
    "id",
    "url",
    "title",
    "excerpt",
    "published_at",
    "original_url",
    "amp_url",
    "cdn_amp_url",
    "category",
    "type",
    "quality",
    "heat",
    "published",
    "removed",
    "provider_name",
    "provider_domain",
    "provider_key",
    "topics",
    "image",
    "featured_content",
    "secured",
    "source_hash",
)
PUBLISHED_AT = ARTICLE_VALUES.index("published_at")
DOCUMENT_VALUES = ("images", "front_matter")
# The rows the writer builds from them, column by column.
ARTICLE_INSERT = ("pk", *ARTICLE_VALUES, "source_path", "ingested_at", "updated_at")
ARTICLE_UPDATE = (*ARTICLE_VALUES, "source_path", "updated_at", "b_pk")
SOURCE_VALUES = (
    "path",
    "rel_path",
    "article_pk",
    "content_hash",
    "size",
    "mtime_ns",
    "published_at",
    "seen_run",
)


class Prepared(NamedTuple):
    id: str
    content_hash: str
    article: tuple[Any, ...]  # ARTICLE_VALUES, in driver form
    # DOCUMENT_VALUES as JSON: UTF-8 bytes for SQLite (stored as text, see sql.py), else text
    document: tuple[bytes, bytes] | tuple[str, str]
    topics: tuple[tuple[str, str], ...]  # (lower-cased key, name) once per key
    provider: tuple[str, str]  # (lower-cased domain, name)
    search: tuple[str, ...]  # FTS5 (title, excerpt) or a one-item tsvector literal

    @property
    def published_at(self) -> datetime:
        """Naive UTC, for ranking duplicates. Read from the article's value (text for SQLite)
        rather than carried beside it: a datetime costs half the time it takes the writer to
        unpickle a prepared file."""
        value = self.article[PUBLISHED_AT]
        return datetime.fromisoformat(value) if isinstance(value, str) else value


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def prepare(record: ArticleRecord, *, sqlite: bool) -> Prepared:
    topics: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name in record.topics:
        key = name.strip().lower()
        if key and key not in seen:
            seen.add(key)
            topics.append((key, name.strip()))
    search: tuple[str, ...] = (
        fts5_document(record.title, record.excerpt)
        if sqlite
        else (tsvector_literal(record.title, record.excerpt),)
    )
    provider_key = record.provider_domain.lower()
    article = (
        record.id,
        record.url,
        record.title,
        record.excerpt,
        sqlite_datetime(record.published_at) if sqlite else record.published_at,
        record.original_url,
        record.amp_url,
        record.cdn_amp_url,
        record.category,
        record.type,
        record.quality,
        record.heat,
        record.published,
        record.removed,
        record.provider_name,
        record.provider_domain,
        provider_key,
        _json(record.topics),
        _json(record.images[0]) if record.images else None,
        record.featured_content,
        record.secured,
        record.content_hash,
    )
    document = (
        (orjson.dumps(record.images), orjson.dumps(record.front_matter))
        if sqlite
        else (_json(record.images), _json(record.front_matter))
    )
    return Prepared(
        id=record.id,
        content_hash=record.content_hash,
        article=article,
        document=document,
        topics=tuple(topics),
        provider=(provider_key, record.provider_name),
        search=search,
    )
