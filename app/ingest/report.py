"""What an ingest run reports: its counts, the files it rejected and the duplicates.

Importing this module must stay cheap (no SQLAlchemy): an unchanged re-ingest reports
without the database layer (see `app.ingest.unchanged`).
"""

from __future__ import annotations

from typing import Any

from app.ingest.rejection import IngestError


class UsageError(Exception):
    """The command was called wrongly (exit status 2)."""


class IngestReport:
    """What one run did: counts by outcome, the rejected files and the duplicates."""

    def __init__(self, *, dry_run: bool = False) -> None:
        self.counts: dict[str, int] = dict.fromkeys(
            ("new", "updated", "unchanged", "rejected", "duplicates", "pruned"), 0
        )
        self.errors: list[dict[str, Any]] = []
        self.duplicates: list[dict[str, str]] = []
        self.dry_run = dry_run

    @property
    def exit_code(self) -> int:
        return 1 if self.counts["rejected"] else 0

    def reject(self, display: str, error: IngestError) -> None:
        self.counts["rejected"] += 1
        self.errors.append({"path": display, "line": error.line, "reason": error.reason})

    def set_duplicates(self, duplicates: list[dict[str, str]]) -> None:
        self.duplicates = duplicates
        self.counts["duplicates"] = len(duplicates)

    def to_json(self) -> bytes:
        import orjson

        body = {"counts": self.counts, "errors": self.errors, "duplicates": self.duplicates}
        return orjson.dumps(body, option=orjson.OPT_INDENT_2)

    def summary(self) -> str:
        c = self.counts
        prefix = "dry run: " if self.dry_run else ""
        return (
            f"{prefix}{c['new']} new, {c['updated']} updated, {c['unchanged']} unchanged, "
            f"{c['rejected']} rejected, {c['duplicates']} duplicates, {c['pruned']} pruned"
        )
