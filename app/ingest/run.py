"""The ingest job: walk the paths, parse changed files in parallel, load them in batches."""

from __future__ import annotations

import gc
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from app.db import make_engine
from app.ingest.load import Loader, SourceInfo
from app.ingest.lock import DEFAULT_LOCK_TIMEOUT, writer_lock
from app.ingest.parsers import FileTask, FirstLoad, Outcome, Parsers, file_tasks
from app.ingest.record import IngestError
from app.ingest.rows import Prepared
from app.ingest.work import DEFAULT_MAX_FILE_SIZE, parse_files, read_and_parse
from app.migrate import current_revision, head_revision, upgrade


class UsageError(Exception):
    """The command was called wrongly (exit status 2)."""


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
        return file_tasks(roots, self.loader.stored_sources, self._reject, self._unchanged)

    def _unchanged(self, count: int) -> None:
        self.report.counts["unchanged"] += count
        self.on_progress(count)

    def results(self, tasks: Iterator[FileTask], workers: int) -> Iterator[Outcome]:
        sqlite = self.loader.sqlite
        if workers <= 1:
            for task in tasks:
                yield task, parse_files([task.path], self.max_size, sqlite)[0]
            return
        # Workers never touch the database connections they may inherit.
        with Parsers(workers, self.max_size, sqlite) as parsers:
            parsers.send(tasks)
            yield from parsers.results()

    def first_load_results(self, first: FirstLoad) -> Iterator[Outcome]:
        """The outcomes of parsing that began before the catalogue was opened."""
        gc.freeze()  # what was imported since is long-lived too (see `Parsers`)
        with first.parsers as parsers:
            yield from parsers.results()

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
            source = SourceInfo(task.path, task.rel_path, outcome.size, outcome.mtime_ns)
            prepared = outcome.prepared
            if prepared.content_hash == task.stored_hash:
                counts["unchanged"] += 1
                touched.append(source)
                continue
            counts["updated" if task.stored_hash else "new"] += 1
            batch.append((source, prepared))
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
    first_load: FirstLoad | None = None,
) -> IngestReport:
    """Ingest article files into the catalogue at `database_url` and report what happened.

    `first_load` is parsing of the same paths already under way (`start_first_load`); it is
    used only if the catalogue turns out to hold no file yet, and closed in any case.
    """
    workers = workers or os.cpu_count() or 1
    with closing(first_load) if first_load is not None else nullcontext():
        missing = [str(p) for p in paths if not os.path.exists(p)]
        if missing:
            raise UsageError(f"no such file or directory: {', '.join(missing)}")
        if not paths:
            raise UsageError("give at least one file or directory to ingest")
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
                with (
                    writer_lock(engine, database_url, timeout=lock_timeout),
                    engine.connect() as conn,
                ):
                    commit = (lambda: None) if dry_run else conn.commit
                    job = _Run(conn, report, max_size=max_file_size, on_progress=on_progress)
                    if first_load is not None and (dry_run or job.loader.had_sources):
                        first_load.close()  # not a first load after all: parse as usual
                        first_load = None
                    run = job.loader.begin_run() if not dry_run else 0
                    bulk = not dry_run and job.loader.start_load(commit)
                    results = (
                        job.first_load_results(first_load)
                        if first_load is not None
                        else job.results(job.tasks(paths), workers)
                    )
                    try:
                        job.load(results, run, batch_size, commit)
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
