"""The `newscat` command: a thin layer over the ingest job, migrations and the server."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# click rather than a layer over it: an unchanged re-ingest of 10,000 files is mostly the
# command starting, and importing typer (which wraps click) took 15 ms more than click.
import click

from app.database_url import normalise_database_url

KEEP_ALIVE_SECONDS = 75
CONTEXT = {"show_default": True, "help_option_names": ["-h", "--help"]}


@click.group(
    name="newscat",
    context_settings=CONTEXT,
    no_args_is_help=True,
    help="A news-article catalogue: ingest article files, then query them over HTTP.",
)
def app() -> None:
    pass


database_option = click.option(
    "--database-url",
    help="Catalogue URL (default: $DATABASE_URL, else sqlite:///./data/catalogue.db).",
    show_default=False,
)
path_type = click.Path(path_type=Path)


def _database_error() -> tuple[type[Exception], ...]:
    # Imported only when an error is being handled: where the ingest's parser processes are
    # spawned, they import this module again as their __main__, and SQLAlchemy would cost
    # each of them a large share of its start-up. An unchanged re-ingest of a SQLite
    # catalogue speaks to it through sqlite3 alone (app.ingest.unchanged).
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    return SQLAlchemyError, sqlite3.Error


def _database_url(option: str | None) -> str:
    if option:
        return normalise_database_url(option)
    from app.settings import get_settings

    return get_settings().database_url


def _fail(message: str, code: int = 2) -> click.exceptions.Exit:
    click.echo(f"newscat: {message}", err=True)
    return click.exceptions.Exit(code)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task("ingesting", total=None)
        yield lambda n: progress.advance(task, n)


@app.command(short_help="Parse article files into the catalogue.")
@click.argument("paths", nargs=-1, required=True, type=path_type)
@database_option
@click.option("--prune", is_flag=True, help="Delete articles whose every source file is gone.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Parser processes (default: CPUs).",
    show_default=False,
)
@click.option("--dry-run", is_flag=True, help="Parse and report, write nothing.")
@click.option("--report", type=path_type, help="Write the JSON report to this file.")
@click.option(
    "--max-file-size",
    type=click.IntRange(min=1),
    default=10 * 1024 * 1024,
    help="Largest file accepted, in bytes.",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=600.0,
    help="Seconds to wait for another ingest.",
)
def ingest(
    paths: tuple[Path, ...],
    database_url: str | None,
    prune: bool,
    workers: int | None,
    dry_run: bool,
    report: Path | None,
    max_file_size: int,
    lock_timeout: float,
) -> None:
    """Parse article files into the catalogue (incremental, idempotent, crash-safe)."""
    from app.ingest.parsers import start_first_load

    url = _database_url(database_url)
    workers = workers or os.cpu_count() or 1
    # Before importing the database layer: a new catalogue's files parse meanwhile.
    first_load = None if dry_run else start_first_load(paths, url, workers, max_file_size)

    from app.ingest.lock import CatalogueBusy, CatalogueUnwritable
    from app.ingest.run import UsageError, ingest_paths

    try:
        with _progress(sys.stderr.isatty()) as on_progress:
            result = ingest_paths(
                paths,
                url,
                workers=workers,
                prune=prune,
                dry_run=dry_run,
                max_file_size=max_file_size,
                lock_timeout=lock_timeout,
                on_progress=on_progress,
                first_load=first_load,
            )
    except (UsageError, CatalogueBusy, CatalogueUnwritable) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write the catalogue: {exc.strerror or exc}") from None
    except _database_error() as exc:
        raise _fail(f"cannot use the catalogue at {_safe(url)}: {_first_line(exc)}") from None
    if report is not None:
        report.write_bytes(result.to_json())
    for error in result.errors[:20]:
        where = f":{error['line']}" if error["line"] else ""
        click.echo(f"rejected {error['path']}{where}: {error['reason']}", err=True)
    if len(result.errors) > 20:
        click.echo(f"... and {len(result.errors) - 20} more (see --report)", err=True)
    click.echo(result.summary())
    raise click.exceptions.Exit(result.exit_code)


@app.command()
@database_option
def migrate(database_url: str | None) -> None:
    """Create the catalogue or bring its schema up to date."""
    from app.db import make_engine
    from app.ingest.bulk import restore_indexes
    from app.ingest.lock import (
        DEFAULT_LOCK_TIMEOUT,
        CatalogueBusy,
        CatalogueUnwritable,
        writer_lock,
    )
    from app.migrate import upgrade

    url = _database_url(database_url)
    engine = make_engine(url)
    try:
        upgrade(engine)
        # An ingest killed during a first load leaves the secondary indexes out until the
        # next one; migrating puts them back too (after any ingest still running).
        with writer_lock(engine, url, timeout=DEFAULT_LOCK_TIMEOUT), engine.begin() as conn:
            restore_indexes(conn)
    except (CatalogueBusy, CatalogueUnwritable) as exc:
        raise _fail(str(exc)) from None
    except _database_error() as exc:
        raise _fail(f"cannot migrate {_safe(url)}: {_first_line(exc)}") from None
    finally:
        engine.dispose()
    click.echo(f"catalogue at {_safe(url)} is up to date")


@app.command()
@database_option
def stats(database_url: str | None) -> None:
    """Print the catalogue's figures as JSON."""
    from sqlmodel import Session

    from app import query
    from app.db import make_engine

    url = _database_url(database_url)
    engine = make_engine(url, read_only=True)
    try:
        with Session(engine) as session:
            figures = query.stats(session)
    except _database_error() as exc:
        raise _fail(f"cannot read {_safe(url)}: {_first_line(exc)}") from None
    finally:
        engine.dispose()
    import orjson

    click.echo(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())


@app.command()
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", type=int, default=8000, help="Port to listen on.")
@click.option("--workers", type=click.IntRange(min=1), default=1, help="Worker processes.")
@database_option
def serve(host: str, port: int, workers: int, database_url: str | None) -> None:
    """Serve the HTTP API (docs at /docs)."""
    _serve(host, port, workers, database_url)


def _serve(host: str, port: int, workers: int, database_url: str | None) -> None:
    import uvicorn

    from app.settings import get_settings

    if database_url:
        os.environ["DATABASE_URL"] = _database_url(database_url)
    # The server itself answers malformed requests (400): it must send nosniff too, and
    # the app then leaves the header to it rather than sending it twice.
    os.environ["NEWSCAT_SERVER_SENDS_NOSNIFF"] = "1"
    get_settings.cache_clear()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=get_settings().log_level.lower(),
        proxy_headers=True,
        headers=[("X-Content-Type-Options", "nosniff")],
        # Longer than the idle timeout of common proxies and clients (60 s), so that the
        # server never closes a kept-alive connection just as a client reuses it.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


@app.command(short_help="Write a synthetic corpus of article files.")
@click.argument("directory", type=path_type)
@click.option("--count", type=click.IntRange(min=0), default=2000, help="How many articles.")
@click.option("--seed", type=int, default=0, help="Same seed, same files.")
def generate(directory: Path, count: int, seed: int) -> None:
    """Write a synthetic corpus of article files (for demos, tests and benchmarks)."""
    from app.synth import generate_corpus

    written = generate_corpus(directory, count, seed=seed)
    click.echo(f"wrote {written} article files to {directory}")


@app.command(short_help="Make a sample corpus, ingest it into SQLite, serve it.")
@click.option(
    "--directory", type=path_type, default=Path("data/demo-articles"), help="Demo corpus folder."
)
@click.option(
    "--count", type=click.IntRange(min=1), default=2000, help="Articles in the demo corpus."
)
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", type=int, default=8000, help="Port to listen on.")
@click.option("--serve/--no-serve", "serve_it", default=True, help="Serve when built.")
@database_option
def demo(
    directory: Path, count: int, host: str, port: int, serve_it: bool, database_url: str | None
) -> None:
    """Make a sample corpus if absent, ingest it into SQLite, and serve it."""
    from app.ingest.files import DEFAULT_MAX_FILE_SIZE
    from app.ingest.parsers import start_first_load
    from app.ingest.run import ingest_paths
    from app.synth import generate_corpus

    url = _database_url(database_url)
    if not directory.exists() or not any(directory.iterdir()):
        written = generate_corpus(directory, count, seed=0)
        click.echo(f"wrote {written} demo article files to {directory}")
    # As `ingest` does: a new catalogue's files parse while the database layer loads.
    first_load = start_first_load([directory], url, os.cpu_count() or 1, DEFAULT_MAX_FILE_SIZE)
    result = ingest_paths([directory], url, first_load=first_load)
    click.echo(result.summary())
    if serve_it:
        click.echo(f"serving on http://{host}:{port} (API docs at http://{host}:{port}/docs)")
        _serve(host, port, 1, url)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def main() -> None:
    """The `newscat` script.

    Once the command is done, exit handlers run and the standard streams are flushed, and
    the process ends there: tearing down the interpreter (freeing every module and object of
    SQLAlchemy, pydantic, click...) took 0.2-0.3 s, a third of a small ingest, and nothing
    that is left needs it. An uncaught exception still ends the usual way, with its traceback.
    """
    try:
        app()
        status = 0
    except SystemExit as exc:
        status = _exit_status(exc.code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or a reader that went away
            stream.flush()
    os._exit(status)


def _exit_status(code: object) -> int:
    """The status `sys.exit(code)` would give."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    click.echo(code, err=True)
    return 1
