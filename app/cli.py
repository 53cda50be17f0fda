"""The `newscat` command: a thin layer over the ingest job, migrations and the server."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from app.database_url import normalise_database_url
from app.ingest.files import DEFAULT_MAX_FILE_SIZE
from app.ingest.lock import DEFAULT_LOCK_TIMEOUT

KEEP_ALIVE_SECONDS = 75
DEFAULT = " (default: %(default)s)"  # in an option's help, where argparse fills it in


class CommandFailed(Exception):
    """Ends a command with a message on stderr and an exit status (2: usage or fatal)."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


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


def ingest(
    paths: Sequence[Path],
    database_url: str | None,
    prune: bool,
    workers: int | None,
    dry_run: bool,
    report: Path | None,
    max_file_size: int,
    lock_timeout: float,
) -> int:
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
        raise CommandFailed(str(exc)) from None
    except OSError as exc:
        raise CommandFailed(f"cannot write the catalogue: {exc.strerror or exc}") from None
    except _database_error() as exc:
        raise CommandFailed(
            f"cannot use the catalogue at {_safe(url)}: {_first_line(exc)}"
        ) from None
    if report is not None:
        report.write_bytes(result.to_json())
    for error in result.errors[:20]:
        where = f":{error['line']}" if error["line"] else ""
        _echo(f"rejected {error['path']}{where}: {error['reason']}", err=True)
    if len(result.errors) > 20:
        _echo(f"... and {len(result.errors) - 20} more (see --report)", err=True)
    _echo(result.summary())
    return result.exit_code


def migrate(database_url: str | None) -> int:
    """Create the catalogue or bring its schema up to date."""
    from app.db import make_engine
    from app.ingest.bulk import restore_indexes
    from app.ingest.lock import CatalogueBusy, CatalogueUnwritable, writer_lock
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
        raise CommandFailed(str(exc)) from None
    except _database_error() as exc:
        raise CommandFailed(f"cannot migrate {_safe(url)}: {_first_line(exc)}") from None
    finally:
        engine.dispose()
    _echo(f"catalogue at {_safe(url)} is up to date")
    return 0


def stats(database_url: str | None) -> int:
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
        raise CommandFailed(f"cannot read {_safe(url)}: {_first_line(exc)}") from None
    finally:
        engine.dispose()
    import orjson

    _echo(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())
    return 0


def serve(host: str, port: int, workers: int, database_url: str | None) -> int:
    """Serve the HTTP API (docs at /docs)."""
    if database_url:
        os.environ["DATABASE_URL"] = _database_url(database_url)
    import uvicorn

    from app.settings import get_settings

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
    return 0


def generate(directory: Path, count: int, seed: int) -> int:
    """Write a synthetic corpus of article files (for demos, tests and benchmarks)."""
    from app.synth import generate_corpus

    written = generate_corpus(directory, count, seed=seed)
    _echo(f"wrote {written} article files to {directory}")
    return 0


def demo(
    directory: Path, count: int, host: str, port: int, serve_it: bool, database_url: str | None
) -> int:
    """Make a sample corpus if absent, ingest it into SQLite, and serve it."""
    from app.ingest.parsers import start_first_load
    from app.ingest.run import ingest_paths
    from app.synth import generate_corpus

    url = _database_url(database_url)
    if not directory.exists() or not any(directory.iterdir()):
        written = generate_corpus(directory, count, seed=0)
        _echo(f"wrote {written} demo article files to {directory}")
    # As `ingest` does: a new catalogue's files parse while the database layer loads.
    first_load = start_first_load([directory], url, os.cpu_count() or 1, DEFAULT_MAX_FILE_SIZE)
    result = ingest_paths([directory], url, first_load=first_load)
    _echo(result.summary())
    if not serve_it:
        return 0
    _echo(f"serving on http://{host}:{port} (API docs at http://{host}:{port}/docs)")
    return serve(host, port, 1, url)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _echo(message: object, *, err: bool = False) -> None:
    """The command's output: results on stdout, problems on stderr."""
    (sys.stderr if err else sys.stdout).write(f"{message}\n")


def _at_least(minimum: int, kind: type[int] | type[float] = int) -> Callable[[str], float]:
    """An argparse type: a number no smaller than `minimum`."""

    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is smaller than {minimum}")
        return value

    return convert


def build_parser() -> argparse.ArgumentParser:
    """The command line: each command's function gets its options as keyword arguments."""
    parser = argparse.ArgumentParser(
        prog="newscat",
        description="A news-article catalogue: ingest article files, then query them over HTTP.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(function: Callable[..., int], summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(function.__name__, help=summary, description=function.__doc__)
        sub.set_defaults(command=function)
        return sub

    def database_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--database-url",
            metavar="URL",
            help="catalogue URL (default: $DATABASE_URL, else sqlite:///./data/catalogue.db)",
        )

    def address_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--host", default="127.0.0.1", help=f"address to listen on{DEFAULT}")
        sub.add_argument("--port", type=int, default=8000, help=f"port to listen on{DEFAULT}")

    sub = command(ingest, "parse article files into the catalogue")
    sub.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or directories")
    database_option(sub)
    sub.add_argument(
        "--prune", action="store_true", help="delete articles whose every source file is gone"
    )
    sub.add_argument(
        "--workers",
        type=_at_least(1),
        metavar="N",
        default=None,
        help="parser processes (default: CPUs)",
    )
    sub.add_argument("--dry-run", action="store_true", help="parse and report, write nothing")
    sub.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        default=None,
        help="write the JSON report to this file",
    )
    sub.add_argument(
        "--max-file-size",
        type=_at_least(1),
        metavar="BYTES",
        default=DEFAULT_MAX_FILE_SIZE,
        help=f"largest file accepted, in bytes{DEFAULT}",
    )
    sub.add_argument(
        "--lock-timeout",
        type=_at_least(0, float),
        metavar="SECONDS",
        default=DEFAULT_LOCK_TIMEOUT,
        help=f"how long to wait for another ingest{DEFAULT}",
    )

    database_option(command(migrate, "create the catalogue or bring its schema up to date"))
    database_option(command(stats, "print the catalogue's figures as JSON"))

    sub = command(serve, "serve the HTTP API (docs at /docs)")
    address_options(sub)
    sub.add_argument(
        "--workers", type=_at_least(1), metavar="N", default=1, help=f"worker processes{DEFAULT}"
    )
    database_option(sub)

    sub = command(generate, "write a synthetic corpus of article files")
    sub.add_argument("directory", type=Path, metavar="DIR", help="where to write the files")
    sub.add_argument(
        "--count", type=_at_least(0), metavar="N", default=2000, help=f"how many articles{DEFAULT}"
    )
    sub.add_argument(
        "--seed", type=int, metavar="S", default=0, help=f"same seed, same files{DEFAULT}"
    )

    sub = command(demo, "make a sample corpus, ingest it into SQLite, serve it")
    sub.add_argument(
        "--directory",
        type=Path,
        metavar="DIR",
        default=Path("data/demo-articles"),
        help=f"demo corpus folder{DEFAULT}",
    )
    sub.add_argument(
        "--count",
        type=_at_least(1),
        metavar="N",
        default=2000,
        help=f"articles in the demo corpus{DEFAULT}",
    )
    address_options(sub)
    sub.add_argument(
        "--serve",
        dest="serve_it",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve it once built (default: serve)",
    )
    database_option(sub)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command line; its exit status (0 done, 1 some file rejected, 2 usage or fatal).

    The standard library's argparse, not a framework: an unchanged re-ingest of 10,000
    files is mostly the command starting, and importing click cost 9 ms more than argparse
    (typer, built on click, 25 ms more).
    """
    parser = build_parser()
    options = vars(parser.parse_args(argv))
    function = options.pop("command", None)
    if function is None:  # no command given
        parser.print_help(sys.stderr)
        return 2
    try:
        status: int = function(**options)
    except CommandFailed as exc:
        _echo(f"newscat: {exc}", err=True)
        return exc.status
    return status


def main() -> None:
    """The `newscat` script.

    Once the command is done, exit handlers run and the standard streams are flushed, and
    the process ends there: tearing down the interpreter (freeing every module and object of
    SQLAlchemy, pydantic, click...) took 0.2-0.3 s, a third of a small ingest, and nothing
    that is left needs it. An uncaught exception still ends the usual way, with its traceback.
    """
    try:
        status = run()
    except SystemExit as exc:  # argparse's usage errors and --help
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
    _echo(code, err=True)
    return 1
