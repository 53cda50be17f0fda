"""docker-compose.yml, checked without a Docker engine: the file is valid and each
service's own command runs against the local PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.synth import generate_corpus
from tests.catalogue import article_count

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_is_valid(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"db", "ingest", "api"}
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["ingest"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["ingest"]["restart"] == "no"
    assert any(v.endswith(":/articles:ro") for v in services["ingest"]["volumes"])
    api = services["api"]
    assert api["depends_on"]["ingest"]["condition"] == "service_completed_successfully"
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    assert int(api["command"][api["command"].index("--workers") + 1]) > 1
    for name in ("ingest", "api"):
        url = services[name]["environment"]["DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://") and "@db:5432/" in url
    assert (ROOT / "Dockerfile").is_file()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


@pytest.mark.backends("postgresql")
def test_services_commands_run_against_local_postgres(
    compose: dict[str, Any], database_url: str, tmp_path: Path
) -> None:
    articles = tmp_path / "articles"
    generate_corpus(articles, 60, seed=21)
    (articles / "broken.md").write_text("---\ntitle: [unclosed\n---\n", encoding="utf-8")
    env = _env(database_url)

    # The one-shot job: its shell script, with the mounted folder where we made it.
    script = compose["services"]["ingest"]["command"][2].replace("$$", "$")
    script = script.replace("/articles", str(articles))
    ingest = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
    assert ingest.returncode == 0, ingest.stderr  # one rejected file still counts as done
    assert "1 rejected" in ingest.stdout
    assert article_count(database_url) > 50

    # The API with several workers, judged by its own health check.
    port = _free_port()
    command = compose["services"]["api"]["command"]
    command = [
        *command[: command.index("--port") + 1],
        str(port),
        *command[command.index("--port") + 2 :],
    ]
    command[command.index("--host") + 1] = "127.0.0.1"
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        check = compose["services"]["api"]["healthcheck"]["test"][1:]
        check = [part.replace("8000", str(port)) for part in check]
        ready = False
        for _ in range(200):
            if server.poll() is not None:
                break
            if subprocess.run(check, env=env, capture_output=True).returncode == 0:
                ready = True
                break
            threading.Event().wait(0.1)
        assert ready, "the API never passed its health check"
        stats = httpx.get(f"http://127.0.0.1:{port}/api/v1/stats", timeout=10).json()
        assert stats["articles"] == article_count(database_url)
    finally:
        server.terminate()
        server.wait(30)
