"""`trilemma validate`: predict every usable calibration case and compare with the measurement.

Reads validation/cases.csv and validation/cases_public.csv by default (`--cases`, repeatable, replaces
them). Rows whose layout the model cannot express (attention data parallelism, dp > 1) are listed as
skipped with the reason. The headline is leave-one-source-out: each source predicted with profiles
fitted without it (`solver.perf.accuracy`), reported per metric and per (engine, accelerator family,
mode) as n, median and 90th-percentile absolute percentage error; `--no-loso` shows only the in-sample
comparison (the catalog's profiles as fitted on every case). `--write-accuracy` persists the held-out
band table in catalogs/accuracy.yaml, which `estimate --json` and `solve --margin auto` read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from solver.catalog.loader import builtin_cases_path, load_catalog
from solver.cli import app
from solver.cli.common import CatalogFiles, stdout_console
from solver.errors import EstimateError


def _stats_table(title: str, stats: dict) -> Table:
    t = Table(title=title)
    for c in ("group", "n", "predicted", "median APE %", "p90 APE %", "within 2x"):
        t.add_column(c, justify="right" if c != "group" else "left")
    for k, v in stats.items():
        t.add_row(k, str(v["n"]), str(v["predicted"]), str(v["median_ape"]), str(v["p90_ape"]),
                  str(v["within_2x"]))
    return t


def _band_table(title: str, bands: dict) -> Table:
    t = Table(title=title)
    metrics = sorted(bands["pooled"])
    t.add_column("engine / family / mode")
    for m in metrics:
        t.add_column(f"{m} n · median · p90 %", justify="right")

    def cell(s):
        return "-" if not s or not s.get("n") else f"{s['n']} · {s['median_pct']} · {s['p90_pct']}"

    t.add_row("pooled", *(cell(bands["pooled"].get(m)) for m in metrics), end_section=True)
    for g in bands["groups"]:
        t.add_row(f"{g['engine']} / {g['family']} / {g['mode']}", *(cell(g.get(m)) for m in metrics))
    return t


@app.command("validate")
def validate_cmd(
    cases: Annotated[list[Path] | None, typer.Option(
        "--cases", help="Calibration cases CSV (repeatable; default: validation/cases.csv and "
                        "validation/cases_public.csv).")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write per-row results to this CSV.")] = None,
    loso: Annotated[bool, typer.Option(
        "--loso/--no-loso", help="Also run leave-one-source-out cross-validation, the headline figures "
                                 "(slow: refits every source, minutes).")] = False,
    write_accuracy_file: Annotated[bool, typer.Option(
        "--write-accuracy", help="Write the held-out error bands to catalogs/accuracy.yaml.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    catalog_files: CatalogFiles = None,
) -> None:
    """Compare predictions with published measurements (median / p90 absolute percentage error)."""
    from solver.perf.accuracy import (
        CASE_FILES,
        accuracy_document,
        band_table,
        class_table,
        in_sample,
        leave_one_source_out,
        load_cases,
        write_accuracy,
    )
    from solver.perf.calibrate import summarise

    files = list(cases or [f if f.is_file() else builtin_cases_path().with_name(f.name) for f in CASE_FILES])
    for f in files:
        if not f.exists():
            raise EstimateError(f"{f}: no such file")
    if write_accuracy_file and not loso:
        raise EstimateError("validate: --write-accuracy needs the leave-one-source-out run (add --loso)")
    catalog = load_catalog(catalog_files or [])
    usable, skipped = load_cases(files)
    cmp = in_sample(usable, catalog)
    summary = summarise(cmp)
    summary["files"] = [f.name for f in files]
    summary["skipped"] = [{"case_id": c.get("case_id"), "reason": c["skip_reason"]} for c in skipped]
    held = None
    if loso:
        held = leave_one_source_out(usable, catalog)
        hs = summarise(held)
        summary["leave_one_source_out"] = hs["per_source"]
        summary["leave_one_source_out_per_metric"] = hs["per_metric"]
        summary["bands"] = band_table(held)
        summary["classes_held_out"] = class_table(held, usable).to_dict("records")
        if write_accuracy_file:
            summary["accuracy_file"] = str(write_accuracy(accuracy_document(held, usable, skipped, files)))
    if csv_out:
        out = cmp if held is None else cmp.merge(
            held[["case_id", "metric", "predicted", "ape_pct"]].rename(
                columns={"predicted": "predicted_held_out", "ape_pct": "ape_pct_held_out"}),
            on=["case_id", "metric"], how="left")
        out.to_csv(csv_out, index=False)
    worst = cmp.assign(_e=cmp["ape_pct"].fillna(1e9)).sort_values("_e", ascending=False).head(8)
    summary["worst_rows"] = [
        {"case_id": r.case_id, "metric": r.metric, "measured": r.measured, "predicted": r.predicted,
         "ape_pct": None if r.ape_pct != r.ape_pct else round(r.ape_pct, 1), "reason": r.reason}
        for r in worst.itertuples()]
    if as_json:
        typer.echo(json.dumps(summary, indent=1, default=str))
        return
    con = stdout_console()
    rows = Table(title=f"predicted vs measured ({', '.join(f.name for f in files)}; in-sample)")
    for c in ("case_id", "metric", "measured", "predicted", "APE %"):
        rows.add_column(c, justify="left" if c == "case_id" else "right")
    for r in cmp.itertuples():
        rows.add_row(str(r.case_id), r.metric, f"{r.measured:,.1f}",
                     "-" if r.predicted is None or r.predicted != r.predicted else f"{r.predicted:,.1f}",
                     "-" if r.ape_pct != r.ape_pct else f"{r.ape_pct:.1f}")
    con.print(rows)
    if skipped:
        sk = Table(title=f"skipped: {len(skipped)} rows the model cannot express")
        sk.add_column("case_id")
        sk.add_column("reason")
        for c in skipped:
            sk.add_row(str(c.get("case_id")), c["skip_reason"])
        con.print(sk)
    con.print(_stats_table("in-sample, per metric", summary["per_metric"]))
    con.print(_stats_table("in-sample, per accelerator / metric", summary["per_accelerator"]))
    con.print(_stats_table("in-sample, per mode / metric", summary["per_mode"]))
    if loso:
        con.print(_stats_table("leave-one-source-out (held-out source / metric)", summary["leave_one_source_out"]))
        con.print(_band_table("error bands, leave-one-source-out (held-out APE)", summary["bands"]))
        ct = Table(title="leave-one-source-out per known failure class")
        for c in ("class", "metric", "n", "median APE %", "p90 APE %"):
            ct.add_column(c, justify="left" if c in ("class", "metric") else "right")
        for r in summary["classes_held_out"]:
            ct.add_row(r["class"], r["metric"], str(r["n"]), str(r["median_pct"]), str(r["p90_pct"]))
        con.print(ct)
        con.print(_stats_table("HEADLINE: leave-one-source-out, per metric",
                               summary["leave_one_source_out_per_metric"]))
        if write_accuracy_file:
            con.print(f"wrote {summary['accuracy_file']}")
