"""Presentation of a solve with disaggregation allowed: the chosen form per workload, the split (workers and
GPUs per pool, KV transfer time), and what the aggregated optimum costs next to it; its deployment folder
(`--emit`) and CSV rows (`--csv`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from solver.cli.common import stdout_console as _stdout
from solver.cli.common import write_atomic
from solver.deploy.disagg_emit import disagg_workloads, emit_disagg, max_model_len, pool_rows
from solver.deploy.disagg_launch import launch_description
from solver.errors import EstimateError
from solver.optimize.disagg import DisaggResult, result_to_dict
from solver.perf.disagg_estimate import estimate_disagg, parse_pool


def write_disagg_outputs(result: DisaggResult, problem, catalog, *, emit: Path | None, csv_file: Path | None) -> None:
    """`--emit DIR` and `--csv FILE` of a solve with disaggregation allowed. When aggregated wins, they are the
    aggregated plan's folder and rows (what `solve` without disaggregation writes); otherwise the disaggregated
    folder (Dynamo, Kubernetes, TensorRT-LLM files) and one CSV row per pool."""
    if emit is None and csv_file is None:
        return
    if not result.disaggregated:
        from solver.cli.solve_cmd import emit_result
        from solver.optimize.report import result_rows
        from solver.optimize.report import result_to_dict as aggregated_dict
        from solver.plan_notes import add_running_batch

        add_running_batch(result.aggregated, problem, catalog)
        if emit is not None:
            emit_result(catalog, aggregated_dict(result.aggregated), emit)
        if csv_file is not None:
            write_atomic(csv_file, lambda tmp: result_rows(result.aggregated).to_csv(tmp, index=False))
        return
    workloads = disagg_workloads(result, problem, catalog, result_to_dict(result)["workloads"])
    if emit is not None:
        emitted = emit_disagg(catalog, workloads, emit, status=result.status, usd_per_hour=result.usd_per_hour,
                              aggregated_usd_per_hour=result.aggregated.usd_per_hour)
        print(f"wrote {len(emitted.files)} files to {emitted.root} (see {emitted.root / 'README.md'})",
              file=sys.stderr)
    if csv_file is not None:
        write_atomic(csv_file, lambda tmp: pool_rows(workloads).to_csv(tmp, index=False))


def print_disagg(result: DisaggResult, problem, catalog, as_json: bool) -> None:
    out = result_to_dict(result)
    for split, wl in zip(out["workloads"], problem.workloads, strict=True):
        if split["form"] == "disaggregated":
            split["launch"] = launch_description(catalog, split, wl.model, max_model_len(wl))
    if as_json:
        typer.echo(json.dumps(out, indent=2, sort_keys=True, default=str))
        return
    console = _stdout()
    agg = result.aggregated.usd_per_hour
    table = Table(title=f"trilemma solve (disaggregation allowed): {result.status}")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("cost, USD/hour", f"{result.usd_per_hour:,.2f}")
    table.add_row("aggregated optimum, USD/hour", f"{agg:,.2f}")
    best = out["best_disaggregated_usd_per_hour"]
    table.add_row("best disaggregated, USD/hour", out["note"] if best is None else f"{best:,.2f}")
    console.print(table)
    if result.disaggregated:
        console.print(f"Disaggregation saves {result.saving_usd_per_hour:,.2f} USD/hour "
                      f"({out['saving_fraction']:.1%}) over the aggregated optimum.")
    elif best is not None:
        console.print(f"Aggregated wins: the best disaggregated plan costs {best - agg:,.2f} USD/hour "
                      f"({(best - agg) / agg:.1%}) more.")
    for split in out["workloads"]:
        if split["form"] != "disaggregated":
            console.print(f"{split['workload']}: aggregated replicas (see `trilemma solve` without disaggregation)")
            continue
        t = Table(title=f"{split['workload']}: disaggregated")
        for c in ("pool", "workers", "accelerator", "GPUs/worker", "tp", "pp", "quant", "kv", "req/s per worker"):
            t.add_column(c)
        for pool in ("prefill", "decode"):
            p = split[pool]
            t.add_row(pool, str(split[f"{pool}_workers"]), p["accelerator"], str(p["gpus_per_worker"]), str(p["tp"]),
                      str(p["pp"]), p["quant"], p["kv_quant"], f"{split[f'{pool}_capacity_rps']:.3g}")
        console.print(t)
        console.print(f"  KV transfer {split['transfer_ms']:.1f} ms, prefill alone {split['prefill_ms']:.1f} ms, "
                      f"first decode step {split['first_decode_step_ms']:.1f} ms; at capacity TTFT "
                      f"{split['ttft_ms']:.0f} ms, TPOT {split['tpot_ms']:.1f} ms")
        for line in split["launch"]:
            console.print(f"  {line}" if line.startswith("#") else f"  $ {line}", markup=False, highlight=False)


def run_estimate_disagg(catalog, *, model, prefill, decode, link, engine, quant, kv_quant, isl, osl, slo_ttft_ms,
                        slo_tpot_ms, percentile, rate, as_json: bool, others: dict) -> None:
    """`trilemma estimate --disagg`: one split at its SLOs (and the workers a --rate needs)."""
    given = [k for k, v in others.items() if v]
    if given:
        raise EstimateError(f"estimate --disagg: {', '.join(given)} do not apply; each pool takes its own layout "
                            "in --prefill/--decode, and the load is --rate with --slo-ttft-ms/--slo-tpot-ms")
    missing = [f for f, v in (("--model", model), ("--prefill", prefill), ("--decode", decode), ("--isl", isl),
                              ("--osl", osl)) if v is None]
    if missing:
        raise EstimateError(f"estimate --disagg: missing {', '.join(missing)}")
    res = estimate_disagg(model, parse_pool(prefill, "prefill"), parse_pool(decode, "decode"), isl=isl, osl=osl,
                          engine=engine, quant=quant, kv_quant=kv_quant, slo_ttft_ms=slo_ttft_ms,
                          slo_tpot_ms=slo_tpot_ms, percentile=percentile, link=link, rate=rate, catalog=catalog)
    if as_json:
        typer.echo(json.dumps(res, indent=1))
        return
    console = _stdout()
    table = Table(title=f"trilemma estimate --disagg: {res['model']} on {res['engine']}, KV over {res['link']}")
    table.add_column("")
    table.add_column("prefill pool", justify="right")
    table.add_column("decode pool", justify="right")
    p, d = res["prefill"], res["decode"]

    def f(v):
        return "-" if v is None else (f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3g}")

    table.add_row("accelerator", p["accelerator"], d["accelerator"])
    table.add_row("GPUs per worker", str(p["gpus_per_worker"]), str(d["gpus_per_worker"]))
    table.add_row("req/s per worker at the SLOs", f(p["capacity_rps"]), f(d["capacity_rps"]))
    table.add_row("utilisation at capacity", f(p["utilisation"]), f(d["utilisation"]))
    table.add_row("memory GB/GPU", f(p["memory_gb_per_gpu"]), f(d["memory_gb_per_gpu"]))
    if "rate_rps" in res:
        table.add_row(f"workers for {res['rate_rps']:g} req/s", str(res["prefill_workers"]), str(res["decode_workers"]))
    console.print(table)
    pct = f"p{res['percentile']:g}"
    if not res["fits"]:
        console.print(f"does not fit: {res['reason']}")
        return
    console.print(f"{pct} TTFT {f(res['ttft_ms'])} ms, {pct} TPOT {f(res['tpot_ms'])} ms at both pools' capacity; "
                  f"KV transfer {f(res['transfer_ms'])} ms per request")
    if res.get("gpus"):
        console.print(f"{res['gpus']} GPUs in all for {res['rate_rps']:g} req/s")
    parts = Table(title="mean TTFT, ms")
    parts.add_column("part")
    parts.add_column("ms", justify="right")
    for k, v in res["breakdown"]["ttft_mean_ms"].items():
        parts.add_row(k, f(v))
    console.print(parts)
