"""Hostile query parameters are just bad parameters: a 422 problem naming them, on both backends.

Each case is sent to `/api/v1/articles` and to every feed and export that takes the same
parameter; unknown parameters are ignored. Nothing may answer 500, and the catalogue must be
exactly as it was afterwards (no injected SQL ran).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.catalogue import canonical_dump
from tests.hardening.conftest import LITERAL_ARTICLES, record_figure, running_server

# One worker builds this module's catalogues once (module-scoped fixtures).
pytestmark = pytest.mark.xdist_group("hostile")

LISTING = "/api/v1/articles"
FEEDS = ("/api/v1/feed.atom", "/api/v1/feed.rss", "/api/v1/feed.json")
EXPORTS = ("/api/v1/export.csv", "/api/v1/export.ndjson")
FILTERED = (LISTING, *FEEDS, *EXPORTS)
SORTED = (LISTING, *EXPORTS)
NAMED = ("/api/v1/topics", "/api/v1/providers")
PROBLEM_KEYS = {"type", "title", "status", "detail", "errors"}
HUGE = "9" * 40
LONG_Q = "word " * 12_000  # 60,000 characters

STRING_FILTERS = (
    "q", "topic", "exclude_topic", "provider", "exclude_provider", "from", "to", "type",
    "category", "url",
)  # fmt: skip
SINGLE_FILTERS = {
    "q": ("ai", "data"),
    "from": ("2021-01-01", "2022-01-01"),
    "to": ("2023-01-01", "2024-01-01"),
    "min_quality": ("1", "2"),
    "max_quality": ("90", "95"),
    "min_heat": ("0", "1"),
    "max_heat": ("50", "60"),
    "published": ("true", "false"),
    "type": ("article", "video"),
    "category": ("news", "blog"),
    "url": ("https://a.example/", "https://b.example/"),
    "include_removed": ("true", "false"),
}


def _cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


# (query string, parameter that the 422 must name, endpoints)
REFUSED: list[tuple[str, str, tuple[str, ...]]] = [
    *[(f"limit={v}", "limit", (LISTING,)) for v in ("-1", "0", "101", f"-{HUGE}", HUGE, "1e3")],
    *[(f"offset={v}", "offset", (LISTING,)) for v in ("-1", "10001", f"-{HUGE}", HUGE, "0x10")],
    *[
        (f"sort={quote(v)}", "sort", SORTED)
        for v in (
            "id;DROP TABLE article",
            "id; DROP TABLE article; --",
            "published_at;DELETE FROM article",
            "-published_at,id",
            "(SELECT 1)",
            "title",
            "id",
            "PUBLISHED_AT",
            "published_at ",
        )
    ],
    *[(f"q={quote_plus(LONG_Q)}", "q", FILTERED)],
    *[(f"{name}=a%00b", name, FILTERED) for name in STRING_FILTERS],
    *[(f"{name}=%00", name, FILTERED) for name in STRING_FILTERS],
    ("sort=quality%00", "sort", SORTED),
    ("cursor=%00", "cursor", (LISTING,)),
    ("facet=topic%00", "facet", (LISTING,)),
    *[
        (f"{bound}={value}", bound, FILTERED)
        for bound in ("from", "to")
        for value in (
            "2024-02-30",
            "2023-02-29",
            "2024-04-31",
            "2024-13-01",
            "2024-00-10",
            "2024-02-30T10:00:00Z",
            "2024-02-28T24:30:00Z",
            "2024-02-28T10:61:00Z",
            "0000-01-01",
            "0001-01-01T00:00:00%2B01:00",
            "9999-12-31T23:59:59-23:59",
            "99999-01-01",
            "2024-02-28T10:00:00",  # a time without a zone is ambiguous
        )
    ],
    ("from=2024-03-01&to=2024-02-01", "from", FILTERED),
    ("from=2024-02-01T12:00:01Z&to=2024-02-01T12:00:00Z", "from", FILTERED),
    ("from=2024-02-02&to=2024-02-01T23:59:59Z", "from", FILTERED),
    *[
        (f"cursor={_cursor(payload)}", "cursor", (LISTING,))
        for payload in (
            {"s": "-published_at", "v": "2021-07-28'; DROP TABLE article; --", "i": "0" * 16},
            {"s": "-published_at", "v": "2024-02-30T00:00:00", "i": "0" * 16},
            {"s": "-published_at", "v": "2021-07-28T00:00:00", "i": "x' OR '1'='1"},
            {"s": "-quality", "v": int(HUGE), "i": "0" * 16},
            {"s": "-quality", "v": 1.5, "i": "0" * 16},
            {"s": "quality", "v": 1, "i": "0" * 16},
            {"s": "relevance", "o": -1},
            {"s": "-published_at", "o": int(HUGE)},
        )
    ],
]
# A single-valued parameter given twice is ambiguous: which one did the caller mean?
REPEATED: list[tuple[str, str, tuple[str, ...]]] = [
    *[
        (f"{name}={first}&{name}={second}", name, FILTERED)
        for name, (first, second) in SINGLE_FILTERS.items()
    ],
    ("limit=5&limit=6", "limit", (LISTING,)),
    ("offset=0&offset=20", "offset", (LISTING,)),
    ("sort=quality&sort=heat", "sort", SORTED),
    ("cursor=abc&cursor=def", "cursor", (LISTING,)),
]
NAMED_REFUSED = [
    (f"q={quote_plus(LONG_Q)}", "q"),
    ("q=a%00", "q"),
    ("q=%00", "q"),
    ("limit=-1", "limit"),
    (f"limit={HUGE}", "limit"),
    (f"limit=-{HUGE}", "limit"),
]
NAMED_REPEATED = [("q=a&q=b", "q"), ("limit=1&limit=2", "limit")]
# Unknown parameters, whatever they hold, are ignored.
UNKNOWN = [
    "foo=bar",
    "foo=%00",
    "%00=1",
    "LIMIT=500",
    "Sort=id;DROP TABLE article",
    "sort_by=title",
    "filter%5Btopic%5D=AI",
    "q%5B%5D=x",
    "topic%00=AI",
    "callback=alert(1)",
    f"unknown={'x' * 5000}",
]


def _entries(response: Any) -> Any:
    """What a response lists; feeds also name their own URL, which holds the query."""
    if response.headers["content-type"].startswith(("application/atom", "application/rss")):
        return re.findall(rb"urn:newscat:article:[0-9a-f]{16}", response.content)
    if response.headers["content-type"].startswith("application/feed+json"):
        return [item["id"] for item in response.json()["items"]]
    return response.content


def _problem(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, f"status {response.status_code}, not {status}"
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    assert response.headers["x-content-type-options"] == "nosniff"
    body = response.json()
    assert set(body) == PROBLEM_KEYS, body
    assert body["status"] == status and isinstance(body["errors"], list)
    assert "Traceback" not in response.text
    return body


@pytest.fixture(scope="module")
def client(catalogue: str) -> Iterator[TestClient]:
    app = create_app(Settings(DATABASE_URL=catalogue, NEWSCAT_RESULT_CACHE_SIZE=0))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def untouched(catalogue: str, client: TestClient) -> Iterator[None]:
    """The catalogue after every test of this module is the catalogue before them."""
    before = canonical_dump(catalogue)
    yield
    assert canonical_dump(catalogue) == before


def _items(client: TestClient, query: str) -> list[dict[str, Any]]:
    response = client.get(f"{LISTING}?{query}&limit=100")
    assert response.status_code == 200, (query, response.text[:300])
    return list(response.json()["items"])


def _refusals(
    client: TestClient, cases: list[tuple[str, str, tuple[str, ...]]]
) -> tuple[int, list[str], int]:
    """(requests sent, cases not answered by a 422 naming the parameter, 5xx answers)."""
    failures, tried, server_errors = [], 0, 0
    for query, parameter, endpoints in cases:
        for path in endpoints:
            tried += 1
            response = client.get(f"{path}?{query}")
            server_errors += response.status_code >= 500
            try:
                body = _problem(response)
                named = {error["parameter"] for error in body["errors"]}
                assert parameter in named, f"names {named}, not {parameter!r}"
            except AssertionError as exc:
                failures.append(f"{path}?{query[:70]}: {exc}")
    return tried, failures, server_errors


def test_hostile_parameters_are_422_naming_them(
    client: TestClient, untouched: None, backend: str
) -> None:
    cases = REFUSED + [(query, name, NAMED) for query, name in NAMED_REFUSED]
    tried, failures, server_errors = _refusals(client, cases)
    record_figure(
        "hostile-parameters",
        backend=backend,
        requests=tried,
        wrong=len(failures),
        server_errors=server_errors,
    )
    assert not failures, f"{len(failures)} of {tried}:\n" + "\n".join(failures)


def test_repeated_single_valued_parameters_are_422(
    client: TestClient, untouched: None, backend: str
) -> None:
    cases = REPEATED + [(query, name, NAMED) for query, name in NAMED_REPEATED]
    tried, failures, server_errors = _refusals(client, cases)
    record_figure(
        "repeated-parameters",
        backend=backend,
        requests=tried,
        wrong=len(failures),
        server_errors=server_errors,
    )
    assert server_errors == 0
    assert not failures, f"{len(failures)} of {tried}:\n" + "\n".join(failures)


def test_sort_injection_is_not_run(client: TestClient, catalogue: str) -> None:
    before = canonical_dump(catalogue)
    for path in SORTED:
        for sort in ("id;DROP TABLE article", "id;DELETE FROM article", "1;UPDATE article SET x=1"):
            _problem(client.get(path, params={"sort": sort}))
    assert client.get(LISTING).json()["total"] == len(before["articles"])
    assert canonical_dump(catalogue) == before


def test_parameters_that_only_some_endpoints_take_are_ignored_elsewhere(
    client: TestClient,
) -> None:
    # Feeds have a fixed order and size; exports stream everything.
    for path in FEEDS:
        for query in ("sort=id;DROP TABLE article", "limit=-1", f"offset={HUGE}", "cursor=%00"):
            response = client.get(f"{path}?{query}")
            assert response.status_code == 200, (path, query, response.text[:200])
            assert _entries(response) == _entries(client.get(path))
    for path in EXPORTS:
        for query in ("limit=-1", f"offset={HUGE}", "cursor=%00", "facet=colour"):
            response = client.get(f"{path}?{query}")
            assert response.status_code == 200, (path, query, response.text[:200])
            assert response.content == client.get(path).content


@pytest.mark.parametrize("path", [*FILTERED, *NAMED, "/api/v1/stats"])
def test_unknown_parameters_are_ignored(client: TestClient, path: str) -> None:
    plain = client.get(path)
    assert plain.status_code == 200
    for query in UNKNOWN:
        response = client.get(f"{path}?{query}")
        assert response.status_code == 200, (query, response.text[:200])
        assert _entries(response) == _entries(plain), query


def test_edge_values_that_are_valid(client: TestClient) -> None:
    for query in (
        "limit=1",
        "limit=100",
        "offset=0",
        "offset=10000",
        "from=2024-02-29",
        "to=2024-02-29",
        "from=2024-02-01&to=2024-02-01",  # one whole day
        "from=2024-02-01T12:00:00Z&to=2024-02-01T12:00:00Z",  # one instant, both inclusive
        "from=2021-07-28T12:00:00%2B02:00",
        "from=0001-01-01&to=9999-12-31",
        "min_quality=-9223372036854775808&max_quality=9223372036854775807",
        "q=" + "ab+" * 166,
        "topic=AI&topic=ai&topic=Robotics",
    ):
        response = client.get(f"{LISTING}?{query}")
        assert response.status_code == 200, (query, response.text[:300])


def test_percent_and_underscore_are_literal_in_filters(client: TestClient) -> None:
    titles = {name: values["title"] for name, values in LITERAL_ARTICLES.items()}

    def listed(query: str) -> set[str]:
        return {item["title"] for item in _items(client, query)}

    assert listed("topic=100%25") == {titles["percent"]}
    assert listed("topic=snake_case") == {titles["underscore"]}
    assert listed("category=promo_code") == {titles["percent"]}
    assert listed("category=snake_case") == {titles["underscore"]}
    assert listed("provider=under_score.example") == {titles["underscore"]}
    assert listed("provider=per%25cent.example") == {titles["percent"]}
    assert listed("url=https://literal.example/a_c") == {titles["underscore"]}
    for wildcard in ("%25", "_", "%25%25", "snake%25", "snake_case%25", "promo%25", "1000%25"):
        for name in ("topic", "category", "provider", "type", "url"):
            assert listed(f"{name}={wildcard}") == set(), (name, wildcard)
    everything = {item["id"] for item in _items(client, "include_removed=true")}
    for wildcard in ("%25", "_"):
        excluded = {item["id"] for item in _items(client, f"exclude_topic={wildcard}")}
        assert excluded == {item["id"] for item in _items(client, "")}
        assert excluded <= everything


def test_percent_and_underscore_are_literal_in_search_and_prefixes(client: TestClient) -> None:
    total = client.get(LISTING).json()["total"]
    for q in ("%", "_", "%%", "_%", "%_"):
        response = client.get(LISTING, params={"q": q})
        assert response.status_code in {200, 422}, response.text[:200]
        if response.status_code == 200:
            assert response.json()["total"] < total, q
    topics = client.get("/api/v1/topics", params={"q": "snake_"}).json()
    assert [topic["name"] for topic in topics] == ["snake_case"]
    assert client.get("/api/v1/topics", params={"q": "%"}).json() == []
    assert client.get("/api/v1/topics", params={"q": "_"}).json() == []
    assert [t["name"] for t in client.get("/api/v1/topics", params={"q": "100%"}).json()] == [
        "100%"
    ]
    providers = client.get("/api/v1/providers", params={"q": "under_"}).json()
    assert [provider["domain"] for provider in providers] == ["under_score.example"]
    assert client.get("/api/v1/providers", params={"q": "%"}).json() == []
    assert client.get("/api/v1/providers", params={"q": "_"}).json() == []


def test_nul_in_the_path_is_a_404(client: TestClient) -> None:
    for path in (f"{LISTING}/%00", f"{LISTING}/0123456789abcde%00", f"{LISTING}/%00/related"):
        _problem(client.get(path), 404)


def test_a_60000_character_q_through_the_server(
    backend: str, catalogue: str, tmp_path: Path
) -> None:
    """The HTTP server in front of the app takes the long line and lets the app refuse it."""
    if backend != "sqlite":
        pytest.skip("the HTTP server does not depend on the backend")
    with running_server(catalogue, tmp_path) as server:
        for path in (LISTING, "/api/v1/export.csv", "/api/v1/topics"):
            response = httpx.get(f"{server.base_url}{path}?q={quote_plus(LONG_Q)}", timeout=30)
            # (The header's count through the server is test_security's business.)
            assert response.status_code == 422, response.text[:200]
            assert "q" in {error["parameter"] for error in response.json()["errors"]}
