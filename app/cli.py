"""The `newscat` command: a thin layer over the ingest job, migrations and the server."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from app.database_url import normalise_database_url

app = typer.Typer(
    name="newscat",
    help="A news-article catalogue: ingest article files, then query them over HTTP.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

KEEP_ALIVE_SECONDS = 75

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Catalogue URL (default: $DATABASE_URL, else sqlite:///./data/catalogue.db).",
        show_default=False,
    ),
]


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


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"newscat: {message}", err=True)
    return typer.Exit(code)


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


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Article files or directories (recursive).")],
    database_url: DatabaseOption = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete articles whose every source file is gone.")
    ] = False,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Parser processes (default: CPUs).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Parse and report, write nothing.")
    ] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the JSON report to this file.")
    ] = None,
    max_file_size: Annotated[
        int, typer.Option("--max-file-size", min=1, help="Largest file accepted, in bytes.")
    ] = 10 * 1024 * 1024,
    lock_timeout: Annotated[
        float,
        typer.Option("--lock-timeout", min=0, help="Seconds to wait for another ingest."),
    ] = 600.0,
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
        typer.echo(f"rejected {error['path']}{where}: {error['reason']}", err=True)
    if len(result.errors) > 20:
        typer.echo(f"... and {len(result.errors) - 20} more (see --report)", err=True)
    typer.echo(result.summary())
    raise typer.Exit(result.exit_code)


@app.command()
def migrate(database_url: DatabaseOption = None) -> None:
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
    typer.echo(f"catalogue at {_safe(url)} is up to date")


@app.command()
def stats(database_url: DatabaseOption = None) -> None:
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

    typer.echo(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    database_url: DatabaseOption = None,
) -> None:
    """Serve the HTTP API (docs at /docs)."""
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


@app.command()
def generate(
    directory: Annotated[Path, typer.Argument(help="Where to write the files.")],
    count: Annotated[int, typer.Option(min=0, help="How many articles.")] = 2000,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 0,
) -> None:
    """Write a synthetic corpus of article files (for demos, tests and benchmarks)."""
    from app.synth import generate_corpus

    written = generate_corpus(directory, count, seed=seed)
    typer.echo(f"wrote {written} article files to {directory}")


@app.command()
def demo(
    directory: Annotated[Path, typer.Option(help="Demo corpus folder.")] = Path(
        "data/demo-articles"
    ),
    count: Annotated[int, typer.Option(min=1, help="Articles in the demo corpus.")] = 2000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    serve_it: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve when built.")] = True,
    database_url: DatabaseOption = None,
) -> None:
    """Make a sample corpus if absent, ingest it into SQLite, and serve it."""
    from app.ingest.files import DEFAULT_MAX_FILE_SIZE
    from app.ingest.parsers import start_first_load
    from app.ingest.run import ingest_paths
    from app.synth import generate_corpus

    url = _database_url(database_url)
    if not directory.exists() or not any(directory.iterdir()):
        written = generate_corpus(directory, count, seed=0)
        typer.echo(f"wrote {written} demo article files to {directory}")
    # As `ingest` does: a new catalogue's files parse while the database layer loads.
    first_load = start_first_load([directory], url, os.cpu_count() or 1, DEFAULT_MAX_FILE_SIZE)
    result = ingest_paths([directory], url, first_load=first_load)
    typer.echo(result.summary())
    if serve_it:
        typer.echo(f"serving on http://{host}:{port} (API docs at http://{host}:{port}/docs)")
        serve(host=host, port=port, workers=1, database_url=url)


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
    SQLAlchemy, pydantic, typer...) took 0.2-0.3 s, a third of a small ingest, and nothing
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
    typer.echo(code, err=True)
    return 1
