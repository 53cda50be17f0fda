"""A first load into a new SQLite catalogue starts parsing before the catalogue is opened."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.ingest.parsers import Parsers, start_first_load
from app.ingest.run import ingest_paths
from app.ingest.work import DEFAULT_MAX_FILE_SIZE
from app.synth import generate_corpus
from tests.catalogue import canonical_dump, integrity_problems


def _corpus(directory: Path) -> Path:
    generate_corpus(directory, 120, seed=21)
    os.symlink(directory / "gone.md", directory / "dangling.md")  # listed, cannot be read
    return directory


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[Parsers]:
    """Every set of parser processes started."""
    started: list[Parsers] = []
    original = Parsers.__init__

    def counted(self: Parsers, *args: Any, **kwargs: Any) -> None:
        started.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Parsers, "__init__", counted)
    return started


def test_first_load_gives_the_same_catalogue_and_report(
    tmp_path: Path, pools: list[Parsers]
) -> None:
    corpus = _corpus(tmp_path / "c")
    usual = ingest_paths([corpus], _url(tmp_path / "usual.db"), workers=2)
    first = start_first_load([corpus], _url(tmp_path / "early.db"), 2, DEFAULT_MAX_FILE_SIZE)
    assert first is not None
    early = ingest_paths([corpus], _url(tmp_path / "early.db"), workers=2, first_load=first)
    assert len(pools) == 2  # one each: the early one was used
    assert early.counts == usual.counts and early.counts["rejected"] == 1
    assert early.errors == usual.errors
    assert "cannot read file" in early.errors[0]["reason"]
    assert early.duplicates == usual.duplicates
    assert canonical_dump(_url(tmp_path / "early.db")) == canonical_dump(
        _url(tmp_path / "usual.db")
    )
    assert integrity_problems(_url(tmp_path / "early.db")) == []


def test_a_catalogue_filled_meanwhile_is_loaded_as_usual(
    tmp_path: Path, pools: list[Parsers]
) -> None:
    corpus = _corpus(tmp_path / "c")
    url = _url(tmp_path / "cat.db")
    first = start_first_load([corpus], url, 2, DEFAULT_MAX_FILE_SIZE)
    assert first is not None
    # Another ingest creates the catalogue first, with part of the same files.
    part = sorted(corpus.rglob("*.md"))[:30]
    ingest_paths(part, url, workers=1)
    report = ingest_paths([corpus], url, workers=2, first_load=first)
    assert len(pools) == 2  # the early one was closed, the usual one parsed
    assert report.counts["unchanged"] == 30
    assert report.counts["new"] == 90 and report.counts["rejected"] == 1
    assert integrity_problems(url) == []


@pytest.mark.parametrize(
    ("url", "workers"),
    [
        ("sqlite:///{existing}", 2),
        ("sqlite:///{new}", 1),
        ("sqlite:///:memory:", 2),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/test", 2),
    ],
    ids=["existing-file", "one-worker", "memory", "postgres"],
)
def test_parsing_starts_early_only_for_a_new_file(tmp_path: Path, url: str, workers: int) -> None:
    corpus = tmp_path / "c"
    generate_corpus(corpus, 3, seed=22)
    (tmp_path / "existing.db").write_bytes(b"")
    url = url.format(existing=tmp_path / "existing.db", new=tmp_path / "new.db")
    assert start_first_load([corpus], url, workers, DEFAULT_MAX_FILE_SIZE) is None


def test_missing_paths_start_nothing(tmp_path: Path) -> None:
    url = _url(tmp_path / "new.db")
    assert start_first_load([tmp_path / "missing"], url, 2, DEFAULT_MAX_FILE_SIZE) is None
    assert start_first_load([], url, 2, DEFAULT_MAX_FILE_SIZE) is None
