"""Faults: kill -9 during an ingest, reads during an ingest, two ingests at once, a read-only
or full disk, and PostgreSQL going away and coming back.

Each test runs what it breaks in a subprocess or behind a proxy of its own, then checks that the
catalogue is intact (`integrity_problems`), that no article was lost, and, where the work can
finish, that the result equals a clean ingest of the same files (`canonical_dump`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.db import make_engine
from app.ingest.run import ingest_paths
from app.schema_facts import BULK_INDEX_NAMES
from app.synth import generate_corpus
from tests.catalogue import article_count, bulk_indexes, canonical_dump, integrity_problems
from tests.hardening.conftest import (
    ADMIN_URL,
    ROOT,
    TcpProxy,
    private_catalogue,
    record_figure,
    running_server,
    stop_process,
    wait_until,
)

KILL_CORPUS = 10_000
# When each kill lands: seconds after start (by then the first batch is usually committed), then
# seconds after the run's first new commit became visible.
KILL_MOMENTS = (("after start", 0.8), *(("after a commit", d) for d in (0.0, 0.05, 0.12, 0.25)))
PROBLEM = "application/problem+json"


def _ingest_command(database_url: str, *paths: Path, report: Path | None = None) -> list[str]:
    command = [sys.executable, "-m", "app", "ingest", *map(str, paths)]
    command += ["--database-url", database_url, "--workers", "2"]
    return command + (["--report", str(report)] if report else [])


def _spawn(command: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    """A job in a session of its own, so that its parser processes can be reaped with it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)


def _progress(process: subprocess.Popen[bytes], url: str, count: int) -> Callable[[], bool]:
    """Whether the job has ended or committed articles beyond `count`."""
    return lambda: process.poll() is not None or article_count(url) > count


def _ids(url: str) -> set[str]:
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(text("SELECT id FROM article"))}
    finally:
        engine.dispose()


def _clean_dump(backend: str, request: pytest.FixtureRequest, directory: Path, *paths: Path):  # type: ignore[no-untyped-def]
    """What one uninterrupted ingest of `paths` makes, on a catalogue of its own."""
    directory.mkdir(parents=True, exist_ok=True)
    with private_catalogue(backend, request, directory) as url:
        report = ingest_paths(list(paths), url, workers=2)
        assert report.counts["rejected"] == 0
        return canonical_dump(url)


@pytest.mark.slow
@pytest.mark.xdist_group("serial")
def test_kill_9_loop_loses_nothing(
    database_url: str, backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    corpus = tmp_path / "corpus"
    generate_corpus(corpus, KILL_CORPUS, seed=909)
    seen: set[str] = set()
    kills = []
    pause = threading.Event()
    for moment, delay in KILL_MOMENTS:
        process = _spawn(_ingest_command(database_url, corpus), tmp_path)
        started = time.monotonic()
        try:
            if moment == "after a commit":
                assert wait_until(_progress(process, database_url, len(seen)), timeout=120)
            pause.wait(delay)
            running = process.poll() is None
            process.send_signal(signal.SIGKILL)  # the job itself, without warning
        finally:
            _kill_group(process)  # then its orphaned parser processes
        assert running, f"the ingest finished before the kill {moment} + {delay}s"
        assert integrity_problems(database_url) == []
        ids = _ids(database_url)
        assert seen <= ids, f"{len(seen - ids)} articles lost"
        kills.append({"moment": moment, "delay": delay, "at": round(time.monotonic() - started, 2),
                      "articles": len(ids)})  # fmt: skip
        seen = ids

    final = ingest_paths([corpus], database_url, workers=2)
    assert final.counts["rejected"] == 0
    assert integrity_problems(database_url) == []
    if backend == "sqlite":  # a kill during the first, bulk load left them out (bulk.py)
        assert bulk_indexes(database_url) == BULK_INDEX_NAMES
    got = canonical_dump(database_url)
    expected = _clean_dump(backend, request, tmp_path / "clean", corpus)
    assert got == expected
    record_figure(
        "kill-9-loop",
        backend=backend,
        files=KILL_CORPUS,
        kills=len(kills),
        articles=len(got["articles"]),
        after_each_kill=[kill["articles"] for kill in kills],
        kill_seconds=[kill["at"] for kill in kills],
        integrity_problems=0,
        lost=0,
    )


BATCH = 500  # files a commit of the ingest during reads


class Hammer:
    """Threads that GET a path with changing parameters until stopped, counting statuses."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.stop = threading.Event()
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self.totals: dict[str, list[int]] = {}
        self.threads: list[threading.Thread] = []

    def start(self, name: str, paths: list[str], total: str) -> None:
        thread = threading.Thread(target=self._run, args=(name, paths, total), daemon=True)
        self.threads.append(thread)
        thread.start()

    def _run(self, name: str, paths: list[str], total: str) -> None:
        seen = self.totals.setdefault(name, [])
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            i = 0
            while not self.stop.is_set():
                path = paths[i % len(paths)]
                i += 1
                try:
                    response = client.get(path)
                except httpx.HTTPError as exc:
                    self.statuses[0] += 1
                    self.failures.append(f"{path}: {type(exc).__name__}: {exc}")
                    continue
                self.statuses[response.status_code] += 1
                if response.status_code != 200:
                    self.failures.append(f"{path}: {response.status_code} {response.text[:200]}")
                elif path.startswith("/api/v1/stats") or "include_removed" in path:
                    seen.append(response.json()[total])

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


@pytest.mark.slow
@pytest.mark.xdist_group("serial")
def test_api_answers_reads_while_an_ingest_writes(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    generate_corpus(first, 200, seed=31)
    generate_corpus(second, 6 * BATCH, seed=32)
    with private_catalogue("sqlite", request, tmp_path) as url:
        ingest_paths([first], url, workers=1)
        before = article_count(url)
        with running_server(url, tmp_path / "server") as server:
            hammer = Hammer(server.base_url)
            listing = [
                f"/api/v1/articles?offset={n * 7}&limit=20&sort={sort}"
                for n in range(40)
                for sort in ("-published_at", "quality")
            ]
            counted = "/api/v1/articles?include_removed=true"
            hammer.start("articles", [p for path in listing for p in (path, counted)], "total")
            hammer.start("stats", ["/api/v1/stats", "/api/v1/articles?q=data&limit=5"], "articles")
            progress = 0

            def readers_see_the_first_commits(files: int) -> None:
                # Right after each of the first two batches commits, hold the writer until a
                # count has been read that started after the commit (each thread reads in
                # turn, so the second read from now on did): the readers must see those.
                nonlocal progress
                done, progress = progress, progress + files
                if any(done <= BATCH * n < progress for n in (1, 2)):
                    counts = hammer.totals["articles"]
                    mark = len(counts)
                    assert wait_until(lambda: len(counts) >= mark + 2, timeout=60)

            try:
                assert wait_until(lambda: sum(hammer.statuses.values()) >= 20, timeout=60)
                started = time.monotonic()
                report = ingest_paths(
                    [second],
                    url,
                    workers=2,
                    batch_size=BATCH,
                    on_progress=readers_see_the_first_commits,
                )
                ingest_seconds = time.monotonic() - started
                during = sum(hammer.statuses.values())
            finally:
                hammer.join()
            after = httpx.get(f"{server.base_url}/api/v1/articles?include_removed=true&limit=1")
            stats = httpx.get(f"{server.base_url}/api/v1/stats").json()
        assert report.counts["rejected"] == 0
        total = article_count(url)
    assert hammer.failures == [], hammer.failures[:5]
    assert after.json()["total"] == total > before
    assert stats["articles"] <= total
    for name, seen in hammer.totals.items():
        assert seen == sorted(seen), f"{name}: a later read saw fewer articles"
    assert len(set(hammer.totals["articles"])) > 2, "no commit was seen before the ingest ended"
    record_figure(
        "reads-during-ingest",
        requests=sum(hammer.statuses.values()),
        requests_during_ingest=during,
        non_200=sum(n for status, n in hammer.statuses.items() if status != 200),
        ingest_seconds=round(ingest_seconds, 1),
        files=3000,
        distinct_totals_seen=len(set(hammer.totals["articles"])),
        articles_before=before,
        articles_after=total,
    )


def test_two_ingests_at_once_equal_one(
    database_url: str, backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    corpus = tmp_path / "corpus"
    generate_corpus(corpus, 1500, seed=41)
    reports = [tmp_path / "one.json", tmp_path / "two.json"]
    jobs = [_spawn(_ingest_command(database_url, corpus, report=r), tmp_path) for r in reports]
    try:
        outputs = [job.communicate(timeout=300) for job in jobs]
    finally:
        for job in jobs:
            if job.poll() is None:
                _kill_group(job)
    for job, (_, err) in zip(jobs, outputs, strict=True):
        assert job.returncode == 0, err.decode()
    counts = sorted((json.loads(r.read_bytes())["counts"] for r in reports), key=lambda c: c["new"])
    # The one that waited for the writer lock found every file already in.
    assert counts[0]["new"] == 0 and counts[0]["unchanged"] == 1500
    assert counts[1]["new"] == 1500
    assert integrity_problems(database_url) == []
    assert canonical_dump(database_url) == _clean_dump(backend, request, tmp_path / "clean", corpus)
    record_figure("two-ingests", backend=backend, files=1500, exits=[j.returncode for j in jobs],
                  counts=counts, lost=0)  # fmt: skip


# Disks that refuse writes (SQLite; the machine's PostgreSQL must not be broken on purpose)


@contextlib.contextmanager
def tmpfs(directory: Path, size: str) -> Iterator[Path]:
    """A small tmpfs of our own at `directory`; skips the test where mounting is impossible."""
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root: cannot make a disk read-only or full")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        done = subprocess.run(["umount", str(directory)], capture_output=True)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(directory)], check=True)


def _remount(directory: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(directory)], check=True)


@contextlib.contextmanager
def read_only_switch(directory: Path, size: str) -> Iterator[tuple[Path, Callable[[bool], None]]]:
    """A folder for a catalogue, and a switch that makes it read-only and back.

    Root ignores file modes, so as root the folder is a tmpfs remounted read-only; otherwise
    `chmod` does the job.
    """
    if os.geteuid() == 0:
        with tmpfs(directory, size) as disk:
            yield disk, lambda on: _remount(disk, "ro" if on else "rw")
        return
    if size == "8m":
        pytest.skip("filling a disk needs a small tmpfs, and mounting one needs root")
    directory.mkdir(parents=True, exist_ok=True)

    def switch(on: bool) -> None:
        for path in (directory, *directory.iterdir()):
            mode = (0o555 if on else 0o755) if path.is_dir() else (0o444 if on else 0o644)
            path.chmod(mode)
        if on and os.access(directory, os.W_OK):
            pytest.skip("file modes do not stop this user from writing")

    try:
        yield directory, switch
    finally:
        switch(False)


def _copy_template(request: pytest.FixtureRequest, directory: Path) -> str:
    template: Path = request.getfixturevalue("_sqlite_template")
    shutil.copyfile(template, directory / "catalogue.db")
    return f"sqlite:///{directory / 'catalogue.db'}"


def _run_ingest(database_url: str, *paths: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = _ingest_command(database_url, *paths)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _assert_clear_failure(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    assert message.startswith("newscat: "), result.stderr[-2000:]
    assert any(word in message.lower() for word in words), message


@pytest.mark.parametrize("state", ["closed cleanly", "left by kill -9", "left by a full disk"])
def test_read_only_disk_is_a_clear_error_and_loses_nothing(
    state: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    generate_corpus(old, 100, seed=51)
    generate_corpus(new, 900, seed=52)
    size = "8m" if state == "left by a full disk" else "64m"
    with read_only_switch(tmp_path / "disk", size) as (disk, make_read_only):
        url = _copy_template(request, disk)
        assert _run_ingest(url, old, cwd=tmp_path).returncode == 0
        if state == "left by kill -9":
            # A crashed ingest leaves its WAL, its shared memory and its lock file behind.
            count = article_count(url)
            job = _spawn(_ingest_command(url, old, new), tmp_path)
            try:
                assert wait_until(lambda: article_count(url) > count, timeout=120)
                job.send_signal(signal.SIGKILL)
            finally:
                _kill_group(job)
            assert (disk / "catalogue.db-wal").exists()
        elif state == "left by a full disk":
            assert _run_ingest(url, old, new, cwd=tmp_path).returncode == 2
        before = canonical_dump(url)
        make_read_only(True)
        try:
            result = _run_ingest(url, old, new, cwd=tmp_path)
        finally:
            make_read_only(False)
        _assert_clear_failure(result, "read-only", "readonly", "read only")
        assert integrity_problems(url) == []
        assert canonical_dump(url) == before
    record_figure("read-only-disk", state=state, exit=result.returncode,
                  message=result.stderr.strip()[-300:], articles_kept=len(before["articles"]),
                  lost=0)  # fmt: skip


def test_full_disk_is_a_clear_error_and_loses_nothing(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    generate_corpus(old, 50, seed=61)
    generate_corpus(new, 400, seed=62)  # one batch: it goes in whole or not at all
    with tmpfs(tmp_path / "disk", "16m") as disk:
        url = _copy_template(request, disk)
        assert _run_ingest(url, old, cwd=tmp_path).returncode == 0
        before = canonical_dump(url)
        # Leave a sliver of free space: enough to open the catalogue, not to write 400 articles.
        filler = disk / "filler"
        stats = os.statvfs(disk)
        filler.write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - 256 * 1024))
        result = _run_ingest(url, old, new, cwd=tmp_path)
        _assert_clear_failure(result, "full", "no space")
        assert integrity_problems(url) == []
        assert canonical_dump(url) == before
        filler.unlink()
        rerun = _run_ingest(url, old, new, cwd=tmp_path)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert integrity_problems(url) == []
        got = canonical_dump(url)
    assert got == _clean_dump("sqlite", request, tmp_path / "clean", old, new)
    record_figure("full-disk", exit=result.returncode, message=result.stderr.strip()[-200:],
                  articles_kept=len(before["articles"]), after_rerun=len(got["articles"]),
                  lost=0)  # fmt: skip


# PostgreSQL going away: a proxy in front of it is stopped and started again


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    assert "Traceback" not in response.text and "psycopg" not in response.text
    return body


def test_postgres_outage_is_a_503_then_recovers(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend != "postgresql":
        pytest.skip("a database server outage concerns PostgreSQL")
    corpus = tmp_path / "corpus"
    generate_corpus(corpus, 60, seed=71)
    admin = make_url(ADMIN_URL)
    with private_catalogue("postgresql", request, tmp_path) as url:
        ingest_paths([corpus], url, workers=1)
        proxy = TcpProxy((admin.host or "127.0.0.1", admin.port or 5432))
        proxy.start()
        proxied = make_url(url).set(host="127.0.0.1", port=proxy.port)
        server_url = proxied.render_as_string(hide_password=False)
        statuses: Counter[int] = Counter()
        try:
            # One connection a request: a response that got out just before the outage may
            # still make the server drop its keep-alive connection (see docs/reliability.md).
            no_keep_alive = httpx.Limits(max_keepalive_connections=0)
            with (
                running_server(server_url, tmp_path / "server") as server,
                httpx.Client(base_url=server.base_url, timeout=30, limits=no_keep_alive) as client,
            ):
                assert client.get("/readyz").status_code == 200
                assert client.get("/api/v1/articles").status_code == 200

                proxy.stop()
                outage = [
                    "/readyz",
                    "/api/v1/articles",
                    "/api/v1/articles?limit=3",
                    "/api/v1/stats",
                    "/api/v1/topics",
                    "/api/v1/feed.json",
                    "/api/v1/export.ndjson",
                ]
                for path in outage * 3:
                    response = client.get(path)
                    statuses[response.status_code] += 1
                    body = _problem(response, 503)
                    if path == "/readyz":
                        assert "database" in body["detail"]
                assert client.get("/healthz").status_code == 200

                proxy.start()  # the same port: the server is not told anything
                assert wait_until(
                    lambda: (
                        client.get("/readyz").status_code == 200
                        and client.get("/api/v1/articles").status_code == 200
                    ),
                    timeout=30,
                    interval=0.2,
                )
                for path in outage:
                    assert client.get(path).status_code == 200, path
        finally:
            proxy.stop()
    record_figure("postgres-outage", requests_during_outage=sum(statuses.values()),
                  statuses=dict(statuses), server_errors=0, recovered=True)  # fmt: skip


def test_stop_process_helper_is_bounded(tmp_path: Path) -> None:
    # The finaliser every server relies on: a process that ignores SIGTERM is killed.
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN)"
         "; print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
    stop_process(stubborn, grace=0.5)
    stubborn.stdout.close()
    assert stubborn.returncode == -signal.SIGKILL
