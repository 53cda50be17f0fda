"""Ingest benchmarks: corpora, the parse floor, and timed runs of `newscat ingest`.

Run as `python -m bench.ingest ROOT --workers N` it is the parse floor itself: read every
article file under ROOT and parse its front matter with libyaml on N processes, nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from itertools import islice
from multiprocessing import get_context
from pathlib import Path

import psutil
import yaml

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".yaml"})
MARKER = ".bench-corpus.json"
CHUNK = 64
BIN = Path(sys.executable).parent
NEWSCAT = str(BIN / "newscat")


@dataclass
class Measured:
    command: list[str]
    seconds: float
    peak_rss: int  # bytes, summed over the process and all its descendants
    returncode: int
    stdout: str
    stderr: str
    load: float  # the machine's mean 1-minute load average while it ran (noise indicator)
    cpu: float  # CPU seconds (user + system) of the whole process tree
    cpu_main: float  # CPU seconds of the main process alone (last sample before it exited)


def measure(command: Sequence[str], *, env: dict[str, str] | None = None) -> Measured:
    """Run a command; wall time and the peak RSS of its whole process tree (psutil polling)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = psutil.Popen(list(command), stdout=out, stderr=err, env=env)
        peak, loads, cpu_main = 0, [], 0.0
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc))
            loads.append(os.getloadavg()[0])
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                cpu_main = times.user + times.system
            # Returns as soon as the command exits: a sleep here would round every time up
            # to the next tenth of a second (a 0.11 s re-ingest measured as 0.2 s).
            with contextlib.suppress(psutil.TimeoutExpired):
                proc.wait(timeout=0.1)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
        out.seek(0)
        err.seek(0)
        return Measured(
            list(command),
            seconds,
            peak,
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            sum(loads) / len(loads) if loads else os.getloadavg()[0],
            cpu,
            cpu_main,
        )


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def ensure_corpus(work_dir: Path, count: int, seed: int, log: list[str]) -> tuple[Path, float]:
    """A synthetic corpus of `count` files under work_dir, reused when already complete.

    Returns the folder and the seconds spent generating it (0 when reused).
    """
    root = work_dir / f"corpus-{count}"
    marker = root / MARKER
    wanted = {"count": count, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return root, 0.0
    if root.exists():  # an interrupted or different corpus: start again
        shutil.rmtree(root)
    command = [NEWSCAT, "generate", str(root), "--count", str(count), "--seed", str(seed)]
    log.append(_shell(command))
    print(f"generating {count} files into {root} ...", flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    marker.write_text(json.dumps(wanted))
    return root, seconds


def copy_real_corpus(source: Path, work_dir: Path) -> Path | None:
    """A scratch copy of the real-format corpus (never inside the repository), or None."""
    if not source.is_dir():
        return None
    target = work_dir / "corpus-powerapps"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    return target


WARM_MAX_FILES = 200_000
MEMORY_DIR = Path("/dev/shm")
# Room the corpora need in memory: 1M files of a few KiB take a 4 KiB page each.
MEMORY_NEEDED = 8 * 2**30


def default_corpus_dir() -> Path | None:
    """Memory-backed storage for the corpora when the machine has it with room to spare.

    Files there never wait for the disk: the ingest and the parse floor read the same bytes
    from memory however long the run, where on disk a corpus too large for the page cache
    (or paged out meanwhile) would time the disk instead.
    """
    try:
        free = shutil.disk_usage(MEMORY_DIR).free
    except OSError:
        return None
    return MEMORY_DIR / "newscat-bench" if free >= MEMORY_NEEDED else None


def in_memory(path: Path) -> bool:
    return path.resolve().is_relative_to(MEMORY_DIR)


def warm(root: Path) -> None:
    """Read every file once, untimed, so that the next run finds them in the page cache.

    The machine pages out cache that has not been touched for about a minute (DAMON
    reclaim), so whichever run came first after a pause would otherwise pay the disk reads.
    A larger corpus is left alone: a run takes minutes, so most of it would be paged out
    again before the run reached it, and reading it took longer than the run.
    """
    if in_memory(root):
        return  # never on disk
    paths = list(islice(walk(root), WARM_MAX_FILES + 1))
    if len(paths) > WARM_MAX_FILES:
        return
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass


def floor(root: Path, workers: int, log: list[str]) -> Measured:
    command = [sys.executable, "-m", "bench.ingest", str(root), "--workers", str(workers)]
    log.append(_shell(command))
    warm(root)
    result = measure(command)
    if result.returncode != 0:
        raise RuntimeError(f"parse floor failed: {result.stderr.strip()[-2000:]}")
    return result


def ingest(root: Path, database_url: str, workers: int, report: Path, log: list[str]) -> Measured:
    command = [NEWSCAT, "ingest", str(root), "--database-url", database_url]
    command += ["--workers", str(workers), "--report", str(report)]
    log.append(_shell(command))
    warm(root)
    result = measure(command)
    if result.returncode not in (0, 1):  # 1: some files were rejected, the rest went in
        raise RuntimeError(f"ingest failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result


def _shell(command: Sequence[str]) -> str:
    shown = [Path(part).name if part in (sys.executable, NEWSCAT) else part for part in command]
    return " ".join(shown)


# --- the parse floor itself (runs in its own process) --------------------------------------


def walk(root: Path) -> Iterator[str]:
    """Every article file under root, in the same order and with the same rules as the ingest."""
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in SUFFIXES:
                yield os.path.join(directory, name)


def _front_matter(text: str) -> str:
    body = text.split("\n", 1)[1] if text.startswith("---") else text
    return body.split("\n---", 1)[0]


def _parse_chunk(paths: list[str]) -> tuple[int, int]:
    parsed = failed = 0
    for path in paths:
        try:
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8-sig")
            yaml.load(_front_matter(text), Loader=yaml.CSafeLoader)
            parsed += 1
        except Exception:
            failed += 1
    return parsed, failed


def parse_floor(root: Path, workers: int) -> tuple[int, int]:
    paths = iter(walk(root))
    parsed = failed = 0
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        pending: set[Future[tuple[int, int]]] = set()
        while True:
            while len(pending) < workers * 4 and (chunk := list(islice(paths, CHUNK))):
                pending.add(pool.submit(_parse_chunk, chunk))
            if not pending:
                break
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                ok, bad = future.result()
                parsed += ok
                failed += bad
    return parsed, failed


def main() -> None:
    parser = argparse.ArgumentParser(description="Parse floor: read and parse, nothing else.")
    parser.add_argument("root", type=Path)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    parsed, failed = parse_floor(args.root, args.workers)
    print(json.dumps({"parsed": parsed, "failed": failed}))


if __name__ == "__main__":
    main()
