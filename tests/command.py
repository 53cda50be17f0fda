"""Running the `newscat` command line in this process, as a user would in a shell."""

from __future__ import annotations

import io
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

from app.cli import run


@dataclass
class Invocation:
    exit_code: int
    output: str  # what the command wrote to stdout and stderr, in the order written


def invoke(args: Sequence[str]) -> Invocation:
    """Run `newscat ARGS...` and return its exit status and output."""
    buffer = io.StringIO()
    with redirect_stdout(buffer), redirect_stderr(buffer):
        try:
            status = run(args)
        except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
            status = exc.code if isinstance(exc.code, int) else 1
    return Invocation(status, buffer.getvalue())
