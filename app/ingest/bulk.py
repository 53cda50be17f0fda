"""First loads into an empty SQLite catalogue build the article indexes once, at the end.

Keeping the article table's eight secondary indexes current row by row costs more than
sorting each of them once, and their random-order inserts dirty pages all over the file,
which every commit then writes to the WAL and checkpoints again. So a run that starts on
an empty catalogue drops them, loads, and creates them again before it finishes.

Crash safety: the drop is committed like any other change, so a run killed during the
load leaves a consistent catalogue that only lacks those indexes (queries still answer,
more slowly). Every run therefore first creates whichever are missing, before it loads.
The unique index on `id` is a constraint of the table and always stays.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, DropIndex

from app.models import ARTICLE

ARTICLE_INDEXES = tuple(sorted(ARTICLE.indexes, key=lambda index: str(index.name)))


def restore_indexes(conn: Connection) -> None:
    """Create any article index a killed bulk load left out (a no-op when all exist)."""
    for index in ARTICLE_INDEXES:
        conn.execute(CreateIndex(index, if_not_exists=True))


def drop_indexes(conn: Connection) -> None:
    for index in ARTICLE_INDEXES:
        conn.execute(DropIndex(index, if_exists=True))
