"""Feeds of the newest 50 articles matching the `/articles` filters: Atom, RSS and JSON Feed.

XML is built as element trees and serialised by ElementTree, which escapes every value; text
from files is also stripped of the few characters XML 1.0 cannot carry at all.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from app import query
from app.api.deps import FilterQuery, FiltersDep, SessionDep, query_parameters
from app.query import ArticleFilters

router = APIRouter(prefix="/api/v1", tags=["feeds"])

FEED_SIZE = 50
FEED_TITLE = "newscat"
FEED_DESCRIPTION = "The newest articles in the newscat catalogue matching the request's filters."
ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
RSS_TYPE = "application/rss+xml; charset=utf-8"
JSON_FEED_TYPE = "application/feed+json; charset=utf-8"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
# An empty feed still needs an `updated` instant; a fixed one keeps the response cacheable.
EPOCH = "1970-01-01T00:00:00Z"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: Any) -> str:
    return _NOT_XML.sub("", str(value)) if value is not None else ""


def _sub(parent: ET.Element, tag: str, text: Any = None, **attributes: Any) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _text(v) for k, v in attributes.items()})
    if text is not None:
        element.text = _text(text)
    return element


def _xml(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(UTC)


def _entry_id(article: dict[str, Any]) -> str:
    return f"urn:newscat:article:{article['id']}"


def _newest(session: Session, filters: ArticleFilters) -> list[dict[str, Any]]:
    newest = query.iter_articles(session, filters=filters, sort="-published_at", limit=FEED_SIZE)
    return list(newest)


def _articles_url(request: Request) -> str:
    """The `/articles` listing with the feed's own filters: the HTML-less "home page"."""
    return str(request.url.replace(path=request.url.path.rsplit("/", 1)[0] + "/articles"))


def atom_feed(articles: list[dict[str, Any]], *, self_url: str, home_url: str) -> bytes:
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    _sub(feed, "id", self_url)
    _sub(feed, "title", FEED_TITLE)
    _sub(feed, "subtitle", FEED_DESCRIPTION)
    _sub(feed, "updated", articles[0]["published_at"] if articles else EPOCH)
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _sub(feed, "link", rel="alternate", type="application/json", href=home_url)
    # Atom needs an author per entry; the feed-level one stands in where a provider has no name.
    _sub(_sub(feed, "author"), "name", FEED_TITLE)
    _sub(feed, "generator", "newscat")
    for article in articles:
        entry = _sub(feed, "entry")
        _sub(entry, "id", _entry_id(article))
        _sub(entry, "title", article["title"])
        _sub(entry, "updated", article["published_at"])
        _sub(entry, "published", article["published_at"])
        _sub(entry, "link", rel="alternate", href=article["url"])
        provider = article["provider"]
        if provider.get("name"):
            _sub(_sub(entry, "author"), "name", provider["name"])
        if article.get("excerpt"):
            # Excerpts keep the HTML entities of their files (`&nbsp;`), so they are HTML.
            _sub(entry, "summary", article["excerpt"], type="html")
        for topic in article.get("topics") or ():
            _sub(entry, "category", term=topic)
    return _xml(feed)


def rss_feed(articles: list[dict[str, Any]], *, self_url: str, home_url: str) -> bytes:
    rss = ET.Element("rss", {"version": "2.0", "xmlns:atom": ATOM_NS})
    channel = _sub(rss, "channel")
    _sub(channel, "title", FEED_TITLE)
    _sub(channel, "link", home_url)
    _sub(channel, "description", FEED_DESCRIPTION)
    _sub(channel, "atom:link", rel="self", type="application/rss+xml", href=self_url)
    _sub(channel, "generator", "newscat")
    if articles:
        newest = format_datetime(_instant(articles[0]["published_at"]), usegmt=True)
        _sub(channel, "lastBuildDate", newest)
    for article in articles:
        item = _sub(channel, "item")
        _sub(item, "title", article["title"])
        _sub(item, "link", article["url"])
        if article.get("excerpt"):
            _sub(item, "description", article["excerpt"])
        _sub(item, "guid", _entry_id(article), isPermaLink="false")
        _sub(item, "pubDate", format_datetime(_instant(article["published_at"]), usegmt=True))
        for topic in article.get("topics") or ():
            _sub(item, "category", topic)
    return _xml(rss)


def json_feed(articles: list[dict[str, Any]], *, self_url: str, home_url: str) -> bytes:
    items = []
    for article in articles:
        item: dict[str, Any] = {
            "id": _entry_id(article),
            "url": article["url"],
            "title": article["title"],
            "date_published": article["published_at"],
            "tags": article.get("topics") or [],
        }
        # JSON Feed needs content_html or content_text in every item.
        if article.get("excerpt"):
            item["content_html"] = item["summary"] = article["excerpt"]
        else:
            item["content_text"] = article["title"]
        provider = article["provider"]
        if provider.get("name"):
            item["authors"] = [{"name": provider["name"]}]
        image = article.get("image") or {}
        if image.get("url"):
            item["image"] = image["url"]
        item["_newscat"] = {
            "id": article["id"],
            "provider_domain": provider.get("domain"),
            "type": article.get("type"),
            "category": article.get("category"),
            "quality": article.get("quality"),
            "heat": article.get("heat"),
        }
        items.append(item)
    return orjson.dumps(
        {
            "version": JSON_FEED_VERSION,
            "title": FEED_TITLE,
            "home_page_url": home_url,
            "feed_url": self_url,
            "description": FEED_DESCRIPTION,
            "items": items,
        }
    )


def _feed_doc(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": {media_type.split(";")[0]: {}}}}


@router.get(
    "/feed.atom",
    response_class=Response,
    summary="Atom feed",
    openapi_extra=query_parameters(FilterQuery),
    responses=_feed_doc(ATOM_TYPE, "An Atom 1.0 feed of the newest 50 matching articles"),
)
def feed_atom(request: Request, session: SessionDep, filters: FiltersDep) -> Response:
    """Atom 1.0 feed of the newest 50 articles matching the same filters as `/articles`."""
    body = atom_feed(
        _newest(session, filters), self_url=str(request.url), home_url=_articles_url(request)
    )
    return Response(body, headers={"Content-Type": ATOM_TYPE})


@router.get(
    "/feed.rss",
    response_class=Response,
    summary="RSS feed",
    openapi_extra=query_parameters(FilterQuery),
    responses=_feed_doc(RSS_TYPE, "An RSS 2.0 feed of the newest 50 matching articles"),
)
def feed_rss(request: Request, session: SessionDep, filters: FiltersDep) -> Response:
    """RSS 2.0 feed of the newest 50 articles matching the same filters as `/articles`."""
    body = rss_feed(
        _newest(session, filters), self_url=str(request.url), home_url=_articles_url(request)
    )
    return Response(body, headers={"Content-Type": RSS_TYPE})


@router.get(
    "/feed.json",
    response_class=Response,
    summary="JSON Feed",
    openapi_extra=query_parameters(FilterQuery),
    responses=_feed_doc(JSON_FEED_TYPE, "A JSON Feed 1.1 of the newest 50 matching articles"),
)
def feed_json(request: Request, session: SessionDep, filters: FiltersDep) -> Response:
    """JSON Feed 1.1 of the newest 50 articles matching the same filters as `/articles`."""
    body = json_feed(
        _newest(session, filters), self_url=str(request.url), home_url=_articles_url(request)
    )
    return Response(body, headers={"Content-Type": JSON_FEED_TYPE})
