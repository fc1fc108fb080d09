"""Exact pruning of candidate rows by bounds, so CP-SAT proves optimality on fewer rows.

For a placement k of configuration c of workload w (cheapest allowed price p_g per instance-hour
over every tier, G_g GPUs per instance) the replicas c needs in slot t are R_ct = max(min_replicas,
⌈D_t/μ_c⌉), and

    LB_k = Σ_t h_t · min_{g∈c} (p_g/G_g) · R_ct · n_c   (GPU-hours at the cheapest rate of any offer c
                                                         is placed on; instances may be shared)
    LB_k = Σ_t h_t · cover_c(R_ct)                      (one workload: it pays the cheapest whole-
                                                         instance cover of its replicas).

Any plan where w uses k costs at least LB_k + Σ_{w'≠w} min_{k'} LB_k'. Given the cost UB of a
feasible plan, rows whose bound exceeds UB cannot be in an optimal plan and are dropped. Valid
only with one configuration per workload (the need R_kt assumes k serves all of w's demand).
"""

from __future__ import annotations

import math

import numpy as np

from solver.optimize.cpsat import RawSolution
from solver.optimize.data import ModelInput
from solver.optimize.model import replica_floor
from solver.optimize.standalone import standalone


def row_lower_bounds(data: ModelInput) -> np.ndarray:
    """LB per placement, the same for every placement of one configuration c. With several workloads
    (instances may be shared): GPU-hours at c's cheapest price per GPU over its offers. A workload
    alone pays whole instances: Σ_t h_t·min_a [cover_ns(a) + cover_spot(R_ct − a)], the cheapest
    whole-instance covers (`cheapest_cover`) of a replicas at c's cheapest non-spot prices and the
    rest on spot, where a ≥ ⌈(1 − σ)·R_ct⌉: spot may carry at most the share σ of the capacity (with
    a + b ≥ R replicas, b ≤ σ·(a + b) forces a ≥ (1 − σ)·R when b = R − a, and more spot only costs
    more)."""
    single = len(data.workloads) == 1
    rows = data.rows
    config = list(zip(rows["workload"].astype(int), rows["config_key"], strict=True))
    offers_of: dict = {}
    for key, g in zip(config, rows["offer"], strict=True):
        offers_of.setdefault(key, []).append(g)
    out = np.zeros(len(rows))
    done: dict = {}
    for k, row in enumerate(rows.itertuples(index=False)):
        key = config[k]
        if key not in done:
            wl = data.workloads[int(row.workload)]
            floor = replica_floor(wl, row.capacity_rps)
            offers = [data.offers[g] for g in offers_of[key]]
            if single:
                cover = _mixed_cover(offers, int(row.gpus), max(floor), wl.spot_max_share)
                done[key] = sum(h * cover(r) for h, r in zip(data.slot_hours, floor, strict=True))
            else:
                per_gpu = min(min(o.usd_per_hour.values()) / o.gpus_per_instance for o in offers)
                done[key] = sum(h * per_gpu * r * row.gpus for h, r in zip(data.slot_hours, floor, strict=True))
        out[k] = done[key]
    return out


def _mixed_cover(offers, gpus_per_replica: int, most: int, spot_share: float):
    """R -> min over a ≥ ⌈(1 − σ)·R⌉ of cover_ns(a) + cover_spot(R − a) (see `row_lower_bounds`)."""
    regular = [(min(p for t, p in o.usd_per_hour.items() if t != "spot"), o.gpus_per_instance)
               for o in offers if any(t != "spot" for t in o.usd_per_hour)]
    spot = [(o.usd_per_hour["spot"], o.gpus_per_instance) for o in offers if "spot" in o.usd_per_hour]
    most = max(most, 0)
    never = np.full(most + 1, np.inf)
    never[0] = 0.0
    cover_ns = cheapest_cover(regular, gpus_per_replica, most) if regular else never
    use_spot = bool(spot) and spot_share > 0
    cover_sp = cheapest_cover(spot, gpus_per_replica, most) if use_spot else never

    def cover(replicas: int) -> float:
        if replicas <= 0:
            return 0.0
        least_regular = max(0, math.ceil((1 - spot_share) * replicas - 1e-9)) if use_spot else replicas
        a = np.arange(least_regular, replicas + 1)
        return float((cover_ns[a] + cover_sp[replicas - a]).min())

    return cover


def cheapest_cover(instances: list[tuple[float, int]], gpus_per_replica: int, most: int) -> np.ndarray:
    """cover(r) = cheapest hourly price of whole instances hosting r replicas of n GPUs, for r = 0 … `most`
    (an array), given (price, G) per offer: an instance hosts G/n replicas
    (n ≤ G), or a replica takes n/G whole instances. Unbounded knapsack cover,
    cover(r) = min_g price_g + cover(r − q_g), solved by dynamic programming up to B = q*·q_max + q_max
    (q* the best price per replica); beyond B some optimal cover uses the best item, so
    cover(r) = k·p* + cover(r − k·q*) with k = ⌈(r − B)/q*⌉ (the standard periodicity of the knapsack)."""
    n = gpus_per_replica
    items = [(p, G // n) if n <= G else (p * (n // G), 1) for p, G in instances]
    best_p, best_q = min(items, key=lambda it: (it[0] / it[1], -it[1]))
    limit = min(most, best_q * max(q for _, q in items) + max(q for _, q in items))
    table = [0.0] * (limit + 1)
    for r in range(1, limit + 1):
        table[r] = min(p + table[max(0, r - q)] for p, q in items)

    r = np.arange(most + 1)
    k = np.where(r > limit, -(-(r - limit) // best_q), 0)
    return np.where(r > limit, k * best_p, 0.0) + np.asarray(table)[r - k * best_q]


def prunable_rows(data: ModelInput, upper_bound_usd: float, lb: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of rows that cannot appear in any plan cheaper than `upper_bound_usd` (`lb`: the
    rows' lower bounds when already computed)."""
    if data.objective != "min_cost" or any(w.max_configs != 1 for w in data.workloads):
        return np.zeros(len(data.rows), dtype=bool)
    lb = row_lower_bounds(data) if lb is None else lb
    workload = data.rows["workload"].to_numpy()
    best = {w: lb[workload == w].min() for w in np.unique(workload)}
    others = sum(best.values())
    bound = lb + others - np.array([best[w] for w in workload])
    return bound > upper_bound_usd * (1 + 1e-9) + 1e-6


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
    offers = data.rows["offer"].tolist()
    for w in range(len(data.workloads)):
        # Owned placements are left out: their power is charged in rounded busy units by the model.
        ks = [int(k) for k in np.flatnonzero(workload == w) if data.offers[offers[k]].busy_gpu_usd_per_hour == 0]
        best = min(((standalone(data, k), k) for k in ks), key=lambda item: (item[0].usd, item[1]), default=None)
        if best is None or not math.isfinite(best[0].usd):
            return None
        total += best[0].usd
        plan[best[1]] = best[0].replicas
    return total, plan


def greedy_solution(data: ModelInput, plan: dict[int, list[int]]) -> RawSolution:
    """The greedy plan as a solver result ('feasible', not proven optimal): each workload's row on
    whole instances of its offer under the tier `standalone` picked, with the best bound
    Σ_w min_k LB_k (`row_lower_bounds`) and the gap to it."""
    raw = RawSolution("feasible", 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)
    total = 0.0
    for k, replicas in plan.items():
        choice = standalone(data, k)
        g = data.rows["offer"].iat[k]
        raw.x[k] = 1
        for t, r in enumerate(replicas):
            raw.r[k, t] = r
            if choice.tier == "on_demand":
                raw.buy[g, "on_demand", t] = raw.buy.get((g, "on_demand", t), 0) + choice.instances[t]
        if choice.tier != "on_demand":
            raw.held[g, choice.tier] = raw.held.get((g, choice.tier), 0) + choice.held
        total += choice.usd
    lb = row_lower_bounds(data)
    workload = data.rows["workload"].to_numpy()
    bound = float(sum(lb[workload == w].min() for w in np.unique(workload)))
    raw.objective = raw.cost_usd = total
    raw.best_bound = min(bound, total)
    raw.gap = (total - raw.best_bound) / total if total else 0.0
    return raw
