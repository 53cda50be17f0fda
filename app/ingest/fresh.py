"""A first load into a new SQLite catalogue, through the standard library's sqlite3.

The regular run (`app.ingest.job`) imports SQLAlchemy, SQLModel and Alembic, which on a
tree of a few hundred files costs more than parsing it. A catalogue that did not exist
holds nothing to compare, reconcile or prune, so its first load is inserts only: this
copies the schema template (`app.ingest.template`) into place and writes the same rows the
regular run would (tests compare the two catalogues), in the same batches and commits, as
a bulk load (`app.ingest.bulk`): the secondary indexes are dropped first and built once at
the end, and the display names are counted once, when everything is in.

Crash safety is the regular run's: each batch commits whole, and a run killed half way
leaves a catalogue the next (regular) run heals, building any missing index and counting
the names again (`names_dirty`).
"""

from __future__ import annotations

import gc
import os
import shutil
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple

from app.ingest.parsers import FirstLoad, Outcome
from app.ingest.plain_sql import (
    DUPLICATES,
    PROVIDER_SPELLINGS,
    TOPIC_SPELLINGS,
    duplicate_entries,
    most_common,
    sqlite_datetime,
    wal_autocheckpoint,
)
from app.ingest.rejection import IngestError
from app.ingest.report import IngestReport
from app.ingest.rows import (
    ARTICLE_INSERT,
    ARTICLE_UPDATE,
    DOCUMENT_VALUES,
    PUBLISHED_AT,
    SOURCE_VALUES,
    Prepared,
)
from app.ingest.template import ensure_template
from app.ingest.unchanged import BUSY_TIMEOUT_MS
from app.schema_facts import BULK_INDEX_FILTER

CACHE_PAGES_KIB = 65536  # as app.db


# The statements are built from the column names in app.ingest.rows, which the regular
# run's statements (app.ingest.sql) bind too; only values are ever bound.
def _insert(table: str, columns: Sequence[str], values: Sequence[str] | None = None) -> str:
    marks = ", ".join(values or ["?"] * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608


_SET = ", ".join(f"{name} = ?" for name in ARTICLE_UPDATE[:-1])
INSERT_ARTICLE = _insert("article", ARTICLE_INSERT)
UPDATE_ARTICLE = f"UPDATE article SET {_SET} WHERE pk = ?"  # noqa: S608
# The JSON comes as UTF-8 bytes: stored as text, as the regular run does (app.ingest.sql).
INSERT_DOCUMENT = _insert(
    "article_document",
    ("article_pk", *DOCUMENT_VALUES),
    ("?", "CAST(? AS TEXT)", "CAST(? AS TEXT)"),
)
INSERT_TOPIC = _insert("article_topic", ("article_pk", "topic_key", "name"))
INSERT_SEARCH = _insert("article_fts", ("rowid", "title", "excerpt"))
UPSERT_SOURCE = (
    _insert("source_file", SOURCE_VALUES)
    + " ON CONFLICT (path) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in SOURCE_VALUES[1:])
)
DELETE_DEPENDENTS = (
    "DELETE FROM article_document WHERE article_pk = ?",
    "DELETE FROM article_topic WHERE article_pk = ?",
    "DELETE FROM article_fts WHERE rowid = ?",
)
EXISTING = "SELECT id, pk, published_at, source_path FROM article WHERE id IN "
BULK_INDEXES = (
    f"SELECT name, sql FROM sqlite_master WHERE {BULK_INDEX_FILTER} "  # noqa: S608
    "AND sql IS NOT NULL ORDER BY name"
)
INSERT_TOPIC_NAME = _insert("topic", ("key", "name"))
NEXT_VERSION = "UPDATE catalogue_state SET version = version + 1"
NEXT_VERSION_NAMES_DIRTY = "UPDATE catalogue_state SET version = version + 1, names_dirty = 1"
INSERT_PROVIDER_NAME = _insert("provider", ("key", "name", "domain"))

Item = tuple[int, str, Prepared]  # an article's pk, its winning file's rel_path, its values


class _File(NamedTuple):
    """A parsed file, as the writer keeps it until its batch is written."""

    path: str
    rel_path: str
    size: int
    mtime_ns: int
    prepared: Prepared

    @property
    def rank(self) -> tuple[str, str]:
        """(published_at, rel_path): fixed-width text times sort as the times do."""
        return (self.prepared.article[PUBLISHED_AT], self.rel_path)


def load_new_catalogue(
    database: str,
    first_load: FirstLoad,
    report: IngestReport,
    *,
    batch_size: int,
    on_progress: Callable[[int], None],
) -> bool:
    """Create the catalogue at `database` and load what `first_load` parses into it.

    False, with nothing done, where the file exists by now or the template cannot be had:
    the regular run then takes over. The caller holds the writer's lock.
    """
    template = ensure_template()
    if template is None or not _copy_new(template, database):
        return False
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Off, unlike the regular run's connections: with foreign keys on, SQLite keeps a
        # statement journal for every row it inserts into a table that has one (a copy of
        # each page the row touches, to undo the row alone): 5 GiB of temporary files for
        # 100k files, seven times what the catalogue holds. Each batch writes an article
        # before the rows that refer to it, in one transaction, and tests check the result
        # (`PRAGMA foreign_key_check`) against the regular run's.
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA cache_size = -{CACHE_PAGES_KIB}")
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        conn.execute(wal_autocheckpoint(page_size))
        gc.freeze()  # what was imported since the parsers started is long-lived too
        with first_load.parsers as parsers:
            _Writer(conn, report).run(parsers.results(), batch_size, on_progress)
    finally:
        conn.close()
    return True


def _copy_new(template: os.PathLike[str], database: str) -> bool:
    """Put a copy of the template at `database`, unless a file is there (or appears) first."""
    directory = os.path.dirname(os.path.abspath(database))
    fd, scratch = tempfile.mkstemp(dir=directory, prefix=".newscat-new-", suffix=".db")
    os.close(fd)
    try:
        shutil.copyfile(template, scratch)
        os.link(scratch, database)  # atomic, and never over a file created meanwhile
    except OSError:  # there by now, or a file system without hard links
        return False
    finally:
        os.unlink(scratch)
    return True


def _utcnow() -> str:
    return sqlite_datetime(datetime.now(UTC).replace(tzinfo=None))


class _Writer:
    """One first load on one connection, run as `app.ingest.job` runs it."""

    def __init__(self, conn: sqlite3.Connection, report: IngestReport) -> None:
        self.conn = conn
        self.report = report
        self.next_pk = 1
        self.run_number = 0
        self.indexes: list[str] = []

    def run(
        self, results: Iterator[Outcome], batch_size: int, on_progress: Callable[[int], None]
    ) -> None:
        conn = self.conn
        with _transaction(conn):
            conn.execute("UPDATE catalogue_state SET run_counter = run_counter + 1")
            (self.run_number,) = conn.execute("SELECT run_counter FROM catalogue_state").fetchone()
        with _transaction(conn):
            for name, sql in conn.execute(BULK_INDEXES).fetchall():
                self.indexes.append(sql)
                conn.execute(f"DROP INDEX {name}")
        try:
            self._load(results, batch_size, on_progress)
        finally:  # what was committed stays: give it its indexes back
            if conn.in_transaction:  # a COMMIT that failed (a full disk) leaves it open
                conn.rollback()
            with _transaction(conn):
                for sql in self.indexes:
                    conn.execute(sql)
        self._finish()

    def _load(
        self, results: Iterator[Outcome], batch_size: int, on_progress: Callable[[int], None]
    ) -> None:
        batch: list[_File] = []
        counts = self.report.counts
        for task, outcome in results:
            on_progress(1)
            if isinstance(outcome, IngestError):
                self.report.reject(task.display, outcome)
                continue
            counts["new"] += 1
            batch.append(
                _File(task.path, task.rel_path, outcome.size, outcome.mtime_ns, outcome.prepared)
            )
            if len(batch) >= batch_size:
                self._apply(batch)
                batch.clear()
        if batch:
            self._apply(batch)

    def _apply(self, batch: Sequence[_File]) -> None:
        """Write one batch in one transaction, ranking files with the same URL as
        `app.ingest.load.Loader.apply` does: the greatest (published_at, rel_path) wins."""
        by_id: dict[str, list[_File]] = defaultdict(list)
        for file in batch:
            by_id[file.prepared.id].append(file)
        ids = list(by_id)
        existing = {
            row[0]: row[1:]
            for row in self.conn.execute(f"{EXISTING}({', '.join('?' * len(ids))})", ids)
        }
        new_rows: list[Item] = []
        replaced: list[Item] = []
        sources: list[tuple[Any, ...]] = []
        for article_id, group in by_id.items():
            best = max(group, key=lambda file: file.rank)
            current = existing.get(article_id)
            if current is None:
                pk = self.next_pk
                self.next_pk += 1
                new_rows.append((pk, best.rel_path, best.prepared))
            else:
                pk, published_at, source_path = current
                if best.rank >= (published_at, source_path):
                    replaced.append((pk, best.rel_path, best.prepared))
            sources.extend(
                (
                    file.path,
                    file.rel_path,
                    pk,
                    file.prepared.content_hash,
                    file.size,
                    file.mtime_ns,
                    file.prepared.article[PUBLISHED_AT],
                    self.run_number,
                )
                for file in group
            )
        now = _utcnow()
        conn = self.conn
        with _transaction(conn):
            conn.executemany(
                INSERT_ARTICLE, [(pk, *p.article, rel, now, now) for pk, rel, p in new_rows]
            )
            conn.executemany(
                UPDATE_ARTICLE, [(*p.article, rel, now, pk) for pk, rel, p in replaced]
            )
            for sql in DELETE_DEPENDENTS:
                conn.executemany(sql, [(pk,) for pk, _, _ in replaced])
            written = new_rows + replaced
            conn.executemany(INSERT_DOCUMENT, [(pk, *p.document) for pk, _, p in written])
            conn.executemany(
                INSERT_TOPIC, [(pk, key, name) for pk, _, p in written for key, name in p.topics]
            )
            conn.executemany(INSERT_SEARCH, [(pk, *p.search) for pk, _, p in written])
            conn.executemany(UPSERT_SOURCE, sources)
            conn.execute(NEXT_VERSION_NAMES_DIRTY if written else NEXT_VERSION)

    def _finish(self) -> None:
        """Count the display names and stamp the run (`Loader.finish_run`)."""
        conn = self.conn
        with _transaction(conn):
            (dirty,) = conn.execute("SELECT names_dirty FROM catalogue_state").fetchone()
            if dirty:
                conn.executemany(
                    INSERT_TOPIC_NAME, _names(conn.execute(TOPIC_SPELLINGS), domain=False)
                )
                conn.executemany(
                    INSERT_PROVIDER_NAME, _names(conn.execute(PROVIDER_SPELLINGS), domain=True)
                )
                conn.execute(NEXT_VERSION)
            conn.execute(
                "UPDATE catalogue_state SET names_dirty = 0, last_ingest_at = ?", (_utcnow(),)
            )
        self.report.set_duplicates(duplicate_entries(conn.execute(DUPLICATES)))


def _names(rows: Iterable[Any], *, domain: bool) -> list[tuple[str, ...]]:
    names = most_common(rows)
    return [(key, name, key) if domain else (key, name) for key, name in names.items()]


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on an error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
