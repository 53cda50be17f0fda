"""Writing parsed articles into the catalogue: batched, transactional, order-independent.

Every batch is one transaction: an article, its topics, document, search row and source
files are written together or not at all, so a crash leaves the last committed batch.
Several files with the same canonical URL are one article; the winning file is the one
with the greatest rank `(published_at, rel_path)`, whatever order the files arrive in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, select, text, update
from sqlalchemy.engine import Connection

from app.ingest.bulk import drop_indexes, restore_indexes
from app.ingest.files import StoredSource
from app.ingest.names import refresh_names
from app.ingest.plain_sql import (
    DUPLICATES,
    SOURCES_UNDER_ROOT,
    STORED_SOURCES,
    duplicate_entries,
    placeholders,
    sqlite_datetime,
    under_root,
    wal_autocheckpoint,
)
from app.ingest.record import ArticleRecord
from app.ingest.rejection import IngestError
from app.ingest.rows import PUBLISHED_AT, Prepared, prepare
from app.ingest.sql import dialect_insert, writer_statements
from app.models import ARTICLE, PROVIDER, SOURCE, STATE, TOPIC

Rank = tuple[datetime, str]


@dataclass(slots=True)
class SourceInfo:
    """Where a parsed record came from."""

    path: str
    rel_path: str
    size: int
    mtime_ns: int


# Re-reads a file that is not in hand (a duplicate that becomes the winner).
Reparse = Callable[[str], ArticleRecord]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def rank(prepared: Prepared, rel_path: str) -> Rank:
    return (prepared.published_at, rel_path)


Item = tuple[int, "SourceInfo", Prepared]  # an article's pk, its winning file, its values


class Loader:
    """All the SQL the ingest job runs. One instance per run, on one connection."""

    def __init__(self, connection: Connection, reparse: Reparse) -> None:
        self.conn = connection
        self.reparse = reparse
        self.sqlite = connection.dialect.name == "sqlite"
        self.statements = writer_statements(connection)
        self.next_pk = (connection.execute(select(func.max(ARTICLE.c.pk))).scalar() or 0) + 1
        self.had_sources = connection.execute(select(SOURCE.c.path).limit(1)).first() is not None
        self.known_topics: set[str] = set(connection.execute(select(TOPIC.c.key)).scalars())
        self.known_providers: set[str] = set(connection.execute(select(PROVIDER.c.key)).scalars())

    # -- reading ---------------------------------------------------------------

    def stored_sources(self, paths: Sequence[str]) -> dict[str, StoredSource]:
        """What is stored of these files. Each path is asked for once a run (see `walk`), so
        on a first load, with no file stored when the run began, none can be there."""
        if not self.had_sources:
            return {}
        mark = "?" if self.sqlite else "%s"  # sqlite3's and psycopg's placeholders
        sql = STORED_SOURCES + placeholders(len(paths), mark)
        rows = self.conn.exec_driver_sql(sql, tuple(paths))
        return {row[0]: StoredSource(*row[1:]) for row in rows}

    def start_load(self, commit: Callable[[], None]) -> bool:
        """Before loading: heal the indexes, and drop them when bulk-loading (see bulk.py).

        Returns whether the load is a bulk load, which `end_bulk_load` must then finish.
        """
        if not self.sqlite:
            return False
        page_size = self.conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        self.conn.exec_driver_sql(wal_autocheckpoint(page_size))
        restore_indexes(self.conn)
        bulk = self.next_pk == 1  # no article yet
        if bulk:
            drop_indexes(self.conn)
        commit()
        return bulk

    def end_bulk_load(self, commit: Callable[[], None]) -> None:
        restore_indexes(self.conn)
        commit()

    def begin_run(self) -> int:
        self.conn.execute(update(STATE).values(run_counter=STATE.c.run_counter + 1))
        run = int(self.conn.execute(select(STATE.c.run_counter)).scalar_one())
        self.conn.commit()
        return run

    # -- writing ---------------------------------------------------------------

    def touch_sources(self, sources: Iterable[SourceInfo], run: int) -> None:
        """Files whose content is unchanged but whose size or mtime moved."""
        params = [
            {"b_path": s.path, "size": s.size, "mtime_ns": s.mtime_ns, "seen_run": run}
            for s in sources
        ]
        if params:
            self.conn.execute(
                update(SOURCE).where(SOURCE.c.path == bindparam("b_path")),
                params,
            )

    def apply(self, batch: Sequence[tuple[SourceInfo, Prepared]], run: int) -> None:
        """Write one batch of parsed files in the current transaction."""
        by_id: dict[str, list[tuple[SourceInfo, Prepared]]] = defaultdict(list)
        for source, prepared in batch:
            by_id[prepared.id].append((source, prepared))
        paths = [source.path for source, _ in batch]
        previous = (
            {
                row.path: row.article_pk
                for row in self.conn.execute(
                    select(SOURCE.c.path, SOURCE.c.article_pk).where(SOURCE.c.path.in_(paths))
                )
            }
            if self.had_sources  # as in `stored_sources`
            else {}
        )
        existing = {
            row.id: row
            for row in self.conn.execute(
                select(
                    ARTICLE.c.pk, ARTICLE.c.id, ARTICLE.c.published_at, ARTICLE.c.source_path
                ).where(ARTICLE.c.id.in_(list(by_id)))
            )
        }
        now = utcnow()
        new_rows: list[Item] = []
        replaced: list[Item] = []
        source_rows: list[tuple[Any, ...]] = []
        recheck: set[int] = set()
        for article_id, group in by_id.items():
            group.sort(key=lambda item: rank(item[1], item[0].rel_path), reverse=True)
            best_source, best = group[0]
            current = existing.get(article_id)
            if current is None:
                pk = self._allocate_pk()
                new_rows.append((pk, best_source, best))
            else:
                pk = current.pk
                current_rank: Rank = (current.published_at, current.source_path)
                group_paths = {source.rel_path for source, _ in group}
                if rank(best, best_source.rel_path) >= current_rank:
                    replaced.append((pk, best_source, best))
                elif current.source_path in group_paths:
                    # The winning file changed and now ranks lower: another may win.
                    recheck.add(pk)
            for source, prepared in group:
                old_pk = previous.get(source.path)
                if old_pk is not None and old_pk != pk:
                    recheck.add(old_pk)  # the file's URL changed; its old article lost it
                source_rows.append(
                    (
                        source.path,
                        source.rel_path,
                        pk,
                        prepared.content_hash,
                        source.size,
                        source.mtime_ns,
                        prepared.article[PUBLISHED_AT],
                        run,
                    )
                )
        self._insert_articles(new_rows, now)
        self._replace_articles(replaced, now)
        self.statements["source"].run(self.conn, source_rows)
        for pk in recheck:
            self.reconcile(pk)
        self._bump_version()

    def reconcile(self, pk: int) -> None:
        """Make the best-ranked remaining source the article's content, or drop the article."""
        while True:
            sources = self.conn.execute(
                select(SOURCE.c.path, SOURCE.c.rel_path, SOURCE.c.published_at).where(
                    SOURCE.c.article_pk == pk
                )
            ).all()
            if not sources:
                self.conn.execute(delete(ARTICLE).where(ARTICLE.c.pk == pk))
                self._mark_names_dirty()
                return
            best = max(sources, key=lambda row: (row.published_at, row.rel_path))
            current = self.conn.execute(
                select(ARTICLE.c.source_path, ARTICLE.c.published_at).where(ARTICLE.c.pk == pk)
            ).one()
            if (current.published_at, current.source_path) == (best.published_at, best.rel_path):
                return
            try:
                record = self.reparse(best.path)
            except IngestError:
                # The file went bad or away since it was stored: it no longer counts.
                self.conn.execute(delete(SOURCE).where(SOURCE.c.path == best.path))
                continue
            stat_source = SourceInfo(best.path, best.rel_path, 0, 0)
            prepared = prepare(record, sqlite=self.sqlite)
            self._replace_articles([(pk, stat_source, prepared)], utcnow())
            self.conn.execute(
                update(SOURCE)
                .where(SOURCE.c.path == best.path)
                .values(content_hash=record.content_hash, published_at=record.published_at)
            )
            return

    def prune(
        self, roots: Sequence[str], exists: Callable[[str], bool], commit: Callable[[], None]
    ) -> int:
        """Forget source files under `roots` that are gone; drop articles left with none."""
        gone: list[tuple[str, int]] = []
        for root in roots:
            rows = self.conn.execute(text(SOURCES_UNDER_ROOT), under_root(root))
            gone.extend((row.path, row.article_pk) for row in rows if not exists(row.path))
        if not gone:
            return 0
        before = self.article_count()
        for start in range(0, len(gone), 500):
            chunk = gone[start : start + 500]
            self.conn.execute(delete(SOURCE).where(SOURCE.c.path.in_([p for p, _ in chunk])))
            for pk in {pk for _, pk in chunk}:
                self.reconcile(pk)
            self._bump_version()
            commit()
        return before - self.article_count()

    def article_count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(ARTICLE)).scalar_one())

    def finish_run(self, commit: Callable[[], None]) -> None:
        """Refresh display names if articles changed, and stamp the ingest time.

        The version moves only with the names: a run that changed nothing leaves every
        cached response and ETag of the catalogue valid (only `/stats` shows the stamp).
        """
        dirty = self.conn.execute(select(STATE.c.names_dirty)).scalar_one()
        if dirty:
            self.known_topics, self.known_providers = refresh_names(self.conn)
            self._bump_version()
        self.conn.execute(update(STATE).values(names_dirty=False, last_ingest_at=utcnow()))
        commit()

    def duplicates(self) -> list[dict[str, str]]:
        """Every canonical URL held by several files: which file won, which lost."""
        return duplicate_entries(self.conn.execute(text(DUPLICATES)))

    # -- internals -------------------------------------------------------------

    def _allocate_pk(self) -> int:
        # One writer at a time (the ingest lock), so a counter is safe and saves a
        # RETURNING round trip per article.
        pk = self.next_pk
        self.next_pk += 1
        return pk

    def _datetime(self, value: datetime) -> Any:
        return sqlite_datetime(value) if self.sqlite else value

    def _insert_articles(self, rows: Sequence[Item], now: datetime) -> None:
        if not rows:
            return
        stamp = self._datetime(now)
        self.statements["article"].run(
            self.conn, [(pk, *p.article, s.rel_path, stamp, stamp) for pk, s, p in rows]
        )
        self._insert_dependents(rows)

    def _replace_articles(self, rows: Sequence[Item], now: datetime) -> None:
        if not rows:
            return
        stamp = self._datetime(now)
        self.statements["article_update"].run(
            self.conn, [(*p.article, s.rel_path, stamp, pk) for pk, s, p in rows]
        )
        by_pk = [(pk,) for pk, _, _ in rows]
        for name in ("document_delete", "topic_delete", "search_delete"):
            self.statements[name].run(self.conn, by_pk)
        self._insert_dependents(rows)

    def _insert_dependents(self, rows: Sequence[Item]) -> None:
        self.statements["document"].run(self.conn, [(pk, *p.document) for pk, _, p in rows])
        self.statements["topic"].run(
            self.conn, [(pk, key, name) for pk, _, p in rows for key, name in p.topics]
        )
        self.statements["search"].run(self.conn, [(pk, *p.search) for pk, _, p in rows])
        self._register_names(rows)
        self._mark_names_dirty()

    def _register_names(self, rows: Sequence[Item]) -> None:
        new_topics: dict[str, str] = {}
        new_providers: dict[str, str] = {}
        known_topics, known_providers = self.known_topics, self.known_providers
        for _, _, prepared in rows:
            for key, name in prepared.topics:
                if key not in known_topics:
                    new_topics.setdefault(key, name)
            key, name = prepared.provider
            if key not in known_providers:
                new_providers.setdefault(key, name)
        if new_topics:
            self.conn.execute(
                self._insert_ignore(TOPIC),
                [{"key": key, "name": name} for key, name in new_topics.items()],
            )
            self.known_topics.update(new_topics)
        if new_providers:
            self.conn.execute(
                self._insert_ignore(PROVIDER),
                [{"key": key, "name": name, "domain": key} for key, name in new_providers.items()],
            )
            self.known_providers.update(new_providers)

    def _insert_ignore(self, table: Table) -> Any:
        return dialect_insert(table, self.sqlite).on_conflict_do_nothing()

    def _mark_names_dirty(self) -> None:
        self.conn.execute(update(STATE).values(names_dirty=True))

    def _bump_version(self) -> None:
        self.conn.execute(update(STATE).values(version=STATE.c.version + 1))
