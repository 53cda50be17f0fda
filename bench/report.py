"""docs/benchmarks.md from one run's results (the dict that bench.run saves as results.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.api import DATASETTE_SETTINGS, QUERIES, QUERY_LABELS, UNREACHABLE
from bench.ingest import in_memory

SERVERS = {
    "newscat_sqlite": "newscat, SQLite",
    "newscat_sqlite_cached": "newscat, SQLite, response cache on",
    "datasette": "Datasette",
    "newscat_postgres": "newscat, PostgreSQL",
}
GiB, MiB = 2**30, 2**20
DIRTY_NOTE = " plus uncommitted changes (the code digest below names what ran)"


def write(path: Path, results: dict[str, Any]) -> None:
    sections = [_intro(results), _machine(results), _ingest(results), _api(results)]
    sections.append(_targets(results))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(s for s in sections if s).rstrip() + "\n")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ms(value: float | None) -> str:
    if value is None or value == float("inf"):
        return "-" if value is None else "failed"
    return f"{value:.2f}" if value < 10 else f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _intro(r: dict[str, Any]) -> str:
    load = r["load"]
    s = r["settings"]
    commands = "\n".join(r["commands"])
    return f"""# Benchmarks

Measured by `make bench` (`{" ".join(r["argv"])}`) from {r["started"]} to {r.get("finished", "?")}:
the ingest against its parse floor, and the API against Datasette serving the same data, side
by side in one run on one machine. This file is written by the harness (`bench/`) from what it
measured; nothing here is typed by hand.

**The figures are noisy.** The machine has {r["machine"]["nproc"]} CPUs and is shared with other
engineers' builds and tests (load average {_load(r["machine"]["load_before"])} at the start,
{_load(r.get("load_after"))} at the end); wrk, the server and PostgreSQL also share those CPUs.
Compare columns within one run rather than with other runs.

## How to reproduce

```sh
make bench                                    # 10k, 100k and 1M articles (about an hour)
.venv/bin/python -m bench.run --scales 10000  # a quick run
.venv/bin/python -m bench.run --help          # --skip-datasette, --postgres-scales, ...
```

Catalogues and logs live in `--work-dir` ({s["work_dir"]}), corpora in `--corpus-dir`
({s.get("corpus_dir", s["work_dir"])}, {_where_corpora(s)}); a generated corpus is reused when it is
already there with the right count. The commands this run executed (`PORT` is a free
loopback port picked per server):

```sh
{commands}
wrk -t1 -c4 -d{load["warmup"]}s URL  # warm-up
{_wrk(load["threads"], load["connections"], load["duration"])}  # throughput
{_wrk(1, 1, load["latency_duration"])}  # latency
```

- **Parse floor** (`python -m bench.ingest`): the same files, walked the same way, read and their
  front matter parsed with `yaml.load(text, Loader=yaml.CSafeLoader)` on the same number of
  spawned worker processes (chunks of 64 paths), doing nothing else. Both it and `newscat ingest`
  {_timing(s)} The floor runs before and after the SQLite ingest, and the
  ingest's first load twice in between (the second into another new catalogue); each counts
  as the mean of its two runs{_single_runs(s)}; "load avg" is the machine's
  1-minute load average during each run (on {r["machine"]["nproc"]} CPUs: anything above that
  means the run was waiting for a CPU).
  "CPU s" is the user + system time of the whole process tree (from `getrusage`), and in
  brackets that of the ingest's main process alone, which writes to the database while the
  workers parse: on a machine where the floor already keeps every CPU busy, that time is the
  ingest's cost over the floor. "% of floor by CPU time" is the floor's CPU time over the
  ingest's: what "% of floor" would be on a machine whose CPUs the floor already saturates, and
  much less sensitive than wall time to what else the machine is doing.
- **Peak memory** is the largest sum of RSS over the ingest process and all its children, polled
  every 0.1 s with psutil (the time is taken when the process exits, not at the next poll).
- **First load**: a new SQLite catalogue starts as a copy of an empty one that Alembic builds
  once per machine and schema (`make setup` builds it); {_template(r.get("template"))}
- **API**: one uvicorn worker (`newscat serve --workers 1`); Datasette
  {_settings()} in immutable mode. Throughput is
  wrk's requests/s at {load["connections"]} connections; latency p50/p99 comes from a separate
  one-connection run, so it is the time to answer, not time spent queueing behind
  {load["connections"] - 1} other requests (the {load["connections"]}-connection percentiles are
  listed too). newscat runs with its per-process response cache off
  (`NEWSCAT_RESULT_CACHE_SIZE=0`) so that every request runs its queries, as Datasette's do;
  what it keeps per catalogue version whatever that setting (page totals and facet counts,
  plan choices, a search's ranked order) is computed by a query's first request, listed on its
  own. The "cache on" column is the default configuration, where a repeated URL is answered
  from memory (a best case: wrk repeats one URL, so every request after the first is a hit; a
  stream of varied queries pays the cache-off figures on each miss, or the first-request
  figures for filters new to the catalogue version). The targets are judged on both.
- **Datasette's data**: one denormalised `articles` table built from the newscat SQLite catalogue
  (id, url, title, excerpt, published_at, quality, heat, published, removed, type, category,
  provider_name, provider_domain, topics as JSON text, image), the catalogue's indexes on those
  columns, and an external-content FTS5 table over title and excerpt (as `sqlite-utils
  enable-fts` makes it). The build time is in the API tables below.
- **PostgreSQL**: the same corpus ingested by `newscat ingest` into a fresh `newscat_bench`
  database (dropped at the end), `ANALYZE`d before its API run as autovacuum would; at the
  scales {", ".join(f"{n:,}" for n in s.get("postgres_scales", [])) or "none"}
  (`--postgres-scales`)."""


def _wrk(threads: int, connections: int, seconds: int) -> str:
    return f"wrk -t{threads} -c{connections} -d{seconds}s --latency --timeout 30s URL"


def _corpora_in_memory(settings: dict[str, Any]) -> bool:
    return in_memory(Path(settings.get("corpus_dir", settings["work_dir"])))


def _where_corpora(settings: dict[str, Any]) -> str:
    return "in memory" if _corpora_in_memory(settings) else "on disk"


def _single_runs(settings: dict[str, Any]) -> str:
    # Results written before the option's default changed hold 1,000,000 as theirs.
    fewest = settings.get("single_floor_from", 1_000_000)
    if fewest is None:
        return ""
    return f" (one run of each for corpora of\n  {fewest:,} files or more)"


def _timing(settings: dict[str, Any]) -> str:
    if _corpora_in_memory(settings):
        return (
            "are timed from process start to exit, reading the corpus from memory (a tmpfs), "
            "so\n  neither waits for the disk however long the run."
        )
    return (
        "are timed from process start to exit, each right after an untimed read of every "
        "file of a\n  corpus of up to 200,000 files (the machine pages out file cache left "
        "untouched for about a\n  minute, so whichever run came first would otherwise pay "
        "the disk reads; a larger corpus does\n  not stay cached for a whole run: give "
        "`--corpus-dir` a tmpfs with room for it)."
    )


def _template(template: dict[str, Any] | None) -> str:
    if template is None:
        return "this run did not prepare it, so the first\n  SQLite ingest paid for building it."
    if template["path"] is None:
        return (
            "this run could not build it (cache not\n  writable), so first loads ran the "
            "regular way."
        )
    how = "built it first" if template["built_now"] else "found it already built"
    return (
        f"this run {how} ({template['seconds']:.2f} s), before any timed\n"
        "  run, as it would be on a machine where newscat was set up and used before."
    )


def _settings() -> str:
    return " ".join(f"`--setting {k} {v}`" for k, v in DATASETTE_SETTINGS.items())


def _load(value: Any) -> str:
    return " / ".join(f"{x:.1f}" for x in value) if value else "?"


def _machine(r: dict[str, Any]) -> str:
    m = r["machine"]
    rows = [
        ["CPUs (nproc)", str(m["nproc"])],
        ["CPU model", m["cpu"]],
        ["RAM", f"{m['ram_bytes'] / GiB:.1f} GiB"],
        ["OS", m["os"]],
        ["Python", m["python"]],
        ["SQLite", m["sqlite"]],
        ["PostgreSQL", m["postgresql"] or "not measured"],
        ["Datasette", m["datasette"]],
        ["wrk", m["wrk"] or "?"],
        ["newscat commit", f"`{m['commit']}`" + (DIRTY_NOTE if m.get("dirty") else "")],
        ["ingest workers", str(r["settings"]["workers"])],
    ]
    stages = r.get("code", [])
    if stages:
        prints = {s["fingerprint"] for s in stages}
        if len(prints) == 1:
            text = f"`{stages[0]['fingerprint']}` throughout the run"
        else:
            text = (
                "**changed during the run** (other engineers work in the same tree): "
                + ", ".join(f"{s['stage']} `{s['fingerprint']}`" for s in stages)
            )
        rows.append(["code under test (digest of app/, migrations/)", text])
    return "## Machine\n\n" + _table(["", ""], rows)


def _run_cell(fig: dict[str, Any] | None) -> str:
    if not fig:
        return "-"
    seconds = fig["seconds"]
    shown = f"{seconds:.2f}" if seconds < 10 else f"{seconds:,.1f}"
    return f"{shown} s ({_n(fig['files_per_s'])} files/s)"


def _pct(part: dict[str, Any] | None, whole: dict[str, Any]) -> float | None:
    if not part or not part.get("files_per_s") or not whole.get("files_per_s"):
        return None
    return 100 * part["files_per_s"] / whole["files_per_s"]


def _cpu_pct(part: dict[str, Any], whole: dict[str, Any]) -> float | None:
    if not part.get("cpu") or not whole.get("cpu"):
        return None
    return float(100 * whole["cpu"] / part["cpu"])


def _ratio(first: dict[str, Any] | None, again: dict[str, Any] | None) -> float | None:
    if not first or not again or not again["seconds"]:
        return None
    return float(first["seconds"] / again["seconds"])


def _ingest(r: dict[str, Any]) -> str:
    if not r["ingest"]:
        return ""
    out = ["## Ingest"]
    header = [
        "corpus",
        "files",
        "parse floor",
        "newscat ingest",
        "% of floor",
        "% of floor by CPU time",
        "unchanged re-ingest",
        "first / re-ingest",
        "peak RSS (tree)",
        "CPU s: floor / ingest (main process)",
        "load avg (floor / ingest)",
    ]
    for backend, title in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        rows = []
        for e in r["ingest"]:
            runs = e.get(backend)
            if not runs:
                continue
            first, again = runs["first"], runs["again"]
            rows.append(
                [
                    e["corpus"],
                    _n(e["files"]),
                    _run_cell(e["floor"]),
                    _run_cell(first),
                    f"{_n(_pct(first, e['floor']))} %",
                    f"{_n(_cpu_pct(first, e['floor']))} %",
                    _run_cell(again),
                    f"{_n(_ratio(first, again), 1)}x",
                    f"{first['peak_rss'] / MiB:,.0f} MiB",
                    f"{_n(e['floor'].get('cpu'), 1)} / {_n(first.get('cpu'), 1)} "
                    f"({_n(first.get('cpu_main'), 1)})",
                    f"{_n(e['floor'].get('load'), 1)} / {_n(first.get('load'), 1)}",
                ]
            )
        if rows:
            out.append(f"### Into {title}\n\n" + _table(header, rows))
    extra = [
        f"- {e['corpus']}: generated in {e['generate_seconds']:,.0f} s"
        for e in r["ingest"]
        if e.get("generate_seconds")
    ]
    extra += [
        f"- {e['corpus']}: parse floor peak RSS {e['floor']['peak_rss'] / MiB:,.0f} MiB; "
        f"SQLite catalogue {e['sqlite']['database_bytes'] / MiB:,.0f} MiB; re-ingest peak RSS "
        f"{e['sqlite']['again']['peak_rss'] / MiB:,.0f} MiB"
        for e in r["ingest"]
    ]
    out.append("\n".join(extra))
    return "\n\n".join(out)


def _api(r: dict[str, Any]) -> str:
    if not r["api"]:
        return ""
    out = ["## API"]
    for e in r["api"]:
        out.append(_api_scale(e, r["load"]))
    out.append(_scaling(r))
    out.append(_urls(r["api"][-1]))
    return "\n\n".join(out)


def _q(e: dict[str, Any], server: str, query: str) -> dict[str, Any] | None:
    result = e["servers"].get(server, {}).get(query)
    return result if result and result.get("throughput") else None


def _speedup(e: dict[str, Any], query: str, server: str = "newscat_sqlite") -> float | None:
    """newscat's requests/s over Datasette's; infinite when only Datasette cannot answer."""
    ours, theirs = _q(e, server, query), _q(e, "datasette", query)
    if ours and _failed(e, "datasette", query):
        return float("inf")
    if not ours or not theirs or not theirs["throughput"]["rps"]:
        return None
    return float(ours["throughput"]["rps"] / theirs["throughput"]["rps"])


def _failed(e: dict[str, Any], server: str, query: str) -> str | None:
    result = e["servers"].get(server, {}).get(query)
    return result.get("error") if result else None


def _api_scale(e: dict[str, Any], load: dict[str, Any]) -> str:
    servers = [s for s in SERVERS if s in e["servers"]]
    p = e["params"]
    lines = [f"### {e['scale']:,} articles"]
    lines.append(
        f"Query values picked from this catalogue: topic `{p['topic']}`, provider "
        f"`{p['provider']}`, word `{p['word']}`, dates {p['date_from']} to {p['date_to']}, "
        f"min quality {p['min_quality']}, article `{p['detail_id']}`."
        + (
            f" Datasette's database took {e['datasette_build_seconds']:,.1f} s to build."
            if "datasette_build_seconds" in e
            else ""
        )
    )
    header = ["query", *[SERVERS[s] for s in servers]]
    has_ds = "datasette" in servers

    def cell(server: str, query: str, value: Any) -> str:
        if _failed(e, server, query):
            return "failed"
        res = _q(e, server, query)
        if not res:
            return "-"
        return value(res) + (" (c1)" if res.get("slow") else "")

    rows = []
    for q in QUERIES:
        row = [QUERY_LABELS[q]]
        row += [cell(s, q, lambda res: _n(res["throughput"]["rps"])) for s in servers]
        if has_ds:
            for server in ("newscat_sqlite", "newscat_sqlite_cached"):
                speedup = _speedup(e, q, server)
                row.append("Datasette failed" if speedup == float("inf") else f"{_n(speedup, 1)}x")
            totals = [
                e["servers"][s].get(q, {}).get("total") for s in ("newscat_sqlite", "datasette")
            ]
            row.append(" / ".join(_n(t) for t in totals) if q != "detail" else "")
        rows.append(row)
    extra = (
        [
            "newscat SQLite / Datasette",
            "newscat, cache on / Datasette",
            "matches (newscat / Datasette)",
        ]
        if has_ds
        else []
    )
    lines.append(
        f"Requests per second (wrk, {load['connections']} connections; (c1): one connection, "
        "the query being too slow for concurrent load):\n\n" + _table(header + extra, rows)
    )
    for key, title in (
        ("latency", "one connection"),
        ("throughput", f"{load['connections']} connections"),
    ):
        rows = []
        for q in QUERIES:
            row = [QUERY_LABELS[q]]
            row += [
                cell(s, q, lambda res, k=key: f"{_ms(res[k]['p50_ms'])} / {_ms(res[k]['p99_ms'])}")
                for s in servers
            ]
            rows.append(row)
        lines.append(f"Latency p50 / p99 in ms, {title}:\n\n" + _table(header, rows))
    cold = [s for s in servers if s != "newscat_sqlite_cached"]  # the same work as cache off
    rows = [
        [QUERY_LABELS[q], *[cell(s, q, lambda res: _ms(res["first_ms"])) for s in cold]]
        for q in QUERIES
    ]
    lines.append(
        "First request of each query in ms (one request on a new connection, before any load: "
        "what newscat keeps per catalogue version for these filters, its counts, plan and a "
        "search's ranking, is computed here):\n\n"
        + _table(["query", *[SERVERS[s] for s in cold]], rows)
    )
    notes = [
        f"- {SERVERS[s]}, {QUERY_LABELS[q]}: no answer ({reason})"
        for s in servers
        for q in QUERIES
        if (reason := _failed(e, s, q))
    ]
    notes += [
        f"- {SERVERS[s]}, {QUERY_LABELS[q]}: {res['throughput']['bad']} + "
        f"{res['latency']['bad']} failed requests (non-2xx or socket errors)"
        for s in servers
        for q in QUERIES
        if (res := _q(e, s, q)) and (res["throughput"]["bad"] or res["latency"]["bad"])
    ]
    if e.get("load"):
        notes.append(
            "- 1-minute load average at the end of each server's run: "
            + ", ".join(f"{SERVERS[s]} {v:.1f}" for s, v in e["load"].items())
        )
    if notes:
        lines.append("\n".join(notes))
    return "\n\n".join(lines)


def _scaling(r: dict[str, Any]) -> str:
    if len(r["api"]) < 2:
        return ""
    scales = r["api"]
    small, large = scales[0], scales[-1]
    header = [
        "query",
        *[f"{e['scale']:,}" for e in scales],
        f"{large['scale']:,} / {small['scale']:,}",
    ]
    rows = []
    for q in QUERIES:
        p50s = [(_q(e, "newscat_sqlite", q) or {}).get("latency", {}).get("p50_ms") for e in scales]
        ratio = p50s[-1] / p50s[0] if p50s[0] and p50s[-1] else None
        rows.append([QUERY_LABELS[q], *[_ms(v) for v in p50s], f"{_n(ratio, 1)}x"])
    return "### Scaling: newscat on SQLite, p50 ms (one connection) by catalogue size\n\n" + _table(
        header, rows
    )


def _urls(e: dict[str, Any]) -> str:
    paths = e["paths"]
    ours, theirs = paths.get("newscat_sqlite", {}), paths.get("datasette", {})

    def shown(path: str) -> str:
        return f"none: {path[1:]}" if path.startswith(UNREACHABLE) else f"`{path}`"

    rows = [[QUERY_LABELS[q], shown(ours.get(q, "-")), shown(theirs.get(q, "-"))] for q in QUERIES]
    return (
        f"### The URLs ({e['scale']:,} articles)\n\nEach newscat query and the Datasette URL "
        "taken as its equivalent. Datasette has no relevance ranking in its table view, so "
        "its full-text page comes in rowid order; newscat ranks by relevance. Datasette's "
        "detail is its one denormalised row, newscat's also carries images, related entries "
        "and source files.\n\n" + _table(["query", "newscat", "Datasette"], rows)
    )


def _targets(r: dict[str, Any]) -> str:
    rows: list[list[str]] = []

    def add(target: str, measured: str, ok: bool | None) -> None:
        rows.append(
            [target, measured, "not measured" if ok is None else "met" if ok else "**missed**"]
        )

    for e in r["ingest"]:
        pct = _pct(e["sqlite"]["first"], e["floor"])
        add(
            f"ingest ≥ 85 % of parse floor ({e['corpus']}, SQLite)",
            f"{_n(pct)} % (by CPU time {_n(_cpu_pct(e['sqlite']['first'], e['floor']))} %)",
            None if pct is None else pct >= 85,
        )
    for e in r["ingest"]:
        ratio = _ratio(e["sqlite"]["first"], e["sqlite"]["again"])
        add(
            f"unchanged re-ingest ≥ 20x faster ({e['corpus']}, SQLite)",
            f"{_n(ratio, 1)}x",
            None if ratio is None else ratio >= 20,
        )
    peaks = {e.get("scale"): e["sqlite"]["first"]["peak_rss"] for e in r["ingest"]}
    if 100_000 in peaks and 1_000_000 in peaks:
        growth = peaks[1_000_000] / peaks[100_000]
        add(
            "peak memory at 1M files ≤ 1.5x that at 100k",
            f"{peaks[1_000_000] / MiB:,.0f} / {peaks[100_000] / MiB:,.0f} MiB = {growth:.2f}x",
            growth <= 1.5,
        )
    else:
        add("peak memory at 1M files ≤ 1.5x that at 100k", "needs scales 100000 and 1000000", None)
    if r["api"]:
        _api_targets(r["api"], add)
    return "## Targets\n\n" + _table(["target", "measured", ""], rows)


def _api_targets(scales: list[dict[str, Any]], add: Any) -> None:
    for server, config in (
        ("newscat_sqlite_cached", "default configuration"),
        ("newscat_sqlite", "response cache off"),
    ):
        if all(server in e["servers"] for e in scales):
            _api_targets_of(scales, add, server, config)


def _api_targets_of(scales: list[dict[str, Any]], add: Any, server: str, config: str) -> None:
    large, small = scales[-1], scales[0]
    at = f"{large['scale']:,} articles"
    p50s = {q: res["latency"]["p50_ms"] for q in QUERIES if (res := _q(large, server, q))}
    p50s |= {q: float("inf") for q in QUERIES if _failed(large, server, q)}
    slow = {q: v for q, v in p50s.items() if v >= 10}
    add(
        f"every query p50 < 10 ms on SQLite ({at}, one connection; {config})",
        _worst(p50s, slow, lambda v: f"{_ms(v)} ms", highest=True),
        not slow if p50s else None,
    )
    for e in scales:
        if "datasette" not in e["servers"]:
            add("every query ≥ 2x Datasette's requests/s", "Datasette skipped", None)
            continue
        ratios = {q: v for q in QUERIES if (v := _speedup(e, q, server)) is not None}
        ratios |= {q: 0.0 for q in QUERIES if _failed(e, server, q)}
        short = {q: v for q, v in ratios.items() if v < 2}
        add(
            f"every query ≥ 2x Datasette's requests/s ({e['scale']:,} articles; {config})",
            _worst(ratios, short, _times, highest=False),
            not short,
        )
    if len(scales) < 2:
        add("p50 at the largest scale ≤ 2x p50 at the smallest", "needs two scales", None)
        return
    growth = {}
    for q in QUERIES:
        a, b = _q(small, server, q), _q(large, server, q)
        if a and b and a["latency"]["p50_ms"]:
            growth[q] = b["latency"]["p50_ms"] / a["latency"]["p50_ms"]
    over = {q: v for q, v in growth.items() if v > 2}
    add(
        f"p50 at {large['scale']:,} ≤ 2x p50 at {small['scale']:,} (SQLite, every query; {config})",
        _worst(growth, over, lambda v: f"{v:.1f}x", highest=True),
        not over,
    )


def _times(value: float) -> str:
    return "Datasette failed" if value == float("inf") else f"{value:.1f}x"


def _worst(values: dict[str, float], failing: dict[str, float], fmt: Any, *, highest: bool) -> str:
    if not values:
        return "-"
    pick = max if highest else min
    worst = pick(values, key=lambda q: values[q])
    text = f"worst: {QUERY_LABELS[worst]} {fmt(values[worst])}"
    if failing:
        text += "; missed by " + ", ".join(
            f"{QUERY_LABELS[q]} ({fmt(v)})" for q, v in failing.items()
        )
    return text
