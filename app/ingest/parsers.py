"""Parsing the files to ingest in parallel processes.

Importing this module must stay cheap (no SQLAlchemy; the parser and the process pool only
once parsing starts): on a first load the ingest starts its parser processes before it
opens the catalogue, so that they parse while the writer is still importing the database
layer and creating the schema (most of a small ingest), and an unchanged re-ingest never
needs them at all.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from app.database_url import sqlite_file
from app.ingest.files import FileTask, chunks, walk

if TYPE_CHECKING:
    from concurrent.futures import Future

    from app.ingest.work import Outcome as ParseOutcome

# Forked workers start at once with the parser already imported; a spawned one starts a
# new interpreter and imports it again (and the command's own modules: about 0.2 s each).
# The pool forks them all before its own threads start; they only parse, never touching a
# connection, lock or thread they inherit.
START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"
TASK_CHUNK = 32
# Chunks in flight per worker: enough to keep every worker busy while the writer commits a
# batch (or is still starting), few enough to keep memory flat however many files there are.
# With 4 the workers ran dry during each commit and the 100k-file ingest took 1.5 s longer.
AHEAD = 64
# The collector's first generation is collected after this many new objects, not 700, in the
# workers and in the writer while they run. A parsed file, its values and its batch's rows are
# freed as soon as they are used (nothing in them refers back to itself), so those frequent
# collections found nothing: 5 % of a worker's parse time.
GC_THRESHOLD = 50_000


Outcome: TypeAlias = "tuple[FileTask, ParseOutcome]"


class Parsers:
    """Parser processes fed chunks of tasks; outcomes come back paired with their tasks.

    Only paths go out: each chunk's tasks stay here, to pair with its outcomes. The heap
    alive when the processes start is frozen until they stop: the collector no longer walks
    it, here or in the forked workers, whose collections otherwise kept walking it (13 % of
    their parse time) and copying the pages they share with it. Until then the collector
    also runs less often (GC_THRESHOLD).
    """

    def __init__(self, workers: int, max_size: int, sqlite: bool) -> None:
        self.workers, self.max_size, self.sqlite = workers, max_size, sqlite
        self._pending: dict[Future[list[ParseOutcome]], list[FileTask]] = {}
        self._chunks: Iterator[list[FileTask]] = iter(())
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        from app.ingest.work import parse_files, start_worker

        self._parse = parse_files
        self._gc_threshold = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD, *self._gc_threshold[1:])
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=get_context(START_METHOD),
            initializer=start_worker,
            initargs=(os.getpid(), GC_THRESHOLD),
        )

    def send(self, tasks: Iterator[FileTask]) -> None:
        """Parse these tasks (after any sent before), keeping AHEAD chunks a worker queued."""
        self._chunks = chunks(tasks, TASK_CHUNK)
        self._fill()

    def _fill(self) -> None:
        while len(self._pending) < self.workers * AHEAD:
            chunk = next(self._chunks, None)
            if chunk is None:
                return
            paths = [task.path for task in chunk]
            future = self._pool.submit(self._parse, paths, self.max_size, self.sqlite)
            self._pending[future] = chunk

    def results(self) -> Iterator[Outcome]:
        """Every sent task with its outcome, in the order they finish."""
        from concurrent.futures import FIRST_COMPLETED, wait

        while self._pending:
            done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield from zip(self._pending.pop(future), future.result(), strict=True)
            self._fill()

    def close(self) -> None:
        try:
            self._pool.shutdown(cancel_futures=True)
        finally:
            self._pending.clear()
            gc.unfreeze()
            gc.set_threshold(*self._gc_threshold)

    def __enter__(self) -> Parsers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FirstLoad:
    """A first load's parsing, started before the catalogue is opened.

    Every file is new to a catalogue that does not exist yet, so nothing needs looking up
    before parsing. The run must still find the catalogue without a stored file once it
    holds the writer's lock (another ingest may have created it meanwhile); if not, it
    closes this and parses as usual.
    """

    def __init__(self, paths: Sequence[Path], workers: int, max_size: int) -> None:
        self.parsers = Parsers(workers, max_size, sqlite=True)
        tasks = (FileTask(path, rel, display, None) for path, rel, display in walk(paths))
        self.parsers.send(tasks)

    def close(self) -> None:
        self.parsers.close()


def start_first_load(
    paths: Sequence[Path], database_url: str, workers: int, max_size: int
) -> FirstLoad | None:
    """Start parsing now when the catalogue is a SQLite file that does not exist yet."""
    database = sqlite_file(database_url)
    if workers <= 1 or database is None:
        return None
    if os.path.exists(database) or not all(os.path.exists(p) for p in paths) or not paths:
        return None
    return FirstLoad(paths, workers, max_size)
