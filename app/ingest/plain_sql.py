"""The ingest's statements that run without SQLAlchemy too, as plain SQL text.

An unchanged re-ingest runs them through the standard library's sqlite3 (see
`app.ingest.unchanged`), the regular run through SQLAlchemy's `text()`: both bind the same
`:name` parameters, so each statement is written once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

# A writer's WAL grows to 64 MiB between checkpoints, not SQLite's 1,000 pages: a page that
# several commits touch (b-tree interiors, search segments) is copied into the file once per
# checkpoint. Bytes, not pages: what is still in the WAL when the writer closes is copied
# then, after the last file, so a larger page must not mean a longer wait at the end.
# Set on the writer's connection only; readers are unaffected.
WAL_CHECKPOINT_BYTES = 64 << 20

# What is stored of some files (app.ingest.files.StoredSource, after the path), followed by
# the parenthesised list of their paths, one placeholder each in the driver's own style:
# run through the driver, as SQLAlchemy's expanding IN took longer than the query itself.
STORED_SOURCES = (
    "SELECT path, size, mtime_ns, content_hash, article_pk FROM source_file WHERE path IN "
)


def placeholders(count: int, mark: str) -> str:
    """`(?, ?, ...)`: the list of `count` placeholders in the driver's style ("?" or "%s")."""
    return f"({', '.join([mark] * count)})"


# Every file whose canonical URL another file holds too and won: (url, kept, dropped).
DUPLICATES = """
SELECT a.url, a.source_path, s.rel_path
FROM article AS a JOIN source_file AS s ON s.article_pk = a.pk
WHERE a.pk IN (SELECT article_pk FROM source_file GROUP BY article_pk HAVING count(*) > 1)
  AND s.rel_path <> a.source_path
ORDER BY a.url, s.rel_path
"""

# The stored files at or under one root: (path, article_pk). `:prefix` is the root with
# one trailing "/", `:length` its length.
SOURCES_UNDER_ROOT = """
SELECT path, article_pk FROM source_file
WHERE path = :root OR substr(path, 1, :length) = :prefix
"""

# How often each spelling of each topic and provider is used: (key, name, count).
TOPIC_SPELLINGS = "SELECT topic_key, name, count(*) FROM article_topic GROUP BY topic_key, name"
PROVIDER_SPELLINGS = (
    "SELECT provider_key, provider_name, count(*) FROM article GROUP BY provider_key, provider_name"
)


def most_common(rows: Iterable[Any]) -> dict[str, str]:
    """The display name of each key in `*_SPELLINGS` rows: its most used spelling."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for key, name, count in rows:
        counts[key][name] += count
    # Most frequent first; among equals the smallest, so the result never depends on order.
    return {
        key: min(names.items(), key=lambda item: (-item[1], item[0]))[0]
        for key, names in counts.items()
    }


def duplicate_entries(rows: Iterable[Any]) -> list[dict[str, str]]:
    """The rows of `DUPLICATES` as the ingest report lists them."""
    return [{"url": url, "kept": kept, "dropped": dropped} for url, kept, dropped in rows]


def under_root(root: str) -> dict[str, str | int]:
    """The parameters of `SOURCES_UNDER_ROOT` for one root."""
    prefix = root.rstrip("/") + "/"
    return {"root": root, "prefix": prefix, "length": len(prefix)}


def wal_autocheckpoint(page_size: int) -> str:
    """The PRAGMA that checkpoints a writer's WAL every WAL_CHECKPOINT_BYTES, in pages."""
    return f"PRAGMA wal_autocheckpoint = {max(1, WAL_CHECKPOINT_BYTES // page_size)}"


def sqlite_datetime(value: datetime) -> str:
    """The text form SQLAlchemy's SQLite DateTime type stores (and so compares against)."""
    return value.isoformat(sep=" ", timespec="microseconds")
