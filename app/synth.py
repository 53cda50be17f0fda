"""Synthetic article files in the catalogue's input format, for demos, tests and benchmarks.

File `i` of a corpus depends only on `(seed, i)`: corpora can be generated in slices, in any
order or in parallel, and still come out byte-identical. The YAML is written from string
templates rather than a YAML emitter because emitting is the bottleneck at a million files.
"""

from __future__ import annotations

import base64
import bisect
import html
import itertools
import multiprocessing
import os
import random
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from app import synth_text as words

FILES_PER_DIR = 1000

_TLDS = ["com"] * 8 + ["net", "co.uk", "de", "ch", "fr", "io", "com.au", "in", "org"]
_SECTIONS = ["tech", "business", "science", "world", "markets", "culture"]
_SIZES = [(800, 450), (1024, 681), (1200, 630), (1280, 720), (1600, 900), (640, 360), (1600, 1600)]
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

_START = int(datetime(2015, 1, 1, tzinfo=UTC).timestamp())
_SPAN = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp()) - _START
_DAYS = [datetime.fromtimestamp(_START + d * 86400, UTC).strftime("%Y-%m-%d") for d in range(4400)]


def _zipf(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


class _Provider(NamedTuple):
    name: str
    alt_name: str | None
    domain: str
    style: int


def _build_providers() -> list[_Provider]:
    """About 300 made-up outlets; a fixed generator keeps the pool identical for every seed."""
    rng = random.Random(20150101)
    combos = [f"{h} {t}" for h in words.PROVIDER_HEADS for t in words.PROVIDER_TAILS]
    rng.shuffle(combos)
    providers: list[_Provider] = []
    domains: set[str] = set()
    for name in combos:
        if len(providers) == 300:
            break
        if rng.random() < 0.15:
            name = "The " + name
        domain = f"{words.slug(name.removeprefix('The ')).replace('-', '')}.{rng.choice(_TLDS)}"
        if domain in domains:
            continue
        domains.add(domain)
        alt = None
        if rng.random() < 0.08:
            # Real feeds name some outlets two ways; the catalogue must cope with both.
            bare = name.removeprefix("The ")
            alt = rng.choice(
                [domain.capitalize(), name.upper(), "The " + bare if bare == name else bare]
            )
        providers.append(_Provider(name, alt, domain, rng.randrange(5)))
    return providers


_PROVIDERS = _build_providers()
_PROVIDER_CUM = _zipf(len(_PROVIDERS), 1.0)
_TOPIC_CUM = _zipf(len(words.TOPICS), 1.05)
_TOPIC_YAML = [words.scalar(t) for t in words.TOPICS]
_NAME_YAML = {n: words.scalar(n) for p in _PROVIDERS for n in (p.name, p.alt_name) if n}


class _Ident(NamedTuple):
    """What other files may repeat about an article: duplicates and related entries reuse it."""

    title: str
    excerpt: str
    ts: int
    provider: _Provider
    name: str
    web: str | None
    original: str
    amp: str | None
    cdn: str | None
    video: str | None


def _stamp(ts: int) -> str:
    day, sec = divmod(ts - _START, 86400)
    hour, sec = divmod(sec, 3600)
    minute, sec = divmod(sec, 60)
    return f"{_DAYS[day]}T{hour:02d}:{minute:02d}:{sec:02d}Z"


def _url_for(rng: random.Random, prov: _Provider, slug: str, ts: int) -> tuple[str, str | None]:
    day = _DAYS[(ts - _START) // 86400]
    num = rng.randrange(10**6, 10**8)
    style = prov.style
    if style == 0:
        host, path = "www." + prov.domain, f"/{day.replace('-', '/')}/{slug}/"
        amp: str | None = path + "amp/"
    elif style == 1:
        host, path, amp = prov.domain, f"/news/{slug}-{num}", None
    elif style == 2:
        host, path = "www." + prov.domain, f"/article/{num}/{slug}.html"
        amp = path.replace(".html", ".amp.html")
    elif style == 3:
        path = f"/blog/{slug}-{num % 100000}/"
        host, amp = prov.domain, path + "?amp=1"
    else:
        host, path, amp = "www." + prov.domain, f"/{_SECTIONS[num % 6]}/{slug}-{num}", None
    return f"https://{host}{path}", (f"https://{host}{amp}" if amp else None)


def _new_ident(rng: random.Random, ts: int | None = None) -> _Ident:
    """Draws a fresh article identity; `ts` pins the date (and a short excerpt) for related ones."""
    title = words.title(rng)
    limit = 200 if ts is not None else (200, 250, 300, 300)[int(rng.random() * 4)]
    excerpt = words.excerpt(rng, limit)
    if ts is None:
        ts = _START + int(rng.random() * _SPAN)
        if rng.random() < 0.3:
            ts -= (ts - _START) % 60
    prov = _PROVIDERS[bisect.bisect(_PROVIDER_CUM, rng.random() * _PROVIDER_CUM[-1])]
    name = prov.alt_name if prov.alt_name and rng.random() < 0.3 else prov.name
    video: str | None = None
    amp: str | None = None
    cdn: str | None = None
    web: str | None
    if rng.random() < 0.02:
        video = "".join(rng.choices(_B64URL, k=11))
        web = original = f"https://www.youtube.com/watch?v={video}"
    else:
        web, style_amp = _url_for(rng, prov, words.slug(title), ts)
        original = web + "?utm_source=rss" if rng.random() < 0.04 else web
        if rng.random() < 0.06:
            amp = style_amp or web.rstrip("/") + "/amp/"
            host, _, path = amp.removeprefix("https://").partition("/")
            # The AMP cache's host naming scheme: dashes doubled, then dots become dashes.
            cache = host.replace("-", "--").replace(".", "-")
            cdn = f"https://{cache}.cdn.ampproject.org/c/s/{host}/{path}"
    if rng.random() < 0.02:
        web = None
    return _Ident(title, excerpt, ts, prov, name, web, original, amp, cdn, video)


def _identity(seed: int, i: int) -> tuple[_Ident, random.Random]:
    """File i's identity and its generator, positioned where the rest of the file draws from."""
    rng = random.Random(f"newscat:{seed}:{i}")
    if i > 0 and rng.random() < 0.003:
        # A re-published copy of an earlier article: same URL, different date.
        base, _ = _identity(seed, int(rng.random() * i))
        shift = 86400 * rng.randrange(1, 30) + rng.randrange(86400)
        ts = base.ts + shift if base.ts + shift < _START + _SPAN else base.ts - shift
        return base._replace(ts=ts), rng
    return _new_ident(rng), rng


def _image(rng: random.Random, host: str, ts: int, indent: str) -> str:
    width, height = rng.choice(_SIZES)
    day = _DAYS[(ts - _START) // 86400]
    url = f"https://{host}/uploads/{day[:4]}/{day[5:7]}/{rng.getrandbits(48):012x}.jpg"
    cached = "true" if rng.random() < 0.85 else "false"
    return (
        f'{indent}- url: "{url}"\n{indent}  width: {width}\n{indent}  height: {height}\n'
        f"{indent}  isCached: {cached}\n"
    )


def _related(rng: random.Random, seed: int, i: int, ts: int) -> str:
    out = []
    for _ in range(1 + int(40 * rng.random() ** 4)):
        if i > 0 and rng.random() < 0.3:
            ref, _ = _identity(seed, int(rng.random() * i))
        else:
            ref = _new_ident(rng, max(_START, ts - rng.randrange(30 * 86400)))
        url = ref.web or ref.original
        out.append(
            f"  - title: {words.quote(ref.title)}\n    excerpt: {words.quote(ref.excerpt[:200])}\n"
            f"    publishedDateTime: {_stamp(ref.ts)}\n    webUrl: {words.quote(url)}\n"
        )
        if ref.amp:
            out.append(f"    ampWebUrl: {words.quote(ref.amp)}\n")
        if ref.cdn:
            out.append(f"    cdnAmpWebUrl: {words.quote(ref.cdn)}\n")
        out.append(
            f"    type: {'video' if ref.video else 'article'}\n    provider:\n"
            f"      name: {_NAME_YAML[ref.name]}\n      domain: {ref.provider.domain}\n"
            f"    quality: {int(rng.random() ** 1.6 * 301)}\n"
        )
        if rng.random() < 0.8:
            out.append(
                "    images:\n" + _image(rng, "cdn." + ref.provider.domain, ref.ts, "      ")
            )
    return "".join(out)


def _secured(rng: random.Random) -> str:
    blob = base64.b64encode(rng.randbytes(16 * rng.randrange(8, 25))).decode("ascii")
    iv = base64.b64encode(rng.randbytes(16)).decode("ascii")
    value = f"{blob};{iv}"
    if rng.random() >= 0.1:
        return f'"{value}"'
    # Folded over indented lines: YAML turns each line break into a space inside the value.
    width = rng.randrange(60, 100)
    lines = [value[k : k + width] for k in range(0, len(value), width)]
    return '"' + "\n  ".join(lines) + '"'


def _render(seed: int, i: int) -> tuple[str, str]:
    ident, rng = _identity(seed, i)
    prov = ident.provider
    parts = [
        f"---\ncategory: news\ntitle: {words.quote(ident.title)}\n"
        f"excerpt: {words.quote(ident.excerpt)}\npublishedDateTime: {_stamp(ident.ts)}\n"
        f"originalUrl: {words.quote(ident.original)}\n"
    ]
    if ident.web:
        parts.append(f"webUrl: {words.quote(ident.web)}\n")
    if ident.amp:
        parts.append(f"ampWebUrl: {words.quote(ident.amp)}\n")
    if ident.cdn:
        parts.append(f"cdnAmpWebUrl: {words.quote(ident.cdn)}\n")
    quality = int(rng.random() ** 1.6 * 301)
    heat = -1 if rng.random() < 0.7 else rng.randrange(501)
    parts.append(
        f"type: {'video' if ident.video else 'article'}\nquality: {quality}\nheat: {heat}\n"
        f"published: {'true' if rng.random() < 0.13 else 'false'}\n"
    )
    if rng.random() < 0.005:
        parts.append("removed: true\n")
    parts.append("\n")
    if ident.video:
        frame = (
            f'<iframe width="800" height="450" src="https://www.youtube-nocookie.com/embed/'
            f'{ident.video}" title="{html.escape(ident.title)}" frameborder="0" '
            "allowfullscreen></iframe>"
        )
        parts.append(f"featuredContent: {words.quote(frame)}\n\n")
    parts.append(f"provider:\n  name: {_NAME_YAML[ident.name]}\n  domain: {prov.domain}\n")
    if rng.random() < 0.2:
        logo = f"https://logos.newscat.example/organizations/{prov.domain}-50x50.jpg"
        parts.append(f'  images:\n    - url: "{logo}"\n      width: 50\n      height: 50\n')
    parts.append("\ntopics:\n")
    roll = rng.random()
    wanted = 3 if roll < 0.1 else 2 if roll < 0.35 else 1
    picks: list[int] = []
    while len(picks) < wanted:
        pick = bisect.bisect(_TOPIC_CUM, rng.random() * _TOPIC_CUM[-1])
        if pick not in picks:
            picks.append(pick)
    parts.extend(f"  - {_TOPIC_YAML[pick]}\n" for pick in picks)
    parts.append("\n")
    if rng.random() >= 0.08:
        host = "images." + prov.domain
        images = [_image(rng, host, ident.ts, "  ") for _ in range(1 if rng.random() < 0.8 else 2)]
        parts.append("images:\n" + "".join(images) + "\n")
    if rng.random() >= 0.55:
        parts.append("related:\n" + _related(rng, seed, i, ident.ts) + "\n")
    parts.append(f"secured: {_secured(rng)}\n---\n\n")
    return f"{_DAYS[(ident.ts - _START) // 86400]}-{words.slug(ident.title)}.md", "".join(parts)


def article_text(seed: int, i: int) -> str:
    """The full text of file `i` of the corpus made with `seed`."""
    return _render(seed, i)[1]


def article_relpath(seed: int, i: int) -> str:
    """Where `generate_corpus` puts file `i`, relative to its destination folder."""
    return f"{i // FILES_PER_DIR:04d}/{_render(seed, i)[0]}"


def generate_corpus(
    dest: Path, count: int, *, seed: int = 0, start: int = 0, workers: int | None = None
) -> int:
    """Write files `start` to `start + count - 1` under `dest`; returns how many were written.

    Files go to `dest/NNNN/<date>-<slug>.md`, at most `FILES_PER_DIR` per folder. Existing
    files with the same names are overwritten, so an interrupted run can simply be repeated.
    `workers` > 1 writes whole folders in parallel processes (same files); by default large
    corpora use one process per CPU, small ones stay in this process.
    """
    if workers is None:
        workers = _default_workers(count)
    if count < 0 or start < 0 or workers < 1:
        raise ValueError("count and start must not be negative, workers must be positive")
    if workers > 1 and count > FILES_PER_DIR:
        first = (start // FILES_PER_DIR + 1) * FILES_PER_DIR
        bounds = [start, *range(first, start + count, FILES_PER_DIR), start + count]
        # Spawned, not forked: the caller may be a threaded server or test runner.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            jobs = [
                pool.submit(_write_range, str(dest), seed, lo, hi)
                for lo, hi in itertools.pairwise(bounds)
            ]
            return sum(job.result() for job in jobs)
    return _write_range(str(dest), seed, start, start + count)


def _default_workers(count: int) -> int:
    if count < 10 * FILES_PER_DIR:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, 8))


def _write_range(dest: str, seed: int, start: int, stop: int) -> int:
    # Creating a file costs the kernel more than rendering one costs Python, and the GIL is
    # released meanwhile, so a writer thread overlaps the two; two batches bound the memory.
    with ThreadPoolExecutor(1) as writer:
        pending: Future[None] | None = None
        batch: list[tuple[str, bytes]] = []
        folder_index = -1
        folder = ""
        for i in range(start, stop):
            name, text = _render(seed, i)
            if i // FILES_PER_DIR != folder_index:
                folder_index = i // FILES_PER_DIR
                folder = os.path.join(dest, f"{folder_index:04d}")
                os.makedirs(folder, exist_ok=True)
            batch.append((os.path.join(folder, name), text.encode("utf-8")))
            if len(batch) == 64 or i == stop - 1:
                if pending is not None:
                    pending.result()
                pending = writer.submit(_write_files, batch)
                batch = []
        if pending is not None:
            pending.result()
    return stop - start


def _write_files(batch: list[tuple[str, bytes]]) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    for path, data in batch:
        fd = os.open(path, flags, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
