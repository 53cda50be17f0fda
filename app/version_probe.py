"""The catalogue version a request is answered at: the key of the response cache and ETags.

Every ingest commit that changes the catalogue moves `catalogue_state.version`; the last
ingest's time sits beside it, for the few responses that show it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio.to_thread
from sqlalchemy.engine import Engine

logger = logging.getLogger("newscat.api")

VERSION_SQL = "SELECT version, last_ingest_at FROM catalogue_state WHERE id = 1"


class VersionProbe:
    """Reads the catalogue's version: the key that tells cached responses from stale ones.

    The read runs on a dedicated connection, outside the pool (no checkout, no pre-ping). On
    SQLite it takes a few microseconds, less than a hop to a thread, so it runs inline; that
    connection never waits for a lock (`busy_timeout = 0`), and any trouble falls back to a
    pooled connection in a worker thread. Elsewhere it runs in a worker thread, and concurrent
    requests share reads: each waits for the next read that starts after it arrived, so it
    still sees every commit made before it, at one round trip per batch of requests.
    """

    def __init__(self, state: Any) -> None:
        # The app's `state`: the lifespan puts the engine there after this probe is made.
        self._state = state
        self._connection: Any = None
        self._connection_engine: Engine | None = None
        self._pending: asyncio.Future[tuple[Any, ...]] | None = None
        self._runner: asyncio.Task[None] | None = None

    def close(self) -> None:
        self._drop_connection()
        self._pending = self._runner = None

    async def fingerprint(self) -> tuple[Any, ...]:
        engine: Engine | None = getattr(self._state, "engine", None)
        if engine is None:
            raise RuntimeError("the app's engine is not set: was the lifespan run?")
        if engine.dialect.name == "sqlite":
            try:
                return self._read_dedicated(engine)
            except Exception:
                # Locked, missing or broken: let the pooled path wait politely or report it.
                self._drop_connection()
        if self._pending is None:
            self._pending = asyncio.get_running_loop().create_future()
            # Waiters may all go away (client disconnects); the outcome is still consumed.
            self._pending.add_done_callback(lambda f: f.cancelled() or f.exception())
            if self._runner is None or self._runner.done():
                self._runner = asyncio.ensure_future(self._run_reads(engine))
        return await asyncio.shield(self._pending)

    async def _run_reads(self, engine: Engine) -> None:
        while self._pending is not None:
            future, self._pending = self._pending, None
            try:
                result = await anyio.to_thread.run_sync(self._read_in_thread, engine)
            except Exception as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

    def _read_in_thread(self, engine: Engine) -> tuple[Any, ...]:
        if engine.dialect.name != "sqlite":
            try:
                return self._read_dedicated(engine)
            except Exception:
                self._drop_connection()
        # The pool reconnects if it can, and reports a failure as SQLAlchemy's error types.
        with engine.connect() as connection:
            row = connection.exec_driver_sql(VERSION_SQL).first()
        return tuple(row) if row else ()

    def _read_dedicated(self, engine: Engine) -> tuple[Any, ...]:
        if self._connection is None or self._connection_engine is not engine:
            self._drop_connection()
            connection = engine.raw_connection()
            connection.detach()
            dbapi: Any = connection.dbapi_connection
            if engine.dialect.name == "sqlite":
                dbapi.execute("PRAGMA busy_timeout = 0")
            elif hasattr(dbapi, "autocommit"):
                # No transaction is left open between reads, so each sees the latest commit.
                dbapi.autocommit = True
            self._connection, self._connection_engine = connection, engine
        dbapi = self._connection.dbapi_connection
        cursor = dbapi.cursor()
        try:
            cursor.execute(VERSION_SQL)
            row = cursor.fetchone()
        finally:
            cursor.close()
        if engine.dialect.name != "sqlite" and not getattr(dbapi, "autocommit", False):
            dbapi.rollback()
        return tuple(row) if row else ()

    def _drop_connection(self) -> None:
        connection, self._connection, self._connection_engine = self._connection, None, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # already broken; nothing more to release
                logger.debug("closing the version probe's connection failed", exc_info=True)
