"""How a catalogue URL is spelled: the default, and the forms people paste.

Kept apart from the settings so that commands given `--database-url` never load them.
"""

from __future__ import annotations

DEFAULT_DATABASE_URL = "sqlite:///./data/catalogue.db"


def normalise_database_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` URLs as people paste them; use psycopg 3."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
