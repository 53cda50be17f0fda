"""API benchmarks: servers on loopback, the standard queries, and wrk to load them."""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

BIN = Path(sys.executable).parent
QUERIES = ["newest", "topic", "combined", "sorted", "fulltext", "facets", "deep_cursor", "detail"]
QUERY_LABELS = {
    "newest": "newest",
    "topic": "one topic",
    "combined": "provider + published + dates + min quality",
    "sorted": "sorted by quality",
    "fulltext": "full-text",
    "facets": "facets (topic, provider)",
    "deep_cursor": "deep cursor page (50 pages in)",
    "detail": "one article's detail",
}
DEEP_PAGES = 50
MIN_QUALITY = 100
DATASETTE_LIST = "/db/articles.json"
# A query path starting with this is no path but the reason the query could not be formed.
UNREACHABLE = "!"
# Datasette lists do not hide removed articles by themselves; newscat's lists do.
DATASETTE_COMMON = {"_size": "20", "_shape": "objects", "_where": "removed is not 1"}


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad: int  # non-2xx/3xx responses plus socket errors


@dataclass
class QueryResult:
    path: str
    total: int | None = None
    first_ms: float | None = None  # one request on its own, before any load
    error: str | None = None  # why this query was not loaded (the server could not answer)
    slow: bool = False  # too slow for concurrent load: throughput is from one connection
    throughput: WrkResult | None = None
    latency: WrkResult | None = None


@dataclass
class LoadSettings:
    threads: int = 2
    connections: int = 16
    duration: int = 10
    latency_duration: int = 5
    warmup: int = 2


@dataclass
class Params:
    topic: str
    provider: str
    word: str
    date_from: date
    date_to: date
    min_quality: int = MIN_QUALITY
    detail_id: str = ""


def ensure_wrk() -> str:
    """wrk's path; installs Debian's package when running as root, else says how to."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SystemExit(
            "bench: the API benchmark needs wrk; install it (apt-get install -y wrk) "
            "or run with --skip-api"
        )
    print("installing wrk (apt-get install -y wrk) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench: wrk is still missing after apt-get install")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server process on a free loopback port, ready once `health` answers 200."""

    def __init__(
        self,
        name: str,
        command: list[str],
        port: int,
        health: str,
        log: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name, self.command, self.port, self.health = name, command, port, health
        self.log_path, self.env = log, env
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: TextIO | None = None

    def __enter__(self) -> Server:
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            self.command, stdout=self.log, stderr=subprocess.STDOUT, env=self.env
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text()[-2000:]
                raise RuntimeError(f"{self.name} exited at startup:\n{tail}")
            if get(self.base + self.health, timeout=2)[0] == 200:
                return self
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"{self.name} did not answer {self.health} within 180 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log is not None:
            self.log.close()


def get(url: str, timeout: float = 60) -> tuple[int, Any]:
    """(status, parsed body); status 0 when no answer came (refused, reset, timed out)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:  # URLError and socket timeouts are OSErrors
        return 0, f"no answer: {exc}"


def get_ok(url: str) -> Any:
    status, body = get(url)
    if status != 200:
        raise RuntimeError(f"GET {url} answered {status}: {str(body)[:500]}")
    return body


def pick_params(base: str) -> Params:
    """Query values from the catalogue itself: its most used topic and provider, a word that
    recurs in titles, the middle half of its date span, and an article 50 pages deep."""
    topic = get_ok(f"{base}/api/v1/topics?limit=1")[0]["name"]
    provider = get_ok(f"{base}/api/v1/providers?limit=1")[0]["domain"]
    stats = get_ok(f"{base}/api/v1/stats")
    first = datetime.fromisoformat(stats["first_published_at"].replace("Z", "+00:00"))
    last = datetime.fromisoformat(stats["last_published_at"].replace("Z", "+00:00"))
    titles = get_ok(f"{base}/api/v1/articles?limit=100")["items"]
    words = collections.Counter(
        word for item in titles for word in re.findall(r"[a-z]{5,}", item["title"].lower())
    )
    word = min(words.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    return Params(
        topic=topic,
        provider=provider,
        word=word,
        date_from=(first + (last - first) / 4).date(),
        date_to=(first + (last - first) * 3 / 4).date(),
    )


def _deep_page(base: str, first: str, next_path: Any) -> str:
    """The path of the page DEEP_PAGES pages after `first`, following each page's token."""
    path = first
    for _ in range(DEEP_PAGES):
        path = next_path(get_ok(base + path))
    return str(path)


def newscat_queries(base: str, params: Params) -> dict[str, str]:
    path = "/api/v1/articles"
    combined = {
        "provider": params.provider,
        "published": "true",
        "from": params.date_from.isoformat(),
        "to": params.date_to.isoformat(),
        "min_quality": str(params.min_quality),
    }
    try:
        deep = _deep_page(
            base, path, lambda page: f"{path}?{urlencode({'cursor': page['next_cursor']})}"
        )
        params.detail_id = get_ok(base + deep)["items"][0]["id"]
    except RuntimeError as exc:
        deep = UNREACHABLE + str(exc)
        params.detail_id = get_ok(base + path)["items"][0]["id"]
    return {
        "newest": path,
        "topic": f"{path}?{urlencode({'topic': params.topic})}",
        "combined": f"{path}?{urlencode(combined)}",
        "sorted": f"{path}?sort=-quality",
        "fulltext": f"{path}?{urlencode({'q': params.word})}",
        "facets": f"{path}?facet=topic&facet=provider",
        "deep_cursor": deep,
        "detail": f"{path}/{params.detail_id}",
    }


def datasette_queries(base: str, params: Params) -> dict[str, str]:
    def url(**args: str) -> str:
        return f"{DATASETTE_LIST}?{urlencode({**args, **DATASETTE_COMMON})}"

    newest = {"_sort_desc": "published_at"}
    try:
        deep = _deep_page(base, url(**newest), lambda page: url(**newest, _next=page["next"]))
    except RuntimeError as exc:
        deep = UNREACHABLE + str(exc)
    return {
        "newest": url(**newest),
        "topic": url(topics__arraycontains=params.topic, **newest),
        "combined": url(
            provider_domain__exact=params.provider,
            published__exact="1",
            published_at__gte=params.date_from.isoformat(),
            published_at__lt=(params.date_to + timedelta(days=1)).isoformat(),
            quality__gte=str(params.min_quality),
            **newest,
        ),
        "sorted": url(_sort_desc="quality"),
        "fulltext": url(_search=params.word),
        "facets": url(_facet="provider_domain", _facet_array="topics", **newest),
        "deep_cursor": deep,
        "detail": f"/db/articles/{params.detail_id}.json?_shape=objects",
    }


def check(status: int, body: Any) -> str | None:
    """Why a response does not count as an answer, or None when it does."""
    if status != 200:
        return f"HTTP {status}: {str(body)[:200]}"
    if isinstance(body, dict) and body.get("facets_timed_out"):
        return f"facets timed out: {', '.join(body['facets_timed_out'])}"
    return None


def total_of(body: Any) -> int | None:
    for key in ("total", "filtered_table_rows_count"):
        if isinstance(body, dict) and isinstance(body.get(key), int):
            return int(body[key])
    return None


def timed_get(url: str) -> tuple[float, int, Any]:
    start = time.perf_counter()
    status, body = get(url)
    return (time.perf_counter() - start) * 1000, status, body


def run_queries(base: str, queries: dict[str, str], load: LoadSettings) -> dict[str, QueryResult]:
    results = {}
    for name, path in queries.items():
        results[name] = result = measure_query(base + path, path, load)
        if result.error:
            print(f"  {name:12} failed: {result.error}", flush=True)
            continue
        assert result.throughput and result.latency
        print(
            f"  {name:12} {result.throughput.rps:9.1f} req/s  p50 {result.latency.p50_ms:8.2f} ms"
            f"  p99 {result.latency.p99_ms:8.2f} ms  (c{load.connections} p50 "
            f"{result.throughput.p50_ms:.2f} ms){' slow' if result.slow else ''}",
            flush=True,
        )
    return results


def measure_query(url: str, path: str, load: LoadSettings) -> QueryResult:
    if path.startswith(UNREACHABLE):
        return QueryResult("", error=path.removeprefix(UNREACHABLE))
    first_ms, status, body = timed_get(url)
    result = QueryResult(path, total_of(body), first_ms, check(status, body))
    if result.error:
        return result
    again_ms = timed_get(url)[0]
    # `connections` requests in flight each wait for the others: when such a queue cannot
    # drain within half the load period, wrk sees a handful of answers or none and leaves the
    # server a backlog of abandoned requests. Those queries are loaded one at a time instead.
    result.slow = again_ms * load.connections > load.duration * 1000 / 2
    if not result.slow:
        wrk(url, threads=1, connections=4, duration=load.warmup)
    seconds = max(load.latency_duration, int(3 * again_ms / 1000) + 1)
    result.latency = wrk(url, threads=1, connections=1, duration=seconds)
    if result.latency.requests == 0:  # slower than wrk's period: one timed request instead
        result.latency = WrkResult(1000 / again_ms, again_ms, again_ms, 1, 0)
    if not result.slow:
        result.throughput = wrk(
            url, threads=load.threads, connections=load.connections, duration=load.duration
        )
        _drain(url)
        result.slow = result.throughput.requests < load.connections
    if result.slow:
        result.throughput = result.latency
    return result


def _drain(url: str) -> None:
    """Wait until the server has worked through the requests wrk abandoned: a new request
    queues behind them, so its answer means they are done."""
    for _ in range(20):
        if get(url, timeout=120)[0] != 0:
            return


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    requests = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and requests):
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failures = int(bad.group(1)) if bad else 0
    failures += sum(int(n) for n in errors.groups()) if errors else 0
    return WrkResult(
        float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), int(requests.group(1)), failures
    )


def wrk(url: str, *, threads: int, connections: int, duration: int) -> WrkResult:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    command += ["--timeout", "30s", url]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return parse_wrk(output)


def newscat_server(database_url: str, port: int, log: Path, *, cache: bool) -> Server:
    env = {**os.environ, "DATABASE_URL": database_url}
    if not cache:
        env["NEWSCAT_RESULT_CACHE_SIZE"] = "0"
    command = [str(BIN / "newscat"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", "1", "--database-url", database_url]
    return Server("newscat", command, port, "/healthz", log, env)


DATASETTE_SETTINGS = {
    "suggest_facets": "off",
    "default_page_size": "20",
    "sql_time_limit_ms": "10000",
    "num_sql_threads": "3",
    # Datasette's default 200 ms facet budget would answer without facets on large tables.
    "facet_time_limit_ms": "10000",
}


def datasette_command(db_file: Path, port: int) -> list[str]:
    command = [str(BIN / "datasette"), "serve", "-i", str(db_file), "-h", "127.0.0.1"]
    command += ["-p", str(port)]
    for name, value in DATASETTE_SETTINGS.items():
        command += ["--setting", name, value]
    return command


def datasette_server(db_file: Path, port: int, log: Path) -> Server:
    return Server("datasette", datasette_command(db_file, port), port, "/-/versions.json", log)
