"""A fixture corpus with known values, and what the catalogue must hold after ingesting it.

The files are written by hand-rolled YAML (JSON strings are YAML strings) so that every
tricky case is there on purpose: topics and provider domains differing only in case, missing
quality/heat, many equal sort keys, accents, HTML entities, timestamps in other zones and on
day boundaries, URLs with surrounding spaces or only an `originalUrl`, related entries that
point into the catalogue, and several files per URL.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from hashlib import sha256
from pathlib import Path
from typing import Any

COUNT = 300
SEED = 20240229

TOPICS = [
    "AI", "ai", "Ai", "Computer Vision", "computer vision", "Power Apps", "Café Culture",
    "café culture", "Économie", "100% Pure", "snake_case", "snakeXcase", "Sports", "Data",
]  # fmt: skip
PROVIDERS = [
    ("Microsoft", "microsoft.com"), ("MS", "Microsoft.com"), ("The Star", "thestar.com.my"),
    ("Example", "example.com"), ("Example Corp", "EXAMPLE.COM"), ("Per Cent", "per%cent.org"),
    ("Under Score", "under_score.net"), ("Zürich Zeitung", "zuerich.ch"),
]  # fmt: skip
TYPES = ["article", "article", "video", None, "Article"]
CATEGORIES = ["news", "news", "blog", None, "News"]
QUALITIES = [None, None, 0, 10, 50, 50, 50, 90, -5, 2**62, 37]
HEATS = [None, -1, -1, -1, 0, 7, 100, 2**63 - 1, -(2**63)]
WORDS = [
    "power", "apps", "cloud", "data", "café", "cafe", "résumé", "resume", "Zürich", "zurich",
    "new", "york", "robot", "robotics", "vision", "computer", "market", "markets", "naïve",
    "energy", "MIXED", "Case", "or", "and", "2021", "x11",
]  # fmt: skip
ZONES = [UTC, UTC, timezone(timedelta(hours=-2)), timezone(timedelta(hours=5, minutes=30)),
         timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))]  # fmt: skip
# Instants on and around UTC day boundaries, and a few far apart; shared by many articles.
BASE_INSTANTS = [
    datetime(2021, 7, 28, 0, 0, 0), datetime(2021, 7, 28, 23, 59, 59),
    datetime(2021, 7, 28, 23, 59, 59, 999999), datetime(2021, 7, 29, 0, 0, 0),
    datetime(2021, 7, 27, 23, 30), datetime(2021, 7, 28, 12, 39), datetime(2020, 12, 31, 23, 0),
    datetime(2021, 1, 1, 0, 30), datetime(2024, 2, 29, 12, 0, 0, 250000),
    datetime(2019, 8, 19, 6, 0), datetime(2023, 3, 1, 9, 15, 30),
]  # fmt: skip


def article_id(url: str) -> str:
    return sha256(url.encode()).hexdigest()[:16]


def iso_z(value: datetime) -> str:
    return value.isoformat() + "Z"


@dataclass
class Spec:
    """One file: what it says, and its article as the API must show it if it wins."""

    rel_path: str
    url: str
    published_at: datetime
    summary: dict[str, Any]
    detail: dict[str, Any]
    related_urls: list[str | None] = field(default_factory=list)


@dataclass
class Corpus:
    specs: list[Spec]
    # The winning spec of each article, by id.
    articles: dict[str, Spec]
    topic_names: dict[str, str]
    provider_names: dict[str, str]

    def summaries(self) -> list[dict[str, Any]]:
        return [spec.summary for spec in self.articles.values()]


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _text(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words) + 1), "new york")
    text = "".join(word + rng.choice([" ", " ", " ", ", ", "-", ". "]) for word in words).strip()
    return text[:1].upper() + text[1:] if rng.random() < 0.5 else text


def _timestamp(rng: random.Random, instant: datetime) -> str:
    """`instant` (naive UTC) as the file writes it: some zone, some form."""
    zone = rng.choice(ZONES)
    local = instant.replace(tzinfo=UTC).astimezone(zone)
    style = rng.randrange(4)
    if style == 0 and zone is UTC:
        return instant.isoformat()  # naive: UTC by the spec
    text = local.isoformat()
    if style == 1:
        text = text.replace("T", " ")  # YAML's spaced form
    if style == 2:
        return _q(text)  # an ISO 8601 string rather than a YAML timestamp
    return text.replace("+00:00", "Z")


def _image(rng: random.Random, n: int) -> tuple[list[str], dict[str, Any]]:
    url = f"https://img.example.com/{n}.jpg"
    width, height = rng.choice([(800, 450), (1024, 681), (None, None)])
    cached = rng.choice([True, False, None])
    lines = [f"  - url: {_q(url)}"]
    if width is not None:
        lines += [f"    width: {width}", f"    height: {height}"]
    if cached is not None:
        lines.append(f"    isCached: {'true' if cached else 'false'}")
    return lines, {"url": url, "width": width, "height": height, "is_cached": cached}


def _related(
    rng: random.Random, index: int, urls: list[str]
) -> tuple[list[str], list[dict[str, Any]], list[str | None]]:
    lines: list[str] = []
    entries: list[dict[str, Any]] = []
    targets: list[str | None] = []
    for k in range(rng.choice([0, 0, 1, 2, 4])):
        internal = rng.random() < 0.6 and bool(urls)
        url = rng.choice(urls) if internal else f"https://elsewhere.example/{index}/{k}"
        key = rng.choice(["webUrl", "webUrl", "originalUrl"])
        padded = f"  {url} " if rng.random() < 0.2 else url
        instant = rng.choice(BASE_INSTANTS)
        quality = rng.choice([None, 12, 80])
        title = _text(rng, 2, 5)
        lines += [
            f"  - title: {_q(title)}",
            f"    {key}: {_q(padded)}",
            f"    publishedDateTime: {_timestamp(rng, instant)}",
            "    type: article",
            "    provider:",
            "      name: Elsewhere",
            "      domain: elsewhere.example",
        ]
        if quality is not None:
            lines.append(f"    quality: {quality}")
        image_lines, image = _image(rng, 10_000 + index * 10 + k)
        lines += ["    images:", *("  " + line for line in image_lines)]
        entries.append(
            {
                "url": url,
                "title": title,
                "excerpt": None,
                "published_at": iso_z(instant),
                "type": "article",
                "quality": quality,
                "provider": {"name": "Elsewhere", "domain": "elsewhere.example"},
                "images": [image],
            }
        )
        targets.append(url)
    return lines, entries, targets


def _spec(rng: random.Random, index: int, url: str, earlier: list[str], rel_path: str) -> Spec:
    instant = rng.choice(BASE_INSTANTS) + timedelta(days=rng.choice([0, 0, 0, 1, 40, 400]))
    title = _text(rng, 2, 6)
    excerpt = _text(rng, 0, 10) if rng.random() < 0.85 else None
    if excerpt is not None and rng.random() < 0.1:
        excerpt += " &nbsp;AT&amp;T"
    provider_name, domain = rng.choice(PROVIDERS)
    topics = rng.sample(TOPICS, rng.randint(1, 4))
    if rng.random() < 0.3:  # enough rare topics for the facet's top-50 cut to bite
        topics.append(f"{rng.choice(['Rare', 'rare', 'Ärger', 'zeta', 'Zeta'])} {index % 97}")
    values: dict[str, Any] = {
        "quality": rng.choice(QUALITIES),
        "heat": rng.choice(HEATS),
        "published": rng.choice([True, False, None]),
        "removed": rng.choice([True] + [False] * 2 + [None] * 9),
        "type": rng.choice(TYPES),
        "category": rng.choice(CATEGORIES),
    }
    web = rng.random() < 0.9
    lines = ["---", f"title: {_q(title)}", f"publishedDateTime: {_timestamp(rng, instant)}"]
    if excerpt is not None:
        lines.append(f"excerpt: {_q(excerpt)}")
    padded = f" {url}  " if rng.random() < 0.1 else url
    lines.append(f"{'webUrl' if web else 'originalUrl'}: {_q(padded)}")
    original = url if not web else (f"{url}?orig" if rng.random() < 0.5 else None)
    if web and original is not None:
        lines.append(f"originalUrl: {_q(original)}")
    amp = f"{url}/amp" if rng.random() < 0.3 else None
    if amp is not None:
        lines += [f"ampWebUrl: {_q(amp)}", f"cdnAmpWebUrl: {_q(amp + '?cdn')}"]
    for key in ("type", "category"):
        if values[key] is not None:
            lines.append(f"{key}: {values[key]}")
    for key in ("quality", "heat"):
        if values[key] is not None:
            lines.append(f"{key}: {values[key]}")
    for key in ("published", "removed"):
        if values[key] is not None:
            lines.append(f"{key}: {'true' if values[key] else 'false'}")
    lines += ["provider:", f"  name: {_q(provider_name)}", f"  domain: {_q(domain)}", "topics:"]
    lines += [f"  - {_q(topic)}" for topic in topics]
    images = []
    if rng.random() < 0.8:
        lines.append("images:")
        for k in range(rng.randint(1, 3)):
            image_lines, image = _image(rng, index * 10 + k)
            lines += image_lines
            images.append(image)
    related_lines, related, targets = _related(rng, index, earlier)
    if related_lines:
        lines += ["related:", *related_lines]
    featured = "<iframe src='https://video.example/1'></iframe>" if rng.random() < 0.1 else None
    if featured is not None:
        lines.append(f"featuredContent: {_q(featured)}")
    secured = None
    if rng.random() < 0.5:
        secured = f"AbC{index}+/xyz==;q{index}w=="
        lines += ["secured: >-", f"  {secured[:6]}", f"  {secured[6:]}"]
    lines += ["---", ""]
    summary = {
        "id": article_id(url),
        "url": url,
        "title": title,
        "excerpt": excerpt,
        "published_at": iso_z(instant),
        **values,
        "provider": {"name": provider_name, "domain": domain},
        "topics": topics,
        "image": images[0] if images else None,
    }
    detail = {
        **summary,
        "original_url": original,
        "amp_url": amp,
        "cdn_amp_url": amp + "?cdn" if amp else None,
        "images": images,
        "related": related,
        "featured_content": featured,
        "secured": "".join(secured.split()) if secured else None,
    }
    spec = Spec(rel_path, url, instant, summary, detail, targets)
    spec.detail["_text"] = "\n".join(lines)
    return spec


def write_corpus(dest: Path, *, count: int = COUNT, seed: int = SEED) -> Corpus:
    """Write `count` articles (plus extra files for some URLs) under `dest`."""
    rng = random.Random(seed)
    specs: list[Spec] = []
    urls: list[str] = []
    for index in range(count):
        url = f"https://news.example.org/{index:04d}/{rng.choice(WORDS).lower()}"
        specs.append(_spec(rng, index, url, urls, f"a/{index:04d}.md"))
        urls.append(url)
        if index % 25 == 3:  # another file for this URL, which may or may not win
            specs.append(_spec(rng, index, url, urls, f"b/{index:04d}-again.md"))
    for spec in specs:
        path = dest / spec.rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(spec.detail.pop("_text"), encoding="utf-8")
    return _expected(specs)


def _expected(specs: list[Spec]) -> Corpus:
    groups: dict[str, list[Spec]] = defaultdict(list)
    for spec in specs:
        groups[spec.summary["id"]].append(spec)
    articles = {}
    for article, group in groups.items():
        winner = max(group, key=lambda s: (s.published_at, s.rel_path))
        winner.detail["source_paths"] = sorted(s.rel_path for s in group)
        articles[article] = winner
    catalogue_urls = {spec.url: spec.summary["id"] for spec in articles.values()}
    for spec in articles.values():
        for entry in spec.detail["related"]:
            entry["id"] = catalogue_urls.get(entry["url"])
    return Corpus(specs, articles, _topic_names(articles), _provider_names(articles))


def _most_common(pairs: list[tuple[str, str]]) -> dict[str, str]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for key, name in pairs:
        counts[key][name] += 1
    return {k: min(c.items(), key=lambda item: (-item[1], item[0]))[0] for k, c in counts.items()}


def _topic_names(articles: dict[str, Spec]) -> dict[str, str]:
    pairs = []
    for spec in articles.values():
        seen = set()
        for topic in spec.summary["topics"]:
            key = topic.strip().lower()
            if key not in seen:
                seen.add(key)
                pairs.append((key, topic.strip()))
    return _most_common(pairs)


def _provider_names(articles: dict[str, Spec]) -> dict[str, str]:
    return _most_common(
        [
            (s.summary["provider"]["domain"].lower(), s.summary["provider"]["name"])
            for s in articles.values()
        ]
    )
