"""Hostile article files, built in code, for the parser and ingest tests.

`HOSTILE` holds the small cases (name -> bytes); `LARGE` holds the big ones as functions so
importing this module stays cheap. `REASONS` gives, for every name, a fragment that the
rejection reason must contain. `write_hostile(directory)` writes them all as `<name>.md`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEEP = 100_000

GOOD = (
    b"---\n"
    b"title: A perfectly fine article\n"
    b"publishedDateTime: 2021-07-28T12:39:00Z\n"
    b'webUrl: "https://example.com/fine"\n'
    b"provider:\n"
    b"  name: Example\n"
    b"  domain: example.com\n"
    b"quality: 5\n"
    b"topics:\n"
    b"  - Testing\n"
    b"---\n"
)
"""A valid file; the hostile cases are small twists on it."""

_REQUIRED = {
    "title": b"title: A perfectly fine article\n",
    "publishedDateTime": b"publishedDateTime: 2021-07-28T12:39:00Z\n",
    "url": b'webUrl: "https://example.com/fine"\n',
    "provider": b"provider:\n  name: Example\n  domain: example.com\n",
}


def good_with(extra: bytes) -> bytes:
    """The good file with `extra` lines appended to its front matter."""
    return GOOD[: -len(b"---\n")] + extra + b"---\n"


def without(field: str, extra: bytes = b"") -> bytes:
    """The good file without one required field (optionally replaced by `extra`)."""
    return GOOD.replace(_REQUIRED[field], extra)


def _front(yaml_text: bytes) -> bytes:
    return b"---\n" + yaml_text + b"\n---\n"


_LAUGHS = b"a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + b"".join(
    b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n"
    % ((ord("a") + i,) * 2 + (ord("a") + i - 1,) * 9)
    for i in range(1, 10)
)

# name -> (content, fragment of the reason)
_SMALL: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "empty"),
    "only-bom": (b"\xef\xbb\xbf", "empty"),
    "only-whitespace": (b"  \n\n\t\n", "empty"),
    "no-opening-fence": (GOOD[4:], "first line must be ---"),
    "fence-not-first": (b"\n" + GOOD, "first line must be ---"),
    "unterminated": (GOOD[: -len(b"---\n")], "not closed"),
    "unterminated-fence-with-text": (GOOD[: -len(b"---\n")] + b"--- not a fence\n", "not closed"),
    "only-opening-fence": (b"---", "not closed"),
    "latin-1": (good_with("excerpt: café crème\n".encode("latin-1")), "not valid UTF-8"),
    "utf-16": (GOOD.decode().encode("utf-16"), "UTF-16"),
    "invalid-utf8-start": (good_with(b"excerpt: \xff\xfe\n"), "not valid UTF-8"),
    "truncated-utf8": (GOOD + b"body \xe2\x82", "not valid UTF-8"),
    "utf8-surrogate": (good_with(b"excerpt: \xed\xa0\x80\n"), "not valid UTF-8"),
    "overlong-utf8": (good_with(b"excerpt: \xc0\xaf\n"), "not valid UTF-8"),
    "nul-in-front-matter": (good_with(b"excerpt: a\x00b\n"), "NUL"),
    "nul-in-body": (GOOD + b"body\x00\n", "NUL"),
    "nul-escaped-in-yaml": (good_with(b'excerpt: "a\\0b"\n'), "NUL"),
    "control-character": (good_with(b"excerpt: a\x07b\n"), "control characters"),
    "root-list": (_front(b"- title\n- webUrl"), "must be a mapping, found a list"),
    "root-scalar": (_front(b"just a sentence"), "must be a mapping, found a single value"),
    "root-empty": (b"---\n---\n", "front matter is empty"),
    "root-comment-only": (_front(b"# nothing here"), "front matter is empty"),
    "root-null": (_front(b"~"), "must be a mapping, found a single value"),
    "non-string-key-int": (good_with(b"2021: year\n"), "keys must be strings"),
    "non-string-key-bool": (good_with(b"yes: indeed\n"), "keys must be strings"),
    "non-string-key-null": (good_with(b"~: nothing\n"), "keys must be strings"),
    "non-string-key-list": (good_with(b"? [a, b]\n: pair\n"), "keys must be strings"),
    "nested-non-string-key": (good_with(b"extra:\n  1: one\n"), "keys must be strings"),
    "duplicate-key": (good_with(b"title: Again\n"), "duplicate key 'title'"),
    "invalid-yaml": (good_with(b'excerpt: "never closed\n'), "invalid YAML"),
    "tab-indent": (good_with(b"extra:\n\t- a\n"), "invalid YAML"),
    "two-documents": (good_with(b"--- second: doc\n"), "single document"),
    "missing-title": (without("title"), "title is required"),
    "blank-title": (without("title", b'title: "  "\n'), "title is blank"),
    "null-title": (without("title", b"title:\n"), "title is required"),
    "title-int": (without("title", b"title: 2021\n"), "title must be a string"),
    "title-list": (without("title", b"title: [a]\n"), "title must be a string"),
    "missing-date": (without("publishedDateTime"), "publishedDateTime is required"),
    "date-not-iso": (
        without("publishedDateTime", b"publishedDateTime: July 28, 2021\n"),
        "not an ISO 8601 timestamp",
    ),
    "date-int": (without("publishedDateTime", b"publishedDateTime: 20210728\n"), "timestamp"),
    "date-impossible": (
        without("publishedDateTime", b"publishedDateTime: 2021-02-30T00:00:00Z\n"),
        "day is out of range",
    ),
    "date-out-of-range": (
        without("publishedDateTime", b"publishedDateTime: 0001-01-01T00:00:00+01:00\n"),
        "out of range",
    ),
    "date-string-out-of-range": (
        without("publishedDateTime", b'publishedDateTime: "9999-12-31T23:00:00-05:00"\n'),
        "out of range",
    ),
    "missing-url": (without("url"), "no URL"),
    "blank-url": (without("url", b'webUrl: "   "\noriginalUrl: ""\n'), "no URL"),
    "url-int": (without("url", b"webUrl: 42\n"), "webUrl must be a string"),
    "original-url-list": (good_with(b"originalUrl: [a]\n"), "originalUrl must be a string"),
    "missing-provider": (without("provider"), "provider is required"),
    "provider-string": (without("provider", b"provider: Example\n"), "provider must be a mapping"),
    "provider-no-name": (
        without("provider", b"provider:\n  domain: example.com\n"),
        "provider.name is required",
    ),
    "provider-no-domain": (
        without("provider", b"provider:\n  name: Example\n"),
        "provider.domain is required",
    ),
    "provider-name-int": (
        without("provider", b"provider:\n  name: 7\n  domain: example.com\n"),
        "provider.name must be a string",
    ),
    "provider-domain-blank": (
        without("provider", b"provider:\n  name: Example\n  domain: ' '\n"),
        "provider.domain is blank",
    ),
    "quality-string": (GOOD.replace(b"quality: 5", b'quality: "5"'), "quality must be an integer"),
    "quality-float": (GOOD.replace(b"quality: 5", b"quality: 5.5"), "quality must be an integer"),
    "quality-bool": (GOOD.replace(b"quality: 5", b"quality: true"), "found a boolean"),
    "quality-nan": (GOOD.replace(b"quality: 5", b"quality: .nan"), "found a float"),
    "quality-too-big": (
        GOOD.replace(b"quality: 5", b"quality: 9223372036854775808"),
        "out of the signed 64-bit range",
    ),
    "heat-too-small": (good_with(b"heat: -9223372036854775809\n"), "out of the signed 64-bit"),
    "heat-list": (good_with(b"heat: [1]\n"), "heat must be an integer"),
    "published-string": (good_with(b'published: "true"\n'), "published must be a boolean"),
    "removed-int": (good_with(b"removed: 1\n"), "removed must be a boolean"),
    "topics-string": (GOOD.replace(b"  - Testing\n", b"  Testing\n"), "topics must be a list"),
    "topics-int-item": (GOOD.replace(b"- Testing", b"- 2021"), "topics[0] must be a string"),
    "topics-date-item": (GOOD.replace(b"- Testing", b"- 2021-07-28"), "found a date"),
    "topics-map-item": (GOOD.replace(b"- Testing", b"- {a: b}"), "topics[0] must be a string"),
    "images-map": (good_with(b"images: {url: x}\n"), "images must be a list"),
    "images-string-item": (good_with(b"images:\n  - http://x/y.jpg\n"), "images[0] must be a"),
    "related-string": (good_with(b"related: none\n"), "related must be a list"),
    "related-list-item": (good_with(b"related:\n  - [a, b]\n"), "related[0] must be a mapping"),
    "excerpt-int": (good_with(b"excerpt: 12\n"), "excerpt must be a string"),
    "category-list": (good_with(b"category: [a]\n"), "category must be a string"),
    "type-bool": (good_with(b"type: no\n"), "type must be a string"),
    "amp-url-bool": (good_with(b"ampWebUrl: yes\n"), "ampWebUrl must be a string"),
    "cdn-amp-url-map": (good_with(b"cdnAmpWebUrl: {a: b}\n"), "cdnAmpWebUrl must be a string"),
    "featured-content-int": (good_with(b"featuredContent: 0\n"), "featuredContent must be a"),
    "secured-int": (good_with(b"secured: 123\n"), "secured must be a string"),
    "anchor": (good_with(b"excerpt: &note hello\n"), "anchor &note"),
    "anchor-on-mapping": (good_with(b"extra: &m\n  a: 1\n"), "anchor &m"),
    "alias-undefined": (good_with(b"excerpt: *nothing\n"), "alias *nothing"),
    "anchor-and-alias": (good_with(b"excerpt: &e hello\ncategory: *e\n"), "anchor &e"),
    "alias-in-flow": (good_with(b"extra: [&x a,*x]\n"), "anchor &x"),
    "billion-laughs": (good_with(_LAUGHS), "anchor &a"),
    "python-apply": (
        good_with(b'excerpt: !!python/object/apply:os.system ["echo pwned"]\n'),
        "tag !!python/object/apply:os.system",
    ),
    "python-name": (good_with(b"excerpt: !!python/name:os.system\n"), "tag !!python/name"),
    "python-verbose-tag": (
        good_with(b"excerpt: !<tag:yaml.org,2002:python/object:object> {}\n"),
        "tag !!python/object:object",
    ),
    "binary": (good_with(b"excerpt: !!binary aGVsbG8=\n"), "tag !!binary"),
    "set": (good_with(b"extra: !!set {a, b}\n"), "tag !!set"),
    "omap": (good_with(b"extra: !!omap [a: 1]\n"), "tag !!omap"),
    "pairs": (good_with(b"extra: !!pairs [a: 1]\n"), "tag !!pairs"),
    "custom-tag": (good_with(b"excerpt: !shout hello\n"), "tag !shout"),
    "tag-directive": (
        b"---\n%TAG !e! tag:example.com,2000:\n---\n" + GOOD[4:],
        "invalid YAML",
    ),
    "str-tag-on-list": (good_with(b"extra: !!str [a]\n"), "tag !!str"),
    "merge-key": (good_with(b"extra:\n  <<: {a: 1}\n"), "merge keys"),
    "long-int-literal": (good_with(b"heat: " + b"9" * 5000 + b"\n"), "too long"),
    "sexagesimal-bomb": (good_with(b"heat: 1" + b":59" * 20000 + b"\n"), "too long"),
    "sexagesimal-float-bomb": (good_with(b"x: 1" + b":59" * 20000 + b".5\n"), "too long"),
    "deep-flow-65": (good_with(b"extra: " + b"[" * 65 + b"]" * 65 + b"\n"), "deeper than 64"),
    "deep-block-mapping": (
        good_with(b"".join(b"  " * i + b"k%d:\n" % i for i in range(70)) + b"  " * 70 + b"v\n"),
        "deeper than 64",
    ),
}

# Deep nesting is refused by this parser ("nested deeper than 64 levels") or, for flow
# collections, by libyaml's own scanner limit when it has one ("maximum nesting depth").
_LARGE: dict[str, tuple[Callable[[], bytes], str]] = {
    "deep-flow-sequence": (lambda: good_with(b"x: " + b"[" * DEEP + b"]" * DEEP + b"\n"), "nest"),
    "deep-flow-unclosed": (lambda: good_with(b"x: " + b"[" * DEEP + b"\n"), "nest"),
    "deep-flow-mapping": (lambda: good_with(b"x: " + b"{a: " * DEEP + b"}" * DEEP + b"\n"), "nest"),
    "deep-flow-tagged": (lambda: good_with(b"x: " + b"!!seq [" * DEEP + b"\n"), "nest"),
    "deep-flow-anchored": (
        lambda: good_with(b"x: " + b"".join(b"[&a%d " % i for i in range(DEEP)) + b"\n"),
        "anchor &a0",
    ),
    "deep-block-sequence": (lambda: good_with(b"x:\n  " + b"- " * DEEP + b"x\n"), "deeper"),
    "deep-root-sequence": (lambda: b"---\n" + b"- " * DEEP + b"x\n---\n", "deeper"),
    "deep-explicit-keys": (lambda: good_with(b"x:\n  " + b"? " * DEEP + b"x\n"), "deeper"),
    "deep-block-indent": (
        lambda: good_with(b"".join(b" " * i + b"-\n" for i in range(2, 2 * 1500, 2))),
        "deeper",
    ),
    "huge-single-line": (lambda: b"---\ntitle: " + b"a" * (5 * 1024 * 1024), "not closed"),
    "huge-line-no-fence": (lambda: b"x" * (5 * 1024 * 1024), "first line must be ---"),
    "oversized": (
        lambda: good_with(b"excerpt: " + b"a" * DEFAULT_MAX_SIZE + b"\n"),
        "larger than the limit",
    ),
}

HOSTILE: dict[str, bytes] = {name: content for name, (content, _) in _SMALL.items()}
LARGE: dict[str, Callable[[], bytes]] = {name: make for name, (make, _) in _LARGE.items()}
REASONS: dict[str, str] = {name: reason for name, (_, reason) in (_SMALL | _LARGE).items()}


def hostile_cases(*, large: bool = True) -> Iterator[tuple[str, bytes]]:
    """Every case as (name, content); the large ones are built on the way."""
    yield from HOSTILE.items()
    if large:
        for name, make in LARGE.items():
            yield name, make()


def write_hostile(directory: Path, *, large: bool = True) -> list[Path]:
    """Write every case to `directory/<name>.md` and return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in hostile_cases(large=large):
        path = directory / f"{name}.md"
        path.write_bytes(content)
        paths.append(path)
    return paths
