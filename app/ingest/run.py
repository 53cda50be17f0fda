"""The ingest job: walk the paths, parse changed files in parallel, load them in batches."""

from __future__ import annotations

import gc
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import islice
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from app.db import make_engine
from app.ingest.load import Loader, SourceInfo, StoredSource
from app.ingest.lock import DEFAULT_LOCK_TIMEOUT, writer_lock
from app.ingest.record import IngestError
from app.ingest.rows import Prepared
from app.ingest.work import DEFAULT_MAX_FILE_SIZE, die_with_parent, parse_files, read_and_parse
from app.ingest.work import Outcome as ParseOutcome
from app.migrate import current_revision, head_revision, upgrade

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".yaml"})
# Forked workers start at once with the parser already imported; a spawned one starts a
# new interpreter and imports it again (and the command's own modules: about 0.2 s each).
# The pool forks them all before its own threads start; they only parse, never touching a
# connection, lock or thread they inherit.
START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"
LOOKUP_CHUNK = 1000
TASK_CHUNK = 32


class UsageError(Exception):
    """The command was called wrongly (exit status 2)."""


@dataclass(slots=True)
class FileTask:
    path: str
    rel_path: str
    display: str
    size: int
    mtime_ns: int
    stored_hash: str | None


@dataclass
class IngestReport:
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("new", "updated", "unchanged", "rejected", "duplicates", "pruned"), 0
        )
    )
    errors: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, str]] = field(default_factory=list)
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        return 1 if self.counts["rejected"] else 0

    def to_json(self) -> bytes:
        body = {"counts": self.counts, "errors": self.errors, "duplicates": self.duplicates}
        return orjson.dumps(body, option=orjson.OPT_INDENT_2)

    def summary(self) -> str:
        c = self.counts
        prefix = "dry run: " if self.dry_run else ""
        return (
            f"{prefix}{c['new']} new, {c['updated']} updated, {c['unchanged']} unchanged, "
            f"{c['rejected']} rejected, {c['duplicates']} duplicates, {c['pruned']} pruned"
        )


Outcome = tuple[FileTask, ParseOutcome]


def walk(paths: Sequence[Path]) -> Iterator[tuple[str, str, str]]:
    """(absolute path, path relative to its root, path to show) of every article file.

    Each file comes once, under the first root that holds it. Only where roots overlap
    are the paths remembered to make sure of that (a million paths would cost 100 MiB).
    """
    roots = [os.path.abspath(root) for root in paths]
    seen: set[str] = set()
    overlapping = _overlapping(roots)

    def first_time(path: str) -> bool:
        if not overlapping:
            return True
        if path in seen:
            return False
        seen.add(path)
        return True

    for root, absolute in zip(paths, roots, strict=True):
        if os.path.isfile(absolute):
            if first_time(absolute):
                yield absolute, os.path.basename(absolute), str(root)
            continue
        for directory, subdirs, files in os.walk(absolute):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith(".") or os.path.splitext(name)[1].lower() not in SUFFIXES:
                    continue
                full = os.path.join(directory, name)
                if first_time(full):
                    rel = full[len(absolute) + 1 :].replace(os.sep, "/")
                    yield full, rel, os.path.join(str(root), rel)


def _overlapping(roots: Sequence[str]) -> bool:
    """Whether a root is given twice or lies inside another root."""
    unique = set(roots)
    if len(unique) < len(roots):
        return True
    for root in roots:
        parent, current = os.path.dirname(root), root
        while parent != current:
            if parent in unique:
                return True
            parent, current = os.path.dirname(parent), parent
    return False


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class _Run:
    """The state of one ingest run over one connection."""

    def __init__(
        self,
        conn: Connection,
        report: IngestReport,
        *,
        max_size: int,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        self.conn = conn
        self.report = report
        self.max_size = max_size
        self.on_progress = on_progress or (lambda n: None)
        self.loader = Loader(conn, reparse=lambda path: read_and_parse(path, max_size=max_size))

    def tasks(self, roots: Sequence[Path]) -> Iterator[FileTask]:
        """Files that need parsing; unchanged ones are counted here and never read."""
        for chunk in _chunks(walk(roots), LOOKUP_CHUNK):
            stored = self.loader.stored_sources([path for path, _, _ in chunk])
            unchanged = 0
            for path, rel, display in chunk:
                try:
                    stat = os.stat(path)
                except OSError as exc:
                    self._reject(display, IngestError(f"cannot read file: {exc.strerror}"))
                    continue
                known: StoredSource | None = stored.get(path)
                if known and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                    unchanged += 1
                    continue
                yield FileTask(
                    path,
                    rel,
                    display,
                    stat.st_size,
                    stat.st_mtime_ns,
                    known.content_hash if known else None,
                )
            if unchanged:
                self.report.counts["unchanged"] += unchanged
                self.on_progress(unchanged)

    def results(self, tasks: Iterator[FileTask], workers: int) -> Iterator[Outcome]:
        sqlite = self.loader.sqlite
        if workers <= 1:
            for task in tasks:
                yield task, parse_files([task.path], self.max_size, sqlite)[0]
            return
        # The bounded number of chunks in flight keeps memory flat however many files there
        # are. Workers never touch the database connections they may inherit.
        # Everything alive now is long-lived: frozen, the collector no longer walks it, here
        # or in forked workers, whose collections otherwise kept walking this process's heap
        # (13 % of their parse time) and copying the pages they share with it.
        gc.freeze()
        try:
            with ProcessPoolExecutor(
                workers,
                mp_context=get_context(START_METHOD),
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            ) as pool:
                yield from self._pooled(pool, tasks, workers, sqlite)
        finally:
            gc.unfreeze()

    def _pooled(
        self, pool: ProcessPoolExecutor, tasks: Iterator[FileTask], workers: int, sqlite: bool
    ) -> Iterator[Outcome]:
        chunks = _chunks(tasks, TASK_CHUNK)
        # Only paths go out: each chunk's tasks stay here, to pair with its outcomes.
        pending: dict[Future[list[ParseOutcome]], list[FileTask]] = {}

        def fill() -> None:
            while len(pending) < workers * 4:
                chunk = next(chunks, None)
                if chunk is None:
                    return
                paths = [task.path for task in chunk]
                pending[pool.submit(parse_files, paths, self.max_size, sqlite)] = chunk

        fill()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield from zip(pending.pop(future), future.result(), strict=True)
            fill()

    def load(
        self,
        results: Iterator[Outcome],
        run: int,
        batch_size: int,
        commit: Callable[[], None],
    ) -> None:
        batch: list[tuple[SourceInfo, Prepared]] = []
        touched: list[SourceInfo] = []
        counts = self.report.counts
        for task, outcome in results:
            self.on_progress(1)
            if isinstance(outcome, IngestError):
                self._reject(task.display, outcome)
                continue
            source = SourceInfo(task.path, task.rel_path, task.size, task.mtime_ns)
            if outcome.content_hash == task.stored_hash:
                counts["unchanged"] += 1
                touched.append(source)
                continue
            counts["updated" if task.stored_hash else "new"] += 1
            batch.append((source, outcome))
            if len(batch) >= batch_size:
                self._flush(batch, touched, run, commit)
        self._flush(batch, touched, run, commit)

    def _flush(
        self,
        batch: list[tuple[SourceInfo, Prepared]],
        touched: list[SourceInfo],
        run: int,
        commit: Callable[[], None],
    ) -> None:
        if batch:
            self.loader.apply(batch, run)
        if touched:
            self.loader.touch_sources(touched, run)
        if batch or touched:
            commit()
        batch.clear()
        touched.clear()

    def _reject(self, display: str, error: IngestError) -> None:
        self.report.counts["rejected"] += 1
        self.report.errors.append({"path": display, "line": error.line, "reason": error.reason})


def ingest_paths(
    paths: Sequence[Path],
    database_url: str,
    *,
    workers: int | None = None,
    prune: bool = False,
    dry_run: bool = False,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    batch_size: int = 500,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest article files into the catalogue at `database_url` and report what happened."""
    missing = [str(p) for p in paths if not os.path.exists(p)]
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    if not paths:
        raise UsageError("give at least one file or directory to ingest")
    workers = workers or os.cpu_count() or 1
    report = IngestReport(dry_run=dry_run)
    with tempfile.TemporaryDirectory(prefix="newscat-dry-run-") as scratch:
        engine = make_engine(database_url)
        try:
            if not dry_run:
                upgrade(engine)
            elif not _schema_is_current(engine):
                # Nothing may be written to the real catalogue: rehearse on a scratch one.
                engine.dispose()
                database_url = f"sqlite:///{scratch}/catalogue.db"
                engine = make_engine(database_url)
                upgrade(engine)
            with writer_lock(engine, database_url, timeout=lock_timeout), engine.connect() as conn:
                commit = (lambda: None) if dry_run else conn.commit
                job = _Run(conn, report, max_size=max_file_size, on_progress=on_progress)
                run = job.loader.begin_run() if not dry_run else 0
                bulk = not dry_run and job.loader.start_load(commit)
                try:
                    job.load(job.results(job.tasks(paths), workers), run, batch_size, commit)
                except BaseException:
                    if bulk:  # what was committed stays: give it its indexes back
                        conn.rollback()
                        job.loader.end_bulk_load(commit)
                    raise
                if bulk:
                    job.loader.end_bulk_load(commit)
                if prune:
                    roots = [os.path.abspath(p) for p in paths]
                    report.counts["pruned"] = job.loader.prune(roots, os.path.exists, commit)
                job.loader.finish_run(commit)
                report.duplicates = job.loader.duplicates()
                report.counts["duplicates"] = len(report.duplicates)
                if dry_run:
                    conn.rollback()
        finally:
            engine.dispose()
    return report


def _schema_is_current(engine: Any) -> bool:
    with engine.connect() as conn:
        return bool(current_revision(conn) == head_revision())
