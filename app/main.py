"""The FastAPI application: `create_app()` wires settings, engine, middleware, errors and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.staticfiles import StaticFiles

from app.api.routes import articles, docs, exports, feeds, meta
from app.db import make_engine
from app.errors import DATABASE_UNAVAILABLE, install_error_handlers
from app.middleware import ETAG_SALT, install_middleware
from app.schemas import Problem
from app.settings import Settings, get_settings
from app.version_probe import VersionProbe

STATIC_DIR = Path(__file__).resolve().parent / "static"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

DESCRIPTION = """
A catalogue of news articles, read-only over HTTP. Everything is JSON (UTF-8) unless stated;
timestamps are ISO 8601 in UTC with `Z`.

**A short tour**

1. `GET /api/v1/stats` for the size of the catalogue, `GET /api/v1/topics` and
   `GET /api/v1/providers` for what to filter by.
2. `GET /api/v1/articles?q=power apps&topic=AI&from=2021-07-01&facet=provider` searches and
   filters; follow `next_cursor` (also in the `Link` header) for the next page.
3. `GET /api/v1/articles/{id}` is one article in full; ids are stable forever.
4. The same filters drive the feeds (`/api/v1/feed.atom`, `.rss`, `.json`: the newest 50) and
   the exports (`/api/v1/export.csv`, `.ndjson`: every match, streamed).

**Behaviour every endpoint shares.** Errors are `application/problem+json` (RFC 9457) whose
`errors` list names each bad parameter. Every successful GET carries an `ETag`; send it back in
`If-None-Match` to get `304 Not Modified`. `Cache-Control: public, max-age=60` by default.
Responses are gzipped when asked and large enough; CORS is open to GET from any origin by
default, never with credentials.
"""

TAGS = [
    {"name": "articles", "description": "List, search, filter and facet articles; one article."},
    {"name": "catalogue", "description": "Catalogue-wide figures: stats, topics, providers."},
    {"name": "feeds", "description": "Atom 1.0, RSS 2.0 and JSON Feed 1.1 of the newest 50."},
    {"name": "exports", "description": "Every matching article as CSV or NDJSON, streamed."},
    {"name": "health", "description": "Liveness and readiness probes for orchestrators."},
]


def _problem_doc(status: int, description: str, detail: str, **extra: Any) -> dict[str, Any]:
    example = {"type": "about:blank", "status": status, "detail": detail, "errors": [], **extra}
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": PROBLEM_REF, "example": example}},
    }


VALIDATION_DOC = _problem_doc(
    422,
    "A parameter is invalid; `errors` names each one",
    "The parameter `limit` is invalid.",
    title="Unprocessable Content",
    errors=[{"parameter": "limit", "message": "Input should be less than or equal to 100"}],
)
NOT_FOUND_DOC = _problem_doc(404, "No article has this id", "No article has this id.",
                             title="Not Found")  # fmt: skip
UNAVAILABLE_DOC = _problem_doc(503, "The database does not answer", DATABASE_UNAVAILABLE,
                               title="Service Unavailable")  # fmt: skip
NOT_MODIFIED_DOC = {"description": "Not Modified: the `If-None-Match` ETag still matches"}
API_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: NOT_MODIFIED_DOC,
    422: VALIDATION_DOC,
    503: UNAVAILABLE_DOC,
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging.getLogger("newscat").setLevel(settings.log_level.upper())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = make_engine(
            settings.database_url,
            read_only=True,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        )
        if app.state.engine.dialect.name == "sqlite":
            # SQLite works in this process: threads beyond a few only take turns holding
            # the GIL, and at 16 concurrent requests the default 40 served 30 % fewer.
            limiter = anyio.to_thread.current_default_thread_limiter()
            limiter.total_tokens = settings.sqlite_threads
        try:
            yield
        finally:
            probe.close()
            app.state.engine.dispose()

    app = FastAPI(
        title="newscat",
        summary="A news-article catalogue: search, filter, feeds and exports.",
        description=DESCRIPTION,
        version=ETAG_SALT.decode(),
        openapi_tags=TAGS,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    probe = VersionProbe(app.state)
    install_error_handlers(app)
    install_middleware(app, settings, probe)

    app.include_router(articles.router, responses={**API_RESPONSES, 404: NOT_FOUND_DOC})
    for router in (meta.api_router, feeds.router, exports.router):
        app.include_router(router, responses=API_RESPONSES)
    app.include_router(meta.health_router)
    app.include_router(docs.router)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            app.openapi_schema = _problem_media_types(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _problem_media_types(schema: dict[str, Any]) -> dict[str, Any]:
    """Errors are documented as `application/problem+json` with the Problem schema only.

    FastAPI files a response `model` under the route's media type (`application/json`) and
    adds its own 422 shape; both would tell readers something the API never sends. Routes
    that document an error themselves get the shared example when they give none.
    """
    examples = {
        str(status): doc["content"]["application/problem+json"]["example"]
        for status, doc in ((404, NOT_FOUND_DOC), (422, VALIDATION_DOC), (503, UNAVAILABLE_DOC))
    }
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "Problem" not in components:
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if "application/problem+json" in content or str(status).startswith(("4", "5")):
                    problem_content = content.get("application/problem+json", {})
                    problem_content["schema"] = PROBLEM_REF
                    if "example" not in problem_content and str(status) in examples:
                        problem_content["example"] = examples[str(status)]
                    response["content"] = {"application/problem+json": problem_content}
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema
