"""`trilemma solve problems/x.yaml`: the cheapest deployment, with proof, as a table or JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from solver.catalog.loader import load_catalog
from solver.cli import app
from solver.cli.catalog_prices_cmd import prices_as_of, prices_as_of_line, unpriced_line
from solver.cli.common import (
    CatalogFiles,
    check_outputs,
    check_run_options,
    errors_at_problem_file,
    fmt_ms,
    fmt_number,
    percentile_label,
    stdout_console,
    write_atomic,
)
from solver.errors import InputError, Issue

if TYPE_CHECKING:
    from solver.optimize.solve import SolveResult
    from solver.problem import Problem

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


@app.command("solve")
@errors_at_problem_file
def solve_command(
    problem_file: Annotated[Path, typer.Argument(help="Problem YAML file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Write one row per chosen configuration.")] = None,
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Solver time limit, seconds.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="CP-SAT worker threads.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the replica schedule as a PNG chart.")] = None,
    timings: Annotated[bool, typer.Option("--timings", help="Include solve times in the JSON.")] = False,
    emit: Annotated[Path | None, typer.Option("--emit", help="Write the plan's deployment folder here.")] = None,
    margin: Annotated[str | None, typer.Option(
        "--margin", help="Safety margin on latency: auto (the held-out p90 error per engine and accelerator "
                         "family) or a percentage P; SLOs hold with latency P % worse (overrides solver.margin)."
    )] = None,
    catalog: CatalogFiles = None,
) -> None:
    """Find the cheapest deployment meeting every workload's SLOs (proven optimal when it says so)."""
    from solver.optimize.report import result_rows, result_to_dict
    from solver.plan_notes import add_running_batch, empty_plan_reasons, solve_explained
    from solver.problem import load_problem

    check_run_options(time_limit=time_limit, workers=workers)
    check_outputs((csv_file, "--csv", (".csv",)), (plot, "--plot", PLOT_SUFFIXES))
    margin_value = parse_margin(margin)
    cat = load_catalog(catalog or [])
    problem = load_problem(problem_file, cat)
    if margin is not None:
        problem = problem.model_copy(update={"solver": problem.solver.model_copy(update={"margin": margin_value})})
    if problem.solver.disaggregation:
        from solver.cli.disagg_cmd import print_disagg, write_disagg_outputs

        why = {"--plot": "the chart draws aggregated replicas per slot",
               "--timings": "the disaggregated solve records no per-stage times"}
        unsupported = [f for f, v in (("--plot", plot), ("--timings", timings)) if v]
        if unsupported:
            raise InputError([Issue(str(problem_file), "solver.disaggregation",
                                    f"{f}: not available when disaggregation is allowed ({why[f]}); solve without "
                                    "it (--emit, --csv and --json are available)") for f in unsupported])
        from solver.optimize.disagg import solve_disagg

        disagg = solve_disagg(problem, cat, time_limit_s=time_limit, workers=workers)
        write_disagg_outputs(disagg, problem, cat, emit=emit, csv_file=csv_file)
        print_disagg(disagg, problem, cat, as_json)
        return
    if problem.solver.margin is not None:
        from solver.optimize.margin import solve_with_margin

        result = solve_with_margin(problem, cat, time_limit_s=time_limit, workers=workers)
    else:
        result = solve_explained(problem, cat, time_limit_s=time_limit, workers=workers)
    add_running_batch(result, problem, cat)
    if emit is not None:  # before printing: results reach stdout only when the command succeeds
        emit_result(cat, result_to_dict(result), emit)
    if csv_file is not None:
        write_atomic(csv_file, lambda tmp: result_rows(result).to_csv(tmp, index=False))
    if plot is not None and len(result.plan.schedule):
        from solver.plots import plot_schedule

        write_atomic(plot, lambda tmp: plot_schedule(result, tmp))
    used = used_offers(result)
    empty = empty_plan_reasons(problem, cat) if result_is_empty(result) else []
    if as_json:
        out = result_to_dict(result, timings=timings) | prices_as_of(cat, used)
        from solver.catalog.prices import accelerators_without_offers

        out["accelerators_without_offers"] = accelerators_without_offers(cat, problem.fleet.accelerators or [])
        if empty:
            out["nothing_served"] = empty
        typer.echo(json.dumps(out, indent=2, sort_keys=True))
    else:
        print_result(result, problem, empty)
        console = stdout_console()
        console.print(Text(prices_as_of_line(cat, used)))
        unpriced = unpriced_line(cat, problem.fleet.accelerators)
        if unpriced:
            console.print(Text(unpriced))
    if result.violations:
        raise typer.Exit(4)


def used_offers(result: SolveResult) -> list[str]:
    """Offers the plan buys instances of (every tier and slot)."""
    return sorted(set(result.plan.instances["offer"])) if len(result.plan.instances) else []


def emit_result(cat, result_json: dict, out_dir: Path) -> None:
    from solver.cli.emit_cmd import write_folder
    from solver.deploy.plan_io import plan_from_data

    write_folder(cat, plan_from_data(result_json, "solve result"), out_dir, "UTC")


def result_is_empty(result: SolveResult) -> bool:
    """A max-throughput plan that serves nothing (a valid answer: the budget or tiers allow nothing)."""
    return result.objective == "max_throughput" and not len(result.plan.schedule)


def parse_margin(text: str | None) -> float | str | None:
    """--margin: 'auto' or a percentage in [0, 500]; anything else is bad input (exit 1)."""
    if text is None:
        return None
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= 500):
        raise InputError([Issue("command line", "--margin", f"got {text!r}; allowed: auto or a percentage 0 to 500")])
    return value


def print_result(result: SolveResult, problem: Problem | None = None, empty: list[str] | None = None) -> None:
    console = stdout_console()
    if empty:
        budget = problem.fleet.budget_usd_per_hour if problem is not None else math.nan
        console.print(Text(f"Status: {result.status}: nothing can be served within the budget of "
                           f"{budget:,.2f} USD/h and the allowed pricing tiers:"))
        for line in empty:
            console.print(Text(f"  {line}"), soft_wrap=True)
        return
    proof = "proven optimal" if result.status == "optimal" else "NOT proven optimal (time limit)"
    bound = result.best_bound_usd / result.horizon_hours
    if result.objective == "max_throughput":
        served = ", ".join(f"{w['workload']} {w['served_share']:.1%}" for w in result.workloads)
        console.print(Text(f"Objective: most output tokens within the budget; share of demand served: {served}"))
    bound_text = f"bound {bound:,.2f} USD/h, " if math.isfinite(bound) else ""
    console.print(Text(f"Status: {result.status} ({proof}); cost {result.usd_per_hour:,.2f} USD/h, "
                       f"{result.usd_per_month:,.0f} USD/month; {bound_text}gap {result.gap:.2%}; "
                       f"solve {result.solve_time_s:.2f} s"))
    console.print(Text(f"Horizon: {result.horizon_hours:g} h (the traffic profile, repeated; USD/h are averages "
                       "over it, USD/month = USD/h × 730)"))
    table = Table(title="Deployment", show_lines=False)
    for col in ("workload", "offer", "GPU", "gpus/rep", "TP/DP/PP/EP", "quant/kv", "engine", "batch cap",
                "running batch", "replicas",
                "TTFT ms (SLO)", "TPOT ms (SLO)", "util", "USD/h", "USD/month", "USD/Mtok"):
        table.add_column(col)
    for w in result.workloads:
        slo = w["slo"]
        pct = percentile_label(slo["percentile"])
        for c in w["configs"]:
            reps = c["replicas_by_slot"]
            reps_text = str(reps[0]) if len(set(reps)) == 1 else f"{min(reps)}-{max(reps)}"
            if any(c["spot_replicas_by_slot"]):
                reps_text += f" ({max(c['spot_replicas_by_slot'])} spot)"
            table.add_row(
                w["workload"], " + ".join(c["offers"]), c["accelerator"], str(c["gpus_per_replica"]),
                f"{c['tp']}/{c['dp']}/{c['pp']}/{c['ep']}", f"{c['quant']}/{c['kv_quant']}", c["engine"],
                str(c["max_batch"]), fmt_number(c.get("mean_running_batch")),
                reps_text, f"{fmt_ms(c['ttft_ms'])} ({fmt_ms(slo['ttft_ms'])}) {pct}",
                f"{fmt_ms(c['tpot_ms'])} ({fmt_ms(slo['tpot_ms'])})", f"{w['peak_utilisation']:.0%}",
                f"{w['usd_per_hour']:,.2f}", f"{w['usd_per_month']:,.0f}",
                f"{w['usd_per_million_output_tokens']:,.3f}",
            )
    console.print(table)
    costs = result.plan.costs.groupby("category")["usd"].sum()
    breakdown = Table(title=f"Cost over {result.horizon_hours:g} h")
    breakdown.add_column("category")
    breakdown.add_column("USD")
    breakdown.add_column("USD/h avg")
    for cat, usd in costs.items():
        breakdown.add_row(cat, f"{usd:,.2f}", f"{usd / result.horizon_hours:,.2f}")
    idle = sum(result.plan.idle_usd.values())
    breakdown.add_row("of which idle capacity", f"{idle:,.2f}", f"{idle / result.horizon_hours:,.2f}")
    console.print(breakdown)
    if result.horizon_hours and result.plan.schedule["slot"].nunique() > 1:
        sched = result.plan.schedule.assign(total=lambda d: d["replicas"] + d["spot_replicas"])
        pivot = sched.pivot_table(index="slot", columns="workload", values="total", aggfunc="sum")
        st = Table(title="Replicas per slot")
        st.add_column("slot")
        st.add_column("hours")
        for col in pivot.columns:
            st.add_column(str(col))
        hours = sched.drop_duplicates("slot").set_index("slot")["hours"]
        for slot, row in pivot.iterrows():
            st.add_row(str(slot), f"{hours[slot]:g}", *[str(int(v)) for v in row])
        console.print(st)
    ru = result.runner_ups
    if len(ru):
        rt = Table(title="Best stand-alone configuration per accelerator (what the optimum beat)")
        for col in ("workload", "accelerator", "offer", "TP/DP/PP/EP", "quant", "batch", "USD/h", "vs optimum"):
            rt.add_column(col)
        for r in ru.itertuples():
            rt.add_row(r.workload, r.accelerator + (" *" if r.chosen else ""), f"{r.offer} ({r.kind})",
                       f"{r.tp}/{r.dp}/{r.pp}/{r.ep}",
                       r.quant, str(r.max_batch), f"{r.standalone_usd_per_hour:,.2f}",
                       f"{r.extra_usd_per_hour:+,.2f}")
        console.print(rt)
    lay = result.layouts
    if len(lay) and lay["layout"].nunique() > 1:
        lt = Table(title="Best stand-alone plan per MoE layout (why the chosen layout won)")
        for col in ("workload", "layout", "accelerator", "TP/DP/PP/EP", "GPUs", "req/s per GPU", "USD/h"):
            lt.add_column(col)
        for r in lay.itertuples():
            lt.add_row(r.workload, r.layout + (" *" if r.chosen else ""), r.accelerator,
                       f"{r.tp}/{r.dp}/{r.pp}/{r.ep}", str(r.gpus), f"{r.capacity_rps_per_gpu:.3g}",
                       f"{r.standalone_usd_per_hour:,.2f}")
        console.print(lt)
    if result.margin is not None:
        console.print(Text(margin_line(result.margin)))
    naive = sum(w.get("naive_usd_per_hour", math.nan) for w in result.workloads)
    if math.isfinite(naive) and naive > 0 and result.objective == "min_cost":
        console.print(Text(naive_line(naive, result.usd_per_hour)), soft_wrap=True)
    for w in result.workloads:
        for c in w["configs"]:
            console.print(Text(f"Launch ({w['workload']}, per replica): {c['launch_command']}"), soft_wrap=True)
    counts = result.candidate_counts
    keys = ("considered", "infeasible", "dominated", "kept", "offer_rows", "bound_pruned")
    total = {k: sum(c.get(k, 0) for c in counts.values()) for k in keys}
    console.print(Text(f"Candidates: {total['considered']:,} considered, {total['infeasible']:,} infeasible, "
                       f"{total['dominated']:,} without a fitting offer or dominated, {total['kept']:,} kept on "
                       f"{total['offer_rows']:,} offer rows, {total['bound_pruned']:,} pruned by bounds -> "
                       f"{result.model_rows:,} rows in CP-SAT ({result.num_variables:,} variables, "
                       f"{result.num_constraints:,} constraints"
                       + (f"; {result.models} models, one per configuration searched" if result.models > 1
                          else "") + ")"), soft_wrap=True)
    for r in result.routing or []:
        saving = (f"saves {r.saving_usd_per_hour:,.2f} USD/h ({r.saving_usd_per_hour / r.single_usd_per_hour:.1%}) "
                  f"against the best single pool ({r.single_usd_per_hour:,.2f} USD/h)"
                  if math.isfinite(r.single_usd_per_hour) else "no single pool serves every size")
        console.print(Text(f"Routing by size ({r.workload}): {r.rule}; {saving}"), soft_wrap=True)
    if result.violations:
        console.print(Text("CHECKER FOUND VIOLATIONS:\n" + "\n".join(result.violations), style="bold red"))


def naive_line(naive_usd_per_hour: float, optimum_usd_per_hour: float) -> str:
    """The naive plan ignores inventory caps, scaling steps and fixed per-configuration costs; when
    that makes it cheaper than the optimum, say so instead of printing a negative saving."""
    head = (f"Naive plan (peak capacity on demand all day, cheapest on-demand configuration, ignoring inventory "
            f"caps, scaling steps and fixed per-configuration costs): {naive_usd_per_hour:,.2f} USD/h; ")
    if optimum_usd_per_hour <= naive_usd_per_hour:
        saving = naive_usd_per_hour - optimum_usd_per_hour
        return head + f"the optimum saves {saving:,.2f} USD/h ({saving / naive_usd_per_hour:.1%})"
    return head + (f"respecting those limits costs the optimum {optimum_usd_per_hour - naive_usd_per_hour:,.2f} "
                   "USD/h more")


def margin_line(m: dict) -> str:
    """The safety margin and its premium, one line (per-family margins after it when auto)."""
    if m["margin"] != "auto":
        what = f"{m['margin']:g} %"
    else:
        own = [a for a in m.get("auto_pct", []) if "pooled" not in a["from"]]
        pooled = [a for a in m.get("auto_pct", []) if "pooled" in a["from"]]
        parts = [f"{a['engine']}/{a['family']} TTFT +{a['ttft_pct']:g} %, TPOT +{a['tpot_pct']:g} %" for a in own]
        if pooled:
            parts.append(f"{len(pooled)} other engine/family pairs without enough measured cases: at least one "
                         f"metric from the pooled band (e.g. {pooled[0]['engine']}/{pooled[0]['family']} TTFT "
                         f"+{pooled[0]['ttft_pct']:g} %, TPOT +{pooled[0]['tpot_pct']:g} %)")
        what = "auto (held-out p90 error per engine and family: " + "; ".join(parts) + ")"
    pct = "-" if m["premium_pct"] is None else f"{m['premium_pct']:+.1f} %"
    return (f"Safety margin {what}: SLOs hold with latency that much worse than predicted. Optimum with margin "
            f"{m['usd_per_hour_with_margin']:,.2f} USD/h, without {m['usd_per_hour_without_margin']:,.2f} USD/h: "
            f"premium {m['premium_usd_per_hour']:+,.2f} USD/h ({pct})")
