"""Alembic owns the schema: a fresh database upgrades to head and matches the models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from app.db import make_engine, metadata
from app.migrate import current_revision, head_revision, is_managed_elsewhere, upgrade


def _include_name(name: str | None, type_: str, _parents: object) -> bool:
    return not (type_ == "table" and name is not None and is_managed_elsewhere(name))


def test_upgrade_to_head_matches_the_models(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        upgrade(engine)
        upgrade(engine)  # a second upgrade is a no-op
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            context = MigrationContext.configure(
                conn, opts={"include_name": _include_name, "compare_type": True}
            )
            assert compare_metadata(context, metadata) == []
            tables = set(inspect(conn).get_table_names())
            assert {"article", "article_topic", "article_document", "source_file"} <= tables
            assert "article_fts" in tables
            state = conn.execute(text("SELECT version, run_counter FROM catalogue_state")).one()
            assert tuple(state) == (0, 0)
    finally:
        engine.dispose()


def test_the_schema_revision_constant_is_alembics_head() -> None:
    # The ingest checks a catalogue against this constant without loading Alembic.
    from alembic.script import ScriptDirectory

    from app.migrate import alembic_config

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_current_revision_agrees_with_alembic(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as conn:
            assert current_revision(conn) is None  # never migrated
        upgrade(engine)
        with engine.connect() as conn:
            assert current_revision(conn) == MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _move_to(engine: Engine, revision: str, *, down: bool = False) -> None:
    """Upgrade or downgrade the catalogue to `revision` with Alembic itself."""
    from alembic import command

    from app.migrate import alembic_config

    with engine.begin() as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


def test_a_catalogue_behind_head_is_upgraded(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        _move_to(engine, "0001")
        with engine.connect() as conn:
            assert current_revision(conn) == "0001"
        upgrade(engine)
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            indexes = {ix["name"] for ix in inspect(conn).get_indexes("article")}
        assert any("removed" in (name or "") for name in indexes)
    finally:
        engine.dispose()


def test_related_entries_survive_a_downgrade_and_an_upgrade(empty_database_url: str) -> None:
    """0003 stops storing shaped related entries; going back refills them from the front
    matter, and coming forward again drops them with nothing lost."""
    from app.entries import related_entries
    from app.ingest.run import ingest_paths

    article = Path(__file__).resolve().parent / "fixtures" / "articles" / "full.md"
    report = ingest_paths([article], empty_database_url, workers=1)
    assert report.counts["new"] == 1
    engine = make_engine(empty_database_url)
    select_documents = text("SELECT related, front_matter FROM article_document")
    try:
        _move_to(engine, "0002", down=True)
        with engine.connect() as conn:
            ((related, front_matter),) = conn.execute(select_documents).all()
        related, front_matter = (
            v if isinstance(v, list | dict) else orjson.loads(v) for v in (related, front_matter)
        )
        assert [entry["url"] for entry in related] == [
            "https://example.net/tugboats",
            "https://example.com/oddity",
        ]
        assert related == related_entries(front_matter)
        upgrade(engine)
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("article_document")}
            (stored,) = conn.execute(text("SELECT front_matter FROM article_document")).scalars()
        assert columns == {"article_pk", "images", "front_matter"}
        stored = stored if isinstance(stored, dict) else orjson.loads(stored)
        assert related_entries(stored) == related
    finally:
        engine.dispose()


def test_alembics_own_command_takes_the_catalogue_from_the_settings(
    empty_database_url: str,
) -> None:
    """`alembic upgrade head` run by hand (as when writing a migration) migrates the
    catalogue that DATABASE_URL names; newscat itself hands Alembic its connection."""
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "DATABASE_URL": empty_database_url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
    finally:
        engine.dispose()
