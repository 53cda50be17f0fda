"""One error shape for the whole API: RFC 9457 problem details as `application/problem+json`.

Every failure, whether a bad parameter, an unknown id or path, a database that does not answer,
or a bug, leaves through `problem_response`, so clients parse a single shape. Internals (stack
traces, SQL, connection strings) are logged, never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.settings import get_settings

PROBLEM_CONTENT_TYPE = "application/problem+json"
NOSNIFF = ("X-Content-Type-Options", "nosniff")
NO_STORE = ("Cache-Control", "no-store")
DATABASE_UNAVAILABLE = "The catalogue database is unavailable; try again shortly."
# Errors that mean "the database did not answer", as opposed to "the input was bad".
DATABASE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, PoolTimeoutError)
RETRY_AFTER_SECONDS = 5

logger = logging.getLogger("newscat.api")


# RFC 9110's names where Python's table still has the older ones.
TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


def status_title(status: int) -> str:
    if status in TITLES:
        return TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: Sequence[dict[str, str]] = (),
) -> bytes:
    return orjson.dumps(
        {
            "type": "about:blank",
            "title": title or status_title(status),
            "status": status,
            "detail": detail,
            "errors": list(errors),
        }
    )


def _nosniff() -> dict[str, str]:
    # Under `newscat serve` the server adds the header to every response; once is enough.
    return {} if get_settings().server_sends_nosniff else dict([NOSNIFF])


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: Sequence[dict[str, str]] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    # Errors are never stored by caches: they describe one request, not the resource.
    all_headers = _nosniff() | dict([NO_STORE])
    if headers:
        all_headers.update(headers)
    return Response(
        problem_body(status, detail, title=title, errors=errors),
        status_code=status,
        headers=all_headers,
        media_type=PROBLEM_CONTENT_TYPE,
    )


def database_unavailable_response() -> Response:
    return problem_response(
        503, DATABASE_UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


def parameter_errors(raw_errors: Iterable[Any]) -> list[dict[str, str]]:
    """Name the parameter behind each validation error (`("query", "limit")` -> `limit`)."""
    errors = []
    for error in raw_errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] in {"query", "path", "header", "cookie", "body"}:
            loc = loc[1:]
        parameter = loc[0] if loc else "request"
        message = str(error.get("msg", "invalid value"))
        errors.append({"parameter": parameter, "message": message})
    return errors


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = parameter_errors(exc.errors())
    names = sorted({error["parameter"] for error in errors})
    if len(names) == 1:
        detail = f"The parameter `{names[0]}` is invalid."
    else:
        detail = "These parameters are invalid: " + ", ".join(f"`{n}`" for n in names) + "."
    return problem_response(422, detail, errors=errors)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 405 and "Allow" in headers and "HEAD" not in headers["Allow"]:
        # Every GET route also answers HEAD (see EdgeMiddleware).
        headers["Allow"] = headers["Allow"].replace("GET", "GET, HEAD")
    if status in {204, 304} or status < 200:
        # Bodiless statuses pass through untouched (a 304 must keep its validators).
        return Response(status_code=status, headers=headers | _nosniff())
    detail = exc.detail if isinstance(exc.detail, str) else status_title(status)
    if detail == status_title(status):
        detail = _default_detail(request, status)
    return problem_response(status, detail, headers=headers)


def _default_detail(request: Request, status: int) -> str:
    if status == 404:
        return f"Nothing is found at {request.url.path}."
    if status == 405:
        return f"{request.method} is not allowed on {request.url.path}."
    return status_title(status) + "."


async def database_error_handler(request: Request, exc: Exception) -> Response:
    # Logged with the traceback: a bad schema or a bug in SQL lands here too, and the
    # operator needs the cause that the client must not see.
    logger.error(
        "database error on %s %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        exc_info=exc,
    )
    return database_unavailable_response()


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "The server failed to answer this request.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    for error_type in DATABASE_ERRORS:
        app.add_exception_handler(error_type, database_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
