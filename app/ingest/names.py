"""Display names: each topic's and provider's most common spelling, independent of order."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from app.models import ARTICLE, ARTICLE_TOPIC, PROVIDER, TOPIC


def refresh_names(conn: Connection) -> tuple[set[str], set[str]]:
    """Recompute the topic and provider tables; returns their keys."""
    topic_names = _most_common(
        conn.execute(
            select(ARTICLE_TOPIC.c.topic_key, ARTICLE_TOPIC.c.name, func.count()).group_by(
                ARTICLE_TOPIC.c.topic_key, ARTICLE_TOPIC.c.name
            )
        )
    )
    provider_names = _most_common(
        conn.execute(
            select(ARTICLE.c.provider_key, ARTICLE.c.provider_name, func.count()).group_by(
                ARTICLE.c.provider_key, ARTICLE.c.provider_name
            )
        )
    )
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


def _most_common(rows: Iterable[Any]) -> dict[str, str]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for key, name, count in rows:
        counts[key][name] += count
    # Most frequent first; among equals the smallest, so the result never depends on order.
    return {
        key: min(names.items(), key=lambda item: (-item[1], item[0]))[0]
        for key, names in counts.items()
    }
