"""Finding the article files under the given paths, and which of them changed.

Importing this module must stay cheap (a few standard modules; not even dataclasses, which
imports inspect: 13 ms with hashlib, a tenth of an unchanged re-ingest of 10,000 files):
an unchanged re-ingest does nothing else before it finishes (see `app.ingest.unchanged`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

from app.ingest.rejection import IngestError

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".yaml"})
LOOKUP_CHUNK = 1000  # paths asked of the catalogue at once
DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024  # the largest file accepted, in bytes


class FileTask(NamedTuple):
    path: str
    rel_path: str
    display: str
    stored_hash: str | None  # the content hash stored for this path, if any


class StoredSource(NamedTuple):
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
