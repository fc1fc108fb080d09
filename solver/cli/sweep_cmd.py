"""`trilemma sweep`: the cost/latency Pareto frontier, each point proven optimal; or, over request
rates alone, the cost curve (cost against load)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from solver.catalog.loader import load_catalog
from solver.cli import app
from solver.cli.catalog_prices_cmd import prices_as_of, prices_as_of_line
from solver.cli.common import (
    CatalogFiles,
    check_outputs,
    check_run_options,
    errors_at_problem_file,
    parse_percentile,
    stdout_console,
    write_atomic,
)
from solver.cli.solve_cmd import PLOT_SUFFIXES
from solver.errors import InfeasibleError

if TYPE_CHECKING:
    from solver.sweep import SweepResult

REASON_CHARS = 160
"""Characters of an infeasible point's explanation shown in the table (the JSON has it whole)."""


@app.command("sweep")
@errors_at_problem_file
def sweep_command(
    problem_file: Annotated[Path, typer.Argument(help="Problem YAML file.")],
    tpot_ms: Annotated[str | None, typer.Option("--tpot-ms", help="TPOT SLO grid: start:stop:step or a,b,c.")] = None,
    ttft_ms: Annotated[str | None, typer.Option("--ttft-ms", help="TTFT SLO grid.")] = None,
    e2e_ms: Annotated[str | None, typer.Option("--e2e-ms", help="End-to-end SLO grid.")] = None,
    rate: Annotated[str | None, typer.Option("--rate", help="Flat traffic grid (requests/s, every workload).")] = None,
    percentile: Annotated[str | None, typer.Option(
        "--percentile", help="SLO percentile for every point: 50 to 99.9, or mean.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Processes solving points in parallel.")] = 1,
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Time limit per point, s.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every point as JSON.")] = False,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Write every point to a CSV file.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the frontier as a PNG chart.")] = None,
    html_file: Annotated[Path | None, typer.Option("--html", help="Write an interactive HTML page.")] = None,
    catalog: CatalogFiles = None,
) -> None:
    """Re-solve the problem over a grid of SLO values and print the cost/latency Pareto frontier
    (over --rate alone: the cost curve). Exit 2 when no point is feasible."""
    from solver.problem import load_problem, parse_grid
    from solver.sweep import sweep

    check_run_options(time_limit=time_limit, jobs=jobs)
    pct = parse_percentile(percentile)
    check_outputs((csv_file, "--csv", (".csv",)), (plot, "--plot", PLOT_SUFFIXES), (html_file, "--html", (".html",)))
    cat = load_catalog(catalog or [])
    problem = load_problem(problem_file, cat)
    spec = problem.sweep
    grid = {
        "tpot_ms": parse_grid(tpot_ms if tpot_ms is not None else (spec.tpot_ms if spec else None), "--tpot-ms"),
        "ttft_ms": parse_grid(ttft_ms if ttft_ms is not None else (spec.ttft_ms if spec else None), "--ttft-ms"),
        "e2e_ms": parse_grid(e2e_ms, "--e2e-ms"),
        "rate": parse_grid(rate if rate is not None else (spec.rate if spec else None), "--rate"),
    }
    if pct is None and spec is not None:
        pct = spec.percentile
    stderr = Console(file=sys.stderr)
    with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr, transient=True, disable=not stderr.is_terminal) as bar:
        task = bar.add_task("sweep", total=None)
        result = sweep(problem, cat, grid, percentile=pct, jobs=jobs, time_limit_s=time_limit,
                       progress=lambda done, total: bar.update(task, completed=done, total=total))
    points = result.points
    if not len(result.feasible):  # exit 2, and no result files: there is no curve to show
        raise InfeasibleError(["no point of the sweep is feasible:", *_infeasible_lines(result)])
    if csv_file is not None:
        write_atomic(csv_file, lambda tmp: points.to_csv(tmp, index=False))
    if plot is not None:
        from solver.plots import plot_frontier

        write_atomic(plot, lambda tmp: plot_frontier(result, tmp))
    if html_file is not None:
        from solver.html_report import write_sweep_html

        title = f"Trilemma sweep: {problem.name or problem_file.name}"
        write_atomic(html_file, lambda tmp: write_sweep_html(result, tmp, title=title))
    used = sorted({o for offers in points.get("offers", []) if isinstance(offers, str) for o in offers.split(";")
                   if o})
    if as_json:
        from solver.optimize.report import _clean

        records = points.drop(columns=["solve_time_s"], errors="ignore").to_dict("records")
        out = {"dimensions": result.dimensions, "kind": result.kind, "points": _clean(records)}
        out |= prices_as_of(cat, used)
        typer.echo(json.dumps(out, indent=2, sort_keys=True))
    else:
        print_sweep(result)
        stdout_console().print(Text(prices_as_of_line(cat, used)))


def print_sweep(result: SweepResult) -> None:
    console = stdout_console()
    curve = result.kind == "cost_curve"
    if curve:
        table = Table(title="Cost curve: optimal cost against load (each point proven optimal)")
        headers = ("requests/s", "USD/h", "USD/Mtok", "USD/h per req/s", "marginal USD/h per req/s", "configuration")
    else:
        table = Table(title="Pareto frontier (each point proven optimal)")
        headers = (*result.dimensions, "USD/h", "USD/Mtok", "USD/h per ms tighter", "configuration")
    for col in headers:
        table.add_column(col)
    for _, r in result.frontier.iterrows():
        if curve:
            cells = [f"{r['rate']:g}", f"{r['usd_per_hour']:,.2f}",
                     f"{r.get('usd_per_million_output_tokens', math.nan):,.3f}",
                     _num(r.get("usd_per_hour_per_rps")), _num(r.get("marginal_usd_per_hour_per_rps"))]
        else:
            cells = [*[f"{r[d]:g}" for d in result.dimensions],
                     f"{r['usd_per_hour']:,.2f}" + (" (knee)" if r.get("knee") else ""),
                     f"{r.get('usd_per_million_output_tokens', math.nan):,.3f}",
                     _num(r.get("marginal_usd_per_hour_per_ms"))]
        table.add_row(*cells, Text(str(r.get("configuration", ""))))
    console.print(table)
    points = result.points
    not_optimal = points[points["status"] != "optimal"]
    if len(not_optimal):
        console.print(Text(f"{len(not_optimal)} of {len(points)} points not proven optimal or infeasible "
                           f"(statuses: {', '.join(sorted(set(not_optimal['status'])))}):"))
        for line in _infeasible_lines(result):
            console.print(Text(f"  {line}"), soft_wrap=True)


def _num(value) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:,.2f}"


def _infeasible_lines(result: SweepResult) -> list[str]:
    """One line per point without a plan: its values, status and why (the explanation `solve` gives)."""
    lines = []
    for _, r in result.points[result.points["usd_per_hour"].isna()].iterrows():
        where = ", ".join(f"{d} = {r[d]:g}" for d in result.dimensions)
        reason = " ".join(str(r.get("reason") or "").split())
        reason = reason if len(reason) <= REASON_CHARS else reason[:REASON_CHARS - 1] + "…"
        lines.append(f"{where}: {r['status']}" + (f": {reason}" if reason else ""))
    return lines
