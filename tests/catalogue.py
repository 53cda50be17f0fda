"""Test helpers that look inside a catalogue: a canonical dump and an integrity check."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from app.db import make_engine
from app.schema_facts import BULK_INDEX_FILTER

ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def admin_engine() -> Engine:
    return create_engine(
        ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )


def pg_url(name: str) -> str:
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def fresh_pg_database(template: str | None, prefix: str = "newscat_test") -> Iterator[str]:
    """A new PostgreSQL database (cloned from `template` when given), dropped afterwards."""
    name = f"{prefix}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:10]}"
    admin = admin_engine()
    clause = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
    try:
        yield pg_url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def migrated_catalogue(
    backend: str, request: pytest.FixtureRequest, directory: Path, prefix: str = "newscat_test"
) -> Iterator[str]:
    """A fresh catalogue at the newest schema, cloned from the session's migrated template;
    usable from fixtures of any scope."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        target = directory / "catalogue.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    yield from fresh_pg_database(request.getfixturevalue("_pg_template"), prefix)


def _rows(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(text(sql))]


def canonical_dump(url: str) -> dict[str, Any]:
    """Everything a user can observe, keyed by public ids: equal dumps, equal catalogues."""
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            fts = (
                "SELECT a.id, f.title || '|' || f.excerpt FROM article_fts f "
                "JOIN article a ON a.pk = f.rowid ORDER BY a.id"
                if conn.dialect.name == "sqlite"
                else "SELECT a.id, f.document::text FROM article_fts f "
                "JOIN article a ON a.pk = f.pk ORDER BY a.id"
            )
            return {
                "articles": _rows(
                    conn,
                    "SELECT id, url, title, excerpt, published_at, original_url, amp_url, "
                    "cdn_amp_url, category, type, quality, heat, published, removed, "
                    "provider_name, provider_domain, provider_key, topics, image, "
                    "featured_content, secured, source_path, source_hash "
                    "FROM article ORDER BY id",
                ),
                "documents": _rows(
                    conn,
                    "SELECT a.id, d.images, d.front_matter FROM article_document d "
                    "JOIN article a ON a.pk = d.article_pk ORDER BY a.id",
                ),
                "topics": _rows(
                    conn,
                    "SELECT a.id, t.topic_key, t.name FROM article_topic t "
                    "JOIN article a ON a.pk = t.article_pk ORDER BY a.id, t.topic_key",
                ),
                "sources": _rows(
                    conn,
                    "SELECT s.rel_path, a.id, s.content_hash, s.published_at FROM source_file s "
                    "JOIN article a ON a.pk = s.article_pk ORDER BY s.rel_path",
                ),
                "topic_names": _rows(conn, "SELECT key, name FROM topic ORDER BY key"),
                "provider_names": _rows(
                    conn, "SELECT key, name, domain FROM provider ORDER BY key"
                ),
                "search": _rows(conn, fts),
            }
    finally:
        engine.dispose()


BULK_INDEXES_SQL = (
    f"SELECT name FROM sqlite_master WHERE {BULK_INDEX_FILTER} "
    "AND name NOT LIKE 'sqlite_autoindex_%'"
)


def bulk_indexes(url: str) -> set[str]:
    """The secondary indexes a bulk load drops (app.ingest.bulk) that a SQLite catalogue
    has now."""
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text(BULK_INDEXES_SQL)).scalars())
    finally:
        engine.dispose()


def integrity_problems(url: str) -> list[str]:
    """Torn or orphaned rows: every article must have its document, search row and a source,
    and every row that refers to an article must find it (a first load writes with SQLite's
    foreign key checks off)."""
    engine = make_engine(url, read_only=True)
    problems: list[str] = []
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                result = conn.execute(text("PRAGMA integrity_check")).scalar()
                if result != "ok":
                    problems.append(f"integrity_check: {result}")
                for table, rowid, parent, _ in conn.execute(text("PRAGMA foreign_key_check")):
                    problems.append(f"{table} row {rowid} refers to no {parent} row")
                fts_key = "rowid"
            else:
                fts_key = "pk"
            checks = {
                "article without document": "SELECT count(*) FROM article a WHERE NOT EXISTS "
                "(SELECT 1 FROM article_document d WHERE d.article_pk = a.pk)",
                "article without source": "SELECT count(*) FROM article a WHERE NOT EXISTS "
                "(SELECT 1 FROM source_file s WHERE s.article_pk = a.pk)",
                "article without search row": "SELECT count(*) FROM article a WHERE NOT EXISTS "
                f"(SELECT 1 FROM article_fts f WHERE f.{fts_key} = a.pk)",
                "search row without article": "SELECT count(*) FROM article_fts f WHERE NOT "
                f"EXISTS (SELECT 1 FROM article a WHERE a.pk = f.{fts_key})",
                "article with topics but no topic rows": "SELECT count(*) FROM article a "
                "WHERE a.topics != '[]' AND NOT EXISTS "
                "(SELECT 1 FROM article_topic t WHERE t.article_pk = a.pk)"
                if sqlite
                else "SELECT count(*) FROM article a WHERE json_array_length(a.topics) > 0 "
                "AND NOT EXISTS (SELECT 1 FROM article_topic t WHERE t.article_pk = a.pk)",
            }
            for name, sql in checks.items():
                count = conn.execute(text(sql)).scalar()
                if count:
                    problems.append(f"{name}: {count}")
    finally:
        engine.dispose()
    return problems


def article_count(url: str) -> int:
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM article")).scalar_one())
    finally:
        engine.dispose()


def catalogue_state(url: str) -> tuple[int, Any]:
    """The catalogue's version and the time its last ingest ran."""
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT version, last_ingest_at FROM catalogue_state")).one()
    finally:
        engine.dispose()
    return int(row.version), row.last_ingest_at
