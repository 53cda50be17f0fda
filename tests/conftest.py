"""Test databases: every test that asks for one gets a fresh catalogue on each backend.

`database_url` is parametrised over SQLite and PostgreSQL, so one pytest run covers both;
`--db sqlite` or `--db postgresql` narrows it. SQLite catalogues are files in the test's
temp dir; PostgreSQL ones are databases cloned from a migrated template and dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app.db import make_engine
from app.ingest.template import CACHE_DIR_ENV
from app.migrate import upgrade
from tests.catalogue import (
    ADMIN_URL,
    admin_engine,
    fresh_pg_database,
    migrated_catalogue,
    pg_url,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=(*BACKENDS, "all"),
        default=os.environ.get("TEST_DB", "all"),
        help="which backend(s) the database tests run on (default: all)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--db")
        backends = BACKENDS if chosen == "all" else (chosen,)
        only = metafunc.definition.get_closest_marker("backends")
        if only is not None:
            backends = tuple(b for b in backends if b in only.args)
        metafunc.parametrize("backend", backends, scope="session")


@pytest.fixture(scope="session", autouse=True)
def _template_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """New catalogues' schema template (app.ingest.template) lives in the run's temp dir,
    for the commands the tests start too: never in the user's cache."""
    path = tmp_path_factory.mktemp("cache")
    before = os.environ.get(CACHE_DIR_ENV)
    os.environ[CACHE_DIR_ENV] = str(path)
    yield path
    if before is None:
        del os.environ[CACHE_DIR_ENV]
    else:
        os.environ[CACHE_DIR_ENV] = before


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test clones (much faster than migrating)."""
    name = f"newscat_tpl_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    admin = admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("NEWSCAT_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}")
    engine = make_engine(pg_url(name))
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "catalogue.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def empty_database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh, empty (unmigrated) catalogue URL on this test's backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalogue.db'}"
        return
    request.getfixturevalue("_pg_template")  # skips cleanly when PostgreSQL is down
    yield from fresh_pg_database(template=None)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh catalogue at the newest schema, on this test's backend."""
    with migrated_catalogue(backend, request, tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    """The real-format corpus beside the repo; tests that need it skip when it is absent."""
    path = SHARED / "corpus" / "powerapps"
    if not path.is_dir():
        pytest.skip(f"{path} is not present")
    return path


@pytest.fixture(scope="session")
def seed_file() -> Path:
    files = sorted((SHARED / "seeds").glob("*")) if (SHARED / "seeds").is_dir() else []
    if not files:
        pytest.skip("../shared/seeds is not present")
    return files[0]
