"""Statements the writer runs per row, compiled once and fed tuples."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


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
