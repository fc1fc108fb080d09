"""`solve(problem, catalog)`: candidates → CP-SAT → plan, checked, with a typed result. Never prints."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from solver.catalog.loader import Catalog
from solver.errors import InfeasibleError, NoSolutionError
from solver.optimize.bounds import greedy_upper_bound, prunable_rows
from solver.optimize.candidates import CandidateSet, build_candidates, candidate_counts
from solver.optimize.checker import check_plan
from solver.optimize.cpsat import RawSolution, solve_model
from solver.optimize.data import ModelInput
from solver.optimize.explain import explain_model_infeasible, explain_no_candidates
from solver.optimize.inputs import allowed_offers, join_offers, model_input
from solver.optimize.launch import effective_max_batch, launch_command
from solver.optimize.plan import HOURS_PER_MONTH, Plan, extract_plan
from solver.optimize.runner_up import naive_usd_per_hour, runner_ups
from solver.problem import Problem
from solver.scaling import RPS_SCALE


@dataclass
class SolveResult:
    status: str
    """optimal (proven) or feasible (time limit reached; best plan found, not proven)."""
    objective: str
    total_usd: float
    """Cost over the horizon (the slots' hours)."""
    horizon_hours: float
    best_bound_usd: float
    gap: float
    solve_time_s: float
    """CP-SAT wall time."""
    total_time_s: float
    """Candidates + model + solve + report."""
    num_variables: int
    num_constraints: int
    candidate_counts: dict[str, dict[str, int]]
    model_rows: int
    plan: Plan
    workloads: list[dict[str, Any]]
    runner_ups: pd.DataFrame
    violations: list[str] = field(default_factory=list)
    raw: RawSolution | None = None

    @property
    def usd_per_hour(self) -> float:
        return self.total_usd / self.horizon_hours

    @property
    def usd_per_month(self) -> float:
        return self.usd_per_hour * HOURS_PER_MONTH


def prepare(problem: Problem, catalog: Catalog, cache: dict | None = None
            ) -> tuple[CandidateSet, pd.DataFrame, ModelInput]:
    """Candidates and the CP-SAT input; raises InfeasibleError when a workload has no candidate."""
    offers = allowed_offers(problem, catalog)
    cands = build_candidates(problem, catalog, sorted(offers), cache)
    rows = join_offers(cands.usable, offers, catalog)
    lines, details = [], []
    for w, _wl in enumerate(problem.workloads):
        if rows.empty or not (rows["workload"] == w).any():
            more, detail = explain_no_candidates(problem, catalog, cands.evaluated, w, len(offers))
            lines += more
            details.append(detail)
    if lines:
        raise InfeasibleError(lines, details)
    return cands, rows, model_input(problem, catalog, rows, offers)


PlanHint = dict[tuple[int, str, str], tuple[list[int], list[int]]]
"""(workload index, offer, config_key) -> (regular replicas per slot, spot replicas per slot)."""


def plan_hint(result: SolveResult) -> PlanHint:
    """The chosen configurations of a result, keyed so that another solve can use them as a hint
    (row indices differ between problems, configuration identities do not)."""
    out: PlanHint = {}
    s = result.plan.schedule
    for k, part in s.groupby("row"):
        row = result.plan.choices[result.plan.choices["row"] == k].iloc[0]
        part = part.sort_values("slot")
        out[int(row["workload"]), row["offer"], row["config_key"]] = (
            part["replicas"].astype(int).tolist(), part["spot_replicas"].astype(int).tolist())
    return out


def row_keys(rows: pd.DataFrame) -> list[tuple[int, str, str]]:
    """(workload, offer, config_key) per row: a row's identity across problems and prunings."""
    return list(zip(rows["workload"].astype(int), rows["offer"], rows["config_key"], strict=True))


def _raw_hint(rows: pd.DataFrame, hint: PlanHint) -> RawSolution:
    raw = RawSolution("hint", 0, 0, 0, 0, 0, 0, 0)
    for k, key in enumerate(row_keys(rows)):
        raw.x[k] = 1 if key in hint else 0
        if key in hint:
            for t, v in enumerate(hint[key][0]):
                raw.r[k, t] = v
            for t, v in enumerate(hint[key][1]):
                raw.s[k, t] = v
    return raw


def _solve_with_bound_pruning(problem, catalog, rows, data, run, hint):
    """When a feasible plan can be built greedily (solver/optimize/bounds.py), rows whose lower
    bound exceeds its cost are dropped before CP-SAT runs; the optimum is unchanged."""
    greedy = greedy_upper_bound(data)
    if greedy is None:
        return run(data, _raw_hint(rows, hint) if hint else None), rows, data
    upper, plan = greedy
    keep = ~prunable_rows(data, upper)
    keep[list(plan)] = True
    keys = row_keys(rows)
    if hint:
        keep |= np.array([key in hint for key in keys])
    pruned_rows = rows[keep].reset_index(drop=True)
    offers = {g: data.offers[g] for g in sorted(set(pruned_rows["offer"]))}
    pruned_data = model_input(problem, catalog, pruned_rows, offers)
    if hint is None:
        hint = {keys[k]: (reps, [0] * len(reps)) for k, reps in plan.items()}
    return run(pruned_data, _raw_hint(pruned_rows, hint)), pruned_rows, pruned_data


def solve(problem: Problem, catalog: Catalog, *, time_limit_s: float | None = None,
          workers: int | None = None, hint: PlanHint | None = None, cache: dict | None = None) -> SolveResult:
    start = time.perf_counter()
    settings = problem.solver
    time_limit_s = settings.time_limit_s if time_limit_s is None else time_limit_s
    workers = settings.workers if workers is None else workers
    cands, rows, data = prepare(problem, catalog, cache)

    def run(d: ModelInput, h: RawSolution | None = None) -> RawSolution:
        return solve_model(d, time_limit_s=time_limit_s, workers=workers, seed=settings.seed, hint=h)

    counts = candidate_counts(problem, cands, rows)
    all_rows, all_data = rows, data
    raw, rows, data = _solve_with_bound_pruning(problem, catalog, rows, data, run, hint)

    for w, wl in enumerate(problem.workloads):
        counts[wl.name]["bound_pruned"] = counts[wl.name]["offer_rows"] - int((rows["workload"] == w).sum())
    if raw.status == "infeasible":
        # Diagnosis re-solves relaxed copies (budget, caps, steps): they share the time limit.
        def diagnose(d: ModelInput) -> RawSolution:
            return solve_model(d, time_limit_s=max(0.5, time_limit_s / 3), workers=workers, seed=settings.seed)

        lines, detail = explain_model_infeasible(data, diagnose)
        raise InfeasibleError(lines, [detail])
    if not raw.has_solution:
        raise NoSolutionError(f"no feasible plan found within the {time_limit_s:g} s time limit "
                              f"({len(rows)} candidate rows); raise --time-limit")
    plan = extract_plan(data, raw, rows)
    violations = check_plan(data, plan, plan.total_usd)
    result = SolveResult(
        status=raw.status, objective=problem.objective, total_usd=plan.total_usd,
        horizon_hours=data.horizon_hours,
        best_bound_usd=raw.best_bound if problem.objective == "min_cost" else math.nan,
        gap=raw.gap, solve_time_s=raw.wall_time_s, total_time_s=0.0,
        num_variables=raw.num_variables, num_constraints=raw.num_constraints,
        candidate_counts=counts, model_rows=len(rows), plan=plan,
        workloads=[], runner_ups=runner_ups(problem, all_data, all_rows, plan), violations=violations, raw=raw,
    )
    result.workloads = workload_summaries(problem, catalog, data, plan, raw)
    for w, summary in enumerate(result.workloads):
        summary["naive_usd_per_hour"] = naive_usd_per_hour(all_data, all_rows, w)
    result.total_time_s = time.perf_counter() - start
    return result


def served_rps(data: ModelInput, raw: RawSolution, w: int) -> list[float]:
    """Requests/s served per slot: all traffic when minimising cost, what the budget buys otherwise."""
    if data.objective != "max_throughput":
        return list(data.workloads[w].traffic_rps)
    return [raw.served.get((w, t), 0) / RPS_SCALE for t in range(data.num_slots)]


def workload_summaries(problem: Problem, catalog: Catalog, data: ModelInput, plan: Plan,
                       raw: RawSolution) -> list[dict]:
    out = []
    costs = plan.costs
    for w, wl in enumerate(problem.workloads):
        sched = plan.schedule[plan.schedule["workload"] == wl.name]
        usd = float(costs[costs["workload"] == wl.name]["usd"].sum())
        served = served_rps(data, raw, w)
        hours = data.slot_hours
        tokens = sum(served[t] * 3600 * hours[t] for t in range(data.num_slots)) * wl.osl()
        demand = sum(data.workloads[w].traffic_rps[t] * hours[t] for t in range(data.num_slots))
        served_share = sum(served[t] * hours[t] for t in range(data.num_slots)) / demand if demand else 1.0
        configs = []
        for k in sorted(sched["row"].unique()):
            row = plan.choices[plan.choices["row"] == k].iloc[0]
            mine = sched[sched["row"] == k]
            offer = catalog.offers[row["offer"]]
            configs.append({
                "offer": row["offer"], "provider": offer.provider, "instance_type": offer.instance_type,
                "accelerator": row["accelerator"], "engine": row["engine"],
                "quant": row["quant"], "kv_quant": row["kv_quant"],
                "tp": int(row["tp"]), "pp": int(row["pp"]), "ep": int(row["ep"]),
                "gpus_per_replica": int(row["gpus"]), "max_batch": effective_max_batch(row),
                "replica_capacity_rps": float(row["capacity_rps"]),
                "replicas_peak": int((mine["replicas"] + mine["spot_replicas"]).max()),
                "replicas_by_slot": [int(v) for v in (mine["replicas"] + mine["spot_replicas"])],
                "spot_replicas_by_slot": [int(v) for v in mine["spot_replicas"]],
                "ttft_ms": float(row["ttft_ms"]), "tpot_ms": float(row["tpot_ms"]), "e2e_ms": float(row["e2e_ms"]),
                "memory_gb_per_gpu": float(row["memory_gb_per_gpu"]),
                "launch_command": launch_command(catalog, row, wl),
            })
        capacity = sched.assign(c=(sched["replicas"] + sched["spot_replicas"]) * sched["replica_capacity_rps"])
        cap_slot = capacity.groupby("slot")["c"].sum()
        load = pd.Series(served)  # what the plan serves: all traffic, or what the budget buys
        util = float((load / cap_slot.reindex(load.index).replace(0, math.nan)).max())
        breakdown = costs[costs["workload"] == wl.name].set_index("category")["usd"].to_dict()
        out.append({
            "workload": wl.name, "model": wl.model,
            "slo": {"ttft_ms": wl.slo.ttft_ms, "tpot_ms": wl.slo.tpot_ms, "e2e_ms": wl.slo.e2e_ms,
                    "percentile": wl.slo.percentile},
            "configs": configs,
            "usd_total": usd, "usd_per_hour": usd / data.horizon_hours,
            "usd_per_month": usd / data.horizon_hours * HOURS_PER_MONTH,
            "usd_per_million_output_tokens": usd / tokens * 1e6 if tokens else math.nan,
            "peak_utilisation": util,
            "served_rps_by_slot": served,
            "served_share": served_share,
            "idle_usd": plan.idle_usd.get(wl.name, 0.0),
            "cost_breakdown_usd": breakdown,
        })
    return out
