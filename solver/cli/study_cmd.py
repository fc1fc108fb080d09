"""`trilemma study STUDY.yaml`: a base problem over a grid of axes and/or named scenarios.

Results stream into `OUT.partial.jsonl` as scenarios finish (a stopped run continues with
`--resume`), then go to `--out` (CSV or Parquet) with one row per scenario; `--plots DIR` draws cost
against each axis and the configuration regions of a 2-D grid.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from solver.cli import app
from solver.errors import InputError, Issue

FAILED_EXIT_CODE = 5
"""Some scenarios failed (each with its reason in the results); every other scenario is written."""


@app.command("study")
def study_command(
    study_file: Annotated[Path, typer.Argument(help="Study YAML file (base problem, axes, scenarios).")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Results table, .csv or .parquet (default: STUDY.results.csv beside the study file).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Local processes solving scenarios in parallel "
                                                     "(with --ray local: the CPUs of the local Ray).")] = 1,
    ray: Annotated[str | None, typer.Option(
        "--ray", help="Run on Ray: auto (a running cluster, else a local one), local, or a cluster address "
                      "(needs Ray: the trilemma ray extra).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT.partial.jsonl of a stopped run.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing results instead of refusing.")] = False,
    plots: Annotated[Path | None, typer.Option("--plots", help="Write PNG charts into this folder.")] = None,
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Time limit per scenario, s.")] = None,
    workers: Annotated[int, typer.Option("--workers", help="CP-SAT threads per scenario.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of text.")] = False,
) -> None:
    """Solve every scenario of a study; one row per scenario (cost, configuration, status, bound)."""
    from solver.cli.solve_cmd import check_run_options
    from solver.study import Backend, load_study, run_study

    check_run_options(time_limit=time_limit, workers=workers, jobs=jobs)
    if resume and force:
        raise InputError([Issue("command line", "--resume", "--resume and --force exclude each other")])
    out = out if out is not None else study_file.with_name(study_file.stem + ".results.csv")
    backend = Backend("ray", jobs=jobs, ray_address=ray) if ray else Backend("processes" if jobs > 1 else "inline",
                                                                             jobs=jobs)
    plan, catalog = load_study(study_file)
    start = time.perf_counter()
    with _Progress(len(plan.scenarios)) as progress:
        table = run_study(plan, catalog, out, backend, resume=resume, force=force, time_limit_s=time_limit,
                          workers=workers, progress=progress.update)
    wall = time.perf_counter() - start
    written = []
    if plots is not None:
        from solver.study.plots import write_plots

        written = write_plots(table, [a.label for a in plan.spec.axes], [s.name for s in plan.spec.scenarios], plots)
    counts = table["status"].value_counts().to_dict()
    failed = table[table["status"] == "error"]
    summary = {"study": plan.spec.name or study_file.name, "scenarios": len(table), "statuses": counts,
               "results": str(out), "plots": [str(p) for p in written], "wall_s": round(wall, 2),
               "cheapest_usd_per_hour": _finite(table["usd_per_hour"].min()),
               "costliest_usd_per_hour": _finite(table["usd_per_hour"].max())}
    if as_json:
        typer.echo(json.dumps(summary, indent=2, sort_keys=True))
    else:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        typer.echo(f"{summary['study']}: {len(table)} scenarios ({statuses}) in {wall:.1f} s -> {out}")
        if summary["cheapest_usd_per_hour"] is not None:
            typer.echo(f"cost from {summary['cheapest_usd_per_hour']:,.2f} to "
                       f"{summary['costliest_usd_per_hour']:,.2f} USD/h")
        for p in written:
            typer.echo(f"chart: {p}")
    if len(failed):
        for r in failed.head(10).itertuples():
            typer.echo(f"{study_file}: scenario {r.scenario} ({r.name}): {r.reason}", err=True)
        more = " (first 10 shown)" if len(failed) > 10 else ""
        typer.echo(f"{len(failed)} of {len(table)} scenarios failed{more}; their reasons are in the `reason` column",
                   err=True)
        raise typer.Exit(FAILED_EXIT_CODE)


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


class _Progress:
    """A progress bar on stderr when it is a terminal; otherwise a line about every 10 %."""

    def __init__(self, total: int):
        from rich.console import Console

        self.total = total
        self.console = Console(file=sys.stderr)
        self.bar = None
        self.last_tenth = -1
        self.start = time.perf_counter()

    def __enter__(self) -> _Progress:
        if self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn("study"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                TimeRemainingColumn(), console=self.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("study", total=self.total)
        return self

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)
            return
        tenth = done * 10 // max(total, 1)
        if tenth != self.last_tenth:
            self.last_tenth = tenth
            typer.echo(f"study: {done}/{total} scenarios, {time.perf_counter() - self.start:.0f} s", err=True)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
