"""Typed reading of a parsed front matter into an ArticleRecord (SPEC section 1's rules)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NoReturn, Protocol

from yaml.nodes import Node

from app.entries import WHEN_TYPES, image, int64, trimmed, utc
from app.ingest.record import ArticleRecord, article_id
from app.ingest.rejection import IngestError

# Marks count from 0 and the front matter starts on the file's second line.
LINE_OFFSET = 2


class KeyedLoader(Protocol):
    """What the loader remembers: each top-level key's node, and values before JSON-safety."""

    key_nodes: dict[str, Node]
    originals: dict[int, Any]


_TYPE_NAMES: dict[type, str] = {str: "a string", int: "an integer", bool: "a boolean"}
_TYPE_NAMES |= {float: "a float", type(None): "null", list: "a list", dict: "a mapping"}
_TYPE_NAMES |= {datetime: "a timestamp", date: "a date"}
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
        if value is not None and int64(value) is None:
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
        if type(value) not in WHEN_TYPES:
            self.fail(key, f"{key} must be a timestamp, found {describe(value)}")
        try:
            return utc(value)
        except ValueError:
            self.fail(key, f"{key} {clip(value)} is not an ISO 8601 timestamp")
        except OverflowError:
            self.fail(key, f"{key} {clip(value)} is out of range")

    # Nested entries are lenient: a value of the wrong type becomes None.
    def text_of(self, value: Any) -> str | None:
        return value if type(value) is str and id(value) not in self.originals else None

    def url_of(self, value: Any) -> str | None:
        """Trimmed; blank is missing."""
        return trimmed(value, self.text_of)


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
    topics = fields.items("topics", str, "string")
    images = [image(entry, fields.text_of) for entry in fields.items("images", dict, "mapping")]
    fields.items("related", dict, "mapping")  # checked here, shaped when read (app/entries.py)
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
        topics=topics,
        images=images,
        front_matter=data,
    )
