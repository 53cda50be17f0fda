"""Swagger UI at `/docs` and ReDoc at `/redoc`, on the app's own assets: they work offline."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

FAVICON = "swagger-ui-favicon-32x32.png"


def _static(request: Request, name: str) -> str:
    return f"{request.scope.get('root_path', '')}/static/{name}"


def _openapi_url(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}{request.app.openapi_url}"


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: try every endpoint from the browser."""
    return get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title}: Swagger UI",
        swagger_js_url=_static(request, "swagger-ui-bundle.js"),
        swagger_css_url=_static(request, "swagger-ui.css"),
        swagger_favicon_url=_static(request, FAVICON),
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the API reference as one readable page."""
    return get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title}: ReDoc",
        redoc_js_url=_static(request, "redoc.standalone.js"),
        redoc_favicon_url=_static(request, FAVICON),
        with_google_fonts=False,
    )
