"""How a catalogue URL is spelled: the default, and the forms people paste.

Kept apart from the settings so that commands given `--database-url` never load them.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

DEFAULT_DATABASE_URL = "sqlite:///./data/catalogue.db"
_SQLITE_FILE = re.compile(r"sqlite(?:\+pysqlite)?:///(?P<path>[^?]+)")


def normalise_database_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` URLs as people paste them; use psycopg 3."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_file(url: str) -> str | None:
    """The file behind a plain SQLite URL (no query string), as SQLAlchemy reads it; else None.

    For the commands that look at a catalogue file before importing the database layer;
    `app.db.sqlite_path` is the full answer for any URL.
    """
    match = _SQLITE_FILE.fullmatch(url)
    if match is None:
        return None
    path = unquote(match["path"])
    if path == ":memory:" or path.startswith("file:"):
        return None
    return path
