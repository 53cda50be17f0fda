"""A bounded flood on loopback: 200 concurrent clients for 20 s against `newscat serve`.

No 5xx, no failed connection, the server's memory flat (final RSS at most 1.5x the RSS after
warm-up), and the server answering normally afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.hardening.conftest import record_figure, running_server

CLIENTS = 200
WARM_UP_SECONDS = 4.0
FLOOD_SECONDS = 20.0
RSS_GROWTH_LIMIT = 1.5


def _paths(ids: list[str]) -> list[str]:
    """A mix that defeats the response cache: many distinct queries, every endpoint."""
    paths = [
        *(f"/api/v1/articles?offset={n}&limit={1 + n % 50}" for n in range(0, 300, 3)),
        *(f"/api/v1/articles?sort={s}&limit=5" for s in ("quality", "-heat", "published_at")),
        *(f"/api/v1/articles?q={w}&facet=topic&facet=provider" for w in ("data", "cloud", "ai")),
        *(f"/api/v1/articles/{i}" for i in ids),
        *(f"/api/v1/articles/{i}/related" for i in ids[:10]),
        "/api/v1/stats",
        "/api/v1/topics",
        "/api/v1/providers?q=a",
        "/api/v1/feed.atom",
        "/api/v1/feed.json?published=true",
        "/api/v1/articles?limit=0",  # 422
        "/api/v1/articles/0123456789abcdef",  # 404
        "/healthz",
    ]
    return paths


async def _flood(
    base_url: str, paths: list[str], seconds: float, statuses: Counter[Any], timeout: float = 30
) -> None:
    deadline = time.monotonic() + seconds
    # Idle connections are dropped long before the server's keep-alive ends, not raced with it.
    limits = httpx.Limits(
        max_connections=CLIENTS, max_keepalive_connections=CLIENTS, keepalive_expiry=2
    )
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:

        async def one_client(n: int) -> None:
            i = n
            while time.monotonic() < deadline:
                i += 7
                try:
                    response = await client.get(paths[i % len(paths)])
                    statuses[response.status_code] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1

        await asyncio.gather(*(one_client(n) for n in range(CLIENTS)))


@pytest.fixture(scope="module")
def sqlite_only(backend: str) -> None:
    """Listed before `catalogue`, so that no PostgreSQL catalogue is built only to be skipped."""
    if backend != "sqlite":
        pytest.skip("the flood runs once, on the embedded default")


def _rss(process: psutil.Process) -> int:
    """The server's resident memory, its worker processes included."""
    return sum(p.memory_info().rss for p in (process, *process.children(recursive=True)))


@pytest.mark.slow
@pytest.mark.xdist_group("serial")
def test_flood_has_no_errors_and_flat_memory(backend: str, catalogue: str, tmp_path: Path) -> None:
    if backend != "sqlite":
        pytest.skip("the flood runs once, on the embedded default")
    with running_server(catalogue, tmp_path) as server:
        baseline = httpx.get(f"{server.base_url}/api/v1/articles?limit=100")
        ids = [item["id"] for item in baseline.json()["items"]][:40]
        paths = _paths(ids)
        process = psutil.Process(server.process.pid)

        warm: Counter[Any] = Counter()
        asyncio.run(_flood(server.base_url, paths, WARM_UP_SECONDS, warm))
        rss_warm = _rss(process)
        statuses: Counter[Any] = Counter()
        samples: list[int] = []

        async def flood_and_sample() -> None:
            async def sample() -> None:
                while True:
                    samples.append(_rss(process))
                    await asyncio.sleep(1)  # a sampling period, not a synchronisation

            sampler = asyncio.create_task(sample())
            try:
                await _flood(server.base_url, paths, FLOOD_SECONDS, statuses)
            finally:
                sampler.cancel()

        started = time.monotonic()
        asyncio.run(flood_and_sample())
        elapsed = time.monotonic() - started
        rss_final = _rss(process)

        after = httpx.get(f"{server.base_url}/api/v1/articles?limit=100")
        assert server.process.poll() is None, server.log()
        assert httpx.get(f"{server.base_url}/healthz").status_code == 200
        assert after.status_code == 200 and after.json() == baseline.json()

    total = sum(statuses.values())
    errors = {k: n for k, n in statuses.items() if not isinstance(k, int) or k >= 500}
    record_figure(
        "load",
        clients=CLIENTS,
        seconds=round(elapsed, 1),
        requests=total,
        requests_per_second=round(total / elapsed),
        statuses={str(k): n for k, n in sorted(statuses.items(), key=str)},
        errors=sum(errors.values()),
        rss_after_warm_up_mb=round(rss_warm / 2**20, 1),
        rss_peak_mb=round(max(samples, default=rss_final) / 2**20, 1),
        rss_final_mb=round(rss_final / 2**20, 1),
    )
    assert errors == {}, errors
    assert set(statuses) <= {200, 404, 422}, statuses
    assert rss_final <= RSS_GROWTH_LIMIT * rss_warm, (rss_warm, rss_final)


@pytest.mark.slow
@pytest.mark.xdist_group("serial")
@pytest.mark.parametrize("kind", ["lookups", "exports"])
def test_many_concurrent_requests_that_hold_a_connection(
    kind: str, sqlite_only: None, catalogue: str, tmp_path: Path
) -> None:
    """Requests that keep a pooled connection across threadpool hops (the `{id}` lookup runs in
    a dependency; an export streams in steps) must not exhaust the pool and stall the server."""
    with running_server(catalogue, tmp_path) as server:
        listing = httpx.get(f"{server.base_url}/api/v1/articles?limit=20").json()
        ids = [item["id"] for item in listing["items"]]
        if kind == "lookups":
            paths = [f"/api/v1/articles/{i}{end}" for i in ids for end in ("", "/related")]
        else:
            paths = [f"/api/v1/export.{f}?limit={n}" for f in ("csv", "ndjson") for n in range(20)]
        statuses: Counter[Any] = Counter()
        asyncio.run(_flood(server.base_url, paths, 6.0, statuses, timeout=15))
        try:
            responsive: Any = httpx.get(f"{server.base_url}/api/v1/stats", timeout=10).status_code
        except httpx.HTTPError as exc:
            responsive = type(exc).__name__
    record_figure(f"concurrent-{kind}", clients=CLIENTS, seconds=6, after=responsive,
                  statuses={str(k): n for k, n in statuses.items()})  # fmt: skip
    assert set(statuses) == {200}, statuses
    assert responsive == 200
