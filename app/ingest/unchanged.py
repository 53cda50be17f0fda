"""Comparing the files with a SQLite catalogue through the standard library alone.

Re-ingesting a tree nobody touched is the commonest run, and it should cost little more
than looking at the files; importing SQLAlchemy and SQLModel alone takes longer than
comparing 10,000 files with what the catalogue holds. So where the catalogue is a SQLite
file that has stored files before, the run takes the writer's lock and compares the files
through `sqlite3` first. If every file is unchanged (and, with --prune, none is gone), it
finishes the run here; otherwise the regular run (`app.ingest.job`) goes on from the first
file that needs parsing, under the same lock, and this comparison keeps feeding it the
rest, so no file is looked at twice.

Only a catalogue the regular run would leave as it is qualifies: schema current, display
names fresh, every article index there, and in WAL mode, where this connection can look
files up while the regular run writes through its own.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import quote

from app.ingest.files import StoredSource
from app.ingest.plain_sql import (
    DUPLICATES,
    SOURCES_UNDER_ROOT,
    STORED_SOURCES,
    duplicate_entries,
    placeholders,
    sqlite_datetime,
    under_root,
)
from app.ingest.report import IngestReport
from app.schema_facts import BULK_INDEX_FILTER, BULK_INDEX_NAMES, SCHEMA_REVISION

BUSY_TIMEOUT_MS = 5000  # as app.db's connections
QUALIFIES = f"""
SELECT
    (SELECT group_concat(version_num) FROM alembic_version),
    (SELECT names_dirty FROM catalogue_state),
    EXISTS (SELECT 1 FROM source_file),
    (SELECT group_concat(name) FROM sqlite_master WHERE {BULK_INDEX_FILTER})
"""  # noqa: S608 (constants only)
# What the regular run writes when it changed nothing: the run's number and its time (the
# names are fresh, or the catalogue would not qualify).
FINISH = "UPDATE catalogue_state SET run_counter = run_counter + 1, last_ingest_at = :now"


class Comparison:
    """A connection to a SQLite catalogue for comparing its stored files with the tree."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.conn = connection

    @classmethod
    def open(cls, database: str) -> Comparison | None:
        """A comparison with the catalogue file at `database`; None where it does not qualify
        (the regular run then deals with it, and reports what is wrong)."""
        uri = f"file:{quote(os.path.abspath(database))}?mode=rw"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        except sqlite3.Error:
            return None
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # As app.db's writers: in WAL mode a commit then waits for no fsync.
            conn.execute("PRAGMA synchronous = NORMAL")
            (journal_mode,) = conn.execute("PRAGMA journal_mode").fetchone()
            revision, names_dirty, has_sources, indexes = conn.execute(QUALIFIES).fetchone()
        except sqlite3.Error:
            conn.close()
            return None
        qualifies = (
            journal_mode == "wal"
            and revision == SCHEMA_REVISION
            and names_dirty == 0
            and has_sources
            and BULK_INDEX_NAMES.issubset((indexes or "").split(","))
        )
        if not qualifies:
            conn.close()
            return None
        return cls(conn)

    def stored_sources(self, paths: list[str]) -> dict[str, StoredSource]:
        """What is stored of these files (see `app.ingest.files.file_tasks`)."""
        rows = self.conn.execute(STORED_SOURCES + placeholders(len(paths), "?"), paths)
        return {row[0]: StoredSource(*row[1:]) for row in rows}

    def anything_gone(self, roots: Sequence[str]) -> bool:
        """Whether a stored file under these (absolute) roots no longer exists."""
        for root in roots:
            # Streamed, not fetched: a million paths would cost a hundred MiB.
            rows = self.conn.execute(SOURCES_UNDER_ROOT, under_root(root))
            try:
                if not all(os.path.exists(path) for path, _ in rows):
                    return True
            finally:
                rows.close()
        return False

    def finish(self, report: IngestReport) -> None:
        """End a run that changed nothing, as the regular run would."""
        now = datetime.now(UTC).replace(tzinfo=None)
        self.conn.execute(FINISH, {"now": sqlite_datetime(now)})
        report.set_duplicates(duplicate_entries(self.conn.execute(DUPLICATES)))

    def close(self) -> None:
        self.conn.close()
