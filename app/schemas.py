"""Public response shapes. The API serialises plain dicts for speed; these classes document
them in OpenAPI and are never built from table models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


def iso_z(value: datetime | None) -> str | None:
    """A naive UTC datetime as ISO 8601 with `Z`; fractions only when the source had them."""
    if value is None:
        return None
    return value.isoformat(timespec="microseconds" if value.microsecond else "seconds") + "Z"


class ImageOut(BaseModel):
    url: str | None = Field(examples=["https://example.com/picture.jpg"])
    width: int | None = Field(default=None, examples=[800])
    height: int | None = Field(default=None, examples=[450])
    is_cached: bool | None = Field(default=None, examples=[True])


class ProviderRef(BaseModel):
    name: str | None = Field(examples=["The Star"])
    domain: str | None = Field(examples=["thestar.com.my"])


class ArticleSummary(BaseModel):
    id: str = Field(
        description="16 hex digits of SHA-256 of the canonical URL; stable forever",
        examples=["b015dcdd5efe684a"],
    )
    url: str = Field(description="The canonical URL (`webUrl`, else `originalUrl`)")
    title: str
    excerpt: str | None = Field(description="As the file gives it (HTML entities kept)")
    published_at: str = Field(
        description="ISO 8601 in UTC with `Z`; fractions of a second only when the file had them",
        examples=["2021-07-28T12:39:00Z"],
    )
    quality: int | None
    heat: int | None = Field(description="-1 when the source did not know it")
    published: bool | None
    removed: bool | None
    type: str | None = Field(examples=["article"])
    category: str | None = Field(examples=["news"])
    provider: ProviderRef = Field(description="The provider as this article's own file names it")
    topics: list[str] = Field(examples=[["Computer Vision", "AI"]])
    image: ImageOut | None = Field(description="The first image, or null")


class RelatedEntry(BaseModel):
    id: str | None = Field(
        description="The catalogue id when this URL is itself in the catalogue, else null"
    )
    url: str | None
    title: str | None
    excerpt: str | None
    published_at: str | None
    type: str | None
    quality: int | None
    provider: ProviderRef | None
    images: list[ImageOut]


class ArticleDetail(ArticleSummary):
    original_url: str | None
    amp_url: str | None
    cdn_amp_url: str | None
    images: list[ImageOut]
    related: list[RelatedEntry] = Field(description="In file order")
    featured_content: str | None = Field(description="HTML embed (videos)")
    secured: str | None = Field(description="Opaque blob, whitespace removed")
    source_paths: list[str] = Field(
        description="Every source file of this article (relative to its ingest root), sorted"
    )
    ingested_at: str
    updated_at: str


class RelatedInCatalogue(ArticleSummary):
    in_catalogue: Literal[True] = True


class RelatedAsGiven(RelatedEntry):
    in_catalogue: Literal[False] = False


class RelatedList(BaseModel):
    items: list[RelatedInCatalogue | RelatedAsGiven] = Field(
        description=(
            "The article's related entries in file order: an ArticleSummary with "
            "`in_catalogue: true` when the URL is in the catalogue, else the entry as the "
            "file gives it with `in_catalogue: false`"
        )
    )


class FacetValue(BaseModel):
    value: str | int | bool = Field(
        description=(
            "topic: display name; provider: domain (lower case); type: string; "
            "published: boolean; year: integer; month: `YYYY-MM`"
        ),
        examples=["AI"],
    )
    count: int = Field(examples=[12])
    name: str | None = Field(
        default=None, description="provider facet only: the provider's most common name"
    )


class Page(BaseModel, Generic[T]):
    total: int = Field(description="How many articles match, across all pages")
    limit: int
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )
    items: list[T]
    facets: dict[str, list[FacetValue]] | None = Field(
        default=None, description="Present only when `facet` was asked for; top 50 by count"
    )


class TopicCount(BaseModel):
    name: str = Field(examples=["AI"])
    count: int = Field(examples=[12])


class ProviderCount(BaseModel):
    name: str = Field(examples=["Microsoft"])
    domain: str = Field(examples=["microsoft.com"])
    count: int = Field(examples=[12])


class Stats(BaseModel):
    articles: int
    providers: int
    topics: int
    published: int
    first_published_at: str | None
    last_published_at: str | None
    last_ingest_at: str | None


class ProblemError(BaseModel):
    parameter: str = Field(examples=["from"])
    message: str = Field(examples=["not a date or a datetime with a time zone"])


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Unprocessable Content",
                    "status": 422,
                    "detail": "1 bad parameter",
                    "errors": [{"parameter": "limit", "message": "must be at most 100"}],
                }
            ]
        }
    )

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[ProblemError] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry documenting problem+json errors for a route."""
    descriptions = {404: "No article has this id", 422: "A parameter is invalid"}
    return {
        status: {
            "model": Problem,
            "description": descriptions.get(status, "Error"),
            "content": {"application/problem+json": {}},
        }
        for status in statuses
    }
