"""What the optimum beat: the best stand-alone configuration on each accelerator type, rented
(cloud) and owned separately.

Stand-alone cost of a row k for workload w: Σ_t h_t · p_g · ⌈R_kt·n_k / G_g⌉ / H, with
R_kt = max(min_replicas, ⌈D_t/μ_k⌉) and p_g the cheapest allowed non-spot price of the offer.
It ignores node sharing with other workloads, so it is an upper bound for that accelerator.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from solver.optimize.data import ModelInput
from solver.optimize.model import replicas_needed
from solver.optimize.plan import Plan
from solver.problem import Problem


def standalone_usd_per_hour(data: ModelInput, rows: pd.DataFrame) -> np.ndarray:
    out = np.full(len(rows), math.inf)
    for i, row in enumerate(rows.itertuples(index=False)):
        wl = data.workloads[int(row.workload)]
        offer = data.offers[row.offer]
        prices = [p for tier, p in offer.usd_per_hour.items() if tier != "spot"]
        if not prices:
            continue
        total = 0.0
        for t, hours in enumerate(data.slot_hours):
            need = replicas_needed(wl.demand_rps[t], row.capacity_rps, wl.min_replicas)
            total += hours * min(prices) * math.ceil(need * row.gpus / offer.gpus_per_instance)
        out[i] = total / data.horizon_hours
    return out


def runner_ups(problem: Problem, data: ModelInput, rows: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    if rows.empty:
        return pd.DataFrame()
    table = rows.assign(standalone_usd_per_hour=standalone_usd_per_hour(data, rows),
                        kind=[data.offers[o].kind for o in rows["offer"]])
    table = table[np.isfinite(table["standalone_usd_per_hour"])]
    best = table.sort_values(["workload", "accelerator", "kind", "standalone_usd_per_hour", "offer"],
                             kind="mergesort")
    best = best.groupby(["workload", "accelerator", "kind"], as_index=False).first()
    best["workload"] = [problem.workloads[int(w)].name for w in best["workload"]]
    chosen = plan.choices.assign(workload=[problem.workloads[int(w)].name for w in plan.choices["workload"]],
                                 kind=[data.offers[o].kind if o in data.offers else "" for o in plan.choices["offer"]])
    chosen_keys = set(zip(chosen["workload"], chosen["accelerator"], chosen["kind"], strict=True))
    optimum = plan.costs.groupby("workload")["usd"].sum() / data.horizon_hours
    best["chosen"] = [key in chosen_keys for key in zip(best["workload"], best["accelerator"], best["kind"],
                                                         strict=True)]
    best["optimum_usd_per_hour"] = [float(optimum.get(w, math.nan)) for w in best["workload"]]
    best["extra_usd_per_hour"] = best["standalone_usd_per_hour"] - best["optimum_usd_per_hour"]
    cols = ["workload", "accelerator", "kind", "offer", "engine", "quant", "kv_quant", "tp", "pp", "ep", "max_batch",
            "gpus", "capacity_rps", "standalone_usd_per_hour", "optimum_usd_per_hour", "extra_usd_per_hour",
            "chosen"]
    return best[cols].sort_values(["workload", "standalone_usd_per_hour"], kind="mergesort").reset_index(drop=True)


def naive_usd_per_hour(data: ModelInput, rows: pd.DataFrame, w: int) -> float:
    """The naive plan a finance team compares against: the workload's peak replica count on demand
    all day, on its cheapest on-demand configuration (stand-alone, no sharing, no tiers)."""
    best = math.inf
    wl = data.workloads[w]
    for row in rows[rows["workload"] == w].itertuples(index=False):
        price = data.offers[row.offer].usd_per_hour.get("on_demand")
        if price is None:
            continue
        peak = max(replicas_needed(d, row.capacity_rps, wl.min_replicas) for d in wl.demand_rps)
        best = min(best, price * math.ceil(peak * row.gpus / data.offers[row.offer].gpus_per_instance))
    return best
