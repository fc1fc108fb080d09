"""The `trilemma` command line. Each command group lives in its own module and registers itself here.

Library code raises typed errors; `main` turns them into `file: location: message` lines on stderr
and the documented exit codes (0 solved, 1 bad input, 2 infeasible, 3 time limit without a solution).
`--debug` re-raises instead, with the traceback.
"""

from __future__ import annotations

import sys

import typer

from solver import __version__
from solver.errors import InfeasibleError, TrilemmaError

app = typer.Typer(
    name="trilemma",
    help="Find the cheapest LLM serving deployment that meets your latency SLOs, with proof.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trilemma {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of short messages."),
) -> None:
    """Trilemma: throughput, latency, cost."""
    state["debug"] = debug


state: dict[str, bool] = {"debug": False}


def report_error(exc: TrilemmaError) -> int:
    """Print a user-facing error to stderr; returns the exit code."""
    if isinstance(exc, InfeasibleError):
        typer.echo("infeasible: no deployment meets the problem's requirements", err=True)
    for line in str(exc).splitlines():
        typer.echo(line, err=True)
    return exc.exit_code


def main() -> None:
    """Console entry point."""
    from solver.cli import commands  # noqa: F401  (registers the command modules)

    try:
        app(standalone_mode=False)
    except TrilemmaError as exc:
        if state["debug"]:
            raise
        sys.exit(report_error(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(1)
        raise
