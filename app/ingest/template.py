"""An empty catalogue of the current schema, to copy where a new SQLite catalogue is wanted.

Creating a catalogue through Alembic means importing SQLAlchemy, SQLModel and Alembic, which
costs more CPU than parsing a few hundred files. So the first time a new SQLite catalogue is
wanted, Alembic migrates an empty file in the cache directory, and later new catalogues are
copies of it. The template's name holds a digest of the migrations, the SQLite library and
the page size: a new or edited migration (or another SQLite, or page size) means a new
template, so a copy is always what Alembic would make of an empty file.

Importing this module must stay cheap (no SQLAlchemy until a template is built).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

from app.schema_facts import SCHEMA_REVISION, SQLITE_PAGE_SIZE

CACHE_DIR_ENV = "NEWSCAT_CACHE_DIR"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
PREFIX = "catalogue-"


def cache_dir() -> Path:
    """`$NEWSCAT_CACHE_DIR`, else newscat's folder in the user's cache (XDG)."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "newscat"


def template_path() -> Path | None:
    """Where the template for these migrations lives; None without the migrations at hand."""
    digest = hashlib.sha256(f"{sqlite3.sqlite_version} {SQLITE_PAGE_SIZE}".encode())
    try:
        for script in [MIGRATIONS / "env.py", *sorted((MIGRATIONS / "versions").glob("*.py"))]:
            digest.update(script.name.encode() + b"\0" + script.read_bytes())
    except OSError:
        return None
    return cache_dir() / f"{PREFIX}{SCHEMA_REVISION}-{digest.hexdigest()[:16]}.db"


def ensure_template() -> Path | None:
    """The template, built first if need be; None where it cannot be (the caller then
    creates its catalogue through Alembic as usual)."""
    path = template_path()
    if path is None:
        return None
    if not path.is_file():
        try:
            build_template(path)
        except OSError:
            return None
    return path


def build_template(path: Path) -> None:
    """Migrate an empty file to `path`, atomically; drop the templates of earlier edits of
    the same revision (those of other revisions may serve another checkout)."""
    from app.db import make_engine
    from app.migrate import upgrade

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".building-") as scratch:
        built = Path(scratch) / "catalogue.db"
        engine = make_engine(f"sqlite:///{built}")
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        conn = sqlite3.connect(built, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = DELETE")  # one file: no WAL beside it
        finally:
            conn.close()
        os.replace(built, path)
    for old in path.parent.glob(f"{PREFIX}{SCHEMA_REVISION}-*.db"):
        if old != path:
            old.unlink(missing_ok=True)


if __name__ == "__main__":  # `make setup`: build it now rather than in the first load
    if ensure_template() is None:  # not fatal: first loads then run the regular way
        sys.stderr.write(f"newscat: no template for first loads (cannot write {cache_dir()})\n")
