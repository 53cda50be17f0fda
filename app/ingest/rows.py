"""Database-ready values for one record, computed in the parser workers.

Serialising JSON and building the search document cost as much as the inserts; doing
them where the file was parsed keeps the single writer process free for writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from app.ingest.record import ArticleRecord
from app.search import fts5_document, tsvector_literal


@dataclass(slots=True)
class Prepared:
    record: ArticleRecord
    topics_json: str
    image_json: str | None
    images_json: str
    related_json: str
    front_matter_json: str
    topics: list[tuple[str, str]]  # (lower-cased key, name) once per key
    search: tuple[str, ...]  # FTS5 (title, excerpt) or a one-item tsvector literal


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
    return Prepared(
        record=record,
        topics_json=_json(record.topics),
        image_json=_json(record.images[0]) if record.images else None,
        images_json=_json(record.images),
        related_json=_json(record.related),
        front_matter_json=_json(record.front_matter),
        topics=topics,
        search=search,
    )


class Statement:
    """A statement compiled once and run through the driver's executemany.

    SQLAlchemy still writes the SQL; this only skips its per-row parameter processing,
    which dominated the writer's time. Values must already be in driver form.
    """

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = str(compiled)
        self.order = list(compiled.positiontup or []) if compiled.positional else None

    def run(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.order is None:
            conn.exec_driver_sql(self.sql, rows)
        else:
            order = self.order
            conn.exec_driver_sql(self.sql, [tuple(row[k] for k in order) for row in rows])


def sqlite_datetime(value: datetime) -> str:
    """The text form SQLAlchemy's SQLite DateTime type stores (and so compares against)."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")
