"""`/articles/{id}` and `/articles/{id}/related` give back every value the files hold."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from app.ingest.run import ingest_paths
from app.main import create_app
from app.settings import Settings
from tests.api.factory import Corpus, Spec, article_id

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z")


def _check_stamps(body: dict[str, Any]) -> dict[str, Any]:
    for key in ("ingested_at", "updated_at"):
        assert TIMESTAMP.fullmatch(body.pop(key)), key
    return body


def test_detail_round_trips_every_field(client: TestClient, corpus: Corpus) -> None:
    for spec in corpus.articles.values():
        response = client.get(f"/api/v1/articles/{spec.summary['id']}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert _check_stamps(response.json()) == spec.detail, spec.rel_path


def test_summaries_are_the_detail_fields(client: TestClient, corpus: Corpus) -> None:
    body = client.get("/api/v1/articles", params={"include_removed": True, "limit": 100}).json()
    for item in body["items"]:
        assert item == corpus.articles[item["id"]].summary


def _related_items(corpus: Corpus, spec: Spec) -> list[dict[str, Any]]:
    items = []
    for entry in spec.detail["related"]:
        if entry["id"] is not None:
            items.append({**corpus.articles[entry["id"]].summary, "in_catalogue": True})
        else:
            items.append({**entry, "in_catalogue": False})
    return items


def test_related_lists_catalogued_entries_as_summaries(client: TestClient, corpus: Corpus) -> None:
    kinds = set()
    for spec in corpus.articles.values():
        response = client.get(f"/api/v1/articles/{spec.summary['id']}/related")
        assert response.status_code == 200
        items = response.json()["items"]
        assert items == _related_items(corpus, spec), spec.rel_path
        kinds.update(item["in_catalogue"] for item in items)
    assert kinds == {True, False}


def test_removed_articles_keep_their_pages(client: TestClient, corpus: Corpus) -> None:
    removed = [s for s in corpus.articles.values() if s.summary["removed"]]
    assert removed
    body = client.get(f"/api/v1/articles/{removed[0].summary['id']}").json()
    assert body["removed"] is True


@pytest.mark.parametrize(
    "article",
    ["0000000000000000", "ffffffffffffffff", "B015DCDD5EFE684A", "b015dcdd5efe684", "xyz",
     "b015dcdd5efe684aa", "%00", "' OR 1=1 --", "é" * 16],
)  # fmt: skip
@pytest.mark.parametrize("suffix", ["", "/related"])
def test_unknown_ids_are_404(client: TestClient, article: str, suffix: str) -> None:
    response = client.get(f"/api/v1/articles/{article}{suffix}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_an_uppercase_id_of_a_real_article_is_404(client: TestClient, corpus: Corpus) -> None:
    some = next(iter(corpus.articles))
    assert client.get(f"/api/v1/articles/{some.upper()}").status_code == 404


# -- the real corpus, against an independent reading of each file -------------------------


def _front_matter(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    assert text.startswith("---\n")
    end = text.index("\n---", 4)
    data = yaml.load(text[4:end], Loader=yaml.CSafeLoader)
    assert isinstance(data, dict)
    return data


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    elif type(value) is date:
        value = datetime(value.year, value.month, value.day)
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def _z(value: datetime) -> str:
    return value.isoformat() + "Z"


def _stripped(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _image(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": _stripped(entry.get("url")),
        "width": entry.get("width"),
        "height": entry.get("height"),
        "is_cached": entry.get("isCached"),
    }


def _expected_detail(data: dict[str, Any], catalogue: dict[str, str]) -> dict[str, Any]:
    url = _stripped(data.get("webUrl")) or _stripped(data["originalUrl"])
    assert url is not None
    images = [_image(i) for i in data.get("images") or []]
    related = []
    for entry in data.get("related") or []:
        target = _stripped(entry.get("webUrl")) or _stripped(entry.get("originalUrl"))
        provider = entry.get("provider")
        when = entry.get("publishedDateTime")
        related.append(
            {
                "id": catalogue.get(target) if target else None,
                "url": target,
                "title": entry.get("title"),
                "excerpt": entry.get("excerpt"),
                "published_at": _z(_utc(when)) if when is not None else None,
                "type": entry.get("type"),
                "quality": entry.get("quality"),
                "provider": {"name": provider.get("name"), "domain": provider.get("domain")}
                if provider
                else None,
                "images": [_image(i) for i in entry.get("images") or []],
            }
        )
    secured = data.get("secured")
    return {
        "id": article_id(url),
        "url": url,
        "title": data["title"],
        "excerpt": data.get("excerpt"),
        "published_at": _z(_utc(data["publishedDateTime"])),
        "quality": data.get("quality"),
        "heat": data.get("heat"),
        "published": data.get("published"),
        "removed": data.get("removed"),
        "type": data.get("type"),
        "category": data.get("category"),
        "provider": {"name": data["provider"]["name"], "domain": data["provider"]["domain"]},
        "topics": data.get("topics") or [],
        "image": images[0] if images else None,
        "original_url": _stripped(data.get("originalUrl")),
        "amp_url": _stripped(data.get("ampWebUrl")),
        "cdn_amp_url": _stripped(data.get("cdnAmpWebUrl")),
        "images": images,
        "related": related,
        "featured_content": data.get("featuredContent"),
        "secured": "".join(secured.split()) if isinstance(secured, str) else None,
    }


def test_the_real_corpus_round_trips(database_url: str, shared_corpus: Path) -> None:
    files = sorted(p for p in shared_corpus.rglob("*.md") if p.is_file())
    report = ingest_paths([shared_corpus], database_url, workers=2)
    assert report.counts["rejected"] == 0, report.errors
    parsed = {p.relative_to(shared_corpus).as_posix(): _front_matter(p) for p in files}
    winners: dict[str, tuple[datetime, str]] = {}
    paths: dict[str, list[str]] = {}
    for rel, data in parsed.items():
        url = _stripped(data.get("webUrl")) or _stripped(data["originalUrl"])
        assert url is not None
        rank = (_utc(data["publishedDateTime"]), rel)
        winners[url] = max(winners.get(url, rank), rank)
        paths.setdefault(url, []).append(rel)
    catalogue = {url: article_id(url) for url in winners}
    with TestClient(create_app(Settings(DATABASE_URL=database_url))) as client:
        for url, (_, rel) in winners.items():
            expected = _expected_detail(parsed[rel], catalogue)
            expected["source_paths"] = sorted(paths[url])
            response = client.get(f"/api/v1/articles/{catalogue[url]}")
            assert response.status_code == 200, rel
            assert _check_stamps(response.json()) == expected, rel
        total = client.get("/api/v1/articles", params={"include_removed": True}).json()["total"]
    assert total == len(winners)
