"""Every error path of every endpoint answers with the one problem+json shape, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.db import make_engine
from app.migrate import upgrade
from tests.api.shell_fixtures import (
    assert_problem,
    client_for,
    make_app,
    shared_catalogue,
    unreachable_url,
)

LISTING = "/api/v1/articles"
FILTERED = (
    LISTING,
    "/api/v1/feed.atom",
    "/api/v1/feed.rss",
    "/api/v1/feed.json",
    "/api/v1/export.csv",
    "/api/v1/export.ndjson",
)
SORTED = (LISTING, "/api/v1/export.csv", "/api/v1/export.ndjson")
NAMED = ("/api/v1/topics", "/api/v1/providers")
EVERY_GET = (
    *FILTERED,
    *NAMED,
    "/api/v1/stats",
    "/api/v1/articles/0123456789abcdef",
    "/api/v1/articles/0123456789abcdef/related",
)

# (parameter as named in `errors`, query string) that each filtered endpoint must refuse.
BAD_FILTERS = [
    ("q", "q=" + "a" * 501),
    ("q", "q=ai%00"),
    ("topic", "topic=AI&topic=%00"),
    ("exclude_topic", "exclude_topic=%00"),
    ("provider", "provider=%00"),
    ("exclude_provider", "exclude_provider=%00"),
    ("from", "from=yesterday"),
    ("from", "from=2021-07-28T12:00:00"),
    ("to", "to=2021-13-45"),
    ("from", "from=2021-08-01&to=2021-07-01"),
    ("min_quality", "min_quality=high"),
    ("max_quality", "max_quality=99999999999999999999"),
    ("min_heat", "min_heat=1.5"),
    ("max_heat", "max_heat=-99999999999999999999"),
    ("min_quality", "min_quality=9&max_quality=1"),
    ("published", "published=maybe"),
    ("type", "type=%00"),
    ("category", "category=%00"),
    ("url", "url=%00"),
    ("include_removed", "include_removed=perhaps"),
]
BAD_SORTING = [("sort", "sort=title"), ("sort", "sort=relevance"), ("sort", "sort=%00")]
BAD_PAGING = [
    ("limit", "limit=0"),
    ("limit", "limit=101"),
    ("limit", "limit=ten"),
    ("offset", "offset=-1"),
    ("offset", "offset=10001"),
    ("cursor", "cursor=not-a-cursor"),
    ("cursor", "cursor=abc&offset=20"),
    ("facet", "facet=colour"),
]
BAD_NAMED = [
    ("q", "q=" + "a" * 201),
    ("q", "q=a%00"),
    ("limit", "limit=0"),
    ("limit", "limit=10001"),
    ("limit", "limit=all"),
]


def _cases() -> list[tuple[str, str, str]]:
    cases = [(path, name, qs) for path in FILTERED for name, qs in BAD_FILTERS]
    cases += [(path, name, qs) for path in SORTED for name, qs in BAD_SORTING]
    cases += [(LISTING, name, qs) for name, qs in BAD_PAGING]
    cases += [(path, name, qs) for path in NAMED for name, qs in BAD_NAMED]
    return cases


@pytest.fixture(scope="module")
def client(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    with shared_catalogue(backend, request, tmp_path_factory) as url, client_for(url) as client:
        yield client


def test_every_bad_parameter_is_a_422_naming_it(client: TestClient) -> None:
    failures = []
    for path, name, query_string in _cases():
        response = client.get(f"{path}?{query_string}")
        try:
            body = assert_problem(response, 422)
            named = {error["parameter"] for error in body["errors"]}
            assert name in named, named
            assert all(error["message"] for error in body["errors"])
            assert response.headers["cache-control"] == "no-store"
        except AssertionError as exc:
            failures.append(f"{path}?{query_string[:60]}: {exc}")
    assert not failures, "\n".join(failures)


def test_several_bad_parameters_are_all_named(client: TestClient) -> None:
    response = client.get(f"{LISTING}?limit=0&published=maybe&min_heat=hot&sort=title")
    body = assert_problem(response, 422)
    assert {"limit", "published", "min_heat", "sort"} <= {e["parameter"] for e in body["errors"]}


@pytest.mark.parametrize(
    "path", ["/api/v1/articles/0123456789abcdef", "/api/v1/articles/nothex/related"]
)
def test_unknown_article_is_a_404(client: TestClient, path: str) -> None:
    assert_problem(client.get(path), 404)


@pytest.mark.parametrize("path", ["/nowhere", "/api/v1/nowhere", "/api/v2/articles", "/static/x"])
def test_unknown_path_is_a_404(client: TestClient, path: str) -> None:
    assert_problem(client.get(path), 404)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", [LISTING, "/api/v1/stats", "/api/v1/feed.atom", "/healthz"])
def test_wrong_method_is_a_405(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"] and "HEAD" in response.headers["allow"]


def test_hostile_values_are_answered_not_crashed(client: TestClient) -> None:
    hostile = [
        "%", "_", "%_%", "'", "\"", "' OR 1=1 --", "\\", "*", "-", "OR", "\"unclosed",
        "a OR", "-a", "NEAR(a b)", "a:b", "^", "()", "é", "🙂", "\u200b", "x" * 500,
    ]  # fmt: skip
    for value in hostile:
        for params in (
            {"q": value},
            {"topic": value},
            {"provider": value},
            {"type": value},
            {"url": value},
            {"category": value},
        ):
            response = client.get(LISTING, params=params)
            assert response.status_code in {200, 422}, (params, response.text)
            if response.status_code == 422:
                assert_problem(response, 422)
        for path in NAMED:
            response = client.get(path, params={"q": value[:200]})
            assert response.status_code == 200, (path, value, response.text)


def test_unexpected_errors_are_a_500_problem_without_internals(database_url: str) -> None:
    app = make_app(database_url)

    def explode() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.add_api_route("/api/v1/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/explode")
    body = assert_problem(response, 500)
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert body["title"] == "Internal Server Error"
    assert response.headers["cache-control"] == "no-store"


def test_unreachable_database_is_a_503_on_every_endpoint(backend: str, tmp_path: Path) -> None:
    with client_for(unreachable_url(backend, tmp_path)) as client:
        for path in EVERY_GET:
            response = client.get(path)
            body = assert_problem(response, 503)
            assert "unavailable" in body["detail"]
            assert response.headers["retry-after"].isdigit()
        assert_problem(client.get("/readyz"), 503)
        # Liveness and the docs do not depend on the database.
        assert client.get("/healthz").status_code == 200
        assert client.get("/openapi.json").status_code == 200


def test_unmigrated_database_is_a_503_not_a_500(empty_database_url: str) -> None:
    with client_for(empty_database_url) as client:
        for path in EVERY_GET:
            assert_problem(client.get(path), 503)
        assert_problem(client.get("/readyz"), 503)


def test_the_api_recovers_when_the_database_comes_back(tmp_path: Path) -> None:
    target = tmp_path / "later" / "catalogue.db"
    with client_for(f"sqlite:///{target}") as client:
        assert_problem(client.get("/api/v1/stats"), 503)
        target.parent.mkdir()
        engine = make_engine(f"sqlite:///{target}")
        upgrade(engine)
        engine.dispose()
        response = client.get("/api/v1/stats")
        assert response.status_code == 200, response.text
        assert response.json()["articles"] == 0
        assert client.get("/readyz").status_code == 200
