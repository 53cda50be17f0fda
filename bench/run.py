"""`make bench`: ingest and API benchmarks side by side in one run, written to docs/benchmarks.md.

    python -m bench.run [--scales 10000,100000,1000000] [--skip-datasette] [--skip-postgres]
                        [--out docs/benchmarks.md] [--work-dir /tmp/newscat-bench]
                        [--corpus-dir /dev/shm/newscat-bench]

Catalogues and server logs live in the work directory, corpora in the corpus directory (in
memory when the machine has room), never in the repository.
`--report-only` rewrites the markdown from the work directory's results.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.metadata
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg

from app.ingest.template import ensure_template, template_path
from bench import api, datasette_db, ingest, report

REPO = Path(__file__).resolve().parent.parent
REAL_CORPUS = REPO.parent / "shared" / "corpus" / "powerapps"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "newscat_bench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scales", default="10000,100000,1000000", help="synthetic corpus sizes, comma-separated"
    )
    parser.add_argument("--skip-datasette", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--postgres-scales",
        default="10000,100000",
        help="synthetic corpus sizes also measured on PostgreSQL, comma-separated",
    )
    parser.add_argument(
        "--single-floor-from",
        type=int,
        default=None,
        help="corpora of at least this many files run the parse floor and the first load once, "
        "not twice (default: every corpus runs each twice). One run of each at a million files "
        "left the comparison to whatever else the machine did then: 83 %% in one run, 97 %% "
        "(in separate runs) an hour later",
    )
    parser.add_argument("--skip-api", action="store_true", help="ingest benchmarks only")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/newscat-bench"))
    parser.add_argument(
        "--corpus-dir",
        type=Path,
        default=ingest.default_corpus_dir(),
        help="where the corpora go (default: in memory, /dev/shm, when it has room; "
        "else the work directory)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="ingest and parse-floor processes (default: CPUs)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic corpora")
    parser.add_argument("--duration", type=int, default=8, help="seconds of load per query")
    parser.add_argument(
        "--latency-duration",
        type=int,
        default=4,
        help="seconds of one-connection load per query (latency)",
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--postgres-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    args.scales = _sizes(args.scales)
    args.postgres_scales = _sizes(args.postgres_scales)
    return args


def _sizes(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    work: Path = args.work_dir.resolve()
    if work == REPO or REPO in work.parents:
        raise SystemExit("bench: --work-dir must be outside the repository")
    work.mkdir(parents=True, exist_ok=True)
    corpora: Path = (args.corpus_dir or work).resolve()
    if corpora == REPO or REPO in corpora.parents:
        raise SystemExit("bench: --corpus-dir must be outside the repository")
    corpora.mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    if args.report_only:
        report.write(args.out, json.loads(saved.read_text()))
        print(f"wrote {args.out}")
        return
    if not args.skip_api:
        api.ensure_wrk()
    pg = None if args.skip_postgres else Postgres(args.postgres_admin_url)
    load = api.LoadSettings(args.threads, args.connections, args.duration, args.latency_duration)
    results: dict[str, Any] = {
        "started": _now(),
        "argv": ["python", "-m", "bench.run", *(argv if argv is not None else sys.argv[1:])],
        "settings": {
            **vars(args),
            "out": str(args.out),
            "work_dir": str(work),
            "corpus_dir": str(corpora),
        },
        "load": dataclasses.asdict(load),
        "machine": machine(pg),
        "commands": [],
        "ingest": [],
        "api": [],
    }
    commands: list[str] = results["commands"]
    results["code"] = code = []

    def stage(name: str) -> None:
        # Others work in the same tree: record what code each stage measured.
        code.append({"stage": name, "at": _now(), "fingerprint": code_fingerprint()})

    def save() -> None:
        saved.write_text(json.dumps(results, indent=2, default=str))

    results["template"] = warm_template()
    try:
        real = ingest.copy_real_corpus(REAL_CORPUS, corpora)
        if real is not None:
            stage("ingest powerapps")
            results["ingest"].append(
                bench_ingest("powerapps (real)", real, work, args, None, commands)
            )
            save()
        for scale in args.scales:
            corpus, generated = ingest.ensure_corpus(corpora, scale, args.seed, commands)
            stage(f"ingest {scale:,}")
            on_pg = pg if scale in args.postgres_scales else None
            entry = bench_ingest(f"synthetic {scale:,}", corpus, work, args, on_pg, commands)
            entry["scale"], entry["generate_seconds"] = scale, generated
            results["ingest"].append(entry)
            save()
            if not args.skip_api:
                stage(f"API {scale:,}")
                results["api"].append(bench_api(scale, work, args, on_pg, load, commands))
                save()
    finally:
        if pg is not None:
            pg.drop()
    stage("end")
    results["finished"] = _now()
    results["load_after"] = os.getloadavg()
    save()
    report.write(args.out, results)
    print(f"wrote {args.out} (raw figures in {saved})")


def warm_template() -> dict[str, Any]:
    """Build the empty catalogue a first load copies, where this machine has none yet.

    Alembic builds it once per machine and schema (`make setup` does too), like the byte
    code pip compiles at install: a one-time cost that no timed run should pay.
    """
    path = template_path()
    there = path is not None and path.is_file()
    started = time.perf_counter()
    built = ensure_template()
    return {
        "path": str(built) if built else None,
        "built_now": not there and built is not None,
        "seconds": time.perf_counter() - started,
    }


def bench_ingest(
    label: str,
    corpus: Path,
    work: Path,
    args: argparse.Namespace,
    pg: Postgres | None,
    commands: list[str],
) -> dict[str, Any]:
    print(f"ingest: {label}", flush=True)
    # The floor runs before and after the SQLite ingest, and the first load twice between
    # them (into two new catalogues): each counts as the mean of its runs, so that a burst of
    # other work on the shared machine weighs on both sides alike, and one run of a few
    # seconds (which swings by a tenth here) does not decide the comparison alone.
    before = ingest.floor(corpus, args.workers, commands)
    counts = json.loads(before.stdout)
    files = counts["parsed"] + counts["failed"]
    entry: dict[str, Any] = {"corpus": label, "files": files}
    db = work / f"catalogue-{corpus.name}.db"
    _remove_catalogue(db)
    sqlite_url = f"sqlite:///{db}"
    entry["sqlite"] = _ingest_twice(
        corpus, sqlite_url, work / f"report-{corpus.name}", args, commands
    )
    floors = [before]
    if args.single_floor_from is None or files < args.single_floor_from:
        first = entry["sqlite"]["first"]
        repeat = _first_load(corpus, work, args, commands)
        entry["sqlite"]["first"] = {**_mean_of(first["runs"] + repeat["runs"], files),
                                    "counts": first["counts"]}  # fmt: skip
        floors.append(ingest.floor(corpus, args.workers, commands))
    entry["floor"] = _mean_of([_figures(f, files) for f in floors], files)
    print(
        "  parse floor            "
        + ", ".join(f"{f.seconds:.1f} s" for f in floors)
        + f"  peak {entry['floor']['peak_rss'] / 2**20:7.0f} MiB  cpu "
        + ", ".join(f"{f.cpu:.1f} s" for f in floors)
    )
    entry["sqlite"]["database"] = str(db)
    entry["sqlite"]["database_bytes"] = db.stat().st_size
    if pg is not None:
        pg.create()
        entry["postgres"] = _ingest_twice(
            corpus, pg.url, work / f"report-pg-{corpus.name}", args, commands
        )
    return entry


def _ingest_twice(
    corpus: Path, url: str, report_stem: Path, args: argparse.Namespace, commands: list[str]
) -> dict[str, Any]:
    """A first load into a new catalogue, then the same files again (unchanged)."""
    return {
        run: _ingest_once(corpus, url, report_stem, run, args, commands)
        for run in ("first", "again")
    }


def _first_load(
    corpus: Path, work: Path, args: argparse.Namespace, commands: list[str]
) -> dict[str, Any]:
    """Another first load of the corpus, into a second new catalogue removed afterwards."""
    db = work / f"catalogue-{corpus.name}-repeat.db"
    _remove_catalogue(db)
    stem = work / f"report-{corpus.name}"
    try:
        return _ingest_once(corpus, f"sqlite:///{db}", stem, "repeat", args, commands)
    finally:
        _remove_catalogue(db)


def _remove_catalogue(db: Path) -> None:
    """A SQLite catalogue's file and those beside it (WAL, shared memory, ingest lock)."""
    for path in db.parent.glob(f"{db.name}*"):
        path.unlink()


def _ingest_once(
    corpus: Path,
    url: str,
    report_stem: Path,
    run: str,
    args: argparse.Namespace,
    commands: list[str],
) -> dict[str, Any]:
    report_file = report_stem.with_name(f"{report_stem.name}-{run}.json")
    measured = ingest.ingest(corpus, url, args.workers, report_file, commands)
    counts = json.loads(report_file.read_text())["counts"]
    files = sum(counts[k] for k in ("new", "updated", "unchanged", "rejected"))
    print(
        f"  {url.split(':')[0]:22} {run:6} {measured.seconds:7.1f} s  "
        f"peak {measured.peak_rss / 2**20:7.0f} MiB  load {measured.load:.1f}  "
        f"cpu {measured.cpu:.1f} s (main {measured.cpu_main:.1f} s)",
        flush=True,
    )
    figures = _figures(measured, files)
    return {**figures, "counts": counts, "runs": [figures]}


def _mean_of(runs: list[dict[str, Any]], files: int) -> dict[str, Any]:
    """Runs of one command as one figure: the mean time, load and CPU, the highest peak."""

    def mean(key: str) -> float:
        return sum(run[key] for run in runs) / len(runs)

    seconds = mean("seconds")
    return {
        "seconds": seconds,
        "files_per_s": files / seconds if seconds else None,
        "peak_rss": max(run["peak_rss"] for run in runs),
        "load": mean("load"),
        "cpu": mean("cpu"),
        "cpu_main": mean("cpu_main"),
        "runs": runs,
    }


def _figures(measured: ingest.Measured, files: int) -> dict[str, Any]:
    return {
        "seconds": measured.seconds,
        "files_per_s": files / measured.seconds if measured.seconds else None,
        "peak_rss": measured.peak_rss,
        "load": measured.load,
        "cpu": measured.cpu,
        "cpu_main": measured.cpu_main,
    }


def bench_api(
    scale: int,
    work: Path,
    args: argparse.Namespace,
    pg: Postgres | None,
    load: api.LoadSettings,
    commands: list[str],
) -> dict[str, Any]:
    print(f"api: {scale:,} articles", flush=True)
    corpus_name = f"corpus-{scale}"
    sqlite_url = f"sqlite:///{work / f'catalogue-{corpus_name}.db'}"
    entry: dict[str, Any] = {"scale": scale, "servers": {}, "paths": {}}
    logs = work / "logs"
    logs.mkdir(exist_ok=True)

    def run(key: str, server: api.Server, make_queries: Any) -> dict[str, str]:
        print(f" {key}", flush=True)
        _record(commands, server)
        with server:
            queries: dict[str, str] = make_queries(server.base)
            results = api.run_queries(server.base, queries, load)
        entry["servers"][key] = {name: dataclasses.asdict(r) for name, r in results.items()}
        entry.setdefault("load", {})[key] = os.getloadavg()[0]
        entry["paths"][key] = queries
        return queries

    picked: list[api.Params] = []

    def ours_from(base: str) -> dict[str, str]:
        picked.append(api.pick_params(base))
        return api.newscat_queries(base, picked[0])

    server = api.newscat_server(
        sqlite_url, api.free_port(), logs / "newscat-sqlite.log", cache=False
    )
    ours = run("newscat_sqlite", server, ours_from)
    params = picked[0]
    entry["params"] = dataclasses.asdict(params)
    cached = api.newscat_server(
        sqlite_url, api.free_port(), logs / "newscat-cached.log", cache=True
    )
    run("newscat_sqlite_cached", cached, lambda base: ours)
    if not args.skip_datasette:
        db_dir = work / f"datasette-{scale}"
        db_dir.mkdir(exist_ok=True)
        start = time.perf_counter()
        db_file = datasette_db.build(work / f"catalogue-{corpus_name}.db", db_dir / "db.db")
        entry["datasette_build_seconds"] = time.perf_counter() - start
        server = api.datasette_server(db_file, api.free_port(), logs / "datasette.log")
        run("datasette", server, lambda base: api.datasette_queries(base, params))
    if pg is not None:
        pg.analyze()
        server = api.newscat_server(pg.url, api.free_port(), logs / "newscat-pg.log", cache=False)
        run("newscat_postgres", server, lambda base: ours)
        pg.drop()
    return entry


def _record(commands: list[str], server: api.Server) -> None:
    parts = [Path(p).name if p.startswith(str(api.BIN)) else p for p in server.command]
    shown = " ".join("PORT" if p == str(server.port) else p for p in parts)
    if server.env and server.env.get("NEWSCAT_RESULT_CACHE_SIZE") == "0":
        shown = "NEWSCAT_RESULT_CACHE_SIZE=0 " + shown
    if shown not in commands:
        commands.append(shown)


class Postgres:
    """A throwaway `newscat_bench` database on the machine's PostgreSQL."""

    def __init__(self, admin_url: str) -> None:
        self.admin = admin_url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.url = admin_url.rsplit("/", 1)[0] + "/" + PG_DATABASE
        try:
            with psycopg.connect(self.admin, connect_timeout=5) as conn:
                self.version = str(conn.execute("SHOW server_version").fetchone()[0])
        except psycopg.Error as exc:
            raise SystemExit(
                f"bench: PostgreSQL at {self.admin} is unreachable ({exc}); "
                "start it or pass --skip-postgres"
            ) from None

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(sql)

    def create(self) -> None:
        self.drop()
        self._admin(f"CREATE DATABASE {PG_DATABASE}")

    def drop(self) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")

    def analyze(self) -> None:
        # Autovacuum would do this within a minute of the load; doing it now makes runs alike.
        with psycopg.connect(self.url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("ANALYZE")


def machine(pg: Postgres | None) -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:  # absent with --skip-api, which installs no load generator
        wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        wrk = subprocess.CompletedProcess(["wrk"], 127, "", "")
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    status = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "app", "migrations"],
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "nproc": os.cpu_count(),
        "ram_bytes": psutil.virtual_memory().total,
        "cpu": model or platform.processor(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg.version if pg else None,
        "datasette": importlib.metadata.version("datasette"),
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else None,
        "commit": commit.stdout.strip(),
        "dirty": bool(status.stdout.strip()),
        "load_before": os.getloadavg(),
    }


def code_fingerprint() -> str:
    """A digest of the code under test: git's HEAD plus every file under app/ and migrations/."""
    digest = hashlib.sha256()
    for path in sorted([*REPO.glob("app/**/*.py"), *REPO.glob("migrations/**/*.py")]):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


if __name__ == "__main__":
    main()
