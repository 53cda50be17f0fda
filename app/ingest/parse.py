"""Turn the bytes of one article file into a validated ArticleRecord, or raise IngestError.

Pure: no I/O, no database. Any failure, whatever its cause, surfaces as IngestError.
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
from datetime import date, datetime
from typing import Any, NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.resolver import Resolver

from app.ingest.fields import (
    LINE_OFFSET,
    build_record,
    clip,
    describe,
    node_line,
)
from app.ingest.record import ArticleRecord
from app.ingest.rejection import IngestError

__all__ = ["DEFAULT_MAX_SIZE", "MAX_DEPTH", "parse_article"]

MAX_DEPTH = 64
DEFAULT_MAX_SIZE = 10 * 1024 * 1024

_TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ = _TAG + "str", _TAG + "map", _TAG + "seq"
_NUMBERS = frozenset((_TAG + "int", _TAG + "float"))
_VALUE, _MERGE = _TAG + "value", _TAG + "merge"
# No int64 or double needs more characters, and sexagesimal literals (1:2:3...) take
# quadratic time to convert, so longer number literals are refused before conversion.
_MAX_NUMBER_LITERAL = 128

# libyaml's composer recurses in C and can overflow the stack on deeply nested input, so
# nesting must be bounded before composing. Every two levels of block nesting take at least
# one more column of indentation or indicators, and every flow level takes a bracket: a
# file with no long run of indicators at a line start, few brackets, no anchor, alias or
# tag in node position and no unusual line break is shallower than MAX_DEPTH and goes
# straight to the composer, which keeps real files at one libyaml pass. Anything else is
# first checked exactly over the event stream, which libyaml produces iteratively.
_FLOW_BUDGET = 16
_DEEP_PREFIX = re.compile(r"\n[ \t?:\-]{20}")
_RARE_BREAKS = ("\x85", "\u2028", "\u2029", "\ufeff")
_NODE_START = frozenset("-:?,[{\n\r")
# Double-quoted scalars can spell NUL as an escape; only then are parsed strings searched.
_NUL_ESCAPE = re.compile(r"\\(?:0|x00|u0000|U00000000)")

_IMPLICIT = {first: tuple(pairs) for first, pairs in Resolver.yaml_implicit_resolvers.items()}
_NOT_JSON = frozenset((float, datetime, date))


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _jsonable(value: Any) -> Any:
    if type(value) is float:
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if type(value) is datetime and not value.utcoffset():  # naive values are UTC
        return value.replace(tzinfo=None).isoformat() + "Z"
    return value.isoformat()


class _Loader(yaml.CSafeLoader):
    """libyaml with a small strict constructor: core tags only, no aliases, bounded depth.

    Building plain dicts and lists directly is also faster than SafeConstructor's generic
    machinery, which pays for the checks done around it. Values come out JSON-safe;
    `originals` maps the id of each converted value to what YAML made of it, so that type
    checks still see a timestamp where the file has one.
    """

    yaml_constructors = {
        _TAG + name: SafeConstructor.yaml_constructors[_TAG + name]
        for name in ("null", "bool", "int", "float", "timestamp")
    }
    key_nodes: dict[str, Node]
    originals: dict[int, Any]
    _seen: set[Node]

    # libyaml's composer calls these two around every node, for path resolvers, which this
    # loader never has (BaseResolver's versions return at once then). As builtins that ignore
    # their arguments, the calls stay in C: 6 % of the whole parse of a typical file. (Their
    # results are ignored, hence the types that differ from the stubs'.)
    descend_resolver = staticmethod(operator.is_)  # type: ignore[assignment]
    ascend_resolver = staticmethod(tuple)  # type: ignore[assignment]

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """BaseResolver.resolve minus path resolvers, which this loader never has.

        It runs once per scalar, so the shortcut is worth a few percent of the whole parse.
        """
        if kind is ScalarNode:
            if implicit[0]:
                for tag, pattern in _IMPLICIT.get(value[:1], ()):
                    if pattern.match(value):
                        return tag
            return _STR
        return _MAP if kind is MappingNode else _SEQ

    def construct_document(self, node: Node) -> dict[str, Any]:
        self._seen, self.originals, self.key_nodes = {node}, {}, {}
        if type(node) is not MappingNode or node.tag != _MAP:
            found = "a list" if isinstance(node.value, list) else "a single value"
            raise IngestError(f"front matter must be a mapping, found {found}", node_line(node))
        data: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, 1)
            self.key_nodes[key] = key_node
            data[key] = self._build(value_node, 2)
        if len(data) != len(node.value):
            self._duplicate(node, 1)
        return data

    def _build(self, node: Node, depth: int) -> Any:
        cls = type(node)
        if cls is ScalarNode:
            if node.tag == _STR:
                return node.value
            value = self._scalar(node)
            if type(value) not in _NOT_JSON:
                return value
            safe = _jsonable(value)
            if safe is not value:
                self.originals[id(safe)] = value
            return safe
        if node in self._seen:
            raise IngestError("YAML aliases are not allowed", node_line(node))
        self._seen.add(node)
        if depth > MAX_DEPTH:
            raise _too_deep(node)
        if cls is MappingNode:
            if node.tag != _MAP:
                raise _tag_error(node)
            result = {}
            for key_node, value_node in node.value:
                result[self._key(key_node, depth)] = self._build(value_node, depth + 1)
            if len(result) != len(node.value):
                self._duplicate(node, depth)
            return result
        if node.tag != _SEQ:
            raise _tag_error(node)
        return [self._build(item, depth + 1) for item in node.value]

    def _key(self, node: Node, depth: int) -> str:
        if type(node) is ScalarNode:
            key = node.value if node.tag == _STR else self._scalar(node)
        else:
            key = self._build(node, depth + 1)
        if type(key) is not str:
            raise IngestError(
                f"mapping keys must be strings, found {describe(key)}; quote the key",
                node_line(node),
            )
        return key

    def _scalar(self, node: Node) -> Any:
        tag = node.tag
        constructor = self.yaml_constructors.get(tag)
        if constructor is None:
            if tag == _VALUE:  # a plain "=" is text to anyone reading the file
                return node.value
            raise _tag_error(node)
        if tag in _NUMBERS and len(node.value) > _MAX_NUMBER_LITERAL:
            raise IngestError(f"number literal {clip(node.value)} is too long", node_line(node))
        try:
            return constructor(self, node)
        except Exception as exc:
            raise IngestError(
                f"invalid {_short_tag(tag)} value {clip(node.value)}: {exc}", node_line(node)
            ) from exc

    def _duplicate(self, node: Node, depth: int) -> NoReturn:
        seen: set[str] = set()
        for key_node, _ in node.value:
            key = self._key(key_node, depth)
            if key in seen:
                raise IngestError(f"duplicate key {key!r}", node_line(key_node))
            seen.add(key)
        raise AssertionError("no duplicate key found")


def _too_deep(node: Any) -> IngestError:
    return IngestError(f"front matter is nested deeper than {MAX_DEPTH} levels", node_line(node))


def _tag_error(node: Node) -> IngestError:
    if node.tag == _MERGE:
        return IngestError("YAML merge keys (<<) are not supported", node_line(node))
    return IngestError(f"YAML tag {_short_tag(node.tag)} is not allowed here", node_line(node))


def _front_matter_bounds(text: str) -> tuple[int, int]:
    """Where the YAML between the fences starts and ends in `text`."""
    first_end = text.find("\n")
    first = text[:first_end] if first_end >= 0 else text[:80]
    if first.rstrip(" \t\r") != "---":
        raise IngestError("no front matter: the first line must be ---", 1)
    pos = first_end
    while pos >= 0:
        pos = text.find("\n---", pos)
        if pos < 0:
            break
        line_end = text.find("\n", pos + 4)
        if not text[pos + 4 : line_end if line_end >= 0 else len(text)].strip(" \t\r"):
            return first_end + 1, pos + 1
        pos += 1
    raise IngestError("front matter is not closed: no --- line after the opening one", 1)


def _needs_event_check(text: str, start: int, end: int, source: str) -> bool:
    if source.count("[") + source.count("{") >= _FLOW_BUDGET:
        return True
    if _DEEP_PREFIX.search(text, start - 1, end):
        return True
    if "\r" in source and source.count("\r") != source.count("\r\n"):
        return True
    if any(char in source for char in _RARE_BREAKS):
        return True
    for char in "&*!":
        index = source.find(char)
        while index >= 0:
            before = index - 1
            while before >= 0 and source[before] in " \t":
                before -= 1
            if before < 0 or source[before] in _NODE_START:
                return True
            index = source.find(char, index + 1)
    return False


def _check_events(source: str) -> None:
    """Refuse anchors, aliases and deep nesting without building anything."""
    loader = _Loader(source)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, AliasEvent):
                raise IngestError(f"YAML alias *{event.anchor} is not allowed", node_line(event))
            if isinstance(event, NodeEvent) and event.anchor is not None:
                raise IngestError(f"YAML anchor &{event.anchor} is not allowed", node_line(event))
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _too_deep(event)
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.YAMLError, source: str) -> IngestError:
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = ": ".join(part for part in (exc.context, exc.problem) if part)
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else int(mark.line) + LINE_OFFSET
        return IngestError(f"invalid YAML: {problem}", line)
    if isinstance(exc, yaml.reader.ReaderError):  # its position is a UTF-8 byte offset
        line = source.encode("utf-8", "replace")[: exc.position].count(b"\n") + LINE_OFFSET
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else "?"
        return IngestError(f"invalid YAML: character {char}: {exc.reason}", line)
    return IngestError(f"invalid YAML: {exc}")


def _decode_error(data: bytes, exc: UnicodeDecodeError) -> IngestError:
    hint = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
    byte = data[exc.start]
    return IngestError(
        f"not valid UTF-8{hint}: {exc.reason}, byte 0x{byte:02x} at offset {exc.start}",
        data.count(b"\n", 0, exc.start) + 1,
    )


def _has_nul(value: Any) -> bool:
    if type(value) is str:
        return "\x00" in value
    if type(value) is dict:
        return any("\x00" in key or _has_nul(item) for key, item in value.items())
    return type(value) is list and any(_has_nul(item) for item in value)


def _parse(data: bytes, max_size: int) -> ArticleRecord:
    size = len(data)
    if size > max_size:
        raise IngestError(f"file is {size} bytes, larger than the limit {max_size}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _decode_error(data, exc) from None
    nul = data.find(b"\x00")
    if nul >= 0:
        raise IngestError(f"NUL character at byte offset {nul}", data.count(b"\n", 0, nul) + 1)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text or text.isspace():
        raise IngestError("file is empty")
    start, end = _front_matter_bounds(text)
    source = text[start:end]
    loader = None
    try:
        if _needs_event_check(text, start, end, source):
            _check_events(source)
        loader = _Loader(source)
        front_matter = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source) from None
    finally:
        if loader is not None:
            loader.dispose()
    if front_matter is None:
        raise IngestError("front matter is empty", 1)
    if "\\" in source and _NUL_ESCAPE.search(source) and _has_nul(front_matter):
        raise IngestError("NUL character (escaped) in the front matter")
    return build_record(loader, front_matter, hashlib.sha256(data).hexdigest())


def parse_article(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> ArticleRecord:
    """Parse one article file; raises IngestError (and nothing else) when it is not valid."""
    try:
        return _parse(data, max_size)
    except IngestError:
        raise
    except RecursionError as exc:
        raise IngestError("front matter is nested too deeply to parse") from exc
    except Exception as exc:
        raise IngestError(
            f"could not parse the file: {type(exc).__name__}: {clip(str(exc))}"
        ) from exc
