"""`trilemma sweep`: the cost/latency Pareto frontier, each point proven optimal."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from solver.catalog.loader import load_catalog
from solver.cli import app
from solver.cli.catalog_cmd import CatalogFiles, _stdout
from solver.cli.catalog_prices_cmd import prices_as_of, prices_as_of_line
from solver.cli.solve_cmd import check_run_options


@app.command("sweep")
def sweep_command(
    problem_file: Annotated[Path, typer.Argument(help="Problem YAML file.")],
    tpot_ms: Annotated[str | None, typer.Option("--tpot-ms", help="TPOT SLO grid: start:stop:step or a,b,c.")] = None,
    ttft_ms: Annotated[str | None, typer.Option("--ttft-ms", help="TTFT SLO grid.")] = None,
    e2e_ms: Annotated[str | None, typer.Option("--e2e-ms", help="End-to-end SLO grid.")] = None,
    rate: Annotated[str | None, typer.Option("--rate", help="Flat traffic grid (requests/s, every workload).")] = None,
    percentile: Annotated[float | None, typer.Option("--percentile", help="SLO percentile for every point.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", help="Processes solving points in parallel.")] = 1,
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Time limit per point, s.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every point as JSON.")] = False,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Write every point to a CSV file.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the frontier as a PNG chart.")] = None,
    html_file: Annotated[Path | None, typer.Option("--html", help="Write an interactive HTML page.")] = None,
    catalog: CatalogFiles = None,
) -> None:
    """Re-solve the problem over a grid of SLO values and print the cost/latency Pareto frontier."""
    from solver.optimize.report import _clean
    from solver.problem import load_problem
    from solver.sweep import parse_grid, sweep

    check_run_options(time_limit=time_limit, jobs=jobs)
    cat = load_catalog(catalog or [])
    problem = load_problem(problem_file, cat)
    spec = problem.sweep
    grid = {
        "tpot_ms": parse_grid(tpot_ms if tpot_ms is not None else (spec.tpot_ms if spec else None), "--tpot-ms"),
        "ttft_ms": parse_grid(ttft_ms if ttft_ms is not None else (spec.ttft_ms if spec else None), "--ttft-ms"),
        "e2e_ms": parse_grid(e2e_ms, "--e2e-ms"),
        "rate": parse_grid(rate if rate is not None else (spec.rate if spec else None), "--rate"),
    }
    if percentile is None and spec is not None:
        percentile = spec.percentile
    stderr = Console(file=sys.stderr)
    with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr, transient=True, disable=not stderr.is_terminal) as bar:
        task = bar.add_task("sweep", total=None)
        result = sweep(problem, cat, grid, percentile=percentile, jobs=jobs, time_limit_s=time_limit,
                       progress=lambda done, total: bar.update(task, completed=done, total=total))
    points = result.points
    if csv_file is not None:
        points.to_csv(csv_file, index=False)
    if plot is not None:
        from solver.plots import plot_frontier

        plot_frontier(result, plot)
    if html_file is not None:
        from solver.html_report import write_sweep_html

        write_sweep_html(result, html_file, title=f"Trilemma sweep: {problem.name or problem_file.name}")
    used = sorted({o for offers in points.get("offers", []) if isinstance(offers, str) for o in offers.split(";")
                   if o})
    if as_json:
        records = points.drop(columns=["solve_time_s"], errors="ignore").to_dict("records")
        out = {"dimensions": result.dimensions, "points": _clean(records)} | prices_as_of(cat, used)
        typer.echo(json.dumps(out, indent=2, sort_keys=True))
        return
    console = _stdout()
    table = Table(title="Pareto frontier (each point proven optimal)")
    for col in (*result.dimensions, "USD/h", "USD/Mtok", "USD/h per ms tighter", "configuration"):
        table.add_column(col)
    for _, r in result.frontier.iterrows():
        marginal = r.get("marginal_usd_per_hour_per_ms")
        table.add_row(
            *[f"{r[d]:g}" for d in result.dimensions],
            f"{r['usd_per_hour']:,.2f}" + (" (knee)" if r.get("knee") else ""),
            f"{r.get('usd_per_million_output_tokens', math.nan):,.3f}",
            "-" if marginal is None or not math.isfinite(marginal) else f"{marginal:,.2f}",
            Text(str(r.get("configuration", ""))),
        )
    console.print(table)
    console.print(Text(prices_as_of_line(cat, used)))
    infeasible = points[points["status"] != "optimal"]
    if len(infeasible):
        console.print(Text(f"{len(infeasible)} of {len(points)} points not proven optimal or infeasible "
                           f"(statuses: {', '.join(sorted(set(infeasible['status'])))})"))
