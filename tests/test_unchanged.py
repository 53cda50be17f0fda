"""Re-ingesting into a SQLite catalogue compares the files through sqlite3 first.

An unchanged tree finishes without the database layer; anything else goes on into the
regular run under the same lock, each file looked at once. Results must not depend on
which way a run went: every test here checks the catalogue or the report against what the
regular run does.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.database_url import sqlite_file
from app.db import is_sqlite, sqlite_path
from app.ingest import job, unchanged
from app.ingest.files import StoredSource
from app.ingest.load import Loader
from app.ingest.run import ingest_paths
from app.ingest.unchanged import Comparison
from app.models import ARTICLE, ARTICLE_TOPIC
from app.schema_facts import BULK_INDEX_NAMES
from app.synth import generate_corpus
from tests.catalogue import bulk_indexes, canonical_dump, catalogue_state
from tests.command import invoke

ROOT = Path(__file__).resolve().parents[1]


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _catalogue(tmp_path: Path, count: int = 12, seed: int = 3) -> tuple[Path, str]:
    corpus = tmp_path / "c"
    generate_corpus(corpus, count, seed=seed)
    url = _url(tmp_path / "catalogue.db")
    first = ingest_paths([corpus], url, workers=1)
    assert first.counts["new"] == count
    return corpus, url


def _state(url: str) -> dict[str, Any]:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        row = conn.execute(
            "SELECT version, run_counter, names_dirty, last_ingest_at FROM catalogue_state"
        ).fetchone()
    finally:
        conn.close()
    return dict(zip(("version", "run_counter", "names_dirty", "last_ingest_at"), row, strict=True))


class Runs:
    """Which way each run went: the regular run's job, or the comparison's finish."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.regular = 0
        self.compared = 0  # comparisons that qualified
        self.finished_early = 0
        self.looked_up: list[str] = []
        run_job, finish, open_comparison = job.run_job, Comparison.finish, Comparison.open
        compared, loaded = Comparison.stored_sources, Loader.stored_sources

        def counting_job(*args: Any, **kwargs: Any) -> None:
            self.regular += 1
            run_job(*args, **kwargs)

        def counting_open(database: str) -> Comparison | None:
            comparison = open_comparison(database)
            self.compared += comparison is not None
            return comparison

        def counting_finish(comparison: Comparison, report: Any) -> None:
            self.finished_early += 1
            finish(comparison, report)

        def comparison_lookup(comparison: Comparison, paths: list[str]) -> Any:
            self.looked_up.extend(paths)
            return compared(comparison, paths)

        def loader_lookup(loader: Loader, paths: Any) -> dict[str, StoredSource]:
            self.looked_up.extend(paths)
            return loaded(loader, paths)

        monkeypatch.setattr(job, "run_job", counting_job)
        monkeypatch.setattr(Comparison, "open", staticmethod(counting_open))
        monkeypatch.setattr(Comparison, "finish", counting_finish)
        monkeypatch.setattr(Comparison, "stored_sources", comparison_lookup)
        monkeypatch.setattr(Loader, "stored_sources", loader_lookup)


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> Runs:
    return Runs(monkeypatch)


def test_bulk_index_names_are_the_models() -> None:
    models = {index.name for index in [*ARTICLE.indexes, *ARTICLE_TOPIC.indexes]}
    assert models == BULK_INDEX_NAMES


def test_unchanged_tree_finishes_without_the_regular_run(tmp_path: Path, runs: Runs) -> None:
    corpus, url = _catalogue(tmp_path)
    before, dump = _state(url), canonical_dump(url)
    runs.regular = 0

    again = ingest_paths([corpus], url, workers=2)

    assert (runs.regular, runs.finished_early) == (0, 1)
    assert again.counts == dict(new=0, updated=0, unchanged=12, rejected=0, duplicates=0, pruned=0)
    after = _state(url)
    # As the regular run leaves a run that changed nothing: the next run number and a new
    # stamp, the same version (so every cached response stays valid), the same catalogue.
    assert after["run_counter"] == before["run_counter"] + 1
    assert after["version"] == before["version"]
    assert after["last_ingest_at"] > before["last_ingest_at"]
    assert catalogue_state(url)[1] is not None  # SQLAlchemy reads the stamp back
    assert canonical_dump(url) == dump


def test_unchanged_run_reports_duplicates_as_the_regular_run(tmp_path: Path, runs: Runs) -> None:
    corpus = tmp_path / "c"
    generate_corpus(corpus, 6, seed=4)
    files = sorted(corpus.rglob("*.md"))
    for number, original in enumerate(files[:2]):
        shutil.copy(original, corpus / f"copy-{number}.md")  # the same URL, a later rel_path
    url = _url(tmp_path / "catalogue.db")
    first = ingest_paths([corpus], url, workers=1)
    assert first.counts["duplicates"] == 2 and runs.regular == 1

    again = ingest_paths([corpus], url, workers=1)

    assert runs.finished_early == 1
    assert again.duplicates == first.duplicates
    assert again.counts["duplicates"] == 2 and again.counts["unchanged"] == 8


def test_changes_go_on_into_the_regular_run_each_file_looked_up_once(
    tmp_path: Path, runs: Runs
) -> None:
    corpus, url = _catalogue(tmp_path, count=30)
    files = sorted(corpus.rglob("*.md"))
    changed, touched, gone = files[20], files[5], files[12]
    changed.write_text(changed.read_text().replace("title:", "title: Changed", 1))
    os.utime(touched, ns=(1, 1))  # same content, another mtime
    gone.unlink()
    generate_corpus(corpus, 2, seed=3, start=30)
    runs.regular, runs.looked_up = 0, []

    again = ingest_paths([corpus], url, workers=2, prune=True)

    assert (runs.regular, runs.finished_early) == (1, 0)
    assert again.counts == dict(new=2, updated=1, unchanged=28, rejected=0, duplicates=0, pruned=1)
    walked = sorted(str(path) for path in corpus.rglob("*.md"))
    assert sorted(runs.looked_up) == walked  # every file once, none twice
    fresh = _url(tmp_path / "fresh.db")
    ingest_paths([corpus], fresh, workers=1)
    assert canonical_dump(url) == canonical_dump(fresh)


def test_a_gone_file_under_prune_goes_into_the_regular_run(tmp_path: Path, runs: Runs) -> None:
    corpus, url = _catalogue(tmp_path)
    next(corpus.rglob("*.md")).unlink()
    runs.regular = 0

    kept = ingest_paths([corpus], url, workers=1)
    assert (runs.regular, runs.finished_early, kept.counts["pruned"]) == (0, 1, 0)
    pruned = ingest_paths([corpus], url, workers=1, prune=True)
    assert (runs.regular, pruned.counts["pruned"], pruned.counts["unchanged"]) == (1, 1, 11)


def test_an_unreadable_stored_file_is_rejected_without_the_regular_run(
    tmp_path: Path, runs: Runs
) -> None:
    corpus, url = _catalogue(tmp_path)
    victim = sorted(corpus.rglob("*.md"))[3]
    victim.unlink()
    victim.symlink_to(tmp_path / "nowhere.md")  # listed by the walk, cannot be looked at

    again = ingest_paths([corpus], url, workers=1)

    assert runs.finished_early == 1
    assert again.counts["rejected"] == 1 and again.counts["unchanged"] == 11
    assert again.errors[0]["path"] == str(victim) and again.exit_code == 1


def _names_dirty(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE catalogue_state SET names_dirty = 1")


def _index_missing(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("DROP INDEX ix_article_quality_id")


def _not_wal(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()


@pytest.mark.parametrize("spoil", [_names_dirty, _index_missing, _not_wal])
def test_a_catalogue_the_regular_run_would_mend_takes_the_regular_run(
    tmp_path: Path, runs: Runs, spoil: Any
) -> None:
    corpus, url = _catalogue(tmp_path)
    spoil(tmp_path / "catalogue.db")
    runs.regular = 0

    again = ingest_paths([corpus], url, workers=1)

    assert (runs.compared, runs.regular, runs.finished_early) == (0, 1, 0)
    assert again.counts["unchanged"] == 12
    assert _state(url)["names_dirty"] == 0
    assert bulk_indexes(url) >= BULK_INDEX_NAMES


def test_an_empty_catalogue_takes_the_regular_run(tmp_path: Path, runs: Runs) -> None:
    corpus = tmp_path / "c"
    generate_corpus(corpus, 5, seed=8)
    url = _url(tmp_path / "catalogue.db")
    (tmp_path / "none").mkdir()
    ingest_paths([tmp_path / "none"], url, workers=1)  # migrated, no file stored
    runs.regular = 0

    first = ingest_paths([corpus], url, workers=1)

    assert (runs.compared, runs.regular, runs.finished_early) == (0, 1, 0)
    assert first.counts["new"] == 5
    again = ingest_paths([corpus], url, workers=1)  # the control: now it qualifies
    assert (runs.compared, runs.finished_early, again.counts["unchanged"]) == (1, 1, 5)


def test_unchanged_cli_run_imports_no_database_layer_or_parser(tmp_path: Path) -> None:
    corpus, url = _catalogue(tmp_path)
    command = [sys.executable, "-X", "importtime", "-m", "app", "ingest", str(corpus)]
    for extra in ([], ["--prune"]):
        done = subprocess.run(
            [*command, "--database-url", url, *extra],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "0 new, 0 updated, 12 unchanged" in done.stdout
        imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
        assert "sqlite3" in imported  # the measurement sees what it should
        heavy = {"sqlalchemy", "sqlmodel", "alembic", "yaml", "pydantic", "orjson"}
        heavy |= {"multiprocessing", "concurrent"}  # the parser pool
        assert not heavy & {name.split(".")[0] for name in imported}


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////tmp/x/catalogue.db",
        "sqlite:///./data/catalogue.db",
        "sqlite+pysqlite:///relative.db",
        "sqlite:///with%20space%25.db",
        "sqlite:///a@b#c.db",
        "sqlite:///x.db?timeout=3",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:x.db?mode=ro&uri=true",
        "postgresql+psycopg://postgres@127.0.0.1/test",
    ],
)
def test_sqlite_file_agrees_with_the_database_layer(url: str) -> None:
    found = sqlite_file(url)
    if "?" in url:  # only plain URLs are answered; the rest go the regular way
        assert found is None
    elif found is not None:
        assert is_sqlite(url) and Path(found) == sqlite_path(url)
    else:
        assert not is_sqlite(url) or sqlite_path(url) is None


def test_a_catalogue_another_program_holds_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, url = _catalogue(tmp_path)
    before = _state(url)
    monkeypatch.setattr(unchanged, "BUSY_TIMEOUT_MS", 50)
    other = sqlite3.connect(tmp_path / "catalogue.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another program's write transaction
        result = invoke(["ingest", str(corpus), "--database-url", url])
    finally:
        other.close()
    assert result.exit_code == 2, result.output
    assert "newscat: cannot use the catalogue at" in result.output
    assert "database is locked" in result.output
    assert _state(url) == before
