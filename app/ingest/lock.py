"""One writer at a time: a second ingest into the same catalogue waits, then refuses.

Importing this module must stay cheap (no SQLAlchemy until a PostgreSQL lock is taken): an
unchanged re-ingest of a SQLite catalogue takes the lock before it imports the database
layer, and may finish without it.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# An arbitrary constant naming "the newscat ingest" among PostgreSQL advisory locks.
ADVISORY_LOCK_KEY = 0x6E657773636174
# How long a writer waits for another ingest to finish, by default.
DEFAULT_LOCK_TIMEOUT = 600.0


class CatalogueBusy(Exception):
    """Another ingest held the catalogue for longer than we were willing to wait."""


class CatalogueUnwritable(Exception):
    """The catalogue's folder cannot be written (read-only or full disk, permissions)."""


@contextmanager
def writer_lock(engine: Engine, url: str, *, timeout: float) -> Iterator[None]:
    from app.db import is_sqlite, sqlite_path

    if is_sqlite(url):
        path = sqlite_path(url)
        if path is None:
            yield
            return
        with file_lock(lock_path(path), timeout=timeout):
            yield
        return
    with _advisory_lock(engine, timeout=timeout):
        yield


def lock_path(database: os.PathLike[str] | str) -> Path:
    """The file whose lock a SQLite catalogue's writer holds: beside the catalogue."""
    path = Path(database)
    return path.with_name(path.name + ".ingest-lock")


@contextmanager
def file_lock(path: os.PathLike[str], *, timeout: float) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise CatalogueUnwritable(f"cannot write the lock file {path}: {exc.strerror}") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CatalogueBusy(
                        f"another ingest is writing to this catalogue (lock {path})"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock, even on a crash


@contextmanager
def _advisory_lock(engine: Engine, *, timeout: float) -> Iterator[None]:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    # A session-level lock on a connection of its own: PostgreSQL drops it if we die.
    with engine.connect() as conn:
        wait = f"{max(1, int(timeout * 1000))}ms"
        conn.execute(text("SELECT set_config('lock_timeout', :ms, false)"), {"ms": wait})
        try:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        except DBAPIError as exc:
            raise CatalogueBusy("another ingest is writing to this catalogue") from exc
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            conn.commit()
