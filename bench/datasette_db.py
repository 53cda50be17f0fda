"""The same catalogue as one denormalised SQLite table, for Datasette to serve.

One `articles` table with the summary columns, the indexes the catalogue has on them, and an
external-content FTS5 table over title and excerpt, as `sqlite-utils enable-fts` makes it.
No ANALYZE: newscat's SQLite catalogue gets none either, so both planners work alike.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE articles (
    id TEXT PRIMARY KEY,
    url TEXT,
    title TEXT,
    excerpt TEXT,
    published_at TEXT,
    quality INTEGER,
    heat INTEGER,
    published INTEGER,
    removed INTEGER,
    type TEXT,
    category TEXT,
    provider_name TEXT,
    provider_domain TEXT,
    topics TEXT,
    image TEXT
);
CREATE INDEX idx_articles_published_at ON articles (published_at);
CREATE INDEX idx_articles_quality ON articles (quality);
CREATE INDEX idx_articles_heat ON articles (heat);
CREATE INDEX idx_articles_provider_domain_published_at ON articles (provider_domain, published_at);
CREATE INDEX idx_articles_category ON articles (category);
CREATE INDEX idx_articles_type ON articles (type);
CREATE INDEX idx_articles_published ON articles (published);
CREATE VIRTUAL TABLE [articles_fts] USING FTS5 ([title], [excerpt], content=[articles]);
"""

COPY = """
INSERT INTO articles
SELECT id, url, title, excerpt, published_at, quality, heat, published, removed, type,
       category, provider_name, provider_domain, topics, image
FROM catalogue.article
ORDER BY pk
"""


def build(catalogue: Path, target: Path) -> Path:
    """Write `target` from the newscat SQLite catalogue (replacing any older copy)."""
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.executescript(SCHEMA)
        conn.execute("ATTACH DATABASE ? AS catalogue", (str(catalogue),))
        with conn:
            conn.execute(COPY)
            conn.execute("INSERT INTO articles_fts (articles_fts) VALUES ('rebuild')")
        conn.execute("DETACH DATABASE catalogue")
    finally:
        conn.close()
    partial.replace(target)
    return target
