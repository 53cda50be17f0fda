"""What the parser worker processes run: read, parse and prepare files, nothing else.

Where workers are spawned rather than forked (not Linux), each imports this module before
its first task, so it imports nothing heavy (no SQLAlchemy, no Alembic).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import stat
import sys
from collections.abc import Sequence
from typing import NamedTuple

from app.ingest.files import DEFAULT_MAX_FILE_SIZE
from app.ingest.parse import parse_article
from app.ingest.record import ArticleRecord
from app.ingest.rejection import IngestError
from app.ingest.rows import Prepared, prepare

PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
# Opening a FIFO for reading would wait for a writer; without blocking it opens, and is refused.
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)


class Parsed(NamedTuple):
    """A parsed file's values, with the size and mtime of the bytes that were parsed."""

    prepared: Prepared
    size: int
    mtime_ns: int


Outcome = Parsed | IngestError


def read_file(path: str, max_size: int) -> tuple[bytes, os.stat_result]:
    """The bytes of one regular file, and its status as it was opened.

    The size and mtime come from the open file itself, so they describe what was read
    even when the file is replaced meanwhile, and cost no second look-up of the path.
    """
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError as exc:
        raise IngestError(f"cannot read file: {exc.strerror or exc}") from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise IngestError("cannot read file: not a regular file")
        if status.st_size > max_size:
            raise IngestError(
                f"file is {status.st_size} bytes, larger than the limit of {max_size}"
            )
        # One read of the size known, plus one byte to see a file that grew since; reading
        # with the limit as the length would allocate that much for every file.
        parts, total, want = [], 0, status.st_size + 1
        while True:
            part = os.read(fd, want)
            parts.append(part)
            total += len(part)
            if len(part) < want or total > max_size:  # the end, or past the limit
                break
            want = max_size + 1 - total
    except OSError as exc:
        raise IngestError(f"cannot read file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return (parts[0] if len(parts) == 1 else b"".join(parts)), status


def read_and_parse(path: str, *, max_size: int = DEFAULT_MAX_FILE_SIZE) -> ArticleRecord:
    """Read one file and parse it; any failure is that file's IngestError."""
    return parse_article(read_file(path, max_size)[0], max_size=max_size)


def parse_files(paths: Sequence[str], max_size: int, sqlite: bool) -> list[Outcome]:
    """One outcome per path, in order (the caller holds the rest of each task)."""
    results: list[Outcome] = []
    for path in paths:
        try:
            data, status = read_file(path, max_size)
            prepared = prepare(parse_article(data, max_size=max_size), sqlite=sqlite)
            results.append(Parsed(prepared, status.st_size, status.st_mtime_ns))
        except IngestError as exc:
            results.append(exc)
        except Exception as exc:  # the parser promises IngestError; never let one file stop a run
            results.append(IngestError(f"unexpected error: {type(exc).__name__}: {exc}"))
    return results


def start_worker(parent: int, gc_threshold: int) -> None:
    """A parser worker's setup: it dies with the ingest, and collects garbage rarely."""
    die_with_parent(parent)
    gc.set_threshold(gc_threshold, *gc.get_threshold()[1:])


def die_with_parent(parent: int) -> None:
    """Parser workers end with the ingest, even one killed with SIGKILL.

    Sibling workers keep the task queue's pipe open, so a worker would otherwise wait on it
    forever once its parent is gone.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request above took effect
        os._exit(1)
