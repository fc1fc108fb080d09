"""`trilemma estimate`: predict one deployment (or every row of a CSV) under a load mode.

Exactly one mode: --max-throughput, --concurrency N, --rate R, --static-batch N, or
--slo-ttft-ms X --slo-tpot-ms Y [--percentile P]. Omitted tp/pp/ep are chosen to maximise throughput
for the mode and reported. `--batch cases.csv` evaluates every row (columns: the flag names with
underscores, plus `mode` and `mode_value`); a row that cannot be evaluated gives fits=false and an
`error`, and the batch carries on. With `--json`, each result carries `ttft_ms_band`, `tpot_ms_band` and
`output_tok_s_band`: the held-out p90 error of its (engine, family, mode) from catalogs/accuracy.yaml and
the n behind it, or a labelled fallback (`solver.perf.accuracy.band_for`).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from solver.catalog.loader import load_catalog
from solver.cli import app
from solver.errors import EstimateError
from solver.perf.accuracy import load_accuracy, with_bands
from solver.perf.estimate import estimate_many

SUMMARY = ("fits", "tp", "pp", "ep", "replicas", "quant", "kv_quant", "batch", "memory_gb_per_gpu", "ttft_ms",
           "ttft_p99_ms", "tpot_ms", "tpot_p99_ms", "e2e_ms", "requests_per_s", "output_tokens_per_s",
           "output_tokens_per_s_per_gpu", "reason")


def _console() -> Console:
    console = Console(file=sys.stdout)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(file=sys.stdout, width=220)
    return console


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3g}"
    return str(v)


def _print_table(results: list[dict]) -> None:
    if len(results) == 1:
        table = Table(title="trilemma estimate", show_header=True)
        table.add_column("field")
        table.add_column("value", justify="right")
        for k in ("model", "accelerator", "engine", "gpus", "mode", "mode_value", *SUMMARY, "error"):
            if k in results[0]:
                table.add_row(k, _fmt(results[0][k]))
    else:
        table = Table(title=f"trilemma estimate: {len(results)} rows")
        cols = ("model", "accelerator", "engine", "gpus", "mode", "mode_value", *SUMMARY)
        for c in cols:
            table.add_column(c)
        for r in results:
            table.add_row(*(_fmt(r.get(c)) for c in cols))
    _console().print(table)
    if len(results) == 1 and results[0].get("breakdown"):
        _print_breakdown(results[0]["breakdown"])


def _print_breakdown(breakdown: dict) -> None:
    """Where the time and memory go: iteration ms by part, TTFT ms by part, memory GB per GPU by part."""
    titles = {"decode_step_ms": "decode step, ms (total = mean TPOT)",
              "prefill_step_ms": "iteration prefilling one prompt, ms", "ttft_ms": "mean TTFT, ms",
              "memory_gb_per_gpu": "memory per GPU, GB"}
    table = Table(title="breakdown")
    table.add_column("of")
    table.add_column("part")
    table.add_column("value", justify="right")
    for group, parts in breakdown.items():
        for i, (part, v) in enumerate(parts.items()):
            table.add_row(titles.get(group, group) if i == 0 else "", part, _fmt(v), end_section=part == "total")
    _console().print(table)


def _mode(max_throughput, concurrency, rate, static_batch, slo_ttft_ms, slo_tpot_ms) -> tuple[str, float | None]:
    chosen = [name for name, v in (("max_throughput", max_throughput or None), ("concurrency", concurrency),
                                   ("rate", rate), ("static_batch", static_batch)) if v]
    if slo_ttft_ms is not None or slo_tpot_ms is not None:
        chosen.append("slo")
    if len(chosen) != 1:
        raise EstimateError("estimate: give exactly one mode: --max-throughput, --concurrency N, --rate R, "
                            "--static-batch N, or --slo-ttft-ms X --slo-tpot-ms Y"
                            + (f" (got {', '.join(chosen)})" if chosen else ""))
    mode = chosen[0]
    value = {"concurrency": concurrency, "rate": rate, "static_batch": static_batch}.get(mode)
    return mode, value


@app.command("estimate")
def estimate_cmd(
    model: Annotated[str | None, typer.Option("--model", help="Model id from the catalog.")] = None,
    accelerator: Annotated[str | None, typer.Option("--accelerator", help="Accelerator id.")] = None,
    gpus: Annotated[int | None, typer.Option("--gpus", help="GPUs in total; more than tp·pp·ep = replicas.")] = None,
    tp: Annotated[int | None, typer.Option("--tp", help="Tensor parallel size (chosen when omitted).")] = None,
    pp: Annotated[int | None, typer.Option("--pp", help="Pipeline parallel size (chosen when omitted).")] = None,
    ep: Annotated[int | None, typer.Option(
        "--ep", help="Expert parallel groups (MoE only; chosen when omitted).")] = None,
    quant: Annotated[str | None, typer.Option(
        "--quant", help="Weights: bf16|fp16|fp8|int8|int4|fp4|mxfp4|best (default: the checkpoint's dtype).")] = None,
    kv_quant: Annotated[str | None, typer.Option("--kv-quant", help="KV cache: bf16|fp16|fp8.")] = None,
    engine: Annotated[str, typer.Option("--engine", help="vllm|sglang|trtllm (or an alias).")] = "vllm",
    isl: Annotated[float | None, typer.Option("--isl", help="Mean input tokens per request.")] = None,
    osl: Annotated[float | None, typer.Option("--osl", help="Mean output tokens per request.")] = None,
    max_throughput: Annotated[bool, typer.Option("--max-throughput", help="Offline, no latency limit.")] = False,
    concurrency: Annotated[float | None, typer.Option("--concurrency", help="Closed loop: requests in flight.")] = None,
    closed_loop: Annotated[str, typer.Option(
        "--closed-loop", help="With --concurrency: steady (arrivals spread over the cycle) or burst (every client "
                              "sends at t = 0 and fixed lengths keep them in lockstep).")] = "steady",
    rate: Annotated[float | None, typer.Option("--rate", help="Poisson arrivals, requests/s.")] = None,
    static_batch: Annotated[float | None, typer.Option("--static-batch", help="One batch of N requests.")] = None,
    slo_ttft_ms: Annotated[float | None, typer.Option("--slo-ttft-ms", help="TTFT limit at the percentile.")] = None,
    slo_tpot_ms: Annotated[float | None, typer.Option("--slo-tpot-ms", help="TPOT limit at the percentile.")] = None,
    percentile: Annotated[float, typer.Option("--percentile", help="Percentile of the SLOs.")] = 99.0,
    max_batch: Annotated[int | None, typer.Option("--max-batch", help="Most requests decoding at once.")] = None,
    batch: Annotated[Path | None, typer.Option("--batch", help="CSV of rows to evaluate (cases.csv format).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (an array with --batch).")] = False,
    catalog_files: Annotated[list[Path] | None, typer.Option(
        "--catalog", help="Extra catalog YAML (repeatable).")] = None,
) -> None:
    """Predict memory, TTFT, TPOT, e2e latency and throughput of a deployment under load."""
    catalog = load_catalog(catalog_files or [])
    if batch is not None:
        if not batch.exists():
            raise EstimateError(f"{batch}: no such file")
        with open(batch, newline="") as fh:
            rows = list(csv.DictReader(fh))
        results = estimate_many(rows, catalog)
        if as_json:
            bands = load_accuracy()
            results = [with_bands(r, catalog, bands) for r in results]
            typer.echo(json.dumps(results, indent=1))
        else:
            _print_table(results)
        return
    missing = [f for f, v in (("--model", model), ("--accelerator", accelerator), ("--isl", isl), ("--osl", osl))
               if v is None]
    if missing:
        raise EstimateError(f"estimate: missing {', '.join(missing)} (or use --batch FILE)")
    mode, value = _mode(max_throughput, concurrency, rate, static_batch, slo_ttft_ms, slo_tpot_ms)
    row = {"model": model, "accelerator": accelerator, "gpus": gpus, "tp": tp, "pp": pp, "ep": ep,
           "quant": quant, "kv_quant": kv_quant, "engine": engine, "isl": isl, "osl": osl, "mode": mode,
           "mode_value": value, "slo_ttft_ms": slo_ttft_ms, "slo_tpot_ms": slo_tpot_ms,
           "percentile": percentile, "max_batch": max_batch, "closed_loop": closed_loop}
    result = estimate_many([row], catalog, breakdown=True)[0]
    if result.get("error"):
        raise EstimateError(f"estimate: {result['error']}")
    if as_json:
        typer.echo(json.dumps(with_bands(result, catalog, load_accuracy()), indent=1))
    else:
        _print_table([result])
