"""Catalogue-wide figures (`/api/v1/stats`, `/topics`, `/providers`) and the health probes."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AfterValidator, BaseModel, Field

from app import query
from app.api.deps import SessionDep, refuse_repeats
from app.db import is_sqlite, sqlite_path
from app.errors import DATABASE_ERRORS, problem_response
from app.migrate import current_revision, head_revision
from app.schemas import ProviderCount, Stats, TopicCount

logger = logging.getLogger("newscat.api")

api_router = APIRouter(prefix="/api/v1", tags=["catalogue"])
health_router = APIRouter(tags=["health"])

MAX_PREFIX_LENGTH = 200
MAX_LIST_LIMIT = 10_000


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


PrefixQuery = Annotated[
    str | None,
    Query(
        alias="q",
        max_length=MAX_PREFIX_LENGTH,
        description="Only names starting with this prefix (any case)",
        examples=["comp"],
    ),
    AfterValidator(_no_nul),
]
LimitQuery = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_LIST_LIMIT,
        description="At most this many, largest counts first (default: all)",
        examples=[50],
    ),
]


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(examples=["ready"])
    revision: str | None = Field(description="The schema's Alembic revision", examples=["0001"])


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


@api_router.get("/stats", response_model=Stats, summary="Catalogue figures")
def get_stats(session: SessionDep) -> Response:
    """Counts of visible articles, providers, topics and published ones, with date bounds."""
    return _json(query.stats(session))


@api_router.get(
    "/topics",
    response_model=list[TopicCount],
    summary="Topics by article count",
    dependencies=[Depends(refuse_repeats("q", "limit"))],
)
def get_topics(session: SessionDep, q: PrefixQuery = None, limit: LimitQuery = None) -> Response:
    """Every topic with its count of visible articles, most used first; `q` filters by prefix."""
    prefix = q.strip() if q else None
    return _json(query.list_topics(session, prefix=prefix or None, limit=limit))


@api_router.get(
    "/providers",
    response_model=list[ProviderCount],
    summary="Providers by article count",
    dependencies=[Depends(refuse_repeats("q", "limit"))],
)
def get_providers(session: SessionDep, q: PrefixQuery = None, limit: LimitQuery = None) -> Response:
    """Every provider domain once, under its most common name, with its count; `q` is a prefix."""
    prefix = q.strip() if q else None
    return _json(query.list_providers(session, prefix=prefix or None, limit=limit))


@health_router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Response:
    """Liveness: the process answers; the database is not consulted."""
    return _json({"status": "ok"})


@health_router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness",
    responses={
        503: {
            "description": "The database does not answer, or its schema is not current",
            "content": {"application/problem+json": {}},
        }
    },
)
def readyz(request: Request) -> Response:
    """Readiness: the database answers and its schema is at the revision this server needs."""
    try:
        with request.app.state.engine.connect() as connection:
            revision = current_revision(connection)
    except DATABASE_ERRORS as exc:
        logger.warning("readiness: database unreachable (%s)", type(exc).__name__)
        url = request.app.state.settings.database_url
        path = sqlite_path(url) if is_sqlite(url) else None
        if path is not None and not path.exists():
            return problem_response(
                503,
                "The catalogue file does not exist yet: run `newscat migrate` or `newscat ingest`.",
            )
        return problem_response(503, "The catalogue database does not answer.")
    head = head_revision()
    if revision != head:
        return problem_response(
            503,
            f"The catalogue schema is at revision {revision or 'none'}, this server needs "
            f"{head}: run `newscat migrate`.",
        )
    return _json({"status": "ready", "revision": revision})
