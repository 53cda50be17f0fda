"""The regular ingest run: parse what changed in parallel, load it in batches, finish the run.

`app.ingest.run.ingest_paths` decides whether a run needs this (the database layer) at all.
"""

from __future__ import annotations

import gc
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from app.db import make_engine
from app.ingest.files import FileTask, OnUnchanged, file_tasks
from app.ingest.load import Loader, SourceInfo
from app.ingest.lock import writer_lock
from app.ingest.parsers import FirstLoad, Outcome, Parsers
from app.ingest.rejection import IngestError
from app.ingest.report import IngestReport
from app.ingest.rows import Prepared
from app.ingest.work import parse_files, read_and_parse
from app.migrate import current_revision, head_revision, upgrade


class _Run:
    """The state of one ingest run over one connection."""

    def __init__(
        self,
        conn: Connection,
        report: IngestReport,
        *,
        max_size: int,
        on_progress: Callable[[int], None],
    ) -> None:
        self.conn = conn
        self.report = report
        self.max_size = max_size
        self.on_progress = on_progress
        self.loader = Loader(conn, reparse=lambda path: read_and_parse(path, max_size=max_size))

    def tasks(self, roots: Sequence[Path], on_unchanged: OnUnchanged) -> Iterator[FileTask]:
        """Files that need parsing; unchanged ones are counted here and never read."""
        return file_tasks(roots, self.loader.stored_sources, self.report.reject, on_unchanged)

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
                self.report.reject(task.display, outcome)
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


def run_job(
    paths: Sequence[Path],
    database_url: str,
    report: IngestReport,
    *,
    workers: int,
    prune: bool,
    max_file_size: int,
    batch_size: int,
    lock_timeout: float,
    on_progress: Callable[[int], None],
    on_unchanged: OnUnchanged,
    first_load: FirstLoad | None = None,
    tasks: Iterator[FileTask] | None = None,
    lock_held: bool = False,
) -> None:
    """Ingest `paths` into the catalogue at `database_url`, filling in `report`.

    `tasks` are the files still to look at where a comparison of the files with the
    catalogue already began, under the writer's lock (then `lock_held`).
    """
    dry_run = report.dry_run
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
            lock: AbstractContextManager[None] = (
                nullcontext()
                if lock_held
                else writer_lock(engine, database_url, timeout=lock_timeout)
            )
            with lock, engine.connect() as conn:
                commit = (lambda: None) if dry_run else conn.commit
                job = _Run(conn, report, max_size=max_file_size, on_progress=on_progress)
                if first_load is not None and (dry_run or job.loader.had_sources):
                    first_load.close()  # not a first load after all: parse as usual
                    first_load = None
                run = job.loader.begin_run() if not dry_run else 0
                bulk = not dry_run and job.loader.start_load(commit)
                if first_load is not None:
                    results = job.first_load_results(first_load)
                else:
                    pending = tasks if tasks is not None else job.tasks(paths, on_unchanged)
                    results = job.results(pending, workers)
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
                report.set_duplicates(job.loader.duplicates())
                if dry_run:
                    conn.rollback()
        finally:
            engine.dispose()


def _schema_is_current(engine: Any) -> bool:
    with engine.connect() as conn:
        return bool(current_revision(conn) == head_revision())
