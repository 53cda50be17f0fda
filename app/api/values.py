"""Checks and conversions of single query-parameter values: text without NUL characters, a
search query that parses, and a `from`/`to` instant. Each failure is a pydantic error, so one
422 names every bad parameter."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from app.search import SearchSyntaxError, parse_query

# A `+02:00` offset sent unencoded in a query string arrives as ` 02:00`.
_SPACED_OFFSET = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?) (\d{2}(?::?\d{2})?)$")


def refuse_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("value_error", "NUL characters are not allowed")
    return value


def check_q(value: str | None) -> str | None:
    if value is not None and value.strip():
        refuse_nul(value)
        try:
            parse_query(value)
        except SearchSyntaxError as exc:
            raise PydanticCustomError("value_error", str(exc)) from None
    return value


def check_instant(value: str | None) -> str | None:
    if value is not None:
        refuse_nul(value)
        try:
            parse_instant(value, end=False)
            parse_instant(value, end=True)
        except (ValueError, OverflowError) as exc:
            message = str(exc) if isinstance(exc, _InstantError) else ""
            raise PydanticCustomError(
                "value_error", message or "not a valid date or datetime: {raw}", {"raw": value}
            ) from None
    return value


Text = Annotated[str, AfterValidator(refuse_nul)]
Instant = Annotated[str | None, AfterValidator(check_instant)]


class _InstantError(ValueError):
    pass


def parse_instant(raw: str, *, end: bool) -> datetime:
    """A `from`/`to` value as naive UTC: a date is its UTC midnight (the next one for an end
    bound, so it covers the day); a datetime must carry a zone, since a zone-less time in a
    query is ambiguous. End bounds come back exclusive."""
    text = raw.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = date.fromisoformat(text)
        start = datetime(day.year, day.month, day.day)
        return _later(start, timedelta(days=1)) if end else start
    text = _SPACED_OFFSET.sub(r"\1+\2", text)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*", text):
        raise _InstantError("expected a date (2021-07-28) or a datetime with a time zone")
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise _InstantError("a datetime needs a time zone, e.g. 2021-07-28T12:00:00Z or +02:00")
    value = value.astimezone(UTC).replace(tzinfo=None)
    # The catalogue keeps microseconds, so one more is the exclusive form of an inclusive end.
    return _later(value, timedelta(microseconds=1)) if end else value


def _later(value: datetime, step: timedelta) -> datetime:
    try:
        return value + step
    except OverflowError:
        return datetime.max
