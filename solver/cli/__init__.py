"""The `trilemma` command line. Each command group lives in its own module and registers itself here.

Library code raises typed errors; `main` turns them into `file: location: message` lines on stderr
and the documented exit codes (0 solved, 1 bad input or bad command line, 2 infeasible, 3 time limit
without a solution, 70 internal error). `--debug` re-raises instead, with the traceback.
Tests call `run(args)`, which returns the exit code instead of exiting.
"""

from __future__ import annotations

import os
import signal
import sys

import typer
from typer import TyperException

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


state: dict[str, bool] = {"debug": False, "interrupted": False}


def report_error(exc: TrilemmaError) -> int:
    """Print a user-facing error to stderr; returns the exit code."""
    if isinstance(exc, InfeasibleError):
        typer.echo("infeasible: no deployment meets the problem's requirements", err=True)
    for line in str(exc).splitlines():
        typer.echo(line, err=True)
    return exc.exit_code


def run(args: list[str] | None = None) -> int:
    """Run the CLI on `args` (default: sys.argv[1:]) and return the exit code instead of exiting.

    Both `main` and the tests call this, so tests see exactly what a user sees: typed errors become
    `file: location: message` lines, usage errors a short `Error: ...`, and nothing prints a
    traceback unless `--debug` is given.
    """
    from solver.cli import commands  # noqa: F401  (registers the command modules)

    # Ctrl-C -> KeyboardInterrupt -> `aborted`, exit 1; the caller's handler comes back afterwards.
    previous = signal.signal(signal.SIGINT, _on_sigint) if threading_is_main() else None
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _run(args: list[str] | None) -> int:
    state["interrupted"] = False
    state["debug"] = bool(args is not None and "--debug" in args) or (args is None and "--debug" in sys.argv)
    try:
        result = _app_for(sys.argv[1:] if args is None else args)(args=args, standalone_mode=False,
                                                                   prog_name="trilemma")
    except TrilemmaError as exc:
        if state["debug"]:
            raise
        return report_error(exc)
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit:
        if type(sys.stdout).__name__ == "PacifyFlushWrapper":  # typer's exit 1 on EPIPE
            return _closed_stdout()
        raise
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return 1
    except BrokenPipeError:
        return _closed_stdout()
    except TyperException as exc:  # usage errors: unknown command, bad option value, missing file...
        if type(exc).__name__ == "NoArgsIsHelpError":
            return 0  # `trilemma` or `trilemma catalog` alone: the help was printed, nothing went wrong
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            typer.echo(f"Error: {exc.format_message()}", err=True)
        return 1  # click uses 2 for usage errors; 2 is our "infeasible", and a bad command line is bad input
    except Exception as exc:
        if state["debug"]:
            raise
        typer.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        typer.echo("this is a bug in trilemma; run again with --debug for the traceback and report it",
                   err=True)
        return INTERNAL_ERROR_EXIT_CODE
    if state["interrupted"]:  # typer turns KeyboardInterrupt into a silent result of 130
        typer.echo("aborted", err=True)
        return 1
    # With standalone_mode=False a typer.Exit raised inside a command comes back as its exit code.
    return result if isinstance(result, int) else 0


def _app_for(args: list[str]) -> typer.Typer:
    """`app` with only the command that `args` name, or all of them when they name none (`--help`, a typo).

    Typer builds the options of every registered command on each start (~30 ms for all of them); running
    one command needs only its own. Root options are flags, so the first argument that is not an option
    is the command's name.
    """
    name = next((a for a in args if not a.startswith("-")), None)
    commands = [c for c in app.registered_commands if (c.name or c.callback.__name__) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    lean = typer.Typer(**{k: getattr(app.info, k) for k in ("name", "help", "no_args_is_help")},
                       add_completion=False, context_settings=app.info.context_settings,
                       pretty_exceptions_enable=False)
    lean.registered_callback = app.registered_callback
    lean.registered_commands = commands
    lean.registered_groups = groups
    return lean


def _on_sigint(signum, frame) -> None:
    state["interrupted"] = True
    raise KeyboardInterrupt


def _closed_stdout() -> int:
    """The reader of stdout went away (`trilemma ... | head`): a normal end, not an error. Later writes
    (and the interpreter's final flush) go to /dev/null instead of raising again."""
    if type(sys.stdout).__name__ == "PacifyFlushWrapper":
        sys.stdout = sys.stdout.wrapped
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass
    return 0


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


INTERNAL_ERROR_EXIT_CODE = 70
"""An unexpected exception (a bug, not a user mistake); EX_SOFTWARE from sysexits.h."""


def main() -> None:
    """Console entry point (the installed `trilemma` goes through `solver.entry.main`)."""
    from solver.entry import main as entry_main

    entry_main()
