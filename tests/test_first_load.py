"""A first load into a new SQLite catalogue starts parsing before the catalogue is opened,
and writes through sqlite3 alone (app.ingest.fresh): the same catalogue as the regular run."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from app.ingest import fresh, job
from app.ingest.parsers import Parsers, start_first_load
from app.ingest.run import ingest_paths
from app.ingest.template import CACHE_DIR_ENV, ensure_template
from app.ingest.work import DEFAULT_MAX_FILE_SIZE
from app.schema_facts import BULK_INDEX_NAMES, SQLITE_PAGE_SIZE
from app.synth import generate_corpus
from tests.catalogue import canonical_dump, integrity_problems

ROOT = Path(__file__).resolve().parents[1]


def _corpus(directory: Path) -> Path:
    generate_corpus(directory, 120, seed=21)
    os.symlink(directory / "gone.md", directory / "dangling.md")  # listed, cannot be read
    same = (
        "---\ntitle: {title}\npublishedDateTime: {date}\nwebUrl: https://example.com/same\n"
        "provider:\n  name: {provider}\n  domain: Example.com\ntopics:\n  - {topic}\n---\n"
    )
    # One URL in four files: the winner by date, then by path, whatever order they come in.
    for name, title, date, provider, topic in [
        ("a.md", "Oldest", "2020-01-01T00:00:00Z", "Example", "One"),
        ("m/b.md", "Newest", "2021-01-01T00:00:00Z", "EXAMPLE", "two"),
        ("m/c.md", "Tie low", "2021-01-01T00:00:00Z", "EXAMPLE", "Two"),
        ("z/z.md", "Tie high", "2021-01-01T00:00:00+00:00", "EXAMPLE", "Two"),
    ]:
        path = directory / "same" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(same.format(title=title, date=date, provider=provider, topic=topic))
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


def _schema(database: Path) -> tuple[object, ...]:
    """The tables and indexes, each index's columns, the journal mode and the page size."""
    with sqlite3.connect(database) as conn:
        objects = conn.execute(
            "SELECT type, name, tbl_name FROM sqlite_master ORDER BY name"
        ).fetchall()
        columns = {
            name: conn.execute(f"PRAGMA index_info('{name}')").fetchall()
            for kind, name, _ in objects
            if kind == "index"
        }
        journal_mode = conn.execute("PRAGMA journal_mode").fetchone()
        return objects, columns, journal_mode, conn.execute("PRAGMA page_size").fetchone()


@pytest.fixture
def regular_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The catalogue URL of every regular run (app.ingest.job) started."""
    urls: list[str] = []
    original = job.run_job

    def counted(paths: Any, database_url: str, *args: Any, **kwargs: Any) -> None:
        urls.append(database_url)
        original(paths, database_url, *args, **kwargs)

    monkeypatch.setattr(job, "run_job", counted)
    return urls


@pytest.mark.parametrize("batch_size", [500, 3])
def test_first_load_gives_the_same_catalogue_and_report(
    tmp_path: Path, pools: list[Parsers], regular_runs: list[str], batch_size: int
) -> None:
    corpus = _corpus(tmp_path / "c")
    usual = ingest_paths([corpus], _url(tmp_path / "usual.db"), workers=2, batch_size=batch_size)
    first = start_first_load([corpus], _url(tmp_path / "early.db"), 2, DEFAULT_MAX_FILE_SIZE)
    assert first is not None
    early = ingest_paths(
        [corpus], _url(tmp_path / "early.db"), workers=2, first_load=first, batch_size=batch_size
    )
    assert len(pools) == 2  # one each: the early one was used
    assert regular_runs == [_url(tmp_path / "usual.db")]  # the early one wrote through sqlite3
    assert early.counts == usual.counts and early.counts["rejected"] == 1
    assert early.errors == usual.errors
    assert "cannot read file" in early.errors[0]["reason"]
    assert early.duplicates == usual.duplicates
    assert {d["kept"] for d in early.duplicates if "same/" in d["kept"]} == {"same/z/z.md"}
    assert _schema(tmp_path / "early.db") == _schema(tmp_path / "usual.db")
    assert _schema(tmp_path / "early.db")[-2:] == (("wal",), (SQLITE_PAGE_SIZE,))
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
    assert report.counts["new"] == 94 and report.counts["rejected"] == 1
    assert integrity_problems(url) == []


def test_a_catalogue_made_with_another_page_size_keeps_it(tmp_path: Path) -> None:
    template = ensure_template()
    assert template is not None
    database = tmp_path / "small-pages.db"
    shutil.copyfile(template, database)  # as an earlier version made it: 4 KiB pages
    with closing(sqlite3.connect(database, isolation_level=None)) as conn:
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("VACUUM")
        assert conn.execute("PRAGMA page_size").fetchone() == (4096,) != (SQLITE_PAGE_SIZE,)
    report = ingest_paths([_corpus(tmp_path / "c")], _url(database), workers=2)
    assert report.counts["new"] == 124
    assert _schema(database)[-2:] == (("wal",), (4096,))
    assert integrity_problems(_url(database)) == []


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


def test_a_first_load_imports_no_database_layer(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "c")
    assert ensure_template() is not None  # built once per cache, as the first load would
    url = _url(tmp_path / "cat.db")
    command = [sys.executable, "-X", "importtime", "-m", "app", "ingest", str(corpus)]
    done = subprocess.run(
        [*command, "--database-url", url, "--workers", "2"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 1, done.stderr  # the dangling link is rejected
    assert "124 new, 0 updated, 0 unchanged, 1 rejected, 3 duplicates" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "sqlite3" in imported and "yaml" in imported  # the measurement sees what it should
    assert not {"sqlalchemy", "sqlmodel", "alembic", "pydantic"} & {
        name.split(".")[0] for name in imported
    }
    assert integrity_problems(url) == []
    again = ingest_paths([corpus], url, workers=2)
    assert again.counts["unchanged"] == 124 and again.counts["new"] == 0


def test_a_first_load_checkpoints_its_wal_every_64_mib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = fresh._Writer._apply
    seen: list[tuple[int, int]] = []

    def watched(self: Any, batch: Any) -> None:
        (pages,) = self.conn.execute("PRAGMA wal_autocheckpoint").fetchone()
        (page_size,) = self.conn.execute("PRAGMA page_size").fetchone()
        seen.append((pages, page_size))
        written(self, batch)

    monkeypatch.setattr(fresh._Writer, "_apply", watched)
    url = _url(tmp_path / "cat.db")
    first = start_first_load([_corpus(tmp_path / "c")], url, 2, DEFAULT_MAX_FILE_SIZE)
    ingest_paths([tmp_path / "c"], url, workers=2, first_load=first, batch_size=100)
    assert seen == [(4096, SQLITE_PAGE_SIZE)] * 2  # 64 MiB of 16 KiB pages, not SQLite's 1,000


def test_a_first_load_cut_short_is_healed_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = _corpus(tmp_path / "c")
    url = _url(tmp_path / "cat.db")
    usual = _url(tmp_path / "usual.db")
    ingest_paths([corpus], usual, workers=2, batch_size=10)
    written = fresh._Writer._apply
    batches: list[int] = []

    def dies_on_the_third(self: Any, batch: Any) -> None:
        batches.append(len(batch))
        if len(batches) == 3:
            raise OSError(28, "No space left on device")
        written(self, batch)

    monkeypatch.setattr(fresh._Writer, "_apply", dies_on_the_third)
    first = start_first_load([corpus], url, 2, DEFAULT_MAX_FILE_SIZE)
    with pytest.raises(OSError, match="No space"):
        ingest_paths([corpus], url, workers=2, first_load=first, batch_size=10)
    monkeypatch.undo()
    with sqlite3.connect(tmp_path / "cat.db") as conn:
        assert conn.execute("SELECT count(*) FROM article").fetchone()[0] == 20
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert indexes >= BULK_INDEX_NAMES  # given back though the load failed
        assert conn.execute("SELECT names_dirty FROM catalogue_state").fetchone() == (1,)
    assert integrity_problems(url) == []
    healed = ingest_paths([corpus], url, workers=2)
    assert healed.counts["new"] + healed.counts["unchanged"] == 124
    assert canonical_dump(url) == canonical_dump(usual)


def test_without_a_template_a_first_load_runs_as_usual(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, regular_runs: list[str]
) -> None:
    corpus = _corpus(tmp_path / "c")
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "not-a-folder" / "cache"))
    url = _url(tmp_path / "cat.db")
    first = start_first_load([corpus], url, 2, DEFAULT_MAX_FILE_SIZE)
    report = ingest_paths([corpus], url, workers=2, first_load=first)
    assert regular_runs == [url]
    assert report.counts["new"] == 124 and report.counts["rejected"] == 1
    assert integrity_problems(url) == []


def test_a_first_load_that_prunes_runs_as_usual(tmp_path: Path, regular_runs: list[str]) -> None:
    corpus = _corpus(tmp_path / "c")
    url = _url(tmp_path / "cat.db")
    first = start_first_load([corpus], url, 2, DEFAULT_MAX_FILE_SIZE)
    report = ingest_paths([corpus], url, workers=2, first_load=first, prune=True)
    assert regular_runs == [url]
    assert report.counts["new"] == 124 and report.counts["pruned"] == 0
