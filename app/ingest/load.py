"""Writing parsed articles into the catalogue: batched, transactional, order-independent.

Every batch is one transaction: an article, its topics, document, search row and source
files are written together or not at all, so a crash leaves the last committed batch.
Several files with the same canonical URL are one article; the winning file is the one
with the greatest rank `(published_at, rel_path)`, whatever order the files arrive in.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.sql import text

from app.ingest.record import ArticleRecord, IngestError
from app.models import (
    Article,
    ArticleDocument,
    ArticleTopic,
    CatalogueState,
    Provider,
    SourceFile,
    Topic,
)
from app.search import fts5_document, tsvector_literal

ARTICLE: Table = Article.__table__  # type: ignore[attr-defined]
DOCUMENT: Table = ArticleDocument.__table__  # type: ignore[attr-defined]
ARTICLE_TOPIC: Table = ArticleTopic.__table__  # type: ignore[attr-defined]
TOPIC: Table = Topic.__table__  # type: ignore[attr-defined]
PROVIDER: Table = Provider.__table__  # type: ignore[attr-defined]
SOURCE: Table = SourceFile.__table__  # type: ignore[attr-defined]
STATE: Table = CatalogueState.__table__  # type: ignore[attr-defined]

Rank = tuple[datetime, str]


@dataclass(slots=True)
class SourceInfo:
    """Where a parsed record came from."""

    path: str
    rel_path: str
    size: int
    mtime_ns: int


@dataclass(slots=True)
class StoredSource:
    size: int
    mtime_ns: int
    content_hash: str
    article_pk: int


# Re-reads a file that is not in hand (a duplicate that becomes the winner).
Reparse = Callable[[str], ArticleRecord]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def rank(record: ArticleRecord, rel_path: str) -> Rank:
    return (record.published_at, rel_path)


class Loader:
    """All the SQL the ingest job runs. One instance per run, on one connection."""

    def __init__(self, connection: Connection, reparse: Reparse) -> None:
        self.conn = connection
        self.reparse = reparse
        self.sqlite = connection.dialect.name == "sqlite"
        self.next_pk = (connection.execute(select(func.max(ARTICLE.c.pk))).scalar() or 0) + 1
        self.known_topics: set[str] = set(connection.execute(select(TOPIC.c.key)).scalars())
        self.known_providers: set[str] = set(connection.execute(select(PROVIDER.c.key)).scalars())

    # -- reading ---------------------------------------------------------------

    def stored_sources(self, paths: Sequence[str]) -> dict[str, StoredSource]:
        rows = self.conn.execute(
            select(
                SOURCE.c.path,
                SOURCE.c.size,
                SOURCE.c.mtime_ns,
                SOURCE.c.content_hash,
                SOURCE.c.article_pk,
            ).where(SOURCE.c.path.in_(paths))
        )
        return {row[0]: StoredSource(*row[1:]) for row in rows}

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

    def apply(self, batch: Sequence[tuple[SourceInfo, ArticleRecord]], run: int) -> None:
        """Write one batch of parsed files in the current transaction."""
        by_id: dict[str, list[tuple[SourceInfo, ArticleRecord]]] = defaultdict(list)
        for source, record in batch:
            by_id[record.id].append((source, record))
        paths = [source.path for source, _ in batch]
        previous = {
            row.path: row.article_pk
            for row in self.conn.execute(
                select(SOURCE.c.path, SOURCE.c.article_pk).where(SOURCE.c.path.in_(paths))
            )
        }
        existing = {
            row.id: row
            for row in self.conn.execute(
                select(
                    ARTICLE.c.pk, ARTICLE.c.id, ARTICLE.c.published_at, ARTICLE.c.source_path
                ).where(ARTICLE.c.id.in_(list(by_id)))
            )
        }
        now = utcnow()
        new_rows: list[tuple[int, SourceInfo, ArticleRecord]] = []
        replaced: list[tuple[int, SourceInfo, ArticleRecord]] = []
        source_rows: list[dict[str, Any]] = []
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
            for source, record in group:
                old_pk = previous.get(source.path)
                if old_pk is not None and old_pk != pk:
                    recheck.add(old_pk)  # the file's URL changed; its old article lost it
                source_rows.append(
                    {
                        "path": source.path,
                        "rel_path": source.rel_path,
                        "article_pk": pk,
                        "content_hash": record.content_hash,
                        "size": source.size,
                        "mtime_ns": source.mtime_ns,
                        "published_at": record.published_at,
                        "seen_run": run,
                    }
                )
        self._insert_articles(new_rows, now)
        self._replace_articles(replaced, now)
        self._upsert_sources(source_rows)
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
            self._replace_articles([(pk, stat_source, record)], utcnow())
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
            prefix = root.rstrip("/") + "/"
            rows = self.conn.execute(
                select(SOURCE.c.path, SOURCE.c.article_pk).where(
                    (SOURCE.c.path == root) | (func.substr(SOURCE.c.path, 1, len(prefix)) == prefix)
                )
            )
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
        """Refresh display names if articles changed, and stamp the ingest time."""
        dirty = self.conn.execute(select(STATE.c.names_dirty)).scalar_one()
        if dirty:
            self._refresh_names()
        self.conn.execute(update(STATE).values(names_dirty=False, last_ingest_at=utcnow()))
        self._bump_version()
        commit()

    def duplicates(self) -> list[dict[str, str]]:
        """Every canonical URL held by several files: which file won, which lost."""
        groups = (
            select(SOURCE.c.article_pk)
            .group_by(SOURCE.c.article_pk)
            .having(func.count() > 1)
            .subquery()
        )
        rows = self.conn.execute(
            select(ARTICLE.c.url, ARTICLE.c.source_path, SOURCE.c.rel_path)
            .join(SOURCE, SOURCE.c.article_pk == ARTICLE.c.pk)
            .where(ARTICLE.c.pk.in_(select(groups.c.article_pk)))
            .order_by(ARTICLE.c.url, SOURCE.c.rel_path)
        )
        return [
            {"url": row.url, "kept": row.source_path, "dropped": row.rel_path}
            for row in rows
            if row.rel_path != row.source_path
        ]

    # -- internals -------------------------------------------------------------

    def _allocate_pk(self) -> int:
        # One writer at a time (the ingest lock), so a counter is safe and saves a
        # RETURNING round trip per article.
        pk = self.next_pk
        self.next_pk += 1
        return pk

    def _article_values(
        self, pk: int, source: SourceInfo, record: ArticleRecord, now: datetime
    ) -> dict[str, Any]:
        return {
            "pk": pk,
            "id": record.id,
            "url": record.url,
            "title": record.title,
            "excerpt": record.excerpt,
            "published_at": record.published_at,
            "original_url": record.original_url,
            "amp_url": record.amp_url,
            "cdn_amp_url": record.cdn_amp_url,
            "category": record.category,
            "type": record.type,
            "quality": record.quality,
            "heat": record.heat,
            "published": record.published,
            "removed": record.removed,
            "provider_name": record.provider_name,
            "provider_domain": record.provider_domain,
            "provider_key": record.provider_domain.lower(),
            "topics": record.topics,
            "image": record.images[0] if record.images else None,
            "featured_content": record.featured_content,
            "secured": record.secured,
            "source_path": source.rel_path,
            "source_hash": record.content_hash,
            "ingested_at": now,
            "updated_at": now,
        }

    def _insert_articles(
        self, rows: Sequence[tuple[int, SourceInfo, ArticleRecord]], now: datetime
    ) -> None:
        if not rows:
            return
        self.conn.execute(
            insert(ARTICLE), [self._article_values(pk, s, r, now) for pk, s, r in rows]
        )
        self._insert_dependents(rows)

    def _replace_articles(
        self, rows: Sequence[tuple[int, SourceInfo, ArticleRecord]], now: datetime
    ) -> None:
        if not rows:
            return
        values = []
        for pk, source, record in rows:
            row = self._article_values(pk, source, record, now)
            del row["ingested_at"]
            row["b_pk"] = row.pop("pk")
            values.append(row)
        self.conn.execute(update(ARTICLE).where(ARTICLE.c.pk == bindparam("b_pk")), values)
        pks = [pk for pk, _, _ in rows]
        for table, column in (
            (DOCUMENT, DOCUMENT.c.article_pk),
            (ARTICLE_TOPIC, ARTICLE_TOPIC.c.article_pk),
        ):
            self.conn.execute(delete(table).where(column.in_(pks)))
        if self.sqlite:
            self.conn.execute(
                text("DELETE FROM article_fts WHERE rowid = :pk"), [{"pk": pk} for pk in pks]
            )
        else:
            self.conn.execute(
                text("DELETE FROM article_fts WHERE pk = :pk"), [{"pk": pk} for pk in pks]
            )
        self._insert_dependents(rows)

    def _insert_dependents(self, rows: Sequence[tuple[int, SourceInfo, ArticleRecord]]) -> None:
        self.conn.execute(
            insert(DOCUMENT),
            [
                {
                    "article_pk": pk,
                    "images": r.images,
                    "related": r.related,
                    "front_matter": r.front_matter,
                }
                for pk, _, r in rows
            ],
        )
        topic_rows = []
        for pk, _, record in rows:
            seen: set[str] = set()
            for name in record.topics:
                key = name.strip().lower()
                if key and key not in seen:
                    seen.add(key)
                    topic_rows.append({"article_pk": pk, "topic_key": key, "name": name.strip()})
        if topic_rows:
            self.conn.execute(insert(ARTICLE_TOPIC), topic_rows)
        self._register_names(rows, topic_rows)
        self._insert_search(rows)
        self._mark_names_dirty()

    def _insert_search(self, rows: Sequence[tuple[int, SourceInfo, ArticleRecord]]) -> None:
        if self.sqlite:
            params = []
            for pk, _, r in rows:
                title, excerpt = fts5_document(r.title, r.excerpt or "")
                params.append({"pk": pk, "title": title, "excerpt": excerpt})
            self.conn.execute(
                text(
                    "INSERT INTO article_fts (rowid, title, excerpt) VALUES (:pk, :title, :excerpt)"
                ),
                params,
            )
            return
        self.conn.execute(
            text("INSERT INTO article_fts (pk, document) VALUES (:pk, CAST(:doc AS tsvector))"),
            [{"pk": pk, "doc": tsvector_literal(r.title, r.excerpt or "")} for pk, _, r in rows],
        )

    def _register_names(
        self,
        rows: Sequence[tuple[int, SourceInfo, ArticleRecord]],
        topic_rows: Sequence[dict[str, Any]],
    ) -> None:
        new_topics: dict[str, str] = {}
        for row in topic_rows:
            if row["topic_key"] not in self.known_topics:
                new_topics.setdefault(row["topic_key"], row["name"])
        new_providers: dict[str, ArticleRecord] = {}
        for _, _, record in rows:
            key = record.provider_domain.lower()
            if key not in self.known_providers:
                new_providers.setdefault(key, record)
        if new_topics:
            self.conn.execute(
                self._insert_ignore(TOPIC),
                [{"key": key, "name": name} for key, name in new_topics.items()],
            )
            self.known_topics.update(new_topics)
        if new_providers:
            self.conn.execute(
                self._insert_ignore(PROVIDER),
                [
                    {"key": key, "name": r.provider_name, "domain": key}
                    for key, r in new_providers.items()
                ],
            )
            self.known_providers.update(new_providers)

    def _insert_ignore(self, table: Table) -> Any:
        factory = sqlite_insert if self.sqlite else pg_insert
        return factory(table).on_conflict_do_nothing()

    def _upsert_sources(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        factory = sqlite_insert if self.sqlite else pg_insert
        statement = factory(SOURCE)
        excluded = statement.excluded
        self.conn.execute(
            statement.on_conflict_do_update(
                index_elements=[SOURCE.c.path],
                set_={
                    column: excluded[column]
                    for column in (
                        "rel_path",
                        "article_pk",
                        "content_hash",
                        "size",
                        "mtime_ns",
                        "published_at",
                        "seen_run",
                    )
                },
            ),
            list(rows),
        )

    def _mark_names_dirty(self) -> None:
        self.conn.execute(update(STATE).values(names_dirty=True))

    def _bump_version(self) -> None:
        self.conn.execute(update(STATE).values(version=STATE.c.version + 1))

    def _refresh_names(self) -> None:
        """Display names are each key's most common spelling (ties: smallest), order-free."""
        topic_names = _most_common(
            self.conn.execute(
                select(ARTICLE_TOPIC.c.topic_key, ARTICLE_TOPIC.c.name, func.count()).group_by(
                    ARTICLE_TOPIC.c.topic_key, ARTICLE_TOPIC.c.name
                )
            )
        )
        provider_names = _most_common(
            self.conn.execute(
                select(ARTICLE.c.provider_key, ARTICLE.c.provider_name, func.count()).group_by(
                    ARTICLE.c.provider_key, ARTICLE.c.provider_name
                )
            )
        )
        self._sync_names(TOPIC, topic_names, extra=lambda key: {})
        self._sync_names(PROVIDER, provider_names, extra=lambda key: {"domain": key})
        self.known_topics = set(topic_names)
        self.known_providers = set(provider_names)

    def _sync_names(
        self, table: Table, names: dict[str, str], extra: Callable[[str], dict[str, str]]
    ) -> None:
        stored = {row[0]: row[1] for row in self.conn.execute(select(table.c.key, table.c.name))}
        stale = [key for key in stored if key not in names]
        for start in range(0, len(stale), 500):
            self.conn.execute(delete(table).where(table.c.key.in_(stale[start : start + 500])))
        changed = [
            {"b_key": key, "name": name}
            for key, name in names.items()
            if key in stored and stored[key] != name
        ]
        if changed:
            self.conn.execute(update(table).where(table.c.key == bindparam("b_key")), changed)
        missing = [
            {"key": key, "name": name, **extra(key)}
            for key, name in names.items()
            if key not in stored
        ]
        if missing:
            self.conn.execute(insert(table), missing)


def _most_common(rows: Iterable[Any]) -> dict[str, str]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for key, name, count in rows:
        counts[key][name] += count
    return {
        key: min(names.items(), key=lambda item: (-item[1], item[0]))[0]
        for key, names in counts.items()
    }
