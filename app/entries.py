"""Nested entries of a front matter in the API's shape: images and related articles.

Nested entries are lenient: a value of the wrong type becomes None and the file is kept.
The ingest shapes `images` as it parses (the first one is every summary's `image`). Related
entries are shaped when an article is read, from its stored front matter: stored once, not
twice, since they are most of a real front matter. Read back from JSON, a YAML timestamp is
its ISO 8601 text (and a non-finite float "nan" or "inf"), so a related entry whose file gives
one of those where text belongs shows that text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
WHEN_TYPES = frozenset((datetime, date, str))

# Reads a value as text, or None where it is not text.
TextOf = Callable[[Any], str | None]


def int64(value: Any) -> int | None:
    return value if type(value) is int and INT64_MIN <= value <= INT64_MAX else None


def utc(value: datetime | date | str) -> datetime:
    """Naive UTC; raises ValueError or OverflowError when that is impossible."""
    if type(value) is str:
        value = datetime.fromisoformat(value.strip())
    elif type(value) is date:
        return datetime(value.year, value.month, value.day)
    assert isinstance(value, datetime)
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def text(value: Any) -> str | None:
    return value if type(value) is str else None


def trimmed(value: Any, text_of: TextOf = text) -> str | None:
    """Trimmed; blank is missing."""
    return None if (found := text_of(value)) is None else (found.strip() or None)


def image(entry: Mapping[str, Any], text_of: TextOf = text) -> dict[str, Any]:
    cached = entry.get("isCached")
    return {
        "url": trimmed(entry.get("url"), text_of),
        "width": int64(entry.get("width")),
        "height": int64(entry.get("height")),
        "is_cached": cached if type(cached) is bool else None,
    }


def related_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    provider = entry.get("provider")
    if type(provider) is dict:
        name, domain = text(provider.get("name")), text(provider.get("domain"))
        provider = None if name is None and domain is None else {"name": name, "domain": domain}
    else:
        provider = None
    when: Any = entry.get("publishedDateTime")
    try:
        published_at = utc(when).isoformat() + "Z" if type(when) in WHEN_TYPES else None
    except (ValueError, OverflowError):
        published_at = None
    images = entry.get("images")
    return {
        "url": trimmed(entry.get("webUrl")) or trimmed(entry.get("originalUrl")),
        "title": text(entry.get("title")),
        "excerpt": text(entry.get("excerpt")),
        "published_at": published_at,
        "type": text(entry.get("type")),
        "quality": int64(entry.get("quality")),
        "provider": provider,
        "images": [image(i) for i in images if type(i) is dict] if type(images) is list else [],
    }


def related_entries(front_matter: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """A front matter's related entries in file order (the ingest checked it is a list of
    mappings; anything else reads as none)."""
    entries = (front_matter or {}).get("related")
    if type(entries) is not list:
        return []
    return [related_entry(entry) for entry in entries if type(entry) is dict]
