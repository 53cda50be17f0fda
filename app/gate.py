"""At most as many requests use the database at once as the pool has connections.

A request holds its pooled connection across several worker threads (dependencies, the
route, a streamed body). Without a gate, a burst larger than the pool fills every thread
with requests waiting for a connection while the requests holding connections wait for a
thread: nothing moves until the pool times out. Waiting here costs no thread.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

GATED_PREFIXES = ("/api/", "/readyz")


class DatabaseGate:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(GATED_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:  # made on first use, inside the server's event loop
            self._semaphore = asyncio.Semaphore(self.limit)
        async with self._semaphore:
            await self.app(scope, receive, send)
