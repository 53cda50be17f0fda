"""The catalogue's tables. Alembic (`migrations/`) owns the schema; these describe it.

The article row holds everything a list page shows, so a page is one indexed read;
the bulky per-article data (images and the whole front matter, related entries included)
lives in `article_document`. Full-text search lives in `article_fts`, which is dialect-specific
(FTS5 on SQLite, tsvector on PostgreSQL) and so is created by the migration only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlmodel import Field, SQLModel

from app import db  # noqa: F401  (installs the naming convention before tables are declared)

FTS_TABLE = "article_fts"


class Article(SQLModel, table=True):
    __tablename__ = "article"
    __table_args__ = (
        Index("ix_article_published_at_id", "published_at", "id"),
        Index("ix_article_quality_id", "quality", "id"),
        Index("ix_article_heat_id", "heat", "id"),
        Index("ix_article_provider_key_published_at", "provider_key", "published_at"),
        Index("ix_article_category", "category"),
        Index("ix_article_type", "type"),
        Index("ix_article_published", "published"),
        # Removed articles are rare: this finds them without a scan, so lists can leave
        # them out by key instead of reading every candidate row (migration 0002).
        Index("ix_article_removed", "removed"),
    )

    pk: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    id: str = Field(sa_column=Column(String(16), nullable=False, unique=True))
    url: str = Field(sa_column=Column(Text, nullable=False))
    title: str = Field(sa_column=Column(Text, nullable=False))
    excerpt: str | None = Field(default=None, sa_column=Column(Text))
    published_at: datetime = Field(sa_column=Column(DateTime, nullable=False))
    original_url: str | None = Field(default=None, sa_column=Column(Text))
    amp_url: str | None = Field(default=None, sa_column=Column(Text))
    cdn_amp_url: str | None = Field(default=None, sa_column=Column(Text))
    category: str | None = Field(default=None, sa_column=Column(Text))
    type: str | None = Field(default=None, sa_column=Column(Text))
    quality: int | None = Field(default=None, sa_column=Column(BigInteger))
    heat: int | None = Field(default=None, sa_column=Column(BigInteger))
    published: bool | None = Field(default=None, sa_column=Column(Boolean))
    removed: bool | None = Field(default=None, sa_column=Column(Boolean))
    provider_name: str = Field(sa_column=Column(Text, nullable=False))
    provider_domain: str = Field(sa_column=Column(Text, nullable=False))
    # Lower-cased domain: filters and facets are case-insensitive.
    provider_key: str = Field(sa_column=Column(Text, nullable=False))
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    image: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    featured_content: str | None = Field(default=None, sa_column=Column(Text))
    secured: str | None = Field(default=None, sa_column=Column(Text))
    # The winning source file (newest publishedDateTime, then greatest relative path).
    source_path: str = Field(sa_column=Column(Text, nullable=False))
    source_hash: str = Field(sa_column=Column(String(64), nullable=False))
    ingested_at: datetime = Field(sa_column=Column(DateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime, nullable=False))


class ArticleDocument(SQLModel, table=True):
    __tablename__ = "article_document"

    article_pk: int = Field(
        sa_column=Column(Integer, ForeignKey("article.pk", ondelete="CASCADE"), primary_key=True)
    )
    images: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    front_matter: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )


class ArticleTopic(SQLModel, table=True):
    __tablename__ = "article_topic"
    __table_args__ = (Index("ix_article_topic_topic_key_article_pk", "topic_key", "article_pk"),)

    article_pk: int = Field(
        sa_column=Column(Integer, ForeignKey("article.pk", ondelete="CASCADE"), primary_key=True)
    )
    # Lower-cased name: topic filters are case-insensitive; `name` keeps the file's spelling.
    topic_key: str = Field(sa_column=Column(Text, primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))


class Topic(SQLModel, table=True):
    """One row per topic key; `name` is its most common spelling."""

    __tablename__ = "topic"

    key: str = Field(sa_column=Column(Text, primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))


class Provider(SQLModel, table=True):
    """One row per lower-cased domain; `name` is the most common name given for it."""

    __tablename__ = "provider"

    key: str = Field(sa_column=Column(Text, primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    domain: str = Field(sa_column=Column(Text, nullable=False))


class SourceFile(SQLModel, table=True):
    """Every file that produced an article, winner or duplicate, with what it held."""

    __tablename__ = "source_file"
    __table_args__ = (Index("ix_source_file_article_pk", "article_pk"),)

    path: str = Field(sa_column=Column(Text, primary_key=True))
    rel_path: str = Field(sa_column=Column(Text, nullable=False))
    article_pk: int = Field(
        sa_column=Column(Integer, ForeignKey("article.pk", ondelete="CASCADE"), nullable=False)
    )
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    mtime_ns: int = Field(sa_column=Column(BigInteger, nullable=False))
    published_at: datetime = Field(sa_column=Column(DateTime, nullable=False))
    seen_run: int = Field(sa_column=Column(Integer, nullable=False))


class CatalogueState(SQLModel, table=True):
    """A single row. `version` moves on every committed change, so readers can cache by it."""

    __tablename__ = "catalogue_state"

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
    run_counter: int = Field(sa_column=Column(Integer, nullable=False))
    names_dirty: bool = Field(sa_column=Column(Boolean, nullable=False))
    last_ingest_at: datetime | None = Field(default=None, sa_column=Column(DateTime))


# Core handles on the tables, for the queries written with SQLAlchemy Core (ingest and API).
ARTICLE: Table = Article.__table__  # type: ignore[attr-defined]
DOCUMENT: Table = ArticleDocument.__table__  # type: ignore[attr-defined]
ARTICLE_TOPIC: Table = ArticleTopic.__table__  # type: ignore[attr-defined]
TOPIC: Table = Topic.__table__  # type: ignore[attr-defined]
PROVIDER: Table = Provider.__table__  # type: ignore[attr-defined]
SOURCE: Table = SourceFile.__table__  # type: ignore[attr-defined]
STATE: Table = CatalogueState.__table__  # type: ignore[attr-defined]
