"""Typed reading of a parsed front matter into an ArticleRecord (SPEC section 1's rules)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, NoReturn, Protocol

from yaml.nodes import Node

from app.ingest.record import ArticleRecord, IngestError, article_id

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Marks count from 0 and the front matter starts on the file's second line.
LINE_OFFSET = 2


class KeyedLoader(Protocol):
    """What the loader remembers: each top-level key's node, and values before JSON-safety."""

    key_nodes: dict[str, Node]
    originals: dict[int, Any]


_TYPE_NAMES: dict[type, str] = {str: "a string", int: "an integer", bool: "a boolean"}
_TYPE_NAMES |= {float: "a float", type(None): "null", list: "a list", dict: "a mapping"}
_TYPE_NAMES |= {datetime: "a timestamp", date: "a date"}
_WHEN_TYPES = frozenset((datetime, date, str))
_STRINGS = [("excerpt", "excerpt"), ("category", "category"), ("type", "type")]
_STRINGS += [("featuredContent", "featured_content"), ("secured", "secured")]


def node_line(node: Node | Any) -> int:
    return int(node.start_mark.line) + LINE_OFFSET


def clip(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(value: object) -> str:
    name = _TYPE_NAMES.get(type(value), type(value).__name__)
    if isinstance(value, list | dict) or value is None:
        return name
    return f"{name} ({clip(value)})"


def _utc(value: datetime | date | str) -> datetime:
    """Naive UTC; raises ValueError or OverflowError when that is impossible."""
    if type(value) is str:
        value = datetime.fromisoformat(value.strip())
    elif type(value) is date:
        return datetime(value.year, value.month, value.day)
    assert isinstance(value, datetime)
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def _int64(value: Any) -> int | None:
    return value if type(value) is int and INT64_MIN <= value <= INT64_MAX else None


class _Fields:
    """Typed reading of the parsed front matter; errors carry the line of the top-level key."""

    __slots__ = ("data", "key_nodes", "originals")

    def __init__(self, loader: KeyedLoader, data: dict[str, Any]) -> None:
        self.data, self.key_nodes, self.originals = data, loader.key_nodes, loader.originals

    def plain(self, value: Any) -> Any:
        """What YAML made of a value, before it was made JSON-safe."""
        return self.originals.get(id(value), value) if type(value) is str else value

    def fail(self, key: str, message: str) -> NoReturn:
        node = self.key_nodes.get(key)
        raise IngestError(message, None if node is None else node_line(node))

    def typed(self, key: str, kind: type, expected: str, parent: str = "") -> Any:
        owner = self.data[parent] if parent else self.data
        value = self.plain(owner.get(key))
        if value is None or type(value) is kind:
            return value
        label = f"{parent}.{key}" if parent else key
        self.fail(parent or key, f"{label} must be {expected}, found {describe(value)}")

    def required(self, key: str, parent: str = "") -> str:
        value = self.typed(key, str, "a string", parent)
        if value is None or not value.strip():
            label = f"{parent}.{key}" if parent else key
            self.fail(parent or key, f"{label} is {'required' if value is None else 'blank'}")
        return value

    def url(self, key: str) -> str | None:
        return self.url_of(self.typed(key, str, "a string"))

    def integer(self, key: str) -> int | None:
        value = self.typed(key, int, "an integer")
        if value is not None and _int64(value) is None:
            self.fail(key, f"{key} {value} is out of the signed 64-bit range")
        return value

    def items(self, key: str, kind: type, noun: str) -> list[Any]:
        values = self.typed(key, list, f"a list of {noun}s") or []
        for index, item in enumerate(values):
            if type(item := self.plain(item)) is not kind:
                self.fail(key, f"{key}[{index}] must be a {noun}, found {describe(item)}")
        return values

    def published_at(self) -> datetime:
        key = "publishedDateTime"
        value = self.plain(self.data.get(key))
        if value is None:
            self.fail(key, f"{key} is required")
        if type(value) not in _WHEN_TYPES:
            self.fail(key, f"{key} must be a timestamp, found {describe(value)}")
        try:
            return _utc(value)
        except ValueError:
            self.fail(key, f"{key} {clip(value)} is not an ISO 8601 timestamp")
        except OverflowError:
            self.fail(key, f"{key} {clip(value)} is out of range")

    # Nested entries are lenient: a value of the wrong type becomes None.
    def text_of(self, value: Any) -> str | None:
        return value if type(value) is str and id(value) not in self.originals else None

    def url_of(self, value: Any) -> str | None:
        """Trimmed; blank is missing."""
        return None if (text := self.text_of(value)) is None else (text.strip() or None)

    def image(self, entry: dict[str, Any]) -> dict[str, Any]:
        cached = entry.get("isCached")
        return {
            "url": self.url_of(entry.get("url")),
            "width": _int64(entry.get("width")),
            "height": _int64(entry.get("height")),
            "is_cached": cached if type(cached) is bool else None,
        }

    def related(self, entry: dict[str, Any]) -> dict[str, Any]:
        provider = entry.get("provider")
        if type(provider) is dict:
            name, domain = self.text_of(provider.get("name")), self.text_of(provider.get("domain"))
            provider = None if name is None and domain is None else {"name": name, "domain": domain}
        else:
            provider = None
        when = self.plain(entry.get("publishedDateTime"))
        try:
            published_at = _utc(when).isoformat() + "Z" if type(when) in _WHEN_TYPES else None
        except (ValueError, OverflowError):
            published_at = None
        images = entry.get("images")
        return {
            "url": self.url_of(entry.get("webUrl")) or self.url_of(entry.get("originalUrl")),
            "title": self.text_of(entry.get("title")),
            "excerpt": self.text_of(entry.get("excerpt")),
            "published_at": published_at,
            "type": self.text_of(entry.get("type")),
            "quality": _int64(entry.get("quality")),
            "provider": provider,
            "images": [self.image(i) for i in images if type(i) is dict]
            if type(images) is list
            else [],
        }


def build_record(loader: KeyedLoader, data: dict[str, Any], content_hash: str) -> ArticleRecord:
    fields = _Fields(loader, data)
    title = fields.required("title")
    published_at = fields.published_at()
    original_url = fields.url("originalUrl")
    url = fields.url("webUrl") or original_url
    if url is None:
        raise IngestError("no URL: webUrl or originalUrl is required")
    if fields.typed("provider", dict, "a mapping with name and domain") is None:
        fields.fail("provider", "provider is required")
    provider_name = fields.required("name", "provider")
    provider_domain = fields.required("domain", "provider")
    typed = {name: fields.typed(key, str, "a string") for key, name in _STRINGS}
    typed |= {key: fields.integer(key) for key in ("quality", "heat")}
    typed |= {key: fields.typed(key, bool, "a boolean") for key in ("published", "removed")}
    if typed["secured"] is not None:
        typed["secured"] = "".join(typed["secured"].split())
    return ArticleRecord(
        id=article_id(url),
        url=url,
        title=title,
        published_at=published_at,
        provider_name=provider_name,
        provider_domain=provider_domain,
        content_hash=content_hash,
        original_url=original_url,
        amp_url=fields.url("ampWebUrl"),
        cdn_amp_url=fields.url("cdnAmpWebUrl"),
        **typed,
        topics=fields.items("topics", str, "string"),
        images=[fields.image(entry) for entry in fields.items("images", dict, "mapping")],
        related=[fields.related(entry) for entry in fields.items("related", dict, "mapping")],
        front_matter=data,
    )
