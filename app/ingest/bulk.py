"""First loads into an empty SQLite catalogue build the secondary indexes once, at the end.

Keeping the article table's eight secondary indexes and article_topic's by topic current
row by row costs more than sorting each of them once, and their random-order inserts dirty
pages all over the file, which every commit then writes to the WAL and checkpoints again
(for a million files, a page of each such index for every file). So a run that starts on
an empty catalogue drops them, loads, and creates them again before it finishes.

Crash safety: the drop is committed like any other change, so a run killed during the
load leaves a consistent catalogue that only lacks those indexes (queries still answer,
more slowly). Every run therefore first creates whichever are missing, before it loads.
The unique indexes (an article's `id`, a topic row's key) are constraints and always stay.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, DropIndex

from app.models import ARTICLE, ARTICLE_TOPIC

BULK_INDEXES = tuple(
    sorted([*ARTICLE.indexes, *ARTICLE_TOPIC.indexes], key=lambda index: str(index.name))
)


def restore_indexes(conn: Connection) -> None:
    """Create any index a killed bulk load left out (a no-op when all exist)."""
    for index in BULK_INDEXES:
        conn.execute(CreateIndex(index, if_not_exists=True))


def drop_indexes(conn: Connection) -> None:
    for index in BULK_INDEXES:
        conn.execute(DropIndex(index, if_exists=True))
