"""Reading one article file in a parser process: its bytes, size and mtime, or an IngestError."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.ingest import work
from app.ingest.rejection import IngestError
from app.ingest.work import read_file


def test_bytes_size_and_mtime_are_those_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_bytes(b"---\ntitle: x\n---\n")
    os.utime(path, ns=(5, 1_234_567_891))
    data, status = read_file(str(path), max_size=1000)
    assert data == b"---\ntitle: x\n---\n"
    assert (status.st_size, status.st_mtime_ns) == (len(data), 1_234_567_891)


@pytest.mark.parametrize("size", [0, 1, 999, 1000])
def test_files_up_to_the_limit_are_read_whole(tmp_path: Path, size: int) -> None:
    path = tmp_path / "a.md"
    path.write_bytes(b"x" * size)
    assert read_file(str(path), max_size=1000)[0] == b"x" * size


def test_a_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_bytes(b"x" * 1001)
    with pytest.raises(IngestError, match="1001 bytes, larger than the limit of 1000"):
        read_file(str(path), max_size=1000)


def test_a_file_that_grew_since_it_was_opened_is_read_to_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.md"
    path.write_bytes(b"y" * 700)
    real_fstat = os.fstat

    class Smaller:  # what fstat said just before 600 more bytes were written
        def __init__(self, status: Any) -> None:
            self.status = status

        def __getattr__(self, name: str) -> Any:
            return 100 if name == "st_size" else getattr(self.status, name)

    monkeypatch.setattr(work.os, "fstat", lambda fd: Smaller(real_fstat(fd)))
    assert read_file(str(path), max_size=1000)[0] == b"y" * 700
    path.write_bytes(b"y" * 1500)  # grew past the limit: read only up to it, then refused later
    data, _ = read_file(str(path), max_size=1000)
    assert data == b"y" * 1001


@pytest.mark.parametrize("kind", ["fifo", "directory", "missing", "dangling link"])
def test_what_is_not_a_readable_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x.md"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would wait for a writer
    elif kind == "directory":
        path.mkdir()
    elif kind == "dangling link":
        path.symlink_to(tmp_path / "gone.md")
    with pytest.raises(IngestError, match="cannot read file: ") as caught:
        read_file(str(path), max_size=1000)
    expected = "not a regular file" if kind in ("fifo", "directory") else "No such file"
    assert expected in caught.value.reason
