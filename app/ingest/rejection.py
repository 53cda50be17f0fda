"""Why a file is rejected: the one error each stage of the ingest raises for a bad file.

Kept apart from the parsed record (app.ingest.record) so that what only reports rejections,
such as an unchanged re-ingest, imports nothing else (see `app.ingest.unchanged`).
"""

from __future__ import annotations


class IngestError(Exception):
    """One file could not be ingested; `reason` is for people, `line` is 1-based in the file."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line

    def __str__(self) -> str:
        return self.reason if self.line is None else f"line {self.line}: {self.reason}"
