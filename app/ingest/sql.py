"""Statements the writer runs per row, compiled once and fed tuples."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement, text
from sqlalchemy.sql.compiler import SQLCompiler

from app.ingest.rows import ARTICLE_INSERT, ARTICLE_UPDATE, DOCUMENT_VALUES, SOURCE_VALUES
from app.models import ARTICLE, ARTICLE_TOPIC, DOCUMENT, SOURCE


class Statement:
    """A statement compiled once and run through the driver's executemany.

    SQLAlchemy still writes the SQL; this only skips its per-row parameter processing,
    which dominated the writer's time. Rows are tuples of driver-ready values in the
    order of `columns`: qmark drivers (SQLite) take them as they are when that is the
    compiled order, others get them reordered or as dicts.
    """

    def __init__(self, statement: ClauseElement, dialect: Dialect, columns: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = str(compiled)
        self.columns = tuple(columns)
        self.convert: Any = None  # None: rows go to the driver unchanged
        if compiled.positional:
            order = list(compiled.positiontup or [])
            if sorted(order) != sorted(self.columns):
                raise ValueError(f"statement binds {order}, rows give {self.columns}")
            if tuple(order) != self.columns:
                index = [self.columns.index(name) for name in order]
                getter = itemgetter(*index)
                self.convert = (lambda row: (row[index[0]],)) if len(index) == 1 else getter
        else:
            names = self.columns
            self.convert = lambda row: dict(zip(names, row, strict=True))

    def run(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.convert is None:
            conn.exec_driver_sql(self.sql, rows)
        else:
            conn.exec_driver_sql(self.sql, list(map(self.convert, rows)))


def dialect_insert(table: Table, sqlite: bool) -> Any:
    """The dialect's INSERT, which can say ON CONFLICT. PostgreSQL's is imported only when
    used: importing it takes 60 ms, a tenth of a small ingest's start-up."""
    if sqlite:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert(table)


def writer_statements(conn: Connection) -> dict[str, Statement]:
    """Every per-row statement of the writer, by name, compiled for this connection."""
    sqlite = conn.dialect.name == "sqlite"
    search = (
        (
            text("INSERT INTO article_fts (rowid, title, excerpt) VALUES (:pk, :title, :excerpt)"),
            ("pk", "title", "excerpt"),
        )
        if sqlite
        else (
            text("INSERT INTO article_fts (pk, document) VALUES (:pk, CAST(:doc AS tsvector))"),
            ("pk", "doc"),
        )
    )
    upsert = dialect_insert(SOURCE, sqlite)
    by_pk = ("pk",)
    statements: dict[str, tuple[Any, tuple[str, ...]]] = {
        "article": (insert(ARTICLE), ARTICLE_INSERT),
        "article_update": (
            update(ARTICLE)
            .where(ARTICLE.c.pk == bindparam("b_pk"))
            .values({name: bindparam(name) for name in ARTICLE_UPDATE[:-1]}),
            ARTICLE_UPDATE,
        ),
        "document": (
            # The JSON comes as UTF-8 bytes, already the database's encoding: the cast stores
            # them as text without a round trip through a Python string (decoded in the
            # worker, encoded for the pipe, decoded here, encoded again to bind).
            text(
                "INSERT INTO article_document (article_pk, images, front_matter) "
                "VALUES (:article_pk, CAST(:images AS TEXT), CAST(:front_matter AS TEXT))"
            )
            if sqlite
            else insert(DOCUMENT),
            ("article_pk", *DOCUMENT_VALUES),
        ),
        "topic": (insert(ARTICLE_TOPIC), ("article_pk", "topic_key", "name")),
        "search": search,
        "document_delete": (
            delete(DOCUMENT).where(DOCUMENT.c.article_pk == bindparam("pk")),
            by_pk,
        ),
        "topic_delete": (
            delete(ARTICLE_TOPIC).where(ARTICLE_TOPIC.c.article_pk == bindparam("pk")),
            by_pk,
        ),
        "search_delete": (
            text(
                "DELETE FROM article_fts WHERE rowid = :pk"
                if sqlite
                else "DELETE FROM article_fts WHERE pk = :pk"
            ),
            by_pk,
        ),
        "source": (
            upsert.on_conflict_do_update(
                index_elements=[SOURCE.c.path],
                set_={name: upsert.excluded[name] for name in SOURCE_VALUES[1:]},
            ),
            SOURCE_VALUES,
        ),
    }
    return {
        name: Statement(statement, conn.dialect, columns)
        for name, (statement, columns) in statements.items()
    }
