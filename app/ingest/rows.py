"""Database-ready values for one record, computed in the parser workers.

Serialising JSON and building the search document cost as much as the inserts; doing
them where the file was parsed keeps the single writer process free for writing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
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
    prepared = Prepared(
        record=record,
        topics_json=_json(record.topics),
        image_json=_json(record.images[0]) if record.images else None,
        images_json=_json(record.images),
        related_json=_json(record.related),
        front_matter_json=_json(record.front_matter),
        topics=topics,
        search=search,
    )
    # The bulky parts now travel as JSON: do not send them to the writer twice.
    record.front_matter, record.related, record.images = {}, [], []
    return prepared


class Statement:
    """A statement compiled once and run through the driver's executemany.

    SQLAlchemy still writes the SQL; this only skips its per-row parameter processing,
    which dominated the writer's time. Values must already be in driver form.
    """

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = str(compiled)
        self.row_values: Callable[[dict[str, Any]], Any] | None = None
        if compiled.positional:  # qmark drivers take tuples in the statement's order
            order = list(compiled.positiontup or [])
            if len(order) == 1:
                self.row_values = lambda row: (row[order[0]],)
            else:
                self.row_values = itemgetter(*order)

    def run(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.row_values is None:
            conn.exec_driver_sql(self.sql, rows)
        else:
            conn.exec_driver_sql(self.sql, list(map(self.row_values, rows)))


def sqlite_datetime(value: datetime) -> str:
    """The text form SQLAlchemy's SQLite DateTime type stores (and so compares against)."""
    return value.isoformat(sep=" ", timespec="microseconds")
