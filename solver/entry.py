"""The `trilemma` console entry point. It imports nothing heavy itself, so that Ctrl-C while the
libraries load (the first second) prints `aborted` and exits 1 like any other interruption."""

from __future__ import annotations

import sys

ABORTED_EXIT_CODE = 1


def main() -> None:
    try:
        from solver.cli import run

        code = run()
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        code = ABORTED_EXIT_CODE
    sys.exit(code)
