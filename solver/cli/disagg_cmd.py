"""Presentation of a solve with disaggregation allowed: the chosen form per workload, the split (workers and
GPUs per pool, KV transfer time), and what the aggregated optimum costs next to it."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from solver.cli.catalog_cmd import _stdout
from solver.deploy.disagg_launch import launch_description
from solver.optimize.disagg import DisaggResult, result_to_dict


def print_disagg(result: DisaggResult, problem, catalog, as_json: bool) -> None:
    out = result_to_dict(result)
    for split, wl in zip(out["workloads"], problem.workloads, strict=True):
        if split["form"] == "disaggregated":
            max_len = int(max(wl.isl(), wl.isl()) + wl.osl())
            split["launch"] = launch_description(catalog, split, wl.model, max_len)
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
    table.add_row("best disaggregated, USD/hour", "none meets the SLOs" if best is None else f"{best:,.2f}")
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
