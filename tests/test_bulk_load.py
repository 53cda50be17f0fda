"""A first ingest into an empty SQLite catalogue builds the secondary indexes once, at the end;
whatever stops it, the catalogue gets every index back (app/ingest/bulk.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.db import make_engine
from app.ingest import load
from app.ingest.plain_sql import WAL_CHECKPOINT_BYTES, wal_autocheckpoint
from app.ingest.run import ingest_paths
from app.models import ARTICLE, ARTICLE_TOPIC
from app.schema_facts import SQLITE_PAGE_SIZE
from app.synth import generate_corpus
from tests.catalogue import (
    BULK_INDEXES_SQL,
    article_count,
    bulk_indexes,
    canonical_dump,
    integrity_problems,
)

EXPECTED = {str(index.name) for index in [*ARTICLE.indexes, *ARTICLE_TOPIC.indexes]}


def _drop(url: str, names: list[str]) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for name in names:
                conn.execute(text(f"DROP INDEX {name}"))
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalogue.db'}"


def _before_each_batch(monkeypatch: pytest.MonkeyPatch, observe: Callable[[Any], object]) -> None:
    """Call `observe` with the ingest's connection before each batch is written."""
    apply = load.Loader.apply

    def watched_apply(self: load.Loader, batch: list, run: int) -> None:  # type: ignore[type-arg]
        observe(self.conn)
        apply(self, batch, run)

    monkeypatch.setattr(load.Loader, "apply", watched_apply)


def test_the_expected_indexes_are_known() -> None:
    # A rename in models.py must not leave this test comparing two empty sets.
    assert "ix_article_published_at_id" in EXPECTED and len(EXPECTED) == 9
    assert "ix_article_topic_topic_key_article_pk" in EXPECTED


def test_first_load_into_an_empty_catalogue_ends_with_every_index(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    generate_corpus(corpus, 60, seed=41)
    during: list[set[str]] = []
    _before_each_batch(
        monkeypatch,
        lambda conn: during.append(set(conn.execute(text(BULK_INDEXES_SQL)).scalars())),
    )
    report = ingest_paths([corpus], sqlite_url, workers=1, batch_size=7)
    assert report.counts["new"] > 0
    assert len(during) > 1 and all(seen == set() for seen in during)  # loaded without them
    assert bulk_indexes(sqlite_url) == EXPECTED
    assert integrity_problems(sqlite_url) == []


def test_bulk_load_stores_what_an_indexed_load_stores(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    generate_corpus(corpus, 80, seed=42)
    ingest_paths([corpus], sqlite_url, workers=1, batch_size=9)
    indexed_url = f"sqlite:///{tmp_path / 'indexed.db'}"
    monkeypatch.setattr(load, "drop_indexes", lambda conn: None)
    ingest_paths([corpus], indexed_url, workers=1, batch_size=9)
    assert bulk_indexes(indexed_url) == EXPECTED
    assert canonical_dump(indexed_url) == canonical_dump(sqlite_url)


def test_indexes_a_killed_bulk_load_left_out_come_back_on_the_next_run(
    sqlite_url: str, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    generate_corpus(corpus, 40, seed=43)
    ingest_paths([corpus], sqlite_url, workers=1)
    # What a SIGKILL during a bulk load leaves: committed articles, dropped indexes.
    _drop(sqlite_url, ["ix_article_published_at_id", "ix_article_topic_topic_key_article_pk"])
    assert bulk_indexes(sqlite_url) == EXPECTED - {
        "ix_article_published_at_id",
        "ix_article_topic_topic_key_article_pk",
    }
    report = ingest_paths([corpus], sqlite_url, workers=1)
    assert report.counts["new"] == 0
    assert bulk_indexes(sqlite_url) == EXPECTED


def test_a_bulk_load_that_fails_keeps_its_commits_and_gets_its_indexes_back(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    generate_corpus(corpus, 30, seed=44)
    calls: list[object] = []

    def fail_on_the_second_batch(conn: object) -> None:
        calls.append(conn)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")

    _before_each_batch(monkeypatch, fail_on_the_second_batch)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ingest_paths([corpus], sqlite_url, workers=1, batch_size=10)
    assert article_count(sqlite_url) > 0  # the first batch was committed before the failure
    assert bulk_indexes(sqlite_url) == EXPECTED
    assert integrity_problems(sqlite_url) == []


def test_an_sqlite_ingest_checkpoints_its_wal_in_large_steps(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    generate_corpus(corpus, 5, seed=43)
    seen: list[int] = []
    _before_each_batch(
        monkeypatch,
        lambda conn: seen.append(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()),
    )
    ingest_paths([corpus], sqlite_url, workers=1)
    # 64 MiB of the catalogue's pages, whatever their size: SQLite's default is 1,000 pages.
    assert seen == [WAL_CHECKPOINT_BYTES // SQLITE_PAGE_SIZE] and seen[0] > 1000
    assert WAL_CHECKPOINT_BYTES == 64 << 20
    assert wal_autocheckpoint(4096) == "PRAGMA wal_autocheckpoint = 16384"


def test_migrate_gives_a_killed_bulk_load_its_indexes_back(sqlite_url: str, tmp_path: Path) -> None:

    from tests.command import invoke

    corpus = tmp_path / "corpus"
    generate_corpus(corpus, 20, seed=44)
    ingest_paths([corpus], sqlite_url, workers=1)
    _drop(sqlite_url, ["ix_article_quality_id", "ix_article_removed"])
    result = invoke(["migrate", "--database-url", sqlite_url])
    assert result.exit_code == 0, result.output
    assert bulk_indexes(sqlite_url) == EXPECTED
    assert article_count(sqlite_url) == 20
