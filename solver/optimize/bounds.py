"""Exact pruning of candidate rows by bounds, so CP-SAT proves optimality on fewer rows.

For a row k of workload w on offer g (G GPUs per instance, cheapest allowed price p_g per instance-
hour over every tier) the replicas it needs in slot t are R_kt = max(min_replicas, ⌈D_t/μ_k⌉), and

    LB_k = Σ_t h_t · p_g · R_kt · n_k / G        (GPU-hours at the cheapest rate; replicas of other
                                                  workloads may share the instances)
    LB_k = Σ_t h_t · p_g · ⌈R_kt · n_k / G⌉      (one workload: it pays whole instances).

Any plan where w uses k costs at least LB_k + Σ_{w'≠w} min_{k'} LB_k'. Given the cost UB of a
feasible plan, rows whose bound exceeds UB cannot be in an optimal plan and are dropped. Valid
only with one configuration per workload (the need R_kt assumes k serves all of w's demand).
"""

from __future__ import annotations

import math

import numpy as np

from solver.optimize.data import ModelInput
from solver.optimize.model import replica_floor


def row_lower_bounds(data: ModelInput) -> np.ndarray:
    single = len(data.workloads) == 1
    out = np.zeros(len(data.rows))
    for k, row in enumerate(data.rows.itertuples(index=False)):
        wl = data.workloads[int(row.workload)]
        offer = data.offers[row.offer]
        price = min(offer.usd_per_hour.values())
        total = 0.0
        floor = replica_floor(wl, row.capacity_rps)
        for t, hours in enumerate(data.slot_hours):
            gpus = floor[t] * row.gpus
            instances = math.ceil(gpus / offer.gpus_per_instance) if single else gpus / offer.gpus_per_instance
            total += hours * price * instances
        out[k] = total
    return out


def prunable_rows(data: ModelInput, upper_bound_usd: float) -> np.ndarray:
    """Boolean mask of rows that cannot appear in any plan cheaper than `upper_bound_usd`."""
    if data.objective != "min_cost" or any(w.max_configs != 1 for w in data.workloads):
        return np.zeros(len(data.rows), dtype=bool)
    lb = row_lower_bounds(data)
    workload = data.rows["workload"].to_numpy()
    best = {w: lb[workload == w].min() for w in np.unique(workload)}
    others = sum(best.values())
    bound = lb + others - np.array([best[w] for w in workload])
    return bound > upper_bound_usd * (1 + 1e-9) + 1e-6


def standalone_cost(data: ModelInput, k: int) -> tuple[float, list[int], str, int]:
    """Cost of serving row k's workload with k alone: R_kt replicas per slot on whole instances of
    its offer, on demand, or holding the peak count under the cheapest held tier, whichever is
    cheaper. Returns (USD over the horizon, replicas per slot, tier, held instances)."""
    row = data.rows.iloc[k]
    wl = data.workloads[int(row["workload"])]
    offer = data.offers[row["offer"]]
    replicas = replica_floor(wl, row["capacity_rps"])
    instances = [math.ceil(r * row["gpus"] / offer.gpus_per_instance) for r in replicas]
    options = []
    if "on_demand" in offer.usd_per_hour:
        options.append((sum(h * offer.usd_per_hour["on_demand"] * n for h, n in zip(data.slot_hours, instances,
                                                                                      strict=True)),
                        "on_demand", 0))
    for tier in ("reserved_1y", "reserved_3y", "owned"):
        if tier in offer.usd_per_hour:
            peak = max(instances)
            options.append((offer.usd_per_hour[tier] * data.horizon_hours * peak, tier, peak))
    if not options or offer.busy_gpu_usd_per_hour > 0:
        return math.inf, replicas, "", 0
    cost, tier, held = min(options)
    return cost, replicas, tier, held


def greedy_upper_bound(data: ModelInput) -> tuple[float, dict[int, list[int]]] | None:
    """A feasible plan built without a solver: each workload alone on its cheapest stand-alone row.
    Only when nothing couples the workloads (no caps, budget, mixing, fixed config costs), so the
    plan is certainly feasible; scale steps hold because `replica_floor` is step-Lipschitz.
    Returns (cost, {row: replicas per slot}) or None."""
    if (data.objective != "min_cost" or data.budget_usd_per_hour is not None or data.accelerator_max_gpus
            or any(o.max_instances is not None for o in data.offers.values())
            or any(w.max_configs != 1 for w in data.workloads)
            or data.config_fixed_usd_per_hour > 0):
        return None
    total, plan = 0.0, {}
    workload = data.rows["workload"].to_numpy()
    for w in range(len(data.workloads)):
        best = min(((standalone_cost(data, k), k) for k in np.flatnonzero(workload == w)),
                   key=lambda item: (item[0][0], item[1]), default=None)
        if best is None or not math.isfinite(best[0][0]):
            return None
        total += best[0][0]
        plan[int(best[1])] = best[0][1]
    return total, plan
