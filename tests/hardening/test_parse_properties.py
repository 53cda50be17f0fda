"""Parser properties beyond tests/test_parse.py: valid articles round-trip, any text or YAML
structure gives a record or an IngestError, and more YAML 1.1 surprises are pinned.

tests/test_parse.py already fuzzes raw bytes and mutated valid files and pins `published: NO`,
`quality: 0123`, `quality: 12:30`, `.nan` and naive `2021-07-28 12:00:00`. Here: generated
articles whose strings look like YAML 1.1 values (dumped by a real emitter in random styles)
must come back exactly, CRLF and BOM must not change them, text that reaches the YAML layer
must never raise anything but IngestError, and the surprises in the required fields and in
zone-less or odd timestamps are pinned.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ingest.parse import parse_article
from app.ingest.record import ArticleRecord, article_id
from app.ingest.rejection import IngestError
from tests.hardening.conftest import record_figure
from tests.hostile import GOOD

examples: Counter[str] = Counter()

# Strings that YAML 1.1 would read as something else if they were written plain.
LOOKALIKES = [
    "NO", "no", "Yes", "on", "OFF", "y", "n", "~", "null", "Null", "", "0123", "08", "0x1F",
    "0b101", "0o17", "12:30", "1:00:00", ".nan", ".NaN", ".inf", "-.inf", "1e3", "1.5e+3", "+12",
    "1_000", "2021-07-28", "2021-07-28 12:00:00", "2021-07-28T12:00:00Z", "=", "<<", "&a", "*a",
    "!tag", "!!python/name:os.system", "%YAML 1.1", "---", "...", "- x", "? x", ": x", "#c",
    "'", '"', "|", ">", "@", "`", "[", "]", "{", "}", ",", "&nbsp;", " padded ", "tab\there",
    "line\nbreak", "two\n\nbreaks", "trailing\n", "ünïcödé", "🙂", "a\u2028b", "\\0", "\\x00",
]  # fmt: skip
TEXT = st.one_of(
    st.sampled_from(LOOKALIKES),
    # Printable text: control characters are refused by the parser (tests/hostile.py).
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=60),
)
PADDING = st.sampled_from(["", " ", "\t"])
NON_BLANK = TEXT.filter(lambda s: s.strip() != "")
ZONES = st.one_of(
    st.none(),
    st.just(UTC),
    st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
)
WHEN = st.builds(
    lambda naive, zone: naive.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31)),
    ZONES,
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def articles(draw: st.DrawFn) -> dict[str, Any]:
    """A valid article's front matter as Python values."""
    when = draw(WHEN)
    meta: dict[str, Any] = {
        "title": draw(NON_BLANK),
        "publishedDateTime": draw(st.sampled_from([when, when.isoformat()])),
        "webUrl": draw(PADDING) + "https://example.com/" + draw(TEXT) + draw(PADDING),
        "provider": {"name": draw(NON_BLANK), "domain": draw(NON_BLANK)},
    }
    optional = {
        "excerpt": TEXT,
        "category": TEXT,
        "type": TEXT,
        "quality": st.integers(-(2**63), 2**63 - 1),
        "heat": st.integers(-(2**63), 2**63 - 1),
        "published": st.booleans(),
        "removed": st.booleans(),
        "topics": st.lists(TEXT, max_size=9),
        "x-unknown": JSONISH,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            meta[key] = draw(strategy)
    return meta


def dumped(draw: st.DrawFn, meta: dict[str, Any]) -> bytes:
    text = yaml.safe_dump(
        meta,
        allow_unicode=draw(st.booleans()),
        default_flow_style=draw(st.sampled_from([False, None, True])),
        width=draw(st.sampled_from([20, 80, 4096])),
        sort_keys=draw(st.booleans()),
    )
    return ("---\n" + text + "---\n").encode("utf-8")


def utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def without_hash(record: ArticleRecord) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(record).items() if k != "content_hash"}


@pytest.fixture(scope="module", autouse=True)
def _figures() -> Iterator[None]:
    yield
    record_figure("parser-properties", **examples, unexpected_exceptions=0)


@settings(max_examples=400, deadline=None, database=None)
@given(st.data())
def test_generated_articles_round_trip(data: st.DataObject) -> None:
    meta = data.draw(articles())
    raw = dumped(data.draw, meta)
    examples["round_trip"] += 1
    record = parse_article(raw)
    url = meta["webUrl"].strip()
    assert (record.url, record.id) == (url, article_id(url))
    assert record.title == meta["title"]
    assert record.published_at == utc(meta["publishedDateTime"])
    assert (record.provider_name, record.provider_domain) == (
        meta["provider"]["name"],
        meta["provider"]["domain"],
    )
    for key in ("excerpt", "category", "type", "quality", "heat", "published", "removed"):
        assert getattr(record, key) == meta.get(key), key
        assert type(getattr(record, key)) is type(meta.get(key)), key
    assert record.topics == meta.get("topics", [])
    assert set(record.front_matter) == set(meta)
    if "x-unknown" in meta:
        assert record.front_matter["x-unknown"] == meta["x-unknown"]
    json.dumps(record.front_matter, allow_nan=False)

    # The same article with CRLF line ends or a BOM is the same article.
    for variant in (raw.replace(b"\n", b"\r\n"), b"\xef\xbb\xbf" + raw):
        assert without_hash(parse_article(variant)) == without_hash(record)


def outcome(data: bytes) -> str:
    try:
        record = parse_article(data, max_size=1 << 20)
    except IngestError as error:
        assert error.reason and isinstance(error.reason, str)
        assert error.line is None or error.line >= 1
        return "rejected"
    assert record.title.strip() and record.url == record.url.strip()
    assert record.published_at.tzinfo is None
    json.dumps(record.front_matter, allow_nan=False)
    return "accepted"


@settings(max_examples=500, deadline=None, database=None)
@given(st.text(max_size=400))
def test_any_text_between_fences(text: str) -> None:
    # Valid UTF-8 reaches the YAML layer, which raw random bytes seldom do.
    examples["text_" + outcome(b"---\n" + text.encode() + b"\n---\n")] += 1
    examples["text_" + outcome(GOOD[:-4] + text.encode() + b"\n---\n")] += 1


FLOATS = st.floats(allow_nan=True, allow_infinity=True)
ANY_YAML = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | FLOATS
    | st.text(max_size=30)
    | st.binary(max_size=8)
    | st.dates()
    | st.datetimes(timezones=ZONES),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers() | st.booleans(), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.data())
def test_any_yaml_structure_in_any_field(data: st.DataObject) -> None:
    """Any value a YAML emitter can write, put in any field: a record or an IngestError."""
    meta = dict(yaml.safe_load(GOOD.decode().split("---\n")[1]))
    key = data.draw(st.sampled_from([*meta, "excerpt", "topics", "images", "related", "extra"]))
    meta[key] = data.draw(ANY_YAML)
    # safe_dump writes bytes as !!binary and can tag other values: those must be refused.
    examples["structure_" + outcome(dumped(data.draw, meta))] += 1


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("title: NO", "title must be a string, found a boolean"),
        ("title: 0123", "title must be a string, found an integer (83)"),
        ("title: 12:30", "title must be a string, found an integer (750)"),
        ("title: .nan", "title must be a string, found a float"),
        ("title: 2021-07-28", "title must be a string, found a date"),
        ("title: ~", "title is required"),
        ("topics: [NO, yes]", "topics[0] must be a string, found a boolean"),
        ("topics: [0123]", "topics[0] must be a string, found an integer (83)"),
        ("topics: [12:30]", "topics[0] must be a string, found an integer (750)"),
        ("topics: [.nan]", "topics[0] must be a string, found a float"),
        ("provider: {name: NO, domain: example.com}", "provider.name must be a string"),
        ("provider: {name: Example, domain: 12:30}", "provider.domain must be a string"),
        ("webUrl: NO", "webUrl must be a string, found a boolean"),
        ("webUrl: .nan", "webUrl must be a string, found a float"),
        ("type: On", "type must be a string, found a boolean"),
        ("category: 0123", "category must be a string, found an integer (83)"),
        ("excerpt: 2021-07-28 12:00:00", "excerpt must be a string, found a timestamp"),
        ("secured: 0x1F", "secured must be a string, found an integer (31)"),
        ("quality: 08", "quality must be an integer, found a string ('08')"),  # not octal
        ("quality: 0o17", "quality must be an integer, found a string"),  # YAML 1.2 only
        ("quality: +.inf", "quality must be an integer, found a float"),
        ("published: tRUE", "published must be a boolean, found a string"),
        ("published: 'yes'", "published must be a boolean, found a string"),
        ("publishedDateTime: 2021-02-29", "day is out of range"),
        ("publishedDateTime: 2021-07-28T24:00:00Z", "hour must be in 0..23"),
        ("publishedDateTime: 2021-7-8", "not an ISO 8601 timestamp"),
    ],
)
def test_yaml_11_surprises_rejected(line: str, reason: str) -> None:
    with pytest.raises(IngestError) as caught:
        parse_article(_with_line(line))
    assert reason in caught.value.reason
    assert caught.value.line is not None


@pytest.mark.parametrize(
    ("line", "attribute", "value"),
    [
        ('title: "NO"', "title", "NO"),
        ("title: 'null'", "title", "null"),
        ('topics: ["NO", "0123", "12:30", ".nan"]', "topics", ["NO", "0123", "12:30", ".nan"]),
        ("provider: {name: 'NO', domain: 'on'}", "provider_name", "NO"),
        ("quality: 017", "quality", 15),
        ("quality: -0x1F", "quality", -31),
        ("quality: 1:00:00", "quality", 3600),
        ("quality: -0", "quality", 0),
        ("quality: NULL", "quality", None),
        ("published: Off", "published", False),
        ("published: TRUE", "published", True),
    ],
)
def test_yaml_11_surprises_accepted(line: str, attribute: str, value: Any) -> None:
    record = parse_article(_with_line(line))
    assert getattr(record, attribute) == value
    assert type(getattr(record, attribute)) is type(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Without a zone is UTC, whichever way YAML 1.1 or ISO 8601 spells the timestamp.
        ("2021-07-28T12:39:00", (2021, 7, 28, 12, 39)),
        ("2021-07-28t12:39:00", (2021, 7, 28, 12, 39)),
        ("2021-7-8 1:02:03", (2021, 7, 8, 1, 2, 3)),
        ("2021-07-28 12:39", (2021, 7, 28, 12, 39)),
        ('"2021-07-28T12:39:00"', (2021, 7, 28, 12, 39)),
        ('"2021-07-28T12:39Z"', (2021, 7, 28, 12, 39)),
        ("20210728T123900Z", (2021, 7, 28, 12, 39)),
        # Zones, odd spellings of them, and more digits than Python keeps.
        ("2021-07-28 12:39:00 +02:00", (2021, 7, 28, 10, 39)),
        ("2021-07-28T12:39:00+02", (2021, 7, 28, 10, 39)),
        ("2021-07-28T12:39:00+0200", (2021, 7, 28, 10, 39)),
        ("2021-07-28T12:39:00-00:00", (2021, 7, 28, 12, 39)),
        ("2021-07-28T12:39:00 Z", (2021, 7, 28, 12, 39)),
        ("2021-07-28T12:39:00.123456789Z", (2021, 7, 28, 12, 39, 0, 123456)),
    ],
)
def test_published_date_time_spellings(value: str, expected: tuple[int, ...]) -> None:
    record = parse_article(_with_line(f"publishedDateTime: {value}"))
    assert record.published_at == datetime(*expected)
    assert record.published_at.tzinfo is None


def _with_line(line: str) -> bytes:
    """GOOD with the field that `line` sets replaced by it (nested lines included)."""
    key = line.split(":", 1)[0]
    rows = GOOD.decode().split("\n")[1:-2]
    kept, skipping = [], False
    for row in rows:
        if row.startswith(f"{key}:"):
            skipping = True
            continue
        if skipping and row.startswith(" "):
            continue
        skipping = False
        kept.append(row)
    return ("---\n" + "\n".join([*kept, line]) + "\n---\n").encode()
