# ruff: noqa: RUF001  (confusable characters are the point of these tests)
"""Search normalisation and query language: units, and the same answers on FTS5, PostgreSQL
and a brute-force evaluator of the parsed query."""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.search import (
    MAX_FIELD_CHARS,
    MAX_POSITION,
    MAX_TOKEN_CHARS,
    SearchQuery,
    SearchSyntaxError,
    Term,
    Word,
    _fts5_columns,
    fts5_document,
    negatives_fts5,
    negatives_tsquery,
    parse_query,
    to_fts5,
    to_tsquery,
    tokens,
    tsvector_literal,
)

# The same variables as conftest.py; psycopg takes the URL without SQLAlchemy's driver name.
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
).replace("postgresql+psycopg://", "postgresql://")

Docs = dict[int, tuple[str, str | None]]


# --- three ways to answer a query --------------------------------------------------------


class SqliteIndex:
    def __init__(self, docs: Docs) -> None:
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute("CREATE TABLE article (pk INTEGER PRIMARY KEY)")
        self.conn.execute(
            "CREATE VIRTUAL TABLE article_fts USING fts5"
            "(title, excerpt, tokenize='unicode61 remove_diacritics 0')"
        )
        for pk, (title, excerpt) in docs.items():
            self.conn.execute("INSERT INTO article (pk) VALUES (?)", (pk,))
            self.conn.execute(
                "INSERT INTO article_fts (rowid, title, excerpt) VALUES (?, ?, ?)",
                (pk, *fts5_document(title, excerpt)),
            )

    def ids(self, query: SearchQuery) -> set[int]:
        where, params = ["1"], []
        positive = to_fts5(query)
        if positive is not None:
            where.append("pk IN (SELECT rowid FROM article_fts WHERE article_fts MATCH ?)")
            params.append(positive)
        for negative in negatives_fts5(query):
            where.append("pk NOT IN (SELECT rowid FROM article_fts WHERE article_fts MATCH ?)")
            params.append(negative)
        sql = "SELECT pk FROM article WHERE " + " AND ".join(where)
        return {pk for (pk,) in self.conn.execute(sql, params)}

    def close(self) -> None:
        self.conn.close()


class PostgresIndex:
    """TEMP tables inside the caller's transaction, which rolls back."""

    def __init__(self, conn: psycopg.Connection, docs: Docs) -> None:
        self.conn = conn
        conn.execute("DROP TABLE IF EXISTS pg_temp.article_fts")
        conn.execute("CREATE TEMP TABLE article_fts (pk integer PRIMARY KEY, document tsvector)")
        conn.execute("CREATE INDEX ON article_fts USING gin (document)")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO article_fts (pk, document) VALUES (%s, CAST(%s AS tsvector))",
                [(pk, tsvector_literal(t, e)) for pk, (t, e) in docs.items()],
            )

    def ids(self, query: SearchQuery) -> set[int]:
        where, params = ["true"], []
        positive = to_tsquery(query)
        if positive is not None:
            where.append("document @@ CAST(%s AS tsquery)")
            params.append(positive)
        for negative in negatives_tsquery(query):
            where.append("NOT (document @@ CAST(%s AS tsquery))")
            params.append(negative)
        sql = "SELECT pk FROM article_fts WHERE " + " AND ".join(where)
        return {pk for (pk,) in self.conn.execute(sql, params)}


def brute_force(docs: Docs, query: SearchQuery) -> set[int]:
    def has(fields: list[list[str]], term: Term) -> bool:
        size = len(term.words)
        return any(
            all(
                field[i + k].startswith(w.text) if w.prefix else field[i + k] == w.text
                for k, w in enumerate(term.words)
            )
            for field in fields
            for i in range(len(field) - size + 1)
        )

    found = set()
    for pk, (title, excerpt) in docs.items():
        fields = [tokens(title), tokens(excerpt or "")]
        if all(any(has(fields, t) for t in group) for group in query.required) and not any(
            has(fields, t) for t in query.excluded
        ):
            found.add(pk)
    return found


@pytest.fixture(scope="module")
def pg_conn() -> Iterator[psycopg.Connection]:
    try:
        conn = psycopg.connect(POSTGRES_URL, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("NEWSCAT_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL} (TEST_POSTGRES_URL): {exc}")
    with conn, conn.transaction(force_rollback=True):
        yield conn


@pytest.fixture
def pg_savepoint(pg_conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    with pg_conn.transaction(force_rollback=True):
        yield pg_conn


# --- tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Café CAFÉ cafe\u0301", ["cafe", "cafe", "cafe"]),
        ("Straße STRASSE ẞ", ["strasse", "strasse", "ss"]),
        ("København Łódź Encyclopædia Œuvre", ["kobenhavn", "lodz", "encyclopaedia", "oeuvre"]),
        ("đ ħ ŧ ı ð þ", ["d", "h", "t", "i", "d", "th"]),
        ("İstanbul ǅ ﬁn ﬀ ℌ", ["istanbul", "dz", "fin", "ff", "h"]),
        ("Αθήνα ΟΔΟΣ οδός", ["αθηνα", "οδοσ", "οδοσ"]),
        ("Ёлка Йогурт Москва", ["елка", "иогурт", "москва"]),
        # CJK runs are one token each, as unicode61 sees them: no word segmentation
        ("東京都の天気 東京、大阪", ["東京都の天気", "東京", "大阪"]),
        ("한국어 뉴스", ["한국어", "뉴스"]),
        ("हिन्दी ภาษาไทย", ["हनद", "ภาษาไทย"]),  # vowel signs are marks: dropped
        ("🎉Party🎭time ★ ©", ["party", "time"]),
        ("1,000 3.14 COVID-19 x² ½ ①", ["1", "000", "3", "14", "covid", "19", "x2", "1", "2", "1"]),
        ("don't O’Brien Microsoft's", ["don", "t", "o", "brien", "microsoft", "s"]),
        ("e-mail — well‐known snake_case", ["e", "mail", "well", "known", "snake", "case"]),
        (
            "AT&amp;T a&nbsp;b &#233;t&#xE9; &bogus; R&D",
            ["at", "t", "a", "b", "ete", "bogus", "r", "d"],
        ),
        ("ＡＢＣ１２３", ["abc123"]),
        ("\x00tab\tnew\nline\u00a0nbsp\u2028x", ["tab", "new", "line", "nbsp", "x"]),
        ("", []),
        ("!!! *** ---", []),
    ],
)
def test_tokens(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


def test_tokens_drop_words_over_the_length_limit() -> None:
    assert tokens("a" * MAX_TOKEN_CHARS + " b") == ["a" * MAX_TOKEN_CHARS, "b"]
    assert tokens("a" * (MAX_TOKEN_CHARS + 1) + " b") == ["b"]


def test_every_character_folds_stably_into_single_fts5_tokens() -> None:
    """For every code point: tokens() is idempotent, and each character it can emit is a
    token character that FTS5's unicode61 keeps as it is; the FTS5 filler is one too."""
    alphabet: set[str] = set()
    for code in itertools.chain(range(0xD800), range(0xE000, 0x110000)):
        out = tokens(chr(code))
        assert tokens(" ".join(out)) == out, hex(code)
        alphabet.update(*out)
    assert "\ue000" not in alphabet
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(a, tokenize='unicode61 remove_diacritics 0')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    probes = sorted(alphabet | {"\ue000"})
    conn.executemany("INSERT INTO t (rowid, a) VALUES (?, ?)", [(ord(c), f"a{c}a") for c in probes])
    seen = {doc: term for term, doc in conn.execute("SELECT term, doc FROM v")}
    counts = dict(conn.execute("SELECT doc, count(*) FROM v GROUP BY doc").fetchall())
    assert [c for c in probes if seen.get(ord(c)) != f"a{c}a" or counts[ord(c)] != 1] == []
    conn.close()


@settings(max_examples=300, database=None)
@given(st.text())
def test_tokens_are_idempotent(text: str) -> None:
    out = tokens(text)
    assert tokens(" ".join(out)) == out
    assert all(0 < len(t) <= MAX_TOKEN_CHARS and t == t.strip() for t in out)


# --- documents ---------------------------------------------------------------------------


def test_documents_for_both_backends() -> None:
    assert fts5_document("Café in New York", "New York, New York") == (
        "cafe in new york",
        "new york new york",
    )
    # the excerpt starts 100 positions after the title, so no phrase spans the two
    assert tsvector_literal("Café in New York", "New York, New York") == (
        "'cafe':1 'in':2 'new':3,105,107 'york':4,106,108"
    )
    assert fts5_document("Title", None) == ("title", "")
    assert tsvector_literal("", None) == ""


def test_tsvector_lexemes_are_quoted() -> None:
    from app.search import _quote

    assert _quote("it's") == "'it''s'"
    assert _quote("a\\b") == "'a\\\\b'"


def test_quoting_round_trips_through_postgres(pg_savepoint: psycopg.Connection) -> None:
    from app.search import _quote

    lexeme = _quote("it's a\\b")
    row = pg_savepoint.execute(
        "SELECT CAST(%s AS tsvector) @@ CAST(%s AS tsquery), "
        "array_to_string(tsvector_to_array(CAST(%s AS tsvector)), '|')",
        (f"{lexeme}:1", lexeme, f"{lexeme}:1"),
    ).fetchone()
    assert row == (True, "it's a\\b")


def test_fields_stop_at_the_character_budget() -> None:
    words = ["abcd"] * (MAX_FIELD_CHARS // 4) + ["tail"]
    _, excerpt = fts5_document("t", " ".join(words))
    assert excerpt.split() == ["abcd"] * 256 + ["\ue000"] * (MAX_FIELD_CHARS // 4 - 256)
    assert "tail" not in tsvector_literal("t", " ".join(words))


@given(
    st.lists(st.sampled_from(["a", "ab"]), max_size=8),
    st.lists(st.sampled_from(["a", "b"]), min_size=230, max_size=262),
)
@example([], ["a"] * 257)
@example(["a"], ["a"] * 256)
@example(["ab"], ["a"] * 256)
@settings(max_examples=80, deadline=None)
def test_short_documents_take_the_shortcut_unchanged(title: list[str], excerpt: list[str]) -> None:
    """At most 256 tokens are joined as they are; either way the full layout agrees."""
    document = fts5_document(" ".join(title), " ".join(excerpt))
    assert document == _fts5_columns(title, excerpt)
    if len(title) + len(excerpt) <= 256:
        assert document == (" ".join(title), " ".join(excerpt))
    most = max((title + excerpt).count(token) for token in ("a", "ab", "b"))
    assert ("\ue000" in document[1]) == (most > 256)


def cjk(n: int) -> str:
    """The n-th of 20,000 distinct one-character tokens."""
    return chr(0x4E00 + n)


LONG_EXCERPT = " ".join(cjk(n) for n in range(20_000))
LAST_SEQUENTIAL = 16_278  # title "alpha beta": excerpt token n sits at position 103 + n


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (cjk(19_999), {1}),  # clamped tokens keep their lexeme
        (f"{cjk(16_500)} alpha", {1}),
        (f'"{cjk(LAST_SEQUENTIAL - 1)} {cjk(LAST_SEQUENTIAL)}"', {1}),
        (f'"{cjk(LAST_SEQUENTIAL)} {cjk(LAST_SEQUENTIAL + 1)}"', set()),  # but no phrases
        (f'"{cjk(17_000)} {cjk(17_001)}"', set()),
        (f'-"{cjk(17_000)} {cjk(17_001)}"', {1, 2}),
        ('"beta alpha"', {2}),
        ('"end beta"', set()),  # title to excerpt
        ('"a end"', set()),  # PostgreSQL keeps the first 256 positions of a lexeme only
        ('"a a" end', {2}),
        ('"x a"', {2}),
        ("end -x", set()),
    ],
)
def test_long_documents_agree(pg_savepoint: psycopg.Connection, q: str, expected: set[int]) -> None:
    docs: Docs = {1: ("alpha beta", LONG_EXCERPT), 2: ("x " + "a " * 300 + "end", "beta alpha")}
    query = parse_query(q)
    lite = SqliteIndex(docs)
    assert lite.ids(query) == expected
    lite.close()
    assert PostgresIndex(pg_savepoint, docs).ids(query) == expected


def test_long_document_layout() -> None:
    literal = tsvector_literal("alpha beta", LONG_EXCERPT)
    assert f"'{cjk(LAST_SEQUENTIAL)}':{MAX_POSITION - 2} " in literal
    assert f"'{cjk(LAST_SEQUENTIAL + 1)}':{MAX_POSITION} " in literal
    _, excerpt = fts5_document("alpha beta", LONG_EXCERPT)
    last = LAST_SEQUENTIAL
    assert f"{cjk(last)} \ue000 {cjk(last + 1)} \ue000 {cjk(last + 2)} \ue000" in excerpt
    assert excerpt.endswith(f"\ue000 {cjk(19_999)}")


def test_largest_document_fits_postgres(pg_savepoint: psycopg.Connection) -> None:
    """Every token distinct, one 4-byte character each: the biggest tsvector the caps allow."""
    letters = (chr(c) for c in range(0x20000, 0x40000) if tokens(chr(c)) == [chr(c)])
    pool = list(itertools.islice(letters, 2 * MAX_FIELD_CHARS))
    title, excerpt = " ".join(pool[:MAX_FIELD_CHARS]), " ".join(pool[MAX_FIELD_CHARS:])
    size = pg_savepoint.execute(
        "SELECT pg_column_size(CAST(%s AS tsvector))", (tsvector_literal(title, excerpt),)
    ).fetchone()
    assert size is not None and size[0] < 1_048_576


# --- the query language ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "fts5", "tsquery", "excluded"),
    [
        ("new york", '"new" AND "york"', "'new' & 'york'", []),
        ("New  YORK", '"new" AND "york"', "'new' & 'york'", []),
        ('"New York"', '"new york"', "('new' <-> 'york')", []),
        ('"new york', '"new york"', "('new' <-> 'york')", []),  # unbalanced: runs to the end
        ("“smart quotes”", '"smart quotes"', "('smart' <-> 'quotes')", []),
        ('abc"def ghi"', '"abc" AND "def ghi"', "'abc' & ('def' <-> 'ghi')", []),
        ("a b OR c", '"a" AND ("b" OR "c")', "'a' & ('b' | 'c')", []),
        ("a OR b c", '("a" OR "b") AND "c"', "('a' | 'b') & 'c'", []),
        ("a OR b OR c", '("a" OR "b" OR "c")', "('a' | 'b' | 'c')", []),
        ('"a b" OR c*', '("a b" OR "c" *)', "(('a' <-> 'b') | 'c':*)", []),
        ("a or b", '"a" AND "or" AND "b"', "'a' & 'or' & 'b'", []),
        ("OR a", '"or" AND "a"', "'or' & 'a'", []),  # OR joining nothing is a word
        ("a OR", '"a" AND "or"', "'a' & 'or'", []),
        ("a OR OR b", '"a" AND ("or" OR "b")', "'a' & ('or' | 'b')", []),
        ("a OR -b", '"a" AND "or"', "'a' & 'or'", ["b"]),
        ("a OR !!! b", '("a" OR "b")', "('a' | 'b')", []),
        ("-a", None, None, ["a"]),
        ('-"a b" -c', None, None, ["a b", "c"]),
        ("--a", None, None, ["a"]),
        ("-OR", None, None, ["or"]),
        ("x -x", '"x"', "'x'", ["x"]),
        ("a a -b -b", '"a"', "'a'", ["b"]),
        ("a-b", '"a b"', "('a' <-> 'b')", []),
        ("e-mail", '"e mail"', "('e' <-> 'mail')", []),
        ("yor*", '"yor" *', "'yor':*", []),
        ("yor**", '"yor" *', "'yor':*", []),
        ("OR*", '"or" *', "'or':*", []),
        ("e-mai*", '"e mai" *', "('e' <-> 'mai':*)", []),
        ('"new yor*"', '"new yor" *', "('new' <-> 'yor':*)", []),
        ('"new* york"', '"new" * + "york"', "('new':* <-> 'york')", []),
        ("abc.*", '"abc"', "'abc'", []),  # the star must touch the word
        ("a*b", '"a b"', "('a' <-> 'b')", []),
        ("a * b", '"a" AND "b"', "'a' & 'b'", []),  # a bare star is nothing
        ('a -"" b', '"a" AND "b"', "'a' & 'b'", []),
        ('"a OR b"', '"a or b"', "('a' <-> 'or' <-> 'b')", []),
        ("Café Straße", '"cafe" AND "strasse"', "'cafe' & 'strasse'", []),
        ("AT&amp;T", '"at t"', "('at' <-> 't')", []),
        ("東京都", '"東京都"', "'東京都'", []),
    ],
)
def test_compiled_queries(
    q: str, fts5: str | None, tsquery: str | None, excluded: list[str]
) -> None:
    query = parse_query(q)
    assert to_fts5(query) == fts5
    assert to_tsquery(query) == tsquery
    assert [" ".join(w.text for w in t.words) for t in query.excluded] == excluded
    assert len(negatives_fts5(query)) == len(negatives_tsquery(query)) == len(excluded)


def test_parsed_query_shape() -> None:
    assert parse_query('new -"old town" cafe* OR "bar"') == SearchQuery(
        required=((Term((Word("new"),)),), (Term((Word("cafe", True),)), Term((Word("bar"),)))),
        excluded=(Term((Word("old"), Word("town"))),),
    )
    assert negatives_fts5(parse_query('-"old town*" -x')) == ['"old town" *', '"x"']
    assert negatives_tsquery(parse_query('-"old town*" -x')) == ["('old' <-> 'town':*)", "'x'"]


@pytest.mark.parametrize("q", ["", "   ", "!!!", "*", '""', '"', "-", "- * ---", "&nbsp;", "🎉 ★"])
def test_queries_without_words_are_errors(q: str) -> None:
    with pytest.raises(SearchSyntaxError, match="no words to look for"):
        parse_query(q)


def test_overlong_query_words_are_errors() -> None:
    assert parse_query("a" * MAX_TOKEN_CHARS)
    with pytest.raises(SearchSyntaxError, match="longer than 200 characters"):
        parse_query("a" * (MAX_TOKEN_CHARS + 1))
    with pytest.raises(SearchSyntaxError, match="longer than 200"):
        parse_query("\u3300" * 60)  # folds to 240 characters


# --- equivalence on a corpus -------------------------------------------------------------

CORPUS: Docs = {
    1: ("New York Times reports record traffic", "The city of New York said on Monday..."),
    2: ("York Minster gets a new roof", "Restoration work in York."),
    3: ("A brand new", "York council votes on the budget"),
    4: ("Café culture in Paris", "Les cafés de Paris ferment plus tôt."),
    5: ("CAFE OPENS DOWNTOWN", "A new cafe opened its doors."),
    6: ("Straße gesperrt", "Die Hauptstrasse bleibt bis Freitag zu."),
    7: ("København rejser sig", "Kobenhavn er Danmarks hovedstad."),
    8: ("Łódź film school turns 75", "The school in Lodz trained Polanski."),
    9: ("Encyclopædia Britannica goes digital", None),
    10: ("Αθήνα: νέο μετρό", "Η ΟΔΟΣ κλείνει."),
    11: ("Москва готовится к зиме", "Ёлка на Красной площади."),
    12: ("東京都の天気", "東京 オリンピック 2020"),
    13: ("한국어 뉴스", "서울 날씨"),
    14: ("🎉 Party time in Rio", "Carnival 🎭 returns."),
    15: ("COVID-19 cases rise 3.5%", "More than 1,000 new cases were reported."),
    16: ("1 000 runners finish", "The 19th edition of the race."),
    17: ("e-mail scams are rising", "Check every email twice."),
    18: ("Microsoft’s new AI model", "O'Brien said the model isn't ready."),
    19: ("AT&amp;T earnings beat estimates", "Shares&nbsp;rose 5% in early trading."),
    20: ("Buffalo buffalo buffalo", "Buffalo buffalo Buffalo buffalo buffalo."),
    21: ("New new york", "A newsletter about newer things."),
    22: ("Newcastle united win", "Newcastle beat York City."),
    23: ("Times of India", "Delhi news today"),
    24: ("The Times they are a-changin'", "Bob Dylan's song."),
    25: ("Or else", "either this or that"),
    26: ("OR gate basics", "Logic gates: AND, OR, NOT."),
    27: ("Python 3.11 released", "Faster CPython arrives in 3.11."),
    28: ("Weather report", "Sunny in New York, rain in York."),
    29: ("Naïve résumé tips", "Write a naive resume that stands out."),
    30: ("İstanbul'da yağmur", "Istanbul trafik."),
    31: ("Hindi news: हिन्दी समाचार", None),
    32: ("Empty excerpt article", ""),
    33: ("new york new york", "york new"),
    34: ("ﬁnancial times", "Full-width ＡＢＣ news"),
    35: ("Paris-Saint-Germain wins", "PSG beat Marseille 3-0."),
    36: ("Smart quotes “new” york", "“Quoted” text"),
    37: ("Straße", "STRASSE"),
    38: ("Pizza & pasta", "Ristorante"),
    39: ("Long words", "supercalifragilisticexpialidocious is long"),
    40: ("The end", "new"),
}

BATTERY = [
    ("new york", {1, 2, 3, 21, 28, 33, 36}),
    ('"new york"', {1, 21, 28, 33, 36}),
    ('"york new"', {33}),
    ('"new new york"', {21}),
    ('"brand new york"', set()),
    ("new -york", {5, 15, 18, 40}),
    (
        "-new -york -the",
        {
            4,
            6,
            7,
            9,
            10,
            11,
            12,
            13,
            14,
            17,
            19,
            20,
            23,
            25,
            26,
            27,
            29,
            30,
            31,
            32,
            34,
            35,
            37,
            38,
            39,
        },
    ),
    ("new york -times", {2, 3, 21, 28, 33, 36}),
    ("york OR paris", {1, 2, 3, 4, 21, 22, 28, 33, 35, 36}),
    ("new york OR paris", {1, 2, 3, 21, 28, 33, 36}),
    ("york OR paris cafe", {4}),
    ('"new york" OR newcastle', {1, 21, 22, 28, 33, 36}),
    ("new*", {1, 2, 3, 5, 15, 18, 21, 22, 23, 28, 31, 33, 34, 36, 40}),
    ("newc*", {22}),
    ('"new yor*"', {1, 21, 28, 33, 36}),
    ('"new* york"', {1, 21, 28, 33, 36}),
    ('"ne* yor*"', {1, 21, 28, 33, 36}),
    ("yor* -york", set()),
    ("NEW YORK", {1, 2, 3, 21, 28, 33, 36}),
    ("café", {4, 5}),
    ("CAFE", {4, 5}),
    ("cafes", {4}),
    ("caf*", {4, 5}),
    ("Straße", {6, 37}),
    ("strasse", {6, 37}),
    ("hauptstr*", {6}),
    ("kobenhavn", {7}),
    ("København", {7}),
    ("lodz", {8}),
    ("Łódź", {8}),
    ("encyclopaedia", {9}),
    ("Encyclopædia", {9}),
    ("αθηνα", {10}),
    ("ΟΔΟΣ", {10}),
    ("οδος", {10}),
    ("елка", {11}),
    ("ёлка", {11}),
    ("東京", {12}),
    ("東京都の天気", {12}),
    ("東京*", {12}),
    ("한국어", {13}),
    ("party", {14}),
    ("🎉 party", {14}),
    ("covid-19", {15}),
    ("covid 19", {15}),
    ("19", {15}),
    ("3.5", {15}),
    ('"3 5"', {15}),
    ("1,000", {15, 16}),
    ('"1 000"', {15, 16}),
    ("1000", set()),
    ("3.11", {27}),
    ("e-mail", {17}),
    ("email", {17}),
    ('"e mail"', {17}),
    ("microsoft", {18}),
    ("microsoft's", {18}),
    ("obrien", set()),
    ("o'brien", {18}),
    ('"isn t"', {18}),
    ("at&t", {19}),
    ("AT&amp;T", {19}),
    ("nbsp", set()),
    ("buffalo", {20}),
    ('"buffalo buffalo buffalo buffalo"', {20}),
    ('"buffalo buffalo buffalo buffalo buffalo buffalo"', set()),
    ("or", {25, 26}),
    ("OR", {25, 26}),
    ("this or that", {25}),
    ("this OR that", {25, 29}),
    ("gate OR gates", {26}),
    ("naive resume", {29}),
    ("istanbul", {30}),
    ("हिन्दी", {31}),
    ("empty", {32}),
    ("financial", {34}),
    ("abc", {34}),
    ("paris-saint-germain", {35}),
    ('"saint germain"', {35}),
    ("3-0", {35}),
    ("quoted", {36}),
    ('"smart quotes new york"', {36}),
    ("ristorante -pizza", set()),
    ("pizza & pasta", {38}),
    ("supercalifr*", {39}),
    ("the end", {40}),
    ('"the end"', {40}),
    ('"end new"', set()),
    ('"times new"', set()),
    ('"report york"', set()),
    ('-"new york"', set(CORPUS) - {1, 21, 28, 33, 36}),
    ("-new", set(CORPUS) - {1, 2, 3, 5, 15, 18, 21, 28, 33, 36, 40}),
]


@pytest.fixture(scope="module")
def corpus_sqlite() -> Iterator[SqliteIndex]:
    index = SqliteIndex(CORPUS)
    yield index
    index.close()


@pytest.fixture(scope="module")
def corpus_postgres(pg_conn: psycopg.Connection) -> PostgresIndex:
    return PostgresIndex(pg_conn, CORPUS)


def assert_agree(q: str, lite: SqliteIndex, pg: PostgresIndex) -> set[int] | None:
    """The ids all three give for `q`, or None when `q` is a syntax error."""
    try:
        query = parse_query(q)
    except SearchSyntaxError:
        return None
    expected = brute_force(CORPUS, query)
    assert lite.ids(query) == expected, (q, to_fts5(query), negatives_fts5(query))
    assert pg.ids(query) == expected, (q, to_tsquery(query), negatives_tsquery(query))
    return expected


@pytest.mark.parametrize(("q", "expected"), BATTERY)
def test_battery(
    q: str, expected: set[int], corpus_sqlite: SqliteIndex, corpus_postgres: PostgresIndex
) -> None:
    assert assert_agree(q, corpus_sqlite, corpus_postgres) == expected


def test_largest_queries_run(corpus_sqlite: SqliteIndex, corpus_postgres: PostgresIndex) -> None:
    words = [f"{a}{b}" for a, b in itertools.product("abcdefghij", repeat=2)]
    for q in [
        " ".join("a" * 250),  # 250 AND-ed words
        '"' + " ".join("b" * 249) + '"',  # one 250-word phrase
        " OR ".join(words[:84]),
        " ".join("-" + w for w in words[:100]),
        " ".join(w + "*" for w in words[:100]),
    ]:
        assert len(q) <= 500
        assert assert_agree(q, corpus_sqlite, corpus_postgres) is not None


VOCABULARY = [
    "new", "New", "YORK", "york", "yor", "ne", "café", "Cafe", "caf", "straße", "strasse",
    "times", "the", "buffalo", "Buffalo", "19", "1", "000", "3", "東京", "東京都の天気", "e-mail",
    "mail", "email", "or", "a", "in", "lodz", "Łódź", "Kobenhavn", "οδος", "елка", "newcastle",
    "paris", "1,000", "x", "nbsp", "covid-19", "end",
]  # fmt: skip


@st.composite
def queries(draw: st.DrawFn) -> str:
    def word() -> str:
        return draw(st.sampled_from(VOCABULARY)) + draw(st.sampled_from(["", "", "*"]))

    parts = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["word", "word", "phrase", "OR", "or"]))
        sign = draw(st.sampled_from(["", "", "-"]))
        if kind == "word":
            parts.append(sign + word())
        elif kind == "phrase":
            phrase = " ".join(word() for _ in range(draw(st.integers(1, 3))))
            parts.append(f'{sign}"{phrase}"')
        else:
            parts.append(kind)
    return " ".join(parts)


@settings(max_examples=400, deadline=None, database=None)
@given(q=queries())
def test_random_queries_agree(
    q: str, corpus_sqlite: SqliteIndex, corpus_postgres: PostgresIndex
) -> None:
    assert assert_agree(q, corpus_sqlite, corpus_postgres) is not None


@settings(max_examples=300, deadline=None, database=None)
@given(q=st.one_of(st.text(alphabet='ab é"“-*OR.&;', max_size=24), st.text(max_size=40)))
def test_any_text_is_an_error_or_agrees(
    q: str, corpus_sqlite: SqliteIndex, corpus_postgres: PostgresIndex
) -> None:
    assert_agree(q, corpus_sqlite, corpus_postgres)


DOC_WORDS = ["a", "b", "ab", "abc", "Ab", "b-a", "á", "x", "a.b", "&amp;", "", "—"]
QUERY_WORDS = ["a", "b", "ab", "a*", "ab*", "x", "-a", "-b", '"a', 'b"', "OR", "á*", "a-b"]


@settings(max_examples=60, deadline=None, database=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(DOC_WORDS), max_size=5).map(" ".join),
            st.lists(st.sampled_from(DOC_WORDS), max_size=5).map(" ".join),
        ),
        min_size=1,
        max_size=8,
    ),
    st.lists(
        st.lists(st.sampled_from(QUERY_WORDS), min_size=1, max_size=5).map(" ".join), max_size=8
    ),
)
def test_random_documents_agree(
    pg_conn: psycopg.Connection, docs_list: list[tuple[str, str]], qs: list[str]
) -> None:
    docs: Docs = dict(enumerate(docs_list, 1))
    lite = SqliteIndex(docs)
    with pg_conn.transaction(force_rollback=True):
        pg = PostgresIndex(pg_conn, docs)
        for q in qs:
            try:
                query = parse_query(q)
            except SearchSyntaxError:
                continue
            expected = brute_force(docs, query)
            assert lite.ids(query) == expected, (docs, q, to_fts5(query))
            assert pg.ids(query) == expected, (docs, q, to_tsquery(query))
    lite.close()
