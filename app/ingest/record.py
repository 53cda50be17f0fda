"""The validated form of one article file, as the parser hands it to the loader."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def article_id(url: str) -> str:
    """The stable public id of an article: 16 hex digits of SHA-256 of its canonical URL."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


@dataclass(slots=True)
class ArticleRecord:
    """Everything the catalogue stores about one file's article.

    `published_at` is a naive datetime in UTC. Lists hold JSON-ready values:
    images are `{"url", "width", "height", "is_cached"}`, and `front_matter` is the whole
    parsed mapping made JSON-safe (datetimes as ISO strings), related entries included: those
    are shaped when read (app/entries.py).
    """

    id: str
    url: str
    title: str
    published_at: datetime
    provider_name: str
    provider_domain: str
    content_hash: str
    excerpt: str | None = None
    original_url: str | None = None
    amp_url: str | None = None
    cdn_amp_url: str | None = None
    category: str | None = None
    type: str | None = None
    quality: int | None = None
    heat: int | None = None
    published: bool | None = None
    removed: bool | None = None
    featured_content: str | None = None
    secured: str | None = None
    topics: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    front_matter: dict[str, Any] = field(default_factory=dict)
