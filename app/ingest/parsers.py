"""Finding the files to ingest and parsing them in parallel processes.

Importing this module must stay cheap (no SQLAlchemy): on a first load the ingest starts its
parser processes with it before it opens the catalogue, so that they parse while the writer
is still importing the database layer and creating the schema (most of a small ingest).
"""

from __future__ import annotations

import gc
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from itertools import islice
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from app.ingest.record import IngestError
from app.ingest.work import Outcome as ParseOutcome
from app.ingest.work import die_with_parent, parse_files

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".yaml"})
# Forked workers start at once with the parser already imported; a spawned one starts a
# new interpreter and imports it again (and the command's own modules: about 0.2 s each).
# The pool forks them all before its own threads start; they only parse, never touching a
# connection, lock or thread they inherit.
START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"
TASK_CHUNK = 32
LOOKUP_CHUNK = 1000  # paths asked of the catalogue at once
# Chunks in flight per worker: enough to keep every worker busy while the writer commits a
# batch (or is still starting), few enough to keep memory flat however many files there are.
# With 4 the workers ran dry during each commit and the 100k-file ingest took 1.5 s longer.
AHEAD = 64
_SQLITE_FILE = re.compile(r"sqlite(?:\+pysqlite)?:///(?P<path>[^?]+)")


@dataclass(slots=True)
class FileTask:
    path: str
    rel_path: str
    display: str
    stored_hash: str | None  # the content hash stored for this path, if any


Outcome = tuple[FileTask, ParseOutcome]


@dataclass(slots=True)
class StoredSource:
    """What the catalogue holds of a file."""

    size: int
    mtime_ns: int
    content_hash: str
    article_pk: int


# The stored files among these paths; what to do with a file that cannot be read; a count of
# unchanged files.
Lookup = Callable[[list[str]], Mapping[str, StoredSource]]
OnUnreadable = Callable[[str, IngestError], None]
OnUnchanged = Callable[[int], None]


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
            # Each directory's prefixes are joined once, not once per file.
            rel_dir = directory[len(absolute) + 1 :].replace(os.sep, "/")
            full_prefix = os.path.join(directory, "")
            rel_prefix = f"{rel_dir}/" if rel_dir else ""
            display_prefix = os.path.join(str(root), rel_dir, "")
            for name in sorted(files):
                dot = name.rfind(".")  # where os.path.splitext finds the suffix
                if name.startswith(".") or dot < 0 or name[dot:].lower() not in SUFFIXES:
                    continue
                full = full_prefix + name
                if first_time(full):
                    yield full, rel_prefix + name, display_prefix + name


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


def file_tasks(
    paths: Sequence[Path], lookup: Lookup, on_unreadable: OnUnreadable, on_unchanged: OnUnchanged
) -> Iterator[FileTask]:
    """Files that need parsing; unchanged ones (same size and mtime as stored) are counted
    and never read. Only stored files are looked at here: a new one is parsed anyway, and
    its parser reads its size and mtime from the open file."""
    for chunk in chunks(walk(paths), LOOKUP_CHUNK):
        stored = lookup([path for path, _, _ in chunk])
        unchanged = 0
        for path, rel, display in chunk:
            known = stored.get(path)
            if known is None:
                yield FileTask(path, rel, display, None)
                continue
            try:
                stat = os.stat(path)
            except OSError as exc:  # listed, but cannot be looked at (a dangling link, say)
                on_unreadable(display, IngestError(f"cannot read file: {exc.strerror}"))
                continue
            if (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                unchanged += 1
                continue
            yield FileTask(path, rel, display, known.content_hash)
        if unchanged:
            on_unchanged(unchanged)


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Parsers:
    """Parser processes fed chunks of tasks; outcomes come back paired with their tasks.

    Only paths go out: each chunk's tasks stay here, to pair with its outcomes. The heap
    alive when the processes start is frozen until they stop: the collector no longer walks
    it, here or in the forked workers, whose collections otherwise kept walking it (13 % of
    their parse time) and copying the pages they share with it.
    """

    def __init__(self, workers: int, max_size: int, sqlite: bool) -> None:
        self.workers, self.max_size, self.sqlite = workers, max_size, sqlite
        self._pending: dict[Future[list[ParseOutcome]], list[FileTask]] = {}
        self._chunks: Iterator[list[FileTask]] = iter(())
        gc.freeze()
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=get_context(START_METHOD),
            initializer=die_with_parent,
            initargs=(os.getpid(),),
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
            future = self._pool.submit(parse_files, paths, self.max_size, self.sqlite)
            self._pending[future] = chunk

    def results(self) -> Iterator[Outcome]:
        """Every sent task with its outcome, in the order they finish."""
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
    match = _SQLITE_FILE.fullmatch(database_url)
    if workers <= 1 or match is None or match["path"] == ":memory:":
        return None
    if os.path.exists(match["path"]) or not all(os.path.exists(p) for p in paths) or not paths:
        return None
    return FirstLoad(paths, workers, max_size)
