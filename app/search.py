"""Full-text search: text normalisation and the `q` query language, for FTS5 and tsquery.

Both backends index the same tokens, computed here, so they answer a query the same way:
SQLite stores them space-joined in an FTS5 table (`unicode61 remove_diacritics 0`), which
re-tokenises them into exactly the same tokens; PostgreSQL stores a tsvector literal and is
queried with a tsquery literal, both cast from text so its parser and dictionaries never run.

Query language: words are AND-ed; `"a phrase"`; `-word` and `-"a phrase"` exclude; `a OR b`
(binding tighter than the implicit AND: `a b OR c` is a AND (b OR c)); `word*` is a prefix.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "MAX_FIELD_CHARS",
    "MAX_TOKEN_CHARS",
    "SearchQuery",
    "SearchSyntaxError",
    "Term",
    "Word",
    "fts5_document",
    "negatives_fts5",
    "negatives_tsquery",
    "parse_query",
    "to_fts5",
    "to_tsquery",
    "tokens",
    "tsvector_literal",
]

MAX_TOKEN_CHARS = 200
"""Longer tokens are not indexed (PostgreSQL refuses lexemes over 2047 bytes)."""

MAX_FIELD_CHARS = 32_000
"""A field is indexed up to the token that would take its token characters past this.

It keeps the worst-case tsvector (every token distinct, 4-byte characters) under PostgreSQL's
1 MB limit, and is far beyond any real title or excerpt.
"""

FIELD_GAP = 100
"""Empty positions between title and excerpt, so a phrase never spans them (as on FTS5)."""

MAX_POSITION = 16383
"""PostgreSQL clamps larger positions to this one."""

# Tokens past this position all go to MAX_POSITION; the one in between stays empty so that
# clamped tokens are adjacent to nothing and never take part in a phrase.
_LAST_SEQUENTIAL = MAX_POSITION - 2

MAX_POSITIONS_PER_LEXEME = 256
"""PostgreSQL keeps only the first 256 positions of a lexeme."""

# A private-use character: a token character for FTS5, a separator for tokens(), so no query
# can match it. FTS5 documents hold it where PostgreSQL has no position, to break adjacency.
_FILLER = "\ue000"

# Letters without a Unicode decomposition that readers still see as accented base letters.
_EXTRA_FOLDS = str.maketrans(
    {"æ": "ae", "ð": "d", "đ": "d", "ħ": "h", "ł": "l", "ø": "o", "œ": "oe", "ŧ": "t", "þ": "th"}
    | {"\u0131": "i"}  # dotless i
)

# Letters in Python's Unicode tables that FTS5's older tables still call marks (New Tai Lue
# vowel signs, Vedic ardhavisarga): dropped like other marks, so both backends see one token.
# The exhaustive test in tests/test_search.py finds any new ones.
_FTS5_MARKS = frozenset(map(chr, [*range(0x19B0, 0x19C1), 0x19C8, 0x19C9, 0x1CF2, 0x1CF3]))

_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_QUOTES = '"\u201c\u201d\u201e'  # phones type curly quotes
_CHUNK = re.compile(rf"(-?)[{_QUOTES}]([^{_QUOTES}]*)[{_QUOTES}]?|[^\s{_QUOTES}]+")


class SearchSyntaxError(ValueError):
    """`q` cannot mean anything; the message is for the person who typed it."""


class Word(NamedTuple):
    """One normalised token of a query; `prefix` matches every token that starts with it."""

    text: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Term:
    """Adjacent words in one field: a phrase, or a plain word when there is one."""

    words: tuple[Word, ...]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Every group in `required` must match (a group matches when any of its terms does),
    and no term in `excluded` may. With no required group it means "everything except"."""

    required: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...]


# --- normalisation -----------------------------------------------------------------------


def _without_marks(text: str) -> str:
    return "".join(
        c for c in text if not unicodedata.category(c).startswith("M") and c not in _FTS5_MARKS
    )


def _fold_char(char: str) -> str:
    # NFKD twice: casefolding can produce characters that decompose again (and compatibility
    # forms like U+210C decompose to capitals, so the first NFKD must come before casefold).
    text = _without_marks(unicodedata.normalize("NFKD", char)).casefold()
    text = _without_marks(unicodedata.normalize("NFKD", text)).translate(_EXTRA_FOLDS)
    return "".join(c if unicodedata.category(c)[0] in "LN" else " " for c in text)


class _FoldTable(dict[int, str]):
    """str.translate table filled on first sight of each character; hits stay in C."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        if len(self) < 200_000:  # bounded even against input that walks all of Unicode
            self[code] = folded
        return folded


_FOLD = _FoldTable()


def _normalise(text: str) -> str:
    """Folded text in which every non-token character is a space."""
    if "&" in text:
        # Excerpts keep HTML entities; `AT&amp;T` must index as `AT&T` does.
        text = _ENTITY.sub(lambda m: html.unescape(m.group()), text)
    # Folding decomposed Hangul syllables into jamo; NFC puts them back together.
    return unicodedata.normalize("NFC", text.translate(_FOLD))


def tokens(text: str) -> list[str]:
    """The search tokens of `text`: accent- and case-folded runs of letters and digits.

    Each token is exactly one token for FTS5's unicode61 tokenizer as well.
    """
    return [t for t in _normalise(text).split() if len(t) <= MAX_TOKEN_CHARS]


# --- documents ---------------------------------------------------------------------------


def _field_tokens(text: str | None) -> list[str]:
    found = tokens(text or "")
    if sum(map(len, found)) <= MAX_FIELD_CHARS:  # nearly always: no token is cut off
        return found
    kept: list[str] = []
    budget = MAX_FIELD_CHARS
    for token in found:
        budget -= len(token)
        if budget < 0:
            break
        kept.append(token)
    return kept


def _layout(
    title: str, excerpt: str | None
) -> tuple[list[list[tuple[str, int]]], dict[str, list[int]]]:
    """Each field's (token, position) slots, and the positions PostgreSQL keeps per lexeme."""
    return _layout_of(_field_tokens(title), _field_tokens(excerpt))


def _layout_of(
    *field_tokens: list[str],
) -> tuple[list[list[tuple[str, int]]], dict[str, list[int]]]:
    fields: list[list[tuple[str, int]]] = []
    start = 1
    for field in field_tokens:
        fields.append(
            [
                (token, pos if pos <= _LAST_SEQUENTIAL else MAX_POSITION)
                for pos, token in enumerate(field, start)
            ]
        )
        start += len(field) + FIELD_GAP
    kept: dict[str, list[int]] = {}
    for slots in fields:
        for token, position in slots:  # positions only grow, so each list stays sorted
            positions = kept.setdefault(token, [])
            if len(positions) < MAX_POSITIONS_PER_LEXEME and position not in positions[-1:]:
                positions.append(position)
    return fields, kept


def fts5_document(title: str, excerpt: str | None) -> tuple[str, str]:
    """The (title, excerpt) column values for the FTS5 table: tokens joined by spaces.

    Where PostgreSQL has no position for a token (clamped, or past a lexeme's 256th), the
    same adjacency is kept here: dropped slots hold a filler, clamped tokens stand alone.
    """
    title_tokens, excerpt_tokens = _field_tokens(title), _field_tokens(excerpt)
    if len(title_tokens) + len(excerpt_tokens) <= MAX_POSITIONS_PER_LEXEME:
        # Too few tokens for any to lose a position (by clamping or a lexeme's limit): the
        # layout would keep every one in place.
        return " ".join(title_tokens), " ".join(excerpt_tokens)
    return _fts5_columns(title_tokens, excerpt_tokens)


def _fts5_columns(title_tokens: list[str], excerpt_tokens: list[str]) -> tuple[str, str]:
    fields, kept = _layout_of(title_tokens, excerpt_tokens)
    columns: list[str] = []
    for slots in fields:
        words: list[str] = []
        clamped: dict[str, None] = {}
        for token, position in slots:
            if position == MAX_POSITION:
                clamped[token] = None
            else:
                words.append(token if position <= kept[token][-1] else _FILLER)
        for token in clamped:
            words += (_FILLER, token)
        columns.append(" ".join(words))
    return columns[0], columns[1]


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(title: str, excerpt: str | None) -> str:
    """The tsvector input text for PostgreSQL: `'tok':1,5 'other':2`, excerpt after a gap."""
    _, kept = _layout(title, excerpt)
    return " ".join(f"{_quote(t)}:{','.join(map(str, ps))}" for t, ps in kept.items())


# --- query language ----------------------------------------------------------------------


def _words(chunk: str) -> list[Word]:
    """A whitespace-free piece of the query as words; a trailing `*` touching a token marks
    that token as a prefix (elsewhere `*` is punctuation, and a bare `*` is nothing)."""
    body = chunk.rstrip("*")
    normalised = _normalise(body)
    words = [Word(t) for t in normalised.split()]
    if any(len(w.text) > MAX_TOKEN_CHARS for w in words):
        raise SearchSyntaxError(f"a search word is longer than {MAX_TOKEN_CHARS} characters")
    if words and body != chunk and not normalised.endswith(" "):
        words[-1] = Word(words[-1].text, prefix=True)
    return words


class _Item(NamedTuple):
    negated: bool
    term: Term


_OR = object()


def _lex(q: str) -> list[_Item | object]:
    items: list[_Item | object] = []
    for match in _CHUNK.finditer(q):
        phrase = match.group(2)
        if phrase is not None:  # an unbalanced quote runs to the end of the query
            negated = bool(match.group(1))
            words = [word for chunk in phrase.split() for word in _words(chunk)]
        elif match.group() == "OR":
            items.append(_OR)
            continue
        else:
            chunk = match.group()
            negated = chunk.startswith("-")
            words = _words(chunk[1:] if negated else chunk)
        if words:  # pure punctuation and symbols are not search terms
            items.append(_Item(negated, Term(tuple(words))))
    return items


def parse_query(q: str) -> SearchQuery:
    """Parse a `q` parameter; raises SearchSyntaxError when nothing searchable is left."""
    items = _lex(q)
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    joining = False
    for index, item in enumerate(items):
        if isinstance(item, _Item):
            if item.negated:
                excluded.append(item.term)
            elif joining:
                groups[-1].append(item.term)
            else:
                groups.append([item.term])
            joining = False
            continue
        after = items[index + 1] if index + 1 < len(items) else None
        previous = items[index - 1] if index else None
        if _positive(previous) and _positive(after):
            joining = True
        else:  # OR that joins nothing is the word "or"
            groups.append([Term((Word("or"),))])
            items[index] = _Item(False, groups[-1][0])
            joining = False
    if not groups and not excluded:
        raise SearchSyntaxError("the search has no words to look for (letters or digits)")
    return SearchQuery(
        required=tuple(dict.fromkeys(tuple(dict.fromkeys(g)) for g in groups)),
        excluded=tuple(dict.fromkeys(excluded)),
    )


def _positive(item: object) -> bool:
    return isinstance(item, _Item) and not item.negated


# --- compilers ---------------------------------------------------------------------------


def _fts5_term(term: Term) -> str:
    # FTS5 marks only the last token of a string as a prefix, so a prefix ends a string and
    # `+` joins the strings into one phrase: `"new yor" *`, `"new" * + "york"`.
    parts: list[str] = []
    run: list[str] = []
    for word in term.words:
        run.append(word.text)
        if word.prefix:
            parts.append(_fts5_string(run) + " *")
            run = []
    if run:
        parts.append(_fts5_string(run))
    return " + ".join(parts)


def _fts5_string(texts: list[str]) -> str:
    return '"' + " ".join(texts).replace('"', '""') + '"'


def _tsquery_term(term: Term) -> str:
    lexemes = [_quote(w.text) + (":*" if w.prefix else "") for w in term.words]
    return lexemes[0] if len(lexemes) == 1 else "(" + " <-> ".join(lexemes) + ")"


def to_fts5(query: SearchQuery) -> str | None:
    """The FTS5 MATCH expression for the required part, or None when there is none."""
    groups = [
        _fts5_term(g[0]) if len(g) == 1 else "(" + " OR ".join(map(_fts5_term, g)) + ")"
        for g in query.required
    ]
    return " AND ".join(groups) or None


def to_tsquery(query: SearchQuery) -> str | None:
    """The tsquery literal for the required part, or None when there is none."""
    groups = [
        _tsquery_term(g[0]) if len(g) == 1 else "(" + " | ".join(map(_tsquery_term, g)) + ")"
        for g in query.required
    ]
    return " & ".join(groups) or None


def negatives_fts5(query: SearchQuery) -> list[str]:
    """One MATCH expression per excluded term: rows matching any of them are left out."""
    return [_fts5_term(term) for term in query.excluded]


def negatives_tsquery(query: SearchQuery) -> list[str]:
    """One tsquery literal per excluded term: rows matching any of them are left out."""
    return [_tsquery_term(term) for term in query.excluded]
