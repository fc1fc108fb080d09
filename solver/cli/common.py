"""Pieces every command shares: option types, the stdout console, number formatting, and the checks
run on command-line values before any work starts (run limits, percentiles, output files).

A check that fails raises `InputError` with `command line` (or the output path) as its file, so the
CLI prints `--option: got X; allowed: ...` or `PATH: cannot write ...` and exits 1 before a long solve.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from solver.errors import InputError, Issue, ProblemError
from solver.percentiles import MEAN, PERCENTILE_MAX, PERCENTILE_MIN

if TYPE_CHECKING:
    from solver.problem import Percentile

CatalogFiles = Annotated[
    list[Path] | None,
    typer.Option("--catalog", help="Extra catalog YAML merged over the built-ins (repeatable; later files win)."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (every field) instead of a table.")]

PIPED_WIDTH = 220
"""Console width when stdout is not a terminal, so that piped tables keep one line per row."""

CLI = "command line"
"""The `file` of issues about command-line values."""


def errors_at_problem_file(command: Callable[..., Any]) -> Callable[..., Any]:
    """Point issues raised deep in a solve without a file (integer scaling limits, say) at the
    command's `problem_file`, so every message starts with the path the user gave."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ProblemError as exc:
            raise exc.located(str(kwargs.get("problem_file", "problem"))) from None

    return run


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """rich exits 1 when the reader of stdout goes away; `trilemma ... | head` is a normal end, which
        the CLI's runner handles (exit 0)."""
        raise BrokenPipeError


def stdout_console() -> Console:
    """Console on the current stdout (so redirection and capture work); wide when not a terminal."""
    console = _Console(file=sys.stdout)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = _Console(file=sys.stdout, width=PIPED_WIDTH)
    return console


def fmt_number(value: Any) -> str:
    """A table cell: `-` for missing, yes/no for booleans, thousands separators for large numbers and
    three significant digits for small ones."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return str(value)


def fmt_ms(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.1f}"


def percentile_label(percentile: Percentile) -> str:
    """`p99`, `p99.9` or `mean`."""
    return MEAN if percentile == MEAN else f"p{float(percentile):g}"


# --------------------------------------------------------------------------------------------
# Checks of command-line values

MAX_TIME_LIMIT_S = 86_400
MAX_WORKERS = 64


def check_run_options(time_limit: float | None = None, workers: int | None = None, jobs: int | None = None) -> None:
    """Solver limits: checked here so a typo is bad input (exit 1), not a solver failure."""
    issues = []
    if time_limit is not None and not (math.isfinite(time_limit) and 0 < time_limit <= MAX_TIME_LIMIT_S):
        issues.append(Issue(CLI, "--time-limit", f"got {time_limit}; allowed: seconds > 0 and ≤ {MAX_TIME_LIMIT_S}"))
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        issues.append(Issue(CLI, "--workers", f"got {workers}; allowed: 1 to {MAX_WORKERS}"))
    if jobs is not None and not 1 <= jobs <= MAX_WORKERS:
        issues.append(Issue(CLI, "--jobs", f"got {jobs}; allowed: 1 to {MAX_WORKERS}"))
    if issues:
        raise InputError(issues)


def parse_percentile(text: str | None, option: str = "--percentile") -> Percentile | None:
    """`--percentile` text: a number from 50 to 99.9, or `mean`; the same rule as the problem file's
    `slo.percentile`. None stays None (not given)."""
    if text is None:
        return None
    word = text.strip().lower()
    if word == MEAN:
        return MEAN
    try:
        value = float(word)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and PERCENTILE_MIN <= value <= PERCENTILE_MAX):
        raise InputError([Issue(CLI, option, f"got {text!r}; allowed: a number from {PERCENTILE_MIN:g} to "
                                             f"{PERCENTILE_MAX:g}, or {MEAN}")])
    return value


def output_issue(path: Path | None, option: str, suffixes: tuple[str, ...]) -> Issue | None:
    """Why `path` cannot be written by `option` (None when it can): the extension is one of
    `suffixes`, the folder exists and is writable, and the path is not a folder."""
    if path is None:
        return None
    if path.suffix.lower() not in suffixes:
        return Issue(str(path), "", f"cannot write {option} here: the extension must be "
                                    f"{' or '.join(suffixes)} (got {path.suffix or 'none'})")
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return Issue(str(path), "", f"cannot write {option}: it is a folder")
    if not folder.is_dir():
        return Issue(str(path), "", f"cannot write {option}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return Issue(str(path), "", f"cannot write {option}: permission denied")
    return None


def check_outputs(*outputs: tuple[Path | None, str, tuple[str, ...]]) -> None:
    """Every (path, option, allowed suffixes) must be writable; all problems at once, before any work."""
    issues = [i for i in (output_issue(*o) for o in outputs) if i is not None]
    if issues:
        raise InputError(issues)


def write_atomic(path: Path, write) -> None:
    """Call `write(tmp_path)` then move the result onto `path`, so an interrupted or failed write
    leaves no partial file; an OS error becomes `PATH: cannot write ...`."""
    tmp = path.with_name(f".{path.name}.partial{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError([Issue(str(path), "", f"cannot write: {exc.strerror or exc}")]) from None
    finally:
        if tmp.exists():
            tmp.unlink()
