"""New SQLite catalogues are copies of a template that Alembic migrated (app.ingest.template)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.ingest import template
from app.ingest.fresh import _copy_new
from app.ingest.template import CACHE_DIR_ENV, build_template, ensure_template, template_path
from app.schema_facts import SCHEMA_REVISION, SQLITE_PAGE_SIZE


def _contents(database: Path) -> tuple[object, ...]:
    with sqlite3.connect(database) as conn:
        schema = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
        ).fetchall()
        versions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        state = conn.execute("SELECT * FROM catalogue_state").fetchall()
        return schema, versions, state


def test_the_template_is_what_alembic_makes_of_an_empty_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _sqlite_template: Path
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    built = ensure_template()
    assert built is not None and built.parent == tmp_path / "cache"
    assert built.name.startswith(f"catalogue-{SCHEMA_REVISION}-")
    assert _contents(built) == _contents(_sqlite_template)  # the conftest's, by Alembic
    assert sorted(p.name for p in built.parent.iterdir()) == [built.name]  # no WAL beside it
    with sqlite3.connect(built) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert conn.execute("PRAGMA page_size").fetchone() == (SQLITE_PAGE_SIZE,)
    stamp = built.stat().st_mtime_ns
    assert ensure_template() == built and built.stat().st_mtime_ns == stamp  # built once


def test_an_edited_migration_means_a_new_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    migrations = tmp_path / "migrations"
    shutil.copytree(template.MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(template, "MIGRATIONS", migrations)
    before = ensure_template()
    assert before is not None
    newest = sorted((migrations / "versions").glob("*.py"))[-1]
    newest.write_text(newest.read_text() + "\n# edited\n")
    after = template_path()
    assert after is not None and after != before and not after.exists()
    monkeypatch.setattr(template, "MIGRATIONS", template.MIGRATIONS)  # build the real one
    build_template(after)
    assert after.exists() and not before.exists()  # the earlier edit's template is gone


def test_the_cache_is_the_users_unless_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert template.cache_dir() == tmp_path / "xdg" / "newscat"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert template.cache_dir() == tmp_path / "home" / ".cache" / "newscat"
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "mine"))
    assert template.cache_dir() == tmp_path / "mine"


def test_without_the_migrations_there_is_no_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(template, "MIGRATIONS", tmp_path / "nowhere")
    assert template_path() is None and ensure_template() is None


def test_a_copy_never_replaces_a_file_that_is_there(tmp_path: Path) -> None:
    built = ensure_template()
    assert built is not None
    there = tmp_path / "cat.db"
    there.write_bytes(b"someone else's")
    assert _copy_new(built, str(there)) is False
    assert there.read_bytes() == b"someone else's"
    assert _copy_new(built, str(tmp_path / "new.db")) is True
    assert (tmp_path / "new.db").read_bytes() == built.read_bytes()
    assert (tmp_path / "new.db").stat().st_ino != built.stat().st_ino  # a copy, not a link
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.db", "new.db"]  # no scratch left


@pytest.mark.parametrize("writable", [True, False], ids=["cache", "no-cache"])
def test_setup_builds_the_template_ahead_of_the_first_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _sqlite_template: Path, writable: bool
) -> None:
    # `make setup` runs the module, so that no first ingest pays for building the template.
    (tmp_path / "file").write_text("")
    cache = tmp_path / "cache" if writable else tmp_path / "file" / "cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(cache))
    done = subprocess.run(
        [sys.executable, "-m", "app.ingest.template"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr  # never fatal: a first load can do without
    if writable:
        expected = template_path()
        assert expected is not None and sorted(cache.iterdir()) == [expected]
        assert _contents(expected) == _contents(_sqlite_template)
        assert done.stderr == ""
    else:
        assert not cache.exists()
        assert "no template for first loads" in done.stderr
