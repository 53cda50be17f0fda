"""Opaque page cursors: urlsafe base64 of a small JSON object.

A keyset cursor holds the last row's sort value and id; a relevance cursor holds an offset,
because floating-point ranks are not stable enough to seek on. Both carry the sort they were
made for, so a cursor cannot be replayed under another sort.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

ID_PATTERN = re.compile(r"[0-9a-f]{16}")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_CURSOR_LENGTH = 512


class CursorError(ValueError):
    """The cursor is not one this API made for this sort."""


@dataclass(frozen=True, slots=True)
class Cursor:
    sort: str
    # Keyset position: the last row's sort value (None for a NULL quality/heat) and id.
    value: datetime | int | None = None
    id: str | None = None
    # Relevance position: how many rows came before.
    offset: int | None = None


def encode_keyset(sort: str, value: datetime | int | None, article_id: str) -> str:
    raw = value.isoformat(timespec="microseconds") if isinstance(value, datetime) else value
    return _encode({"s": sort, "v": raw, "i": article_id})


def encode_offset(sort: str, offset: int) -> str:
    return _encode({"s": sort, "o": offset})


def _encode(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode("ascii")


def decode(token: str, *, sort: str) -> Cursor:
    """Read a cursor made for `sort`; raise CursorError for anything else."""
    if len(token) > MAX_CURSOR_LENGTH:
        raise CursorError("cursor is too long")
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = orjson.loads(data)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise CursorError("not a cursor from this API") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), str):
        raise CursorError("not a cursor from this API")
    if payload["s"] != sort:
        raise CursorError(f"cursor was made for sort={payload['s']}, not sort={sort}")
    if sort == "relevance":
        offset = payload.get("o")
        if type(offset) is not int or not 0 <= offset <= INT64_MAX or set(payload) != {"s", "o"}:
            raise CursorError("not a cursor from this API")
        return Cursor(sort=sort, offset=offset)
    article_id = payload.get("i")
    if set(payload) != {"s", "v", "i"} or not isinstance(article_id, str):
        raise CursorError("not a cursor from this API")
    if not ID_PATTERN.fullmatch(article_id):
        raise CursorError("not a cursor from this API")
    return Cursor(sort=sort, value=_decode_value(sort, payload["v"]), id=article_id)


def _decode_value(sort: str, raw: Any) -> datetime | int | None:
    if sort.lstrip("-") == "published_at":
        if not isinstance(raw, str):
            raise CursorError("not a cursor from this API")
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise CursorError("not a cursor from this API") from None
        if value.tzinfo is not None:
            raise CursorError("not a cursor from this API")
        return value
    if raw is None:
        return None
    if type(raw) is not int or not INT64_MIN <= raw <= INT64_MAX:
        raise CursorError("not a cursor from this API")
    return raw
