"""Engines and sessions: one place decides how each backend is opened."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel

from app.schema_facts import SQLITE_PAGE_SIZE

# Stable constraint names, so Alembic migrations are the same on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata


# Connections per engine; the API admits as many concurrent database requests (app.gate).
POOL_SIZE = 10
MAX_OVERFLOW = 10
POOL_CAPACITY = POOL_SIZE + MAX_OVERFLOW


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str, *, read_only: bool = False, busy_timeout_ms: int = 5000) -> Engine:
    """Open a catalogue. The API passes `read_only=True`: it must never write."""
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None and not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        if path is not None and read_only:
            # Opened read-only by SQLite itself: no PRAGMA can turn writing back on, and a
            # missing catalogue is an error rather than a new empty file.
            url = f"sqlite:///file:{quote(str(path.absolute()))}?mode=ro&uri=true"
        # An in-memory database lives in one connection, so only files get a pool.
        pool = {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW} if path else {}
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            **pool,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
        _configure_sqlite(engine, read_only=read_only, busy_timeout_ms=busy_timeout_ms)
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": 5}
    if read_only:
        connect_args["options"] = "-c default_transaction_read_only=on"
    return create_engine(
        url,
        connect_args=connect_args,
        pool_pre_ping=True,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )


def _configure_sqlite(engine: Engine, *, read_only: bool, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if read_only:
            cursor.execute("PRAGMA query_only = ON")
        else:
            # Before the journal mode, which writes the header of a new file: a file that
            # already holds a database keeps its page size.
            cursor.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")
            # WAL lets the API read while an ingest writes; NORMAL is durable across
            # process crashes in WAL mode, which is what crash safety needs.
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA cache_size = -65536")
        cursor.execute("PRAGMA mmap_size = 268435456")
        cursor.close()


def session_scope(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session
