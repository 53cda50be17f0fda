"""The documented CLI, invoked as users do: exit codes, messages, reports, faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.db import make_engine
from app.ingest.lock import CatalogueBusy, writer_lock
from app.ingest.run import ingest_paths
from app.synth import generate_corpus
from tests.catalogue import article_count, canonical_dump, integrity_problems
from tests.command import invoke
from tests.hostile import write_hostile

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_every_command() -> None:
    result = invoke(["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "serve", "migrate", "demo", "stats", "generate"):
        assert command in result.output


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["ingest", "x", "--workers", "0"], "--workers"),
        (["ingest", "x", "--workers", "two"], "--workers"),
        (["ingest", "x", "--max-file-size", "0"], "--max-file-size"),
        (["ingest", "x", "--lock-timeout", "-1"], "--lock-timeout"),
        (["ingest"], "PATH"),
        (["serve", "--port", "http"], "--port"),
        (["generate", "d", "--count", "-1"], "--count"),
        (["ingest", "x", "--no-such-option"], "--no-such-option"),
        (["no-such-command"], "no-such-command"),
    ],
)
def test_usage_errors_exit_2_naming_the_argument(args: list[str], named: str) -> None:
    result = invoke(args)
    assert result.exit_code == 2
    assert named in result.output
    assert "Traceback" not in result.output


def test_no_command_prints_the_commands() -> None:
    result = invoke([])
    assert result.exit_code == 2
    assert "ingest" in result.output and "serve" in result.output


def test_hostile_files_are_rejected_and_good_files_ingest(
    database_url: str, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    generate_corpus(corpus / "good", 40, seed=11)
    hostile = write_hostile(corpus / "bad")
    report_path = tmp_path / "report.json"
    result = invoke(
        ["ingest", str(corpus), "--database-url", database_url, "--report", str(report_path)],
    )
    assert result.exit_code == 1, result.output
    report = json.loads(report_path.read_text())
    rejected = {Path(error["path"]).name: error for error in report["errors"]}
    assert set(rejected) == {path.name for path in hostile}
    for error in report["errors"]:
        assert error["reason"] and isinstance(error["reason"], str)
    assert report["counts"]["rejected"] == len(hostile)
    assert report["counts"]["new"] == 40
    assert article_count(database_url) == 40 - report["counts"]["duplicates"]
    assert integrity_problems(database_url) == []


def test_report_has_the_documented_shape(database_url: str, tmp_path: Path) -> None:
    generate_corpus(tmp_path / "c", 10, seed=12)
    report_path = tmp_path / "r.json"
    result = invoke(
        [
            "ingest",
            str(tmp_path / "c"),
            "--database-url",
            database_url,
            "--report",
            str(report_path),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert set(report) == {"counts", "errors", "duplicates"}
    assert set(report["counts"]) == {
        "new",
        "updated",
        "unchanged",
        "rejected",
        "duplicates",
        "pruned",
    }
    assert report["counts"]["new"] == 10
    assert "10 new" in result.output


def test_dry_run_writes_nothing(database_url: str, tmp_path: Path) -> None:
    generate_corpus(tmp_path / "c", 10, seed=13)
    result = invoke(["ingest", str(tmp_path / "c"), "--database-url", database_url, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "10 new" in result.output
    assert article_count(database_url) == 0


@pytest.mark.parametrize("command", [["-m", "app"], ["-c", "from app.cli import main; main()"]])
def test_script_exits_with_its_status_and_all_its_output(
    database_url: str, tmp_path: Path, command: list[str]
) -> None:
    """The script ends without the interpreter's teardown: nothing may be lost to that."""
    generate_corpus(tmp_path / "c" / "good", 6, seed=13)
    (tmp_path / "c" / "bad.md").write_text("---\ntitle: [unclosed\n---\n")
    report_path = tmp_path / "r.json"
    args = ["ingest", str(tmp_path / "c"), "--database-url", database_url]
    result = subprocess.run(
        [sys.executable, *command, *args, "--report", str(report_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    # Written to pipes (block-buffered), ending without the teardown.
    assert result.stdout.strip().endswith(
        "6 new, 0 updated, 0 unchanged, 1 rejected, 0 duplicates, 0 pruned"
    )
    assert json.loads(report_path.read_text())["counts"]["rejected"] == 1
    usage = subprocess.run(
        [sys.executable, *command, "ingest", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert usage.returncode == 2 and "no such file or directory" in usage.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    result = invoke(["ingest", str(tmp_path / "missing"), "--database-url", url])
    assert result.exit_code == 2
    assert "no such file or directory" in result.output
    assert "Traceback" not in result.output


def test_unreachable_database_exits_2(tmp_path: Path) -> None:
    generate_corpus(tmp_path / "c", 2, seed=14)
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = invoke(["ingest", str(tmp_path / "c"), "--database-url", url])
    assert result.exit_code == 2
    assert "cannot use the catalogue" in result.output
    assert "Traceback" not in result.output


def test_second_writer_waits_then_refuses(database_url: str, tmp_path: Path) -> None:
    generate_corpus(tmp_path / "c", 3, seed=15)
    engine = make_engine(database_url)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with writer_lock(engine, database_url, timeout=5):
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)
        with pytest.raises(CatalogueBusy):
            ingest_paths([tmp_path / "c"], database_url, workers=1, lock_timeout=0.3)
        result = invoke(
            [
                "ingest",
                str(tmp_path / "c"),
                "--database-url",
                database_url,
                "--lock-timeout",
                "0.3",
            ],
        )
        assert result.exit_code == 2 and "another ingest" in result.output
    finally:
        release.set()
        holder.join()
        engine.dispose()
    assert ingest_paths([tmp_path / "c"], database_url, workers=1).counts["new"] == 3


def test_kill_9_mid_ingest_then_rerun_is_complete(database_url: str, tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    generate_corpus(corpus, 1500, seed=16)
    command = [sys.executable, "-m", "app", "ingest", str(corpus), "--database-url", database_url]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        # Wait (bounded) until some batches are committed, then kill without warning.
        for _ in range(600):
            if process.poll() is not None:
                break
            try:
                if article_count(database_url) > 0:
                    break
            except Exception:  # schema not created yet
                pass
            threading.Event().wait(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    assert integrity_problems(database_url) == []
    partial = article_count(database_url)
    rerun = ingest_paths([corpus], database_url, workers=2)
    assert rerun.counts["rejected"] == 0
    assert integrity_problems(database_url) == []

    fresh = tmp_path / "fresh.db"
    ingest_paths([corpus], f"sqlite:///{fresh}", workers=2)
    expected = canonical_dump(f"sqlite:///{fresh}")
    got = canonical_dump(database_url)
    assert partial <= len(expected["articles"])
    # Across backends the column encodings differ; what the articles say must not.
    assert [row[:4] for row in got["articles"]] == [row[:4] for row in expected["articles"]]
    assert [row[:3] for row in got["topics"]] == [row[:3] for row in expected["topics"]]


def test_readme_commands_and_options_exist() -> None:
    """The README's command table and the CLI cannot drift apart."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `newscat ")]
    assert rows
    for row in rows:
        words = row.split("`")[1].split()
        command = words[1]
        help_text = invoke([command, "--help"]).output
        assert "usage:" in help_text, command
        for option in (w.strip("[]") for w in words if w.strip("[").startswith("--")):
            assert option in help_text, f"{command} {option}"


def _is_resource_tracker(process: object) -> bool:
    import psutil

    assert isinstance(process, psutil.Process)
    try:
        return "resource_tracker" in " ".join(process.cmdline())
    except psutil.Error:  # gone already: not a worker we could wait for
        return True


def test_parser_workers_die_with_a_killed_ingest(database_url: str, tmp_path: Path) -> None:
    """SIGKILL gives the ingest no chance to stop its workers: they must stop themselves."""
    import psutil

    generate_corpus(tmp_path / "c", 3000, seed=17)
    command = [sys.executable, "-m", "app", "ingest", str(tmp_path / "c"), "--workers", "2"]
    command += ["--database-url", database_url]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(process.pid)
    try:
        workers: list[psutil.Process] = []
        for _ in range(600):  # bounded wait until both parser workers are up
            # Forked (Linux) or spawned, every child but a resource tracker is a worker.
            workers = [c for c in parent.children() if not _is_resource_tracker(c)]
            if len(workers) == 2 or process.poll() is not None:
                break
            threading.Event().wait(0.05)
        assert len(workers) == 2
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []


def test_demo_builds_its_catalogue_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    command = [sys.executable, "-m", "app", "demo", "--directory", str(tmp_path / "d")]
    command += ["--count", "25", "--no-serve", "--database-url", url]
    first = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    assert "wrote 25 demo article files" in first.stdout
    assert "25 new, 0 updated, 0 unchanged" in first.stdout
    assert article_count(url) == 25 and integrity_problems(url) == []
    again = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert "wrote" not in again.stdout and "0 new, 0 updated, 25 unchanged" in again.stdout
