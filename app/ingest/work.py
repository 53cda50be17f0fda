"""What the parser worker processes run: read, parse and prepare files, nothing else.

Where workers are spawned rather than forked (not Linux), each imports this module before
its first task, so it imports nothing heavy (no SQLAlchemy, no Alembic).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Sequence

from app.ingest.parse import parse_article
from app.ingest.record import ArticleRecord, IngestError
from app.ingest.rows import Prepared, prepare

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def read_and_parse(path: str, *, max_size: int = DEFAULT_MAX_FILE_SIZE) -> ArticleRecord:
    """Read one file and parse it; any failure is that file's IngestError."""
    try:
        size = os.stat(path).st_size
        if size > max_size:
            raise IngestError(f"file is {size} bytes, larger than the limit of {max_size}")
        with open(path, "rb") as handle:
            data = handle.read(max_size + 1)
    except OSError as exc:
        raise IngestError(f"cannot read file: {exc.strerror or exc}") from None
    return parse_article(data, max_size=max_size)


Outcome = Prepared | IngestError


def parse_files(paths: Sequence[str], max_size: int, sqlite: bool) -> list[Outcome]:
    """One outcome per path, in order (the caller holds the rest of each task)."""
    results: list[Outcome] = []
    for path in paths:
        try:
            results.append(prepare(read_and_parse(path, max_size=max_size), sqlite=sqlite))
        except IngestError as exc:
            results.append(exc)
        except Exception as exc:  # the parser promises IngestError; never let one file stop a run
            results.append(IngestError(f"unexpected error: {type(exc).__name__}: {exc}"))
    return results


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
