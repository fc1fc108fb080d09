"""`trilemma validate`: predict every usable calibration case and compare with the measurement.

Prints per-row predicted vs measured and a summary (median and 90th-percentile absolute percentage
error per metric, per accelerator, per mode), writes a CSV of the rows (`--csv`), and with `--loso`
refits the profiles leaving each source out in turn and reports how the model does on the held-out one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from solver.catalog.loader import builtin_cases_path, load_catalog
from solver.cli import app
from solver.cli.common import CatalogFiles, check_outputs, stdout_console, write_atomic
from solver.errors import EstimateError


def _stats_table(title: str, stats: dict) -> Table:
    t = Table(title=title)
    for c in ("group", "n", "predicted", "median APE %", "p90 APE %", "within 2x"):
        t.add_column(c, justify="right" if c != "group" else "left")
    for k, v in stats.items():
        t.add_row(k, str(v["n"]), str(v["predicted"]), str(v["median_ape"]), str(v["p90_ape"]),
                  str(v["within_2x"]))
    return t


@app.command("validate")
def validate_cmd(
    cases: Annotated[Path | None, typer.Option(
        "--cases", help="Calibration cases CSV (default: the cases shipped with trilemma).")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write per-row results to this CSV.")] = None,
    loso: Annotated[bool, typer.Option("--loso", help="Also run leave-one-source-out cross-validation.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    catalog_files: CatalogFiles = None,
) -> None:
    """Compare predictions with published measurements (median / p90 absolute percentage error)."""
    from solver.perf.calibrate import DEFAULT_CASES, leave_one_source_out, read_cases, summarise, validate

    check_outputs((csv_out, "--csv", (".csv",)))
    if cases is None:
        cases = DEFAULT_CASES if DEFAULT_CASES.is_file() else builtin_cases_path()
    if not cases.is_file():
        raise EstimateError(f"{cases}: {'a folder, not a CSV file' if cases.is_dir() else 'no such file'}")
    catalog = load_catalog(catalog_files or [])
    cmp, summary = validate(cases, catalog)
    if loso:
        held = leave_one_source_out(read_cases(cases), catalog)
        summary["leave_one_source_out"] = summarise(held)["per_source"]
        summary["leave_one_source_out_per_metric"] = summarise(held)["per_metric"]
    if csv_out:
        write_atomic(csv_out, lambda tmp: cmp.to_csv(tmp, index=False))
    worst = cmp.assign(_e=cmp["ape_pct"].fillna(1e9)).sort_values("_e", ascending=False).head(8)
    summary["worst_rows"] = [
        {"case_id": r.case_id, "metric": r.metric, "measured": r.measured, "predicted": r.predicted,
         "ape_pct": None if r.ape_pct != r.ape_pct else round(r.ape_pct, 1), "reason": r.reason}
        for r in worst.itertuples()]
    if as_json:
        typer.echo(json.dumps(summary, indent=1, default=str))
        return
    con = stdout_console()
    rows = Table(title=f"predicted vs measured ({cases.name})")
    for c in ("case_id", "metric", "measured", "predicted", "APE %"):
        rows.add_column(c, justify="left" if c == "case_id" else "right")
    for r in cmp.itertuples():
        rows.add_row(str(r.case_id), r.metric, f"{r.measured:,.1f}",
                     "-" if r.predicted is None or r.predicted != r.predicted else f"{r.predicted:,.1f}",
                     "-" if r.ape_pct != r.ape_pct else f"{r.ape_pct:.1f}")
    con.print(rows)
    con.print(_stats_table("per metric", summary["per_metric"]))
    con.print(_stats_table("per accelerator / metric", summary["per_accelerator"]))
    con.print(_stats_table("per mode / metric", summary["per_mode"]))
    if loso:
        con.print(_stats_table("leave-one-source-out (held-out source / metric)", summary["leave_one_source_out"]))
        con.print(_stats_table("leave-one-source-out, pooled per metric", summary["leave_one_source_out_per_metric"]))
