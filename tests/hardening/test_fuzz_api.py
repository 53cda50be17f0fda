"""Schemathesis against `/openapi.json`, with its default checks, on both backends.

Every operation is called with generated valid and invalid inputs on a catalogue holding a
small ingested corpus; any 500, undocumented status, response that does not match its schema,
or accepted invalid input fails the test.

The schema is read from an app at import (schemathesis makes one test per operation at
collection time); each call is then sent to the app of the test's own catalogue. (The lazy
`schemathesis.pytest.from_fixture` loader does not work with this pytest.)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.python.asgi import shutdown_lifespans

from app.main import create_app
from app.settings import Settings
from tests.hardening.conftest import record_figure

# One worker builds this module's catalogues once (module-scoped fixtures).
pytestmark = pytest.mark.xdist_group("fuzz")

MAX_EXAMPLES = 30

schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(Settings(DATABASE_URL="sqlite://"))
)
calls: Counter[tuple[str, str]] = Counter()
waived: Counter[str] = Counter()

# Rules the OpenAPI schema cannot express (relations between parameters, formats of plain
# strings); a schema-valid request that breaks one is rightly a 422.
SEMANTIC_RULES = (
    "is greater than",
    "is later than",
    "not both",
    "needs a `q`",
    "not a cursor from this API",
    "cursor was made for",
    "cursor is too long",
    "NUL characters are not allowed",
    "has no words to look for",
    "search word is longer than",
    "expected a date",
    "needs a time zone",
    "not a valid date or datetime",
)


# A query string cannot tell a list of one from the value itself: `?x=1` is both; nor does it
# have objects: one is written as other `key=value` pairs, or as nothing (`?q=`). A "negative"
# case whose only violations are of these kinds (or the two below) is a valid request.
_SAME_IN_A_QUERY = re.compile(
    r"violates `type` at \S+ \(was (array, became \w+|\w+, became (array|object))\)"
)
_VIOLATED_PARAMETER = re.compile(r"violates `\w+` at /properties/(?P<name>\w+)")
# A number without a fraction is an integer to JSON Schema (`0.0` is `0`), so offering one as
# "not null" to a parameter that takes an integer or nothing is no violation.
_NUMBER_FOR_NULL = re.compile(r"/anyOf/\d+ \(was null, became number\)")


def _parameter(case: Any, name: str) -> dict[str, Any] | None:
    operation = schema.raw_schema["paths"][case.operation.path][case.operation.method.lower()]
    found = [p for p in operation.get("parameters", []) if p["name"] == name and p["in"] == "query"]
    return cast(dict[str, Any], found[0]) if found else None


def _no_violation(reason: str, case: Any, sent: set[str]) -> bool:
    if _SAME_IN_A_QUERY.search(reason):
        return True
    match = _VIOLATED_PARAMETER.search(reason)
    if match is None:
        return False
    parameter = _parameter(case, match["name"])
    if parameter is None:
        return False
    if match["name"] not in sent:
        # The value has no query-string form (an empty list or object, say), so the request
        # went without the parameter: valid for an optional one.
        return not parameter.get("required", False)
    value = (case.query or {}).get(match["name"])
    if not _NUMBER_FOR_NULL.search(reason) or isinstance(value, bool):
        return False
    options = parameter["schema"].get("anyOf", [])
    integer = any(option.get("type") == "integer" for option in options)
    return integer and isinstance(value, int | float) and not value % 1


def _valid_once_in_a_query(failure: AcceptedNegativeData, case: Any, response: Any) -> bool:
    lines = failure.message.splitlines()
    components = [line for line in lines if "Invalid component" in line]
    reasons = [line for line in lines if "violates" in line]
    in_query = bool(components) and all(re.search(r" in query( -|$)", c) for c in components)
    query = urlsplit(response.request.url).query
    sent = {name for name, _ in parse_qsl(query, keep_blank_values=True)}
    return in_query and bool(reasons) and all(_no_violation(r, case, sent) for r in reasons)


@schema.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure except a 422 that names only semantic rules (see SEMANTIC_RULES)
    and an accepted "invalid" query that is valid once written as a query string."""
    if isinstance(failure, AcceptedNegativeData) and _valid_once_in_a_query(
        failure, case, response
    ):
        return False
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 422:
        return True
    errors = orjson.loads(response.content)["errors"]
    messages = [error["message"] for error in errors]
    if messages and all(any(rule in m for rule in SEMANTIC_RULES) for m in messages):
        waived.update(messages)
        return False
    return True


@pytest.fixture(scope="module")
def catalogue_app(catalogue: str, backend: str) -> Iterator[FastAPI]:
    yield create_app(Settings(DATABASE_URL=catalogue))
    # Schemathesis keeps every app's lifespan running until exit; stop them with the catalogue.
    shutdown_lifespans()
    mine = {label: n for (name, label), n in calls.items() if name == backend}
    record_figure(
        "schemathesis",
        backend=backend,
        operations=len(mine),
        calls=sum(mine.values()),
        semantic_422=sum(waived.values()),
        failures=0,
    )
    waived.clear()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: Any, catalogue_app: FastAPI, backend: str) -> None:
    calls[backend, case.operation.label] += 1
    case.call_and_validate(app=catalogue_app)


_VIOLATIONS = "Invalid data should have been rejected\nInvalid component: parameters in query\n"


@pytest.mark.parametrize(
    ("path", "reasons", "query", "url", "valid"),
    [
        (  # seen: a whole number for an integer-or-null parameter, a list written as "null"
            "/api/v1/feed.rss",
            [
                "violates `type` at /properties/max_heat/anyOf/1 (was null, became number)",
                "violates `type` at /properties/exclude_provider (was array, became null)",
            ],
            {"max_heat": 0.0, "exclude_provider": None},
            "/api/v1/feed.rss?exclude_provider=null&max_heat=0.0",
            True,
        ),
        (  # seen: a value with no query-string form, so the parameter was never sent
            "/api/v1/feed.rss",
            [
                "violates `type` at /properties/topic (was array, became string)",
                "violates `anyOf` at /properties/published",
            ],
            {"topic": "q9", "published": {}},
            "/api/v1/feed.rss?topic=q9",
            True,
        ),
        (
            "/api/v1/feed.rss",
            ["violates `type` at /properties/max_heat/anyOf/1 (was null, became number)"],
            {"max_heat": 0.5},
            "/api/v1/feed.rss?max_heat=0.5",
            False,
        ),
        (
            "/api/v1/feed.rss",
            ["violates `anyOf` at /properties/published"],
            {"published": "maybe"},
            "/api/v1/feed.rss?published=maybe",
            False,
        ),
        (
            "/api/v1/articles",
            ["violates `type` at /properties/limit/anyOf/0 (was integer, became string)"],
            {"limit": "abc"},
            "/api/v1/articles?limit=abc",
            False,
        ),
        (  # a parameter the operation does not have
            "/api/v1/feed.rss",
            ["violates `type` at /properties/limit (was integer, became string)"],
            {"limit": "abc"},
            "/api/v1/feed.rss?limit=abc",
            False,
        ),
    ],
)
def test_the_waiver_takes_only_requests_a_query_string_makes_valid(
    path: str, reasons: list[str], query: dict[str, Any], url: str, valid: bool
) -> None:
    message = _VIOLATIONS + "\n".join(f"  - {r}" for r in reasons)
    failure = SimpleNamespace(message=message)
    case = SimpleNamespace(query=query, operation=SimpleNamespace(path=path, method="GET"))
    response = SimpleNamespace(request=SimpleNamespace(url=f"http://testserver{url}"))
    assert _valid_once_in_a_query(failure, case, response) is valid
