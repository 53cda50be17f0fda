"""Brute force: what `/articles` must answer, computed in Python from the fixture's own values."""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.factory import Corpus

NULLABLE_SORTS = {"quality", "heat"}


def _instant(text: str, *, end: bool) -> datetime:
    if len(text) == 10:
        day = datetime.fromisoformat(text)
        return day + timedelta(days=1) if end else day
    value = datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)
    return value + timedelta(microseconds=1) if end else value


def _published(summary: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(summary["published_at"].removesuffix("Z"))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def matches(summary: dict[str, Any], params: dict[str, Any]) -> bool:
    """Does one article pass every filter in `params` (the HTTP parameters)?"""
    s = summary
    if not params.get("include_removed") and s["removed"] is True:
        return False
    topics = {t.strip().lower() for t in s["topics"]}
    if "topic" in params and not topics & {t.strip().lower() for t in _as_list(params["topic"])}:
        return False
    excluded = {t.strip().lower() for t in _as_list(params.get("exclude_topic", []))}
    if topics & excluded:
        return False
    domain = s["provider"]["domain"].lower()
    if "provider" in params and domain not in {p.lower() for p in _as_list(params["provider"])}:
        return False
    if domain in {p.lower() for p in _as_list(params.get("exclude_provider", []))}:
        return False
    published_at = _published(s)
    if "from" in params and published_at < _instant(params["from"], end=False):
        return False
    if "to" in params and published_at >= _instant(params["to"], end=True):
        return False
    for field in ("quality", "heat"):
        value = s[field]
        if f"min_{field}" in params and (value is None or value < params[f"min_{field}"]):
            return False
        if f"max_{field}" in params and (value is None or value > params[f"max_{field}"]):
            return False
    if "published" in params and s["published"] is not params["published"]:
        return False
    for field in ("type", "category"):
        if field in params and s[field] != params[field]:
            return False
    if "url" in params and s["url"] != params["url"].strip():
        return False
    return not ("q" in params and not search_matches(s, params["q"]))


def ordered(summaries: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    """`sort` order, ties by id in the same direction, missing values last either way."""
    name = sort.lstrip("-")
    descending = sort.startswith("-")
    by_id = sorted(summaries, key=lambda s: s["id"], reverse=descending)
    key = _published if name == "published_at" else (lambda s: s[name])
    present = [s for s in by_id if s[name] is not None]
    missing = [s for s in by_id if s[name] is None]
    # Python's sort is stable in reverse too, so equal values keep their id order.
    return sorted(present, key=key, reverse=descending) + missing


def expected_ids(corpus: Corpus, params: dict[str, Any]) -> list[str]:
    sort = params.get("sort", "-published_at")
    return [s["id"] for s in ordered([s for s in corpus.summaries() if matches(s, params)], sort)]


# -- facets ------------------------------------------------------------------------------


def facets(corpus: Corpus, params: dict[str, Any], name: str) -> list[dict[str, Any]]:
    rows = [s for s in corpus.summaries() if matches(s, params)]
    counts: Counter[Any] = Counter()
    for s in rows:
        if name == "topic":
            counts.update({corpus.topic_names[t.strip().lower()] for t in s["topics"]})
        elif name == "provider":
            counts[s["provider"]["domain"].lower()] += 1
        elif name in ("type", "published"):
            if s[name] is not None:
                counts[s[name]] += 1
        elif name == "year":
            counts[int(s["published_at"][:4])] += 1
        else:
            counts[s["published_at"][:7]] += 1
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:50]
    if name == "provider":
        return [{"value": v, "count": n, "name": corpus.provider_names[v]} for v, n in top]
    return [{"value": v, "count": n} for v, n in top]


# -- search ------------------------------------------------------------------------------

_QUERY_CHUNK = re.compile(r'(-?)"([^"]*)"?|\S+')


def fold(text: str) -> list[str]:
    """Tokens as the spec describes them: case- and accent-insensitive runs of letters/digits."""
    text = unicodedata.normalize("NFKD", html.unescape(text))
    text = "".join(c for c in text if not unicodedata.category(c).startswith("M")).casefold()
    return "".join(c if c.isalnum() else " " for c in text).split()


def _term(words: str) -> list[tuple[str, bool]]:
    """A phrase or word as (token, is_prefix) pairs."""
    prefix = words.endswith("*")
    tokens = fold(words.rstrip("*"))
    return [(t, prefix and i == len(tokens) - 1) for i, t in enumerate(tokens)]


def _field_has(tokens: list[str], term: list[tuple[str, bool]]) -> bool:
    for start in range(len(tokens) - len(term) + 1):
        window = tokens[start : start + len(term)]
        if all(t == w or (p and t.startswith(w)) for t, (w, p) in zip(window, term, strict=True)):
            return True
    return False


def _has(summary: dict[str, Any], term: list[tuple[str, bool]]) -> bool:
    fields = (fold(summary["title"]), fold(summary["excerpt"] or ""))
    return any(_field_has(tokens, term) for tokens in fields)


def search_matches(summary: dict[str, Any], q: str) -> bool:
    """The query language for the simple queries the tests use: AND, OR, phrase, -, prefix*."""
    groups: list[list[list[tuple[str, bool]]]] = []
    excluded: list[list[tuple[str, bool]]] = []
    join = False
    for match in _QUERY_CHUNK.finditer(q):
        negated, phrase = match.group(1), match.group(2)
        chunk = match.group()
        if phrase is None and chunk == "OR":
            join = True
            continue
        if phrase is None and chunk.startswith("-"):
            negated, phrase = "-", chunk[1:]
        term = _term(phrase if phrase is not None else chunk)
        if negated:
            excluded.append(term)
        elif join and groups:
            groups[-1].append(term)
        else:
            groups.append([term])
        join = False
    if any(_has(summary, term) for term in excluded):
        return False
    return all(any(_has(summary, term) for term in group) for group in groups)
