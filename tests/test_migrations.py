"""Alembic owns the schema: a fresh database upgrades to head and matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

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


def test_a_catalogue_behind_head_is_upgraded(empty_database_url: str) -> None:
    from alembic import command

    from app.migrate import alembic_config

    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
        with engine.connect() as conn:
            assert current_revision(conn) == "0001"
        upgrade(engine)
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            indexes = {ix["name"] for ix in inspect(conn).get_indexes("article")}
        assert any("removed" in (name or "") for name in indexes)
    finally:
        engine.dispose()
