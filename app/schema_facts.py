"""What code without SQLAlchemy must know of the catalogue's schema.

An unchanged re-ingest checks a SQLite catalogue through the standard library alone (see
`app.ingest.unchanged`). Tests check these against Alembic's history (test_migrations.py) and
the models (test_unchanged.py), so a migration or a new index cannot leave them behind.
"""

from __future__ import annotations

# The newest revision in migrations/versions.
SCHEMA_REVISION = "0003"
# The page size of a new SQLite catalogue (SQLite's default is 4 KiB). A stored front matter
# (a few KiB of JSON) then fits in its row's page instead of spilling into overflow pages, and
# a load writes a quarter as many pages: a first load of 100k files spent 0.5-1 s less CPU in
# its writer, with the API's figures unchanged. An existing catalogue keeps its own.
SQLITE_PAGE_SIZE = 16384
# The secondary indexes a load into an empty catalogue drops and builds again at its end
# (app.ingest.bulk): the article table's, and article_topic's by topic.
BULK_INDEX_NAMES = frozenset(
    {
        "ix_article_category",
        "ix_article_heat_id",
        "ix_article_provider_key_published_at",
        "ix_article_published",
        "ix_article_published_at_id",
        "ix_article_quality_id",
        "ix_article_removed",
        "ix_article_type",
        "ix_article_topic_topic_key_article_pk",
    }
)
# The WHERE clause that finds them in sqlite_master (with their tables' unique indexes,
# which always stay).
BULK_INDEX_FILTER = "type = 'index' AND tbl_name IN ('article', 'article_topic')"
