"""Which files an ingest takes from the paths it is given, and the names it gives them."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.ingest.parsers import walk

ARTICLE_FILES = ["a.md", "b.MARKDOWN", "c.txt", "d.Yaml", "e.tar.md", "sub/f.md", "sub/deep/g.md"]
OTHER_FILES = [".hidden.md", "..md", "notes", "h.json", "i.md.bak", ".git/j.md", "sub/.k/l.md"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    for name in ARTICLE_FILES + OTHER_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("---\ntitle: x\n---\n", encoding="utf-8")
    return root


def test_takes_article_suffixes_in_any_case_and_skips_hidden_files(tree: Path) -> None:
    found = list(walk([tree]))
    assert sorted(rel for _, rel, _ in found) == sorted(ARTICLE_FILES)
    for full, rel, display in found:
        assert full == str(tree / rel) and display == str(tree / rel)


def test_files_come_in_sorted_order_within_each_directory(tree: Path) -> None:
    rels = [rel for _, rel, _ in walk([tree])]
    top = [rel for rel in rels if "/" not in rel]
    assert top == sorted(top) and rels.index("sub/f.md") < rels.index("sub/deep/g.md")


def test_names_follow_the_root_as_given(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree / "sub")
    found = {rel: (full, display) for full, rel, display in walk([Path(".."), Path("deep/g.md")])}
    assert found["sub/deep/g.md"] == (str(tree / "sub/deep/g.md"), "../sub/deep/g.md")
    assert found["a.md"] == (str(tree / "a.md"), "../a.md")
    assert len(found) == len(ARTICLE_FILES)  # g.md once, under the first root that holds it
    (single,) = walk([Path("deep/g.md")])
    assert single == (str(tree / "sub/deep/g.md"), "g.md", "deep/g.md")
