"""Initial schema: articles, topics, providers, documents, source files, full-text search.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 09:52:40.793351
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "article",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("original_url", sa.Text(), nullable=True),
        sa.Column("amp_url", sa.Text(), nullable=True),
        sa.Column("cdn_amp_url", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("type", sa.Text(), nullable=True),
        sa.Column("quality", sa.BigInteger(), nullable=True),
        sa.Column("heat", sa.BigInteger(), nullable=True),
        sa.Column("published", sa.Boolean(), nullable=True),
        sa.Column("removed", sa.Boolean(), nullable=True),
        sa.Column("provider_name", sa.Text(), nullable=False),
        sa.Column("provider_domain", sa.Text(), nullable=False),
        sa.Column("provider_key", sa.Text(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("image", sa.JSON(), nullable=True),
        sa.Column("featured_content", sa.Text(), nullable=True),
        sa.Column("secured", sa.Text(), nullable=True),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=False),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_article")),
        sa.UniqueConstraint("id", name=op.f("uq_article_id")),
    )
    op.create_index("ix_article_category", "article", ["category"])
    op.create_index("ix_article_heat_id", "article", ["heat", "id"])
    op.create_index(
        "ix_article_provider_key_published_at", "article", ["provider_key", "published_at"]
    )
    op.create_index("ix_article_published", "article", ["published"])
    op.create_index("ix_article_published_at_id", "article", ["published_at", "id"])
    op.create_index("ix_article_quality_id", "article", ["quality", "id"])
    op.create_index("ix_article_type", "article", ["type"])

    op.create_table(
        "catalogue_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("run_counter", sa.Integer(), nullable=False),
        sa.Column("names_dirty", sa.Boolean(), nullable=False),
        sa.Column("last_ingest_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_state")),
    )
    op.create_table(
        "provider",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_provider")),
    )
    op.create_table(
        "topic",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_topic")),
    )
    op.create_table(
        "article_document",
        sa.Column("article_pk", sa.Integer(), nullable=False),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("related", sa.JSON(), nullable=False),
        sa.Column("front_matter", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_pk"],
            ["article.pk"],
            name=op.f("fk_article_document_article_pk_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_pk", name=op.f("pk_article_document")),
    )
    op.create_table(
        "article_topic",
        sa.Column("article_pk", sa.Integer(), nullable=False),
        sa.Column("topic_key", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_pk"],
            ["article.pk"],
            name=op.f("fk_article_topic_article_pk_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_pk", "topic_key", name=op.f("pk_article_topic")),
    )
    op.create_index(
        "ix_article_topic_topic_key_article_pk", "article_topic", ["topic_key", "article_pk"]
    )

    op.create_table(
        "source_file",
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("rel_path", sa.Text(), nullable=False),
        sa.Column("article_pk", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("seen_run", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_pk"],
            ["article.pk"],
            name=op.f("fk_source_file_article_pk_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_source_file")),
    )
    op.create_index("ix_source_file_article_pk", "source_file", ["article_pk"])

    catalogue_state = sa.table(
        "catalogue_state",
        sa.column("id", sa.Integer),
        sa.column("version", sa.BigInteger),
        sa.column("run_counter", sa.Integer),
        sa.column("names_dirty", sa.Boolean),
    )
    op.bulk_insert(
        catalogue_state, [{"id": 1, "version": 0, "run_counter": 0, "names_dirty": False}]
    )
    _create_full_text_index()


def _create_full_text_index() -> None:
    # Both backends index the same pre-normalised tokens (app.search), so they agree.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE article_fts USING fts5("
            "title, excerpt, tokenize = 'unicode61 remove_diacritics 0')"
        )
        op.execute(
            "CREATE TRIGGER article_fts_after_delete AFTER DELETE ON article "
            "BEGIN DELETE FROM article_fts WHERE rowid = old.pk; END"
        )
        return
    op.execute(
        "CREATE TABLE article_fts ("
        "pk integer PRIMARY KEY REFERENCES article (pk) ON DELETE CASCADE, "
        "document tsvector NOT NULL)"
    )
    op.execute("CREATE INDEX ix_article_fts_document ON article_fts USING gin (document)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS article_fts_after_delete")
    op.execute("DROP TABLE IF EXISTS article_fts")
    for table in (
        "source_file",
        "article_topic",
        "article_document",
        "topic",
        "provider",
        "catalogue_state",
        "article",
    ):
        op.drop_table(table)
