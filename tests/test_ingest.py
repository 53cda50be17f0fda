"""The ingest job on real databases: round trips, incrementality, determinism, duplicates."""

from __future__ import annotations

import gc
import os
import random
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from app.db import make_engine
from app.entries import related_entries
from app.ingest import parsers
from app.ingest.files import DEFAULT_MAX_FILE_SIZE, StoredSource
from app.ingest.parsers import GC_THRESHOLD, Parsers
from app.ingest.plain_sql import STORED_SOURCES
from app.ingest.run import ingest_paths
from app.ingest.unchanged import Comparison
from app.synth import generate_corpus
from tests.catalogue import (
    article_count,
    canonical_dump,
    catalogue_state,
    integrity_problems,
)


def _front_matter(path: Path) -> dict[str, Any]:
    raw = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    return yaml.load(raw.split("---\n", 2)[1], Loader=yaml.CSafeLoader)


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _stored_articles(url: str) -> dict[str, dict[str, Any]]:
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT a.*, d.images AS doc_images, "
                    "d.front_matter AS doc_front_matter FROM article a "
                    "JOIN article_document d ON d.article_pk = a.pk"
                )
            ).mappings()
            out = {}
            for row in rows:
                item = dict(row)
                for key in ("topics", "image", "doc_images", "doc_front_matter"):
                    if isinstance(item[key], str):
                        item[key] = orjson.loads(item[key])
                if isinstance(item["published_at"], str):
                    item["published_at"] = datetime.fromisoformat(item["published_at"])
                out[item["source_path"]] = item
            return out
    finally:
        engine.dispose()


def _assert_round_trip(stored: dict[str, Any], meta: dict[str, Any]) -> None:
    canonical = (meta.get("webUrl") or meta.get("originalUrl")).strip()
    assert stored["url"] == canonical
    for key, column in (
        ("title", "title"),
        ("excerpt", "excerpt"),
        ("category", "category"),
        ("type", "type"),
        ("quality", "quality"),
        ("heat", "heat"),
        ("originalUrl", "original_url"),
        ("ampWebUrl", "amp_url"),
        ("cdnAmpWebUrl", "cdn_amp_url"),
        ("featuredContent", "featured_content"),
    ):
        assert stored[column] == meta.get(key), key
    for key in ("published", "removed"):
        assert (None if stored[key] is None else bool(stored[key])) == meta.get(key), key
    assert stored["published_at"] == _utc(meta["publishedDateTime"])
    assert stored["provider_name"] == meta["provider"]["name"]
    assert stored["provider_domain"] == meta["provider"]["domain"]
    assert stored["topics"] == meta.get("topics", [])
    if meta.get("secured") is not None:
        assert stored["secured"] == re.sub(r"\s+", "", meta["secured"])
    images = [
        {
            "url": i.get("url"),
            "width": i.get("width"),
            "height": i.get("height"),
            "is_cached": i.get("isCached"),
        }
        for i in meta.get("images") or []
    ]
    assert stored["doc_images"] == images
    assert stored["image"] == (images[0] if images else None)
    assert [r["url"] for r in related_entries(stored["doc_front_matter"])] == [
        (r.get("webUrl") or r.get("originalUrl") or "").strip() or None
        for r in meta.get("related") or []
    ]
    assert set(stored["doc_front_matter"]) == set(meta)


def test_real_corpus_ingests_and_round_trips(
    database_url: str, shared_corpus: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(shared_corpus, corpus)
    report = ingest_paths([corpus], database_url, workers=2)
    files = sorted(corpus.glob("*.md"))
    assert report.counts["rejected"] == 0, report.errors[:3]
    assert report.counts["new"] == len(files)
    urls = {(m.get("webUrl") or m.get("originalUrl")).strip() for m in map(_front_matter, files)}
    assert article_count(database_url) == len(urls)
    assert report.counts["duplicates"] == len(files) - len(urls)
    stored = _stored_articles(database_url)
    assert len(stored) == len(urls)
    for rel, row in stored.items():
        _assert_round_trip(row, _front_matter(corpus / rel))
    assert integrity_problems(database_url) == []


def test_seed_round_trips(database_url: str, seed_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "seed.md"
    shutil.copyfile(seed_file, target)
    report = ingest_paths([target], database_url, workers=1)
    assert report.counts["new"] == 1
    (row,) = _stored_articles(database_url).values()
    _assert_round_trip(row, _front_matter(target))
    assert related_entries(row["doc_front_matter"])[0]["title"].startswith("ID me")


def test_second_ingest_changes_nothing(database_url: str, tmp_path: Path) -> None:
    generate_corpus(tmp_path / "c", 150, seed=3)
    first = ingest_paths([tmp_path / "c"], database_url, workers=2)
    assert first.counts["new"] == 150 and first.counts["rejected"] == 0
    before = canonical_dump(database_url)
    second = ingest_paths([tmp_path / "c"], database_url, workers=2)
    assert second.counts["unchanged"] == 150
    assert (second.counts["new"], second.counts["updated"], second.counts["rejected"]) == (0, 0, 0)
    assert canonical_dump(database_url) == before


def test_overlapping_roots_take_each_file_once(database_url: str, tmp_path: Path) -> None:
    generate_corpus(tmp_path / "c", 30, seed=6)
    files = sorted((tmp_path / "c").rglob("*.md"))
    inner = files[0].parent
    roots = [tmp_path / "c", inner, files[0], tmp_path / "c"]
    first = ingest_paths(roots, database_url, workers=2)
    assert first.counts["new"] == 30 and first.counts["rejected"] == 0
    engine = make_engine(database_url)
    with engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT path, rel_path FROM source_file")).all())
    engine.dispose()
    # Under the first root that holds it: paths relative to c/, never to c/<inner>/.
    assert stored == {str(f): f.relative_to(tmp_path / "c").as_posix() for f in files}
    second = ingest_paths(roots, database_url, workers=2)
    assert second.counts["unchanged"] == 30 and second.counts["new"] == 0


def test_first_load_looks_up_no_stored_file(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate_corpus(tmp_path / "c", 12, seed=7)
    lookups: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith(STORED_SOURCES):
            lookups.append(statement)

    # A SQLite catalogue's later runs look files up through sqlite3 (app.ingest.unchanged).
    compared = Comparison.stored_sources

    def comparison_spy(self: Comparison, paths: list[str]) -> dict[str, StoredSource]:
        lookups.append("comparison")
        return compared(self, paths)

    monkeypatch.setattr(Comparison, "stored_sources", comparison_spy)
    event.listen(Engine, "before_cursor_execute", spy)
    try:
        first = ingest_paths([tmp_path / "c"], database_url, workers=1, batch_size=5)
        first_lookups = len(lookups)
        os.utime(next((tmp_path / "c").rglob("*.md")), ns=(1, 1))
        second = ingest_paths([tmp_path / "c"], database_url, workers=1, batch_size=5)
    finally:
        event.remove(Engine, "before_cursor_execute", spy)
    assert first.counts["new"] == 12 and second.counts["unchanged"] == 12
    # Nothing was stored when the first run began, and each path comes once a run.
    assert first_lookups == 0
    assert len(lookups) > first_lookups


def test_parallel_parsing_freezes_the_heap_only_while_it_runs(
    database_url: str, tmp_path: Path
) -> None:
    # Frozen objects are out of the collector's sight in the forked workers (app/ingest/run.py),
    # and the collector runs rarely there and in the writer; the writer must not be left with
    # a frozen heap or a changed collector after the run.
    generate_corpus(tmp_path / "c", 40, seed=5)
    frozen: list[tuple[int, int]] = []
    before = gc.get_threshold()
    report = ingest_paths(
        [tmp_path / "c"],
        database_url,
        workers=2,
        on_progress=lambda _n: frozen.append((gc.get_freeze_count(), gc.get_threshold()[0])),
    )
    assert report.counts["new"] == 40
    assert frozen and min(count for count, _ in frozen) > 0
    assert {threshold for _, threshold in frozen} == {GC_THRESHOLD} != {before[0]}
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_parser_workers_collect_garbage_rarely(
    start_method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parsers, "START_METHOD", start_method)
    with Parsers(2, DEFAULT_MAX_FILE_SIZE, sqlite=True) as running:
        thresholds = {running._pool.submit(gc.get_threshold).result()[0] for _ in range(4)}
    assert thresholds == {GC_THRESHOLD}


def test_touched_but_identical_file_is_unchanged(database_url: str, tmp_path: Path) -> None:
    generate_corpus(tmp_path / "c", 5, seed=4)
    ingest_paths([tmp_path / "c"], database_url, workers=1)
    path = next((tmp_path / "c").rglob("*.md"))
    os.utime(path, ns=(1, 1))
    report = ingest_paths([tmp_path / "c"], database_url, workers=1)
    assert report.counts["unchanged"] == 5 and report.counts["updated"] == 0


def test_stored_size_and_mtime_are_those_of_the_file_read(
    database_url: str, tmp_path: Path
) -> None:
    # The parsers take them from the open file; a re-ingest skips a file only when they match.
    generate_corpus(tmp_path / "c", 40, seed=12)
    touched = sorted((tmp_path / "c").rglob("*.md"))[:3]
    for number, path in enumerate(touched):
        os.utime(path, ns=(10**18 + number, 10**18 + number))
    ingest_paths([tmp_path / "c"], database_url, workers=2)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            stored = {
                row.path: (row.size, row.mtime_ns)
                for row in conn.execute(text("SELECT path, size, mtime_ns FROM source_file"))
            }
    finally:
        engine.dispose()
    statuses = {str(path): path.stat() for path in (tmp_path / "c").rglob("*.md")}
    on_disk = {path: (status.st_size, status.st_mtime_ns) for path, status in statuses.items()}
    assert stored == on_disk
    assert {stored[str(path)][1] for path in touched} == {10**18, 10**18 + 1, 10**18 + 2}


def test_documents_are_json_text_the_database_can_read(database_url: str, tmp_path: Path) -> None:
    # SQLite's writer binds the JSON as UTF-8 bytes; stored as a blob, the database's own JSON
    # functions would refuse it and text comparisons would never match.
    generate_corpus(tmp_path / "c", 30, seed=14)
    ingest_paths([tmp_path / "c"], database_url, workers=2)
    sqlite = database_url.startswith("sqlite")
    query = (
        "SELECT a.title, typeof(d.front_matter) || ' ' || typeof(d.images), "
        "json_extract(d.front_matter, '$.title'), json_array_length(d.images) "
        if sqlite
        else "SELECT a.title, pg_typeof(d.front_matter)::text || ' ' || pg_typeof(d.images)::text, "
        "d.front_matter->>'title', json_array_length(d.images) "
    ) + "FROM article a JOIN article_document d ON d.article_pk = a.pk"
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(query)).all()
    finally:
        engine.dispose()
    assert len(rows) == 30
    assert {row[1] for row in rows} == {"text text" if sqlite else "json json"}
    assert all(row[2] == row[0] for row in rows)
    assert all(row[3] >= 0 for row in rows) and any(row[3] > 0 for row in rows)


def test_a_fifo_is_refused_without_waiting_for_a_writer(database_url: str, tmp_path: Path) -> None:
    # Opening a FIFO for reading blocks until something writes to it: the run must not.
    generate_corpus(tmp_path / "c", 5, seed=13)
    os.mkfifo(tmp_path / "c" / "pipe.md")
    report_path = tmp_path / "report.json"
    command = [sys.executable, "-m", "app", "ingest", str(tmp_path / "c"), "--workers", "2"]
    done = subprocess.run(
        [*command, "--database-url", database_url, "--report", str(report_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    report = orjson.loads(report_path.read_bytes())
    assert report["counts"]["new"] == 5 and report["counts"]["rejected"] == 1
    [error] = report["errors"]
    assert error["path"].endswith("pipe.md") and "not a regular file" in error["reason"]


def test_only_a_run_that_changes_the_catalogue_moves_its_version(
    database_url: str, tmp_path: Path
) -> None:
    # Cached responses and ETags are keyed by the version: a run that finds nothing new must
    # keep them valid, and only stamp the time it ran.
    generate_corpus(tmp_path / "c", 6, seed=8)
    ingest_paths([tmp_path / "c"], database_url, workers=1)
    version, stamp = catalogue_state(database_url)
    os.utime(next((tmp_path / "c").rglob("*.md")), ns=(1, 1))  # touched, same content
    assert ingest_paths([tmp_path / "c"], database_url, workers=1).counts["unchanged"] == 6
    again, later = catalogue_state(database_url)
    assert again == version and later != stamp
    generate_corpus(tmp_path / "more", 1, seed=9)
    assert ingest_paths([tmp_path / "more"], database_url, workers=1).counts["new"] == 1
    assert catalogue_state(database_url)[0] > version


def test_changed_file_updates_its_article_in_place(database_url: str, tmp_path: Path) -> None:
    generate_corpus(tmp_path / "c", 20, seed=5)
    ingest_paths([tmp_path / "c"], database_url, workers=1)
    path = sorted((tmp_path / "c").rglob("*.md"))[3]
    meta = _front_matter(path)
    before = _stored_articles(database_url)[path.relative_to(tmp_path / "c").as_posix()]
    content = path.read_text(encoding="utf-8")
    changed = re.sub(r"(?m)^title: .*$", 'title: "Updated title"', content, count=1)
    path.write_text(changed, encoding="utf-8")
    report = ingest_paths([tmp_path / "c"], database_url, workers=1)
    assert (report.counts["updated"], report.counts["unchanged"]) == (1, 19)
    after = _stored_articles(database_url)[path.relative_to(tmp_path / "c").as_posix()]
    assert after["id"] == before["id"] and after["pk"] == before["pk"]
    assert after["title"] == "Updated title" != meta["title"]
    assert after["ingested_at"] == before["ingested_at"]
    assert after["updated_at"] >= before["updated_at"]
    assert article_count(database_url) == 20
    assert integrity_problems(database_url) == []


def test_prune_removes_articles_of_deleted_files(database_url: str, tmp_path: Path) -> None:
    generate_corpus(tmp_path / "c", 30, seed=6)
    ingest_paths([tmp_path / "c"], database_url, workers=1)
    count = article_count(database_url)
    victims = sorted((tmp_path / "c").rglob("*.md"))[:4]
    for victim in victims:
        victim.unlink()
    kept = ingest_paths([tmp_path / "c"], database_url, workers=1)
    assert kept.counts["pruned"] == 0 and article_count(database_url) == count
    pruned = ingest_paths([tmp_path / "c"], database_url, workers=1, prune=True)
    assert pruned.counts["pruned"] == 4
    assert article_count(database_url) == count - 4
    assert integrity_problems(database_url) == []


def _duplicate_files(directory: Path) -> list[Path]:
    base = (
        "---\ntitle: {title}\npublishedDateTime: {date}\nwebUrl: https://example.com/same\n"
        "provider:\n  name: Example\n  domain: example.com\ntopics:\n  - {topic}\n---\n"
    )
    directory.mkdir(parents=True, exist_ok=True)
    specs = [
        ("a.md", "Oldest", "2020-01-01T00:00:00Z", "One"),
        ("b.md", "Newest", "2021-01-01T00:00:00Z", "Two"),
        ("c.md", "Tie low", "2021-01-01T00:00:00Z", "Three"),
        ("z.md", "Tie high", "2021-01-01T00:00:00+00:00", "Four"),
    ]
    paths = []
    for name, title, date, topic in specs:
        path = directory / name
        path.write_text(base.format(title=title, date=date, topic=topic), encoding="utf-8")
        paths.append(path)
    return paths


def test_duplicates_resolve_by_date_then_path_in_any_order(
    database_url: str, tmp_path: Path
) -> None:
    paths = _duplicate_files(tmp_path / "d")
    order = [paths[3], paths[0], paths[2], paths[1]]
    for path in order:  # one file at a time, the winner arriving neither first nor last
        ingest_paths([path], database_url, workers=1)
    (row,) = _stored_articles(database_url).values()
    assert row["title"] == "Tie high"
    report = ingest_paths([tmp_path / "d"], database_url, workers=1)
    assert report.counts["duplicates"] == 3
    assert {d["dropped"] for d in report.duplicates} == {"a.md", "b.md", "c.md"}
    assert {d["kept"] for d in report.duplicates} == {"z.md"}


def test_losing_the_winner_promotes_the_next_file(database_url: str, tmp_path: Path) -> None:
    paths = _duplicate_files(tmp_path / "d")
    ingest_paths([tmp_path / "d"], database_url, workers=1)
    paths[3].unlink()
    ingest_paths([tmp_path / "d"], database_url, workers=1, prune=True)
    (row,) = _stored_articles(database_url).values()
    assert row["title"] == "Tie low" and row["topics"] == ["Three"]
    # The winner's date moving back makes "Newest" win, though that file never changed.
    paths[2].write_text(paths[2].read_text().replace("2021-01-01", "2019-01-01"), encoding="utf-8")
    ingest_paths([tmp_path / "d"], database_url, workers=1)
    (row,) = _stored_articles(database_url).values()
    assert row["title"] == "Newest"
    assert integrity_problems(database_url) == []


@pytest.mark.parametrize("workers", [1, 3])
def test_catalogue_is_the_same_whatever_the_order_and_workers(
    backend: str, database_url: str, tmp_path: Path, workers: int
) -> None:
    generate_corpus(tmp_path / "c", 120, seed=7)
    _duplicate_files(tmp_path / "c" / "dups")
    files = sorted((tmp_path / "c").rglob("*.md"))
    ingest_paths([tmp_path / "c"], database_url, workers=2)
    reference = canonical_dump(database_url)

    other = tmp_path / "other.db"
    other_url = f"sqlite:///{other}" if backend == "sqlite" else None
    if other_url is None:
        engine = make_engine(database_url)
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE article, topic, provider CASCADE"))
        engine.dispose()
        other_url = database_url
    shuffled = files[:]
    random.Random(workers).shuffle(shuffled)
    for start in range(0, len(shuffled), 40):
        ingest_paths(shuffled[start : start + 40], other_url, workers=workers)
    dump = canonical_dump(other_url)
    # Relative paths differ when files are given one by one; compare what they produced.
    for key in ("sources",):
        reference.pop(key)
        dump.pop(key)
    for row_set in (reference, dump):
        row_set["articles"] = [row[:21] + row[22:] for row in row_set["articles"]]
    assert dump == reference
