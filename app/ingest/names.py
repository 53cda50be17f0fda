"""Display names: each topic's and provider's most common spelling, independent of order."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Table, bindparam, delete, insert, select, text, update
from sqlalchemy.engine import Connection

from app.ingest.plain_sql import PROVIDER_SPELLINGS, TOPIC_SPELLINGS, most_common
from app.models import PROVIDER, TOPIC


def refresh_names(conn: Connection) -> tuple[set[str], set[str]]:
    """Recompute the topic and provider tables; returns their keys."""
    topic_names = most_common(conn.execute(text(TOPIC_SPELLINGS)))
    provider_names = most_common(conn.execute(text(PROVIDER_SPELLINGS)))
    _sync(conn, TOPIC, topic_names, extra=lambda key: {})
    _sync(conn, PROVIDER, provider_names, extra=lambda key: {"domain": key})
    return set(topic_names), set(provider_names)


def _sync(
    conn: Connection, table: Table, names: dict[str, str], extra: Callable[[str], dict[str, str]]
) -> None:
    stored = {row[0]: row[1] for row in conn.execute(select(table.c.key, table.c.name))}
    stale = [key for key in stored if key not in names]
    for start in range(0, len(stale), 500):
        conn.execute(delete(table).where(table.c.key.in_(stale[start : start + 500])))
    changed = [
        {"b_key": key, "name": name}
        for key, name in names.items()
        if key in stored and stored[key] != name
    ]
    if changed:
        conn.execute(update(table).where(table.c.key == bindparam("b_key")), changed)
    missing = [
        {"key": key, "name": name, **extra(key)} for key, name in names.items() if key not in stored
    ]
    if missing:
        conn.execute(insert(table), missing)
