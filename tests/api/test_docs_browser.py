"""`/docs` and `/redoc` render in a real headless browser, on the app's own assets only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.shell_fixtures import free_port, ingest, write_corpus

pytestmark = pytest.mark.browser

STARTUP_SECONDS = 30
BROWSER_SECONDS = 120
STATIC_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium binary on PATH (`make browser` installs Debian's chromium)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, over a small SQLite catalogue."""
    root = tmp_path_factory.mktemp("docs-browser")
    url = f"sqlite:///{root / 'catalogue.db'}"
    ingest(url, write_corpus(root / "corpus", count=20))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "NEWSCAT_LOG_LEVEL": "warning"}
    command = [
        sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base, process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with status {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # between polls, not a guess at readiness
    pytest.fail(f"the server did not answer /healthz within {STARTUP_SECONDS} s")


def _dump_dom(url: str, profile: Path) -> str:
    command = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
        "--dump-dom", url,
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=BROWSER_SECONDS, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_assets_are_served_locally(server: str) -> None:
    for name in STATIC_ASSETS:
        response = httpx.get(f"{server}/static/{name}")
        assert response.status_code == 200, name
        assert len(response.content) > 10_000, name
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{server}{page}").text
        assert "cdn." not in html and "googleapis" not in html, page
        assert "/static/" in html


def test_swagger_ui_renders_the_operations(server: str, tmp_path: Path) -> None:
    dom = _dump_dom(f"{server}/docs", tmp_path / "profile")
    assert "swagger-ui" in dom
    assert dom.count("opblock") > 10, dom[:2000]
    for path in ("/api/v1/articles", "/api/v1/feed.atom", "/api/v1/export.csv", "/readyz"):
        assert path in dom, path


def test_redoc_renders_the_operations(server: str, tmp_path: Path) -> None:
    dom = _dump_dom(f"{server}/redoc", tmp_path / "profile")
    for title in ("List and search articles", "Atom feed", "Export as CSV", "Catalogue figures"):
        assert title in dom, title
