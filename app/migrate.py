"""Schema upgrades through Alembic, and the readiness question "is the schema current?"."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from app.models import FTS_TABLE

ROOT = Path(__file__).resolve().parent.parent
FTS5_SHADOW_SUFFIXES = ("", "_data", "_idx", "_content", "_docsize", "_config")


def is_managed_elsewhere(table_name: str) -> bool:
    """Tables the migrations create by hand because they differ per dialect."""
    return table_name in {FTS_TABLE + suffix for suffix in FTS5_SHADOW_SUFFIXES}


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@lru_cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the catalogue to the newest schema; a no-op when it is already there."""
    with engine.connect() as connection:
        if current_revision(connection) == head_revision():
            return
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
