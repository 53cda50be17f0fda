"""The synthetic corpus: deterministic, sliceable, parseable, and shaped like the real files."""

from __future__ import annotations

import base64
import re
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import synth
from app.synth import FILES_PER_DIR, article_relpath, article_text, generate_corpus

REAL_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "powerapps"
BLOCK_KEYS = {"featuredContent", "provider", "topics", "images", "related", "secured"}
SECURED = re.compile(r"^[A-Za-z0-9+/]+=*;[A-Za-z0-9+/]+=*$")


def front_matter(text: str) -> dict[str, Any]:
    assert text.startswith("---\n") and text.endswith("\n---\n\n")
    data = yaml.load(text[4 : -len("---\n\n")], Loader=yaml.CSafeLoader)
    assert isinstance(data, dict)
    return data


def canonical(data: dict[str, Any]) -> str:
    return str(data.get("webUrl") or data["originalUrl"]).strip()


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def sample() -> list[tuple[str, dict[str, Any]]]:
    """2,000 files of seed 0: raw text and parsed front matter."""
    texts = [article_text(0, i) for i in range(2000)]
    return [(text, front_matter(text)) for text in texts]


def test_same_seed_same_bytes_and_other_seed_other_bytes(tmp_path: Path) -> None:
    assert generate_corpus(tmp_path / "a", 120, seed=7) == 120
    generate_corpus(tmp_path / "b", 120, seed=7)
    generate_corpus(tmp_path / "c", 120, seed=8)
    first, again, other = tree(tmp_path / "a"), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert len(first) == 120
    assert first == again
    assert not set(first.values()) & set(other.values())
    assert article_text(7, 5) == article_text(7, 5) != article_text(8, 5)


def test_slices_add_up_to_the_whole(tmp_path: Path) -> None:
    generate_corpus(tmp_path / "whole", 1500, seed=3)
    assert generate_corpus(tmp_path / "parts", 700, seed=3) == 700
    assert generate_corpus(tmp_path / "parts", 800, seed=3, start=700) == 800
    assert tree(tmp_path / "whole") == tree(tmp_path / "parts")


def test_parallel_workers_write_the_same_files(tmp_path: Path) -> None:
    generate_corpus(tmp_path / "serial", 2300, seed=4, start=500)
    assert generate_corpus(tmp_path / "parallel", 2300, seed=4, start=500, workers=2) == 2300
    assert tree(tmp_path / "serial") == tree(tmp_path / "parallel")


def test_layout_and_names(tmp_path: Path) -> None:
    generate_corpus(tmp_path, 2100, seed=1)
    folders = Counter(p.parent.name for p in tmp_path.rglob("*.md"))
    assert folders == {"0000": FILES_PER_DIR, "0001": FILES_PER_DIR, "0002": 100}
    for i in range(0, 2100, 97):
        relpath = article_relpath(1, i)
        assert re.fullmatch(r"\d{4}/\d{4}-\d\d-\d\d-[a-z0-9]+(-[a-z0-9]+)*\.md", relpath)
        path = tmp_path / relpath
        data = front_matter(path.read_text(encoding="utf-8"))
        assert path.name.startswith(data["publishedDateTime"].strftime("%Y-%m-%d-"))
    assert generate_corpus(tmp_path / "none", 0) == 0
    with pytest.raises(ValueError):
        generate_corpus(tmp_path, -1)
    with pytest.raises(ValueError):
        generate_corpus(tmp_path, 10, workers=0)


def test_every_file_parses_with_the_required_fields(
    sample: list[tuple[str, dict[str, Any]]],
) -> None:
    for i, (_, data) in enumerate(sample[:500]):
        assert data["category"] == "news"
        assert isinstance(data["title"], str) and data["title"]
        assert isinstance(data["excerpt"], str)
        assert isinstance(data["publishedDateTime"], datetime)
        assert 2015 <= data["publishedDateTime"].year <= 2026
        assert isinstance(data.get("webUrl", data["originalUrl"]), str)
        assert isinstance(data["provider"]["name"], str)
        assert re.fullmatch(r"[a-z0-9.]+\.[a-z]+", data["provider"]["domain"])
        assert data["type"] in {"article", "video"}
        assert isinstance(data["quality"], int) and 0 <= data["quality"] <= 300
        assert data["heat"] == -1 or 0 <= data["heat"] <= 500
        assert isinstance(data["published"], bool)
        assert data.get("removed", True) is True
        assert 1 <= len(data["topics"]) <= 3 and all(isinstance(t, str) for t in data["topics"])
        assert len(set(data["topics"])) == len(data["topics"])
        assert 1 <= len(data.get("images", [{}])) <= 2
        for image in data.get("images", []):
            assert set(image) == {"url", "width", "height", "isCached"}
        assert len(data.get("related", [{}])) <= 40
        for entry in data.get("related", []):
            assert isinstance(entry["title"], str) and isinstance(entry["webUrl"], str)
            assert isinstance(entry["publishedDateTime"], datetime)
            assert set(entry["provider"]) == {"name", "domain"}
        assert SECURED.match("".join(data["secured"].split()))
        if data["type"] == "video":
            assert data["featuredContent"].startswith("<iframe ")
        # What the YAML says is exactly what was generated: the escaping loses nothing.
        ident, _ = synth._identity(0, i)
        assert (data["title"], data["excerpt"]) == (ident.title, ident.excerpt)
        assert data["provider"]["name"] == ident.name


def test_text_exercises_escapes_accents_and_entities(
    sample: list[tuple[str, dict[str, Any]]],
) -> None:
    titles = [data["title"] for _, data in sample]
    excerpts = [data["excerpt"] for _, data in sample]
    assert any('"' in t for t in titles) and any(": " in t for t in titles)
    assert any("'" in t for t in titles) and any("&" in t for t in titles)
    for word in ("café", "Zürich", "naïve"):
        assert any(word in t for t in titles + excerpts), word
    for entity in ("&nbsp;", "&amp;", "&#8217;"):
        assert any(entity in e for e in excerpts), entity
    assert any("\r\n" in e for e in excerpts)


def share(sample: list[tuple[str, dict[str, Any]]], test: Any) -> float:
    return sum(1 for _, data in sample if test(data)) / len(sample)


@pytest.mark.parametrize(
    ("what", "test", "low", "high"),
    [
        ("published", lambda d: d["published"], 0.08, 0.18),
        ("removed", lambda d: d.get("removed"), 0.001, 0.015),
        ("video", lambda d: d["type"] == "video", 0.005, 0.04),
        ("no webUrl", lambda d: "webUrl" not in d, 0.005, 0.04),
        ("amp", lambda d: "ampWebUrl" in d and "cdnAmpWebUrl" in d, 0.03, 0.10),
        ("heat unknown", lambda d: d["heat"] == -1, 0.6, 0.8),
        ("provider images", lambda d: "images" in d["provider"], 0.15, 0.25),
        ("no images", lambda d: "images" not in d, 0.05, 0.12),
        ("related", lambda d: "related" in d, 0.35, 0.55),
        ("many related", lambda d: len(d.get("related", [])) > 20, 0.005, 0.1),
        ("folded secured", lambda d: " " in d["secured"], 0.06, 0.14),
    ],
)
def test_distribution(
    sample: list[tuple[str, dict[str, Any]]], what: str, test: Any, low: float, high: float
) -> None:
    assert low <= share(sample, test) <= high, what


def test_providers_and_topics_are_zipf_like(sample: list[tuple[str, dict[str, Any]]]) -> None:
    domains = Counter(data["provider"]["domain"] for _, data in sample)
    topics = Counter(t for _, data in sample for t in data["topics"])
    assert len(domains) > 120 and len(topics) > 100
    assert 0.05 < domains.most_common(1)[0][1] / len(sample) < 0.3
    assert domains.most_common(10)[-1][1] > 3 * domains.most_common(100)[-1][1]
    names = defaultdict(set)
    for _, data in sample:
        names[data["provider"]["domain"]].add(data["provider"]["name"])
    assert any(len(spellings) == 2 for spellings in names.values())


def test_folded_secured_is_written_over_several_lines(
    sample: list[tuple[str, dict[str, Any]]],
) -> None:
    folded = [text for text, _ in sample if re.search(r'^secured: "[^"\n]+\n  ', text, re.M)]
    assert folded
    for text in folded[:20]:
        blob = "".join(front_matter(text)["secured"].split())
        for part in blob.split(";"):
            base64.b64decode(part, validate=True)


def test_duplicates_share_a_url_but_not_a_date(sample: list[tuple[str, dict[str, Any]]]) -> None:
    by_url = defaultdict(list)
    for _, data in sample:
        by_url[canonical(data)].append(data["publishedDateTime"])
    duplicated = {url: dates for url, dates in by_url.items() if len(dates) > 1}
    assert 1 <= len(duplicated) <= 20
    assert all(len(set(dates)) == len(dates) for dates in duplicated.values())


def test_related_entries_point_at_other_articles(sample: list[tuple[str, dict[str, Any]]]) -> None:
    urls = {canonical(data) for _, data in sample}
    related = [entry["webUrl"] for _, data in sample for entry in data.get("related", [])]
    hits = sum(1 for url in related if url in urls)
    assert 0.15 < hits / len(related) < 0.45


def test_files_follow_the_real_key_order_and_grouping() -> None:
    if not REAL_CORPUS.is_dir():
        pytest.skip("the shared corpus is not present")
    before: set[tuple[str, str]] = set()
    for path in REAL_CORPUS.glob("*.md"):
        keys = re.findall(r"^([A-Za-z]+):", path.read_text(encoding="utf-8"), re.M)
        before.update((a, b) for n, a in enumerate(keys) for b in keys[n + 1 :])
    for i in range(300):
        text = article_text(5, i)
        keys = re.findall(r"^([A-Za-z]+):", text, re.M)
        assert not [(a, b) for n, a in enumerate(keys) for b in keys[n + 1 :] if (b, a) in before]
        blocks = re.findall(r"\n\n([A-Za-z]+):", text)
        assert set(blocks) <= BLOCK_KEYS
