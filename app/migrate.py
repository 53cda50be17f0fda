"""Schema upgrades through Alembic, and the readiness question "is the schema current?".

Alembic is imported only when a catalogue is behind: every ingest asks first, and for a
current catalogue the answer is one query against `alembic_version`, where loading
Alembic's scripts would be a large share of an unchanged re-ingest.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from app.models import FTS_TABLE
from app.schema_facts import SCHEMA_REVISION

if TYPE_CHECKING:
    from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent
FTS5_SHADOW_SUFFIXES = ("", "_data", "_idx", "_content", "_docsize", "_config")
VERSION_TABLE = "alembic_version"
VERSION_SQL = text("SELECT version_num FROM alembic_version")


def is_managed_elsewhere(table_name: str) -> bool:
    """Tables the migrations create by hand because they differ per dialect."""
    return table_name in {FTS_TABLE + suffix for suffix in FTS5_SHADOW_SUFFIXES}


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    return SCHEMA_REVISION


def current_revision(connection: Connection) -> str | None:
    """The catalogue's schema revision; None for a database newscat never migrated."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(VERSION_SQL).scalars().all()
    # Alembic keeps one row per head; newscat's history is linear.
    return rows[0] if len(rows) == 1 else None


def upgrade(engine: Engine) -> None:
    """Bring the catalogue to the newest schema; a no-op when it is already there."""
    with engine.connect() as connection:
        if current_revision(connection) == SCHEMA_REVISION:
            return
    from alembic import command

    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
