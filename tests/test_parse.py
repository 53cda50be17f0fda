"""The front-matter parser: real files, hand-written fixtures, hostile input and fuzzing."""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.entries import related_entries
from app.ingest import parse
from app.ingest.parse import DEFAULT_MAX_SIZE, MAX_DEPTH, parse_article
from app.ingest.record import ArticleRecord, article_id
from app.ingest.rejection import IngestError
from app.synth import generate_corpus
from tests.hostile import GOOD, HOSTILE, LARGE, REASONS, good_with, write_hostile

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "articles"
CORPUS = sorted((SHARED / "corpus" / "powerapps").glob("*.md"))
SEEDS = sorted((SHARED / "seeds").glob("*.txt"))
needs_shared = pytest.mark.skipif(not SEEDS or not CORPUS, reason="../shared is not present")


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def reject(data: bytes, **kwargs: Any) -> IngestError:
    with pytest.raises(IngestError) as caught:
        parse_article(data, **kwargs)
    return caught.value


def json_safe(value: Any) -> Any:
    """What the front matter must look like: the plain PyYAML result made JSON-safe."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is None or not offset:
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def bare_front_matter(data: bytes) -> Any:
    text = data.decode("utf-8-sig")
    return yaml.load(text[text.index("\n") + 1 : text.index("\n---", 3) + 1], yaml.CSafeLoader)


def check_record(record: ArticleRecord) -> None:
    """Invariants every accepted file satisfies."""
    assert record.url == record.url.strip() and record.url
    assert record.id == article_id(record.url)
    assert record.title.strip()
    assert record.published_at.tzinfo is None
    assert record.provider_name.strip() and record.provider_domain.strip()
    assert len(record.content_hash) == 64
    json.dumps(record.front_matter, allow_nan=False)
    json.dumps(related_entries(record.front_matter), allow_nan=False)
    json.dumps(record.images, allow_nan=False)
    for value in (record.quality, record.heat):
        assert value is None or (type(value) is int and -(2**63) <= value < 2**63)
    assert all(type(topic) is str for topic in record.topics)


# Real files


@needs_shared
def test_seed_field_by_field() -> None:
    data = SEEDS[0].read_bytes()
    record = parse_article(data)
    url = (
        "https://www.thestar.com.my/aseanplus/aseanplus-news/2021/07/28/"
        "china039s-top-court-outlines-facial-recognition-infringement"
    )
    assert record.url == url
    assert record.original_url == url
    assert record.id == hashlib.sha256(url.encode()).hexdigest()[:16]
    assert record.title == "China's top court outlines facial recognition infringement"
    assert record.excerpt is not None and record.excerpt.startswith("ANN): China's top court")
    assert record.published_at == datetime(2021, 7, 28, 12, 39)
    assert (record.provider_name, record.provider_domain) == ("The Star", "thestar.com.my")
    assert record.content_hash == hashlib.sha256(data).hexdigest()
    assert (record.category, record.type) == ("news", "article")
    assert (record.quality, record.heat, record.published, record.removed) == (39, -1, False, None)
    assert (record.amp_url, record.cdn_amp_url, record.featured_content) == (None, None, None)
    assert record.topics == ["Computer Vision", "AI"]
    assert record.images == [
        {
            "url": "https://apicms.thestar.com.my/uploads/images/2021/07/28/1236614.jpg",
            "width": 800,
            "height": 450,
            "is_cached": True,
        }
    ]
    [related] = related_entries(record.front_matter)
    assert related["url"] == (
        "https://www.wraltechwire.com/2021/07/25/"
        "id-me-more-states-requiring-facial-recognition-for-unemployment-benefits/"
    )
    assert related["title"].startswith("ID me: More states")
    assert related["published_at"] == "2021-07-25T13:23:00Z"
    assert (related["type"], related["quality"]) == ("article", 58)
    assert related["provider"] == {"name": "WRAL TechWire", "domain": "wraltechwire.com"}
    assert related["images"][0]["width"] == 1024 and related["images"][0]["is_cached"] is True
    assert record.secured is not None and record.secured.endswith(";iRvgy1ptmehFtEYcjlJ0tg==")
    assert record.front_matter["publishedDateTime"] == "2021-07-28T12:39:00Z"
    assert record.front_matter["related"][0]["cdnAmpWebUrl"].startswith("https://www-wraltechwire")
    assert record.front_matter == json_safe(bare_front_matter(data))


@needs_shared
def test_every_corpus_file_parses_like_plain_pyyaml() -> None:
    for path in CORPUS:
        data = path.read_bytes()
        record = parse_article(data)
        check_record(record)
        assert record.front_matter == json_safe(bare_front_matter(data)), path.name
        fm = record.front_matter
        assert record.url == (fm.get("webUrl") or fm["originalUrl"]).strip()
        assert record.title == fm["title"] and record.topics == fm["topics"]
        assert record.secured == "".join(fm["secured"].split())


def test_synthetic_files_parse_like_plain_pyyaml(tmp_path: Path) -> None:
    # The same check on generated files, which every machine has: the loader's own
    # constructor and resolver give what PyYAML's safe loader gives, made JSON-safe.
    generate_corpus(tmp_path, 300, seed=31)
    paths = sorted(tmp_path.rglob("*.md"))
    assert len(paths) == 300
    for path in paths:
        data = path.read_bytes()
        assert parse_article(data).front_matter == json_safe(bare_front_matter(data)), path.name


def test_loader_has_no_path_resolvers() -> None:
    # Its descend/ascend_resolver hooks are no-ops, which is right only while no path
    # resolver is registered (yaml.add_path_resolver on the loader or a base class).
    assert parse._Loader.yaml_path_resolvers == {}
    assert yaml.CSafeLoader.yaml_path_resolvers == {}


# Hand-written fixtures


def test_full_fixture() -> None:
    record = parse_article(fixture("full.md"))
    check_record(record)
    assert record.url == "https://example.org/harbour/cranes-weather"
    assert record.original_url == "https://example.org/harbour/cranes-weather?utm=feed"
    assert record.amp_url == "https://example.org/harbour/cranes-weather/amp"
    assert record.cdn_amp_url is not None and record.cdn_amp_url.endswith("cranes-weather/amp")
    assert record.excerpt == (
        "Port operators are testing models that&nbsp;predict gusts &amp; swell"
        " before a lift starts."
    )
    assert record.published_at == datetime(2022, 3, 14, 9, 26, 53)
    assert (record.quality, record.heat, record.published, record.removed) == (72, 15, True, False)
    assert record.topics == ["Logistics", "Machine Learning", " Weather "]
    assert record.images[1] == {
        "url": "https://example.org/img/swell.jpg",
        "width": None,
        "height": None,
        "is_cached": None,
    }
    good, odd = related_entries(record.front_matter)
    assert good == {
        "url": "https://example.net/tugboats",
        "title": "Tugboats go electric",
        "excerpt": "A quieter harbour is coming.",
        "published_at": "2022-03-01T09:00:00Z",
        "type": "article",
        "quality": 40,
        "provider": {"name": "Example Net", "domain": "example.net"},
        "images": [
            {"url": "https://example.net/tug.jpg", "width": 640, "height": 360, "is_cached": False}
        ],
    }
    # A malformed related entry keeps what fits and does not reject the file.
    assert odd == {
        "url": "https://example.com/oddity",
        "title": None,
        "excerpt": None,
        "published_at": None,
        "type": None,
        "quality": None,
        "provider": None,
        "images": [],
    }
    assert record.front_matter["mood"] == "calm"
    assert record.front_matter["provider"]["images"][0]["width"] == 50
    assert record.front_matter["related"][0]["publishedDateTime"] == "2022-03-01T10:00:00+01:00"
    assert record.secured == "c2VjcmV0LWJsb2ItMQ==;c2FsdA=="


def test_crlf_fixture() -> None:
    data = fixture("crlf.md")
    assert b"\r\n" in data
    record = parse_article(data)
    assert record.title == "Line endings from another world"
    assert record.secured == "abcdef"
    assert record.topics == ["Windows"]
    assert "\r" not in json.dumps(record.front_matter)


def test_bom_fixture() -> None:
    data = fixture("bom.md")
    assert data.startswith(b"\xef\xbb\xbf")
    record = parse_article(data)
    assert record.title == "Café owners adopt tablets \u2013 and like them"
    assert record.provider_name == "Example Café"
    assert record.url == record.original_url == "https://example.com/cafe"
    assert record.content_hash == hashlib.sha256(data).hexdigest()


def test_folded_secured_fixture() -> None:
    record = parse_article(fixture("folded-secured.md"))
    assert record.secured == (
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3"
        "ODkrLw==;c2FsdC12YWx1ZQ=="
    )
    assert record.published_at == datetime(2021, 6, 30, 23, 15)
    assert record.front_matter["publishedDateTime"] == "2021-06-30T23:15:00Z"


def test_video_fixture() -> None:
    record = parse_article(fixture("video.md"))
    assert record.type == "video"
    assert record.url == "https://video.example.com/watch?v=abc123XYZ"
    assert record.featured_content is not None
    assert record.featured_content.startswith('<iframe width="800"')
    assert record.excerpt == "In this video we build a form.     Steps covered:  • Layout  • Rules"


def test_minimal_fixture_has_null_optional_fields() -> None:
    record = parse_article(fixture("minimal.md"))
    assert record.published_at == datetime(2019, 12, 31)
    assert record.front_matter["publishedDateTime"] == "2019-12-31"
    for name in ("excerpt", "amp_url", "category", "type", "quality", "heat", "published"):
        assert getattr(record, name) is None, name
    assert (record.removed, record.featured_content, record.secured) == (None, None, None)
    assert (record.topics, record.images, related_entries(record.front_matter)) == ([], [], [])


def test_every_fixture_is_valid() -> None:
    paths = sorted(FIXTURES.glob("*.md"))
    assert len(paths) >= 6
    for path in paths:
        check_record(parse_article(path.read_bytes()))


# Dates and times


@pytest.mark.parametrize(
    ("value", "expected", "in_front_matter"),
    [
        ("2021-07-28T12:39:00Z", datetime(2021, 7, 28, 12, 39), "2021-07-28T12:39:00Z"),
        ("2021-07-28 12:00:00", datetime(2021, 7, 28, 12), "2021-07-28T12:00:00Z"),
        ("2021-07-28", datetime(2021, 7, 28), "2021-07-28"),
        ("2021-07-28T12:00:00+02:00", datetime(2021, 7, 28, 10), "2021-07-28T12:00:00+02:00"),
        ("2021-07-28T12:00:00.25-01:30", datetime(2021, 7, 28, 13, 30, 0, 250000), None),
        ('"2021-07-28T12:39:00Z"', datetime(2021, 7, 28, 12, 39), "2021-07-28T12:39:00Z"),
        ('"2021-07-28"', datetime(2021, 7, 28), "2021-07-28"),
        ('"2021-07-28T23:30:00-01:00"', datetime(2021, 7, 29, 0, 30), None),
    ],
)
def test_published_date_time_forms(value: str, expected: datetime, in_front_matter: str) -> None:
    data = GOOD.replace(b"2021-07-28T12:39:00Z", value.encode())
    record = parse_article(data)
    assert record.published_at == expected
    if in_front_matter is not None:
        assert record.front_matter["publishedDateTime"] == in_front_matter


# YAML 1.1 surprises, pinned: what PyYAML makes of them and whether the field accepts it.


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ("published: NO", "published", False),
        ("published: yes", "published", True),
        ("published: On", "published", True),
        ("quality: 0123", "quality", 83),  # YAML 1.1 octal
        ("quality: 12:30", "quality", 750),  # sexagesimal
        ("quality: 0x1F", "quality", 31),
        ("quality: 1_000", "quality", 1000),
        ("quality: +12", "quality", 12),
        ("heat: -1", "heat", -1),
        ("heat: 9223372036854775807", "heat", 2**63 - 1),
        ("heat: -9223372036854775808", "heat", -(2**63)),
    ],
)
def test_yaml_11_values_accepted(line: str, field: str, value: Any) -> None:
    record = parse_article(good_with(line.encode() + b"\n").replace(b"quality: 5\n", b""))
    assert getattr(record, field) == value
    assert type(getattr(record, field)) is type(value)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("published: y", "published must be a boolean, found a string ('y')"),
        ("category: NO", "category must be a string, found a boolean (False)"),
        ("quality: 1e3", "quality must be an integer, found a string ('1e3')"),
        ("quality: 1.0", "quality must be an integer, found a float (1.0)"),
        ("quality: .nan", "quality must be an integer, found a float (nan)"),
        ("heat: .inf", "heat must be an integer, found a float (inf)"),
        ("quality: yes", "quality must be an integer, found a boolean (True)"),
        ("excerpt: 12:30", "excerpt must be a string, found an integer (750)"),
        ("excerpt: 2021-07-28", "excerpt must be a string, found a date"),
        ("publishedDateTime: 1627476000", "must be a timestamp, found an integer"),
    ],
)
def test_yaml_11_values_rejected(line: str, reason: str) -> None:
    key = line.split(":")[0].encode()
    data = b"".join(
        row + b"\n" for row in GOOD.split(b"\n") if row and not row.startswith(key + b":")
    )
    data = data[: -len(b"---\n")] + line.encode() + b"\n---\n"
    error = reject(data)
    assert reason in error.reason
    assert error.line == data.split(b"\n").index(line.encode()) + 1


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("NO", False),
        ("~", None),
        ("", None),
        ("null", None),
        ("0123", 83),
        ("12:30:00", 45000),
        ("0b101", 5),
        ("1e3", "1e3"),
        ("1.5e3", "1.5e3"),  # YAML 1.1 floats need a signed exponent
        ("1.5e+3", 1500.0),
        (".nan", "nan"),
        (".inf", "inf"),
        ("-.Inf", "-inf"),
        ("=", "="),
        ("2021-07-28", "2021-07-28"),
        ("2021-07-28 12:00:00", "2021-07-28T12:00:00Z"),
        ("2021-07-28T12:00:00.5+05:30", "2021-07-28T12:00:00.500000+05:30"),
        ("'yes'", "yes"),
        ("!!str 12", "12"),
        ("!!int '12'", 12),
        ("!!float 1", 1.0),
        ("!!null x", None),
        ("!!bool true", True),
        ("!!timestamp 2021-01-02", "2021-01-02"),
        ("!!map {a: 1}", {"a": 1}),
        ("!!seq [1]", [1]),
        ('"&nbsp;"', "&nbsp;"),
        ("Tom & Jerry *really* like it!", "Tom & Jerry *really* like it!"),
    ],
)
def test_unknown_keys_keep_json_safe_values(text: str, value: Any) -> None:
    record = parse_article(good_with(b"extra: " + text.encode() + b"\n"))
    assert record.front_matter["extra"] == value
    json.dumps(record.front_matter, allow_nan=False)


# Shapes that look suspicious to the fast prefilter but are valid take the exact path.


@pytest.mark.parametrize(
    "extra",
    [
        b'excerpt: "Note: &nbsp; and - *stars* and ! marks, [1] [2]"\n',
        b'excerpt: "' + b"[x] {y} " * 40 + b'"\n',
        b"extra: " + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"\n",
        b"extra:\n"
        + b"".join(b"  " * i + b"k%d:\n" % i for i in range(1, 62))
        + b"  " * 62
        + b"v\n",
        b"extra: !!str tagged\n",
        b'extra: "a\xe2\x80\xa8b"\n',
        b'extra: "a\xc2\x85b"\n',
        b"extra: |\n  block\n" + b" " * 60 + b"indented\n",
    ],
)
def test_suspicious_but_valid(extra: bytes) -> None:
    record = parse_article(good_with(extra))
    check_record(record)
    data = good_with(extra)
    assert record.front_matter == json_safe(bare_front_matter(data))


def test_depth_limit_is_exact() -> None:
    # The root mapping is level 1.
    ok = good_with(b"x: " + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"\n")
    parse_article(ok)
    deep = good_with(b"x: " + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"\n")
    assert f"deeper than {MAX_DEPTH}" in reject(deep).reason
    block = good_with(b"x:\n  " + b"- " * (MAX_DEPTH - 1) + b"v\n")
    parse_article(block)
    assert "deeper" in reject(good_with(b"x:\n  " + b"- " * MAX_DEPTH + b"v\n")).reason


def test_constructor_refuses_aliases_and_depth_on_its_own() -> None:
    # Second line of defence: the constructor alone, without the prefilter in front of it.
    for text, reason in [
        ("a: &x [1]\nb: *x\n", "aliases"),
        ("a: &x {k: *x}\n", "aliases"),
        ("a: " + "[" * 70 + "]" * 70, "deeper"),
        ("a: !!python/object/apply:os.system [ls]", "not allowed"),
    ]:
        loader = parse._Loader(text)
        try:
            with pytest.raises(IngestError, match=reason):
                loader.get_single_data()
        finally:
            loader.dispose()


# Hostile input


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_small(name: str) -> None:
    error = reject(HOSTILE[name])
    assert REASONS[name] in error.reason, error.reason
    assert error.line is None or error.line >= 1


@pytest.mark.parametrize("name", sorted(LARGE))
def test_hostile_large(name: str) -> None:
    error = reject(LARGE[name]())
    assert REASONS[name] in error.reason, error.reason


def test_write_hostile(tmp_path: Path) -> None:
    paths = write_hostile(tmp_path / "bad", large=False)
    assert {path.stem for path in paths} == set(HOSTILE)
    for path in paths:
        assert REASONS[path.stem] in reject(path.read_bytes()).reason


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (good_with(b"quality: [1]\n").replace(b"quality: 5\n", b""), 10),
        (b"\xef\xbb\xbf" + good_with(b"quality: [1]\n").replace(b"quality: 5\n", b""), 10),
        (good_with(b"quality: [1]\n").replace(b"quality: 5\n", b"").replace(b"\n", b"\r\n"), 10),
        (good_with(b"a: &x 1\n"), 11),
        (good_with(b'a: "open\n'), 12),
        (good_with(b"excerpt: \xff\n"), 11),
        (good_with(b"excerpt: \x00\n"), 11),
        (good_with(b"excerpt: \x07\n"), 11),
        (good_with(b"x:\n  - 1\n  - [a, !!binary x]\n"), 13),
    ],
)
def test_error_lines(data: bytes, line: int) -> None:
    assert reject(data).line == line


def test_size_is_checked_first() -> None:
    data = GOOD
    assert parse_article(data, max_size=len(data)).title
    error = reject(b"\xff" * 11, max_size=10)
    assert error.reason == "file is 11 bytes, larger than the limit 10"
    assert DEFAULT_MAX_SIZE == 10 * 1024 * 1024


def test_escaped_nul_in_keys_is_refused() -> None:
    assert "NUL" in reject(good_with(b'"a\\u0000": 1\n')).reason
    assert parse_article(good_with(b'a: "back\\\\0slash"\n')).front_matter["a"] == "back\\0slash"


def test_huge_valid_line_parses() -> None:
    record = parse_article(good_with(b'excerpt: "' + b"word " * 400_000 + b'"\n'))
    assert record.excerpt is not None and len(record.excerpt) == 2_000_000


def test_unexpected_exceptions_become_ingest_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(parse, "build_record", boom)
    assert "KeyError" in reject(GOOD).reason

    def recurse(*args: object) -> None:
        raise RecursionError

    monkeypatch.setattr(parse, "build_record", recurse)
    assert "nested too deeply" in reject(GOOD).reason


def test_ingest_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(reject(good_with(b"a: &x 1\n"))))
    assert (error.reason, error.line) == ("YAML anchor &x is not allowed", 11)


# Property tests: whatever the bytes, an ArticleRecord or an IngestError and nothing else.


def outcome(data: bytes) -> None:
    try:
        record = parse_article(data, max_size=1 << 20)
    except IngestError as error:
        assert isinstance(error.reason, str) and error.reason
        assert error.line is None or (type(error.line) is int and error.line >= 1)
    else:
        check_record(record)
        assert_plain_yaml(data)


def assert_plain_yaml(data: bytes) -> None:
    """An accepted file has no anchor, alias or deep nesting, whatever the prefilter thought."""
    text = data.decode("utf-8-sig")
    start, end = parse._front_matter_bounds(text)
    depth = 0
    for event in yaml.parse(text[start:end], yaml.CSafeLoader):
        assert not isinstance(event, yaml.AliasEvent)
        assert getattr(event, "anchor", None) is None
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            assert depth <= MAX_DEPTH
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


VALID = [GOOD, fixture("full.md"), fixture("crlf.md"), fixture("bom.md"), fixture("video.md")]
TOKENS = [
    b"&a ", b"*a", b"!!python/object/apply:os.system ", b"!x ", b"[", b"]", b"{", b"}", b"- ",
    b"? ", b": ", b"\t", b"\n", b"\r", b"\r\n", b"---\n", b"...\n", b"\xef\xbb\xbf", b"\x00",
    b"\xff", b'"', b"'", b"%YAML 1.1\n", b"<<: ", b"|\n", b">-\n", b"#", b"\\0", b"\\u0000",
    b"\xc2\x85", b"\xe2\x80\xa8", b"  ", b"~", b"12:30", b".nan", b"2021-02-30", b"0x",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["token", "token", "byte", "delete", "repeat"]))
        if action == "token":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif action == "byte":
            data[at:at] = draw(st.binary(min_size=1, max_size=3))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 20))]
        else:
            data[at:at] = draw(st.sampled_from(TOKENS)) * draw(st.integers(2, 300))
    return bytes(data)


@settings(max_examples=300, database=None, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes(data: bytes) -> None:
    outcome(data)
    outcome(b"---\n" + data)
    outcome(b"---\n" + data + b"\n---\n")


@settings(
    max_examples=400, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(mutated())
def test_mutated_valid_files(data: bytes) -> None:
    outcome(data)
