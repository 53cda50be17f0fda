"""The HTTP edge: pure ASGI middlewares (no BaseHTTPMiddleware, which costs a task per request).

From the outside in: `EdgeMiddleware` (nosniff on every response; HEAD served as a bodiless GET),
CORS, `ResponseCacheMiddleware` (ETag, 304, Cache-Control and a per-process LRU of whole
responses), then gzip. The cache sits outside gzip so a hit never compresses again, and inside
CORS so every hit still gets the headers of its own Origin.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import POOL_CAPACITY
from app.errors import DATABASE_ERRORS, database_unavailable_response
from app.gate import DatabaseGate
from app.settings import Settings
from app.version_probe import VersionProbe

logger = logging.getLogger("newscat.api")

API_PREFIX = "/api/v1/"
# Generated once per process and independent of the catalogue: cached without a version probe.
UNVERSIONED_PATHS = frozenset({"/openapi.json", "/docs", "/redoc"})
# Liveness and readiness must reach the process every time.
NO_STORE_PATHS = frozenset({"/healthz", "/readyz"})
MAX_ENTRY_BYTES = 1024 * 1024
MAX_CACHE_BYTES = 128 * 1024 * 1024
# Responses that show when the last ingest ran: an ingest that changed nothing stamps a new
# time without moving the version, so these are keyed by both.
INGEST_STAMPED_PATHS = frozenset({f"{API_PREFIX}stats"})
# A new release may render the same catalogue differently, so it must not reuse old ETags.
try:
    ETAG_SALT = importlib.metadata.version("newscat").encode()
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
    ETAG_SALT = b"dev"

NOSNIFF_HEADER = (b"x-content-type-options", b"nosniff")
NOT_MODIFIED_HEADERS = frozenset({b"etag", b"cache-control", b"vary"})


@dataclass(slots=True)
class CachedResponse:
    etag: bytes
    status: int
    headers: list[tuple[bytes, bytes]]
    # None for a streamed response: too big to keep, but known to be a 200 with this ETag.
    body: bytes | None

    @property
    def size(self) -> int:
        return 256 + len(self.body or b"")


def normal_query(query_string: bytes) -> bytes:
    """Order parameters by name (stably, so repeated values keep their order) for the key."""
    if b"&" not in query_string:
        return query_string
    parts = query_string.split(b"&")
    parts.sort(key=lambda part: part.partition(b"=")[0])
    return b"&".join(part for part in parts if part)


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """The weak comparison RFC 9110 prescribes for If-None-Match."""
    if if_none_match.strip() == b"*":
        return True
    return any(
        candidate.strip().removeprefix(b"W/") == etag for candidate in if_none_match.split(b",")
    )


class ResponseCacheMiddleware:
    """Validators, Cache-Control, and a per-process LRU of complete GET responses.

    The catalogue changes only when an ingest commits, and each commit that changes it moves
    `catalogue_state.version`; a response is therefore a pure function of (version, request),
    which gives both the cache key and a strong ETag known before any query runs. Each worker
    keeps its own LRU; as all of them key by version, none can serve another version's data.
    The few responses that also show the last ingest's time (`INGEST_STAMPED_PATHS`) are
    keyed by that stamp too, so that a run which changed nothing invalidates only them.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        probe: VersionProbe,
        max_age: int,
        max_entries: int,
        max_bytes: int = MAX_CACHE_BYTES,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
    ) -> None:
        self.app = app
        self.probe = probe
        self.cache_control = f"public, max-age={max_age}".encode()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self.entries: OrderedDict[tuple[Any, ...], CachedResponse] = OrderedDict()
        self.bytes = 0
        self.fingerprint: tuple[Any, ...] | None = None  # (version, last ingest) last seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(API_PREFIX):
            await self.serve(scope, receive, send, versioned=True)
        elif path in UNVERSIONED_PATHS:
            await self.serve(scope, receive, send, versioned=False)
        elif path in NO_STORE_PATHS:
            await self.app(scope, receive, self.header_setter(send, b"no-store"))
        else:
            await self.app(scope, receive, self.header_setter(send, self.cache_control))

    def header_setter(self, send: Send, cache_control: bytes) -> Send:
        async def send_with_cache_control(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name == b"cache-control" for name, _ in headers):
                    ok = message["status"] in {200, 304}
                    headers.append((b"cache-control", cache_control if ok else b"no-store"))
                message["headers"] = headers
            await send(message)

        return send_with_cache_control

    async def serve(self, scope: Scope, receive: Receive, send: Send, *, versioned: bool) -> None:
        gzip = False
        host = if_none_match = b""
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                gzip = b"gzip" in value
            elif name == b"if-none-match":
                if_none_match = value
            elif name == b"host":
                host = value
        # Host and scheme shape the absolute URLs in feeds and Link headers.
        request_key = (
            scope.get("scheme"),
            host,
            scope.get("root_path", ""),
            scope["path"],
            normal_query(scope["query_string"]),
            gzip,
        )
        fingerprint: tuple[Any, ...] = ()
        if versioned:
            try:
                fingerprint = await self.probe.fingerprint()
            except DATABASE_ERRORS as exc:
                logger.warning("catalogue version unreadable: %s", type(exc).__name__)
                await database_unavailable_response()(scope, receive, send)
                return
            if fingerprint != self.fingerprint:
                self.forget_older(fingerprint)
            if scope["path"] not in INGEST_STAMPED_PATHS:
                fingerprint = fingerprint[:1]
        key = (versioned, fingerprint, request_key)
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)
            if if_none_match and etag_matches(if_none_match, entry.etag):
                await self.send_not_modified(send, entry.headers)
                return
            if entry.body is not None:
                start = {"type": "http.response.start", "status": 200}
                # A copy: outer middlewares edit the headers of each response they pass on.
                await send({**start, "headers": list(entry.headers)})
                await send({"type": "http.response.body", "body": entry.body})
                return
        etag = entry.etag if entry is not None else None
        if etag is None and versioned:
            digest = hashlib.blake2b(repr((fingerprint, request_key)).encode(), digest_size=12)
            digest.update(ETAG_SALT)
            etag = b'"' + digest.hexdigest().encode() + b'"'
        await self.fill(scope, receive, send, key=key, etag=etag, if_none_match=if_none_match)

    def forget_older(self, fingerprint: tuple[Any, ...]) -> None:
        """Free the entries that an ingest since the last request has made stale."""
        if self.fingerprint is None or fingerprint[:1] != self.fingerprint[:1]:
            # Every entry belongs to an older catalogue now.
            self.entries.clear()
            self.bytes = 0
        else:  # the same catalogue, restamped by a run that changed nothing
            for key in [key for key in self.entries if key[1] == self.fingerprint]:
                self.bytes -= self.entries.pop(key).size  # keyed by the old stamp
        self.fingerprint = fingerprint

    async def fill(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        key: tuple[Any, ...],
        etag: bytes | None,
        if_none_match: bytes,
    ) -> None:
        """Run the app, pass its response on, and keep it when it is a small complete 200."""
        start: Message | None = None
        streaming = False
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start, streaming, etag
            if message["type"] == "http.response.start":
                start = message
                headers = list(message.get("headers", ()))
                if message["status"] == 200:
                    headers.append((b"cache-control", self.cache_control))
                    if not any(name == b"vary" for name, _ in headers):
                        headers.append((b"vary", b"Accept-Encoding"))
                elif not any(name == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            if streaming:
                await send(message)
                return
            body = message.get("body", b"")
            more_body = message.get("more_body", False)
            if start["status"] != 200 or (more_body and not chunks):
                streaming = True
                if start["status"] == 200 and etag is not None:
                    start["headers"].append((b"etag", etag))
                    self.store(key, CachedResponse(etag, 200, list(start["headers"]), None))
                await send(start)
                await send(message)
                return
            chunks.append(body)
            if more_body:
                return
            body = b"".join(chunks)
            if etag is None:
                etag = b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
            headers = start["headers"]
            headers.append((b"etag", etag))
            if len(body) <= self.max_entry_bytes:
                self.store(key, CachedResponse(etag, 200, list(headers), body))
            if if_none_match and etag_matches(if_none_match, etag):
                await self.send_not_modified(send, headers)
                return
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)

    async def send_not_modified(self, send: Send, headers: list[tuple[bytes, bytes]]) -> None:
        # A 304 repeats the validators and caching headers of the 200 it stands for, no body.
        kept = [(name, value) for name, value in headers if name in NOT_MODIFIED_HEADERS]
        await send({"type": "http.response.start", "status": 304, "headers": kept})
        await send({"type": "http.response.body", "body": b""})

    def store(self, key: tuple[Any, ...], entry: CachedResponse) -> None:
        if self.max_entries <= 0 or entry.size > self.max_bytes:
            return
        previous = self.entries.pop(key, None)
        if previous is not None:
            self.bytes -= previous.size
        self.entries[key] = entry
        self.bytes += entry.size
        while len(self.entries) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = self.entries.popitem(last=False)
            self.bytes -= evicted.size


class EdgeMiddleware:
    """`X-Content-Type-Options: nosniff` on every response; HEAD answered as a bodiless GET.

    FastAPI routes only declare GET, so HEAD would otherwise be a 405. The scope is copied
    before the method is changed: the server keeps its own and must still see HEAD.
    """

    def __init__(self, app: ASGIApp, *, add_nosniff: bool = True) -> None:
        self.app = app
        self.add_nosniff = add_nosniff

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = dict(scope, method="GET")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if self.add_nosniff and NOSNIFF_HEADER not in headers:
                    headers.append(NOSNIFF_HEADER)
                message["headers"] = headers
            elif head and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_middleware(app: Any, settings: Settings, probe: VersionProbe) -> None:
    """Add the stack; Starlette wraps the last one added outermost."""
    app.add_middleware(DatabaseGate, limit=POOL_CAPACITY)
    app.add_middleware(GZipMiddleware, minimum_size=settings.gzip_minimum_size, compresslevel=6)
    app.add_middleware(
        ResponseCacheMiddleware,
        probe=probe,
        max_age=settings.cache_max_age,
        max_entries=settings.result_cache_size,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["If-None-Match"],
        allow_credentials=False,
        expose_headers=["ETag", "Link"],
        max_age=600,
    )
    # `newscat serve` has uvicorn add the header to every response, its own 400s included.
    app.add_middleware(EdgeMiddleware, add_nosniff=not settings.server_sends_nosniff)
