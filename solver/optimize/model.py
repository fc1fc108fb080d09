"""The CP-SAT model: one function per constraint family, its math in the docstring.

Sets: workloads w, candidate rows k ∈ K_w (each on one offer g(k), with n_k GPUs per replica and
capacity μ_k requests/s), time slots t of h_t hours (H = Σ h_t), pricing tiers: held for the whole
horizon (reserved, owned) or bought per slot (on-demand, spot).

Variables:
- x[k] ∈ {0,1}: configuration k is used by its workload;
- r[k,t] ∈ ℤ≥0: replicas of k on regular (non-spot) instances in slot t; s[k,t] on spot instances;
- y[k,t] ∈ ℤ≥0: load served by owned-hardware rows (milli-req/s), to charge power by utilisation;
- held[g,τ] ∈ ℤ≥0: instances of offer g held all horizon under tier τ; buy[g,τ,t] per slot;
- served[w,t]: load served (max-throughput objective only); u[c] ∈ {0,1}: distinct config c in use.
Everything is integer: rates in milli-req/s, money in micro-USD (see solver/scaling.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from solver.optimize.data import HELD_TIERS, SLOT_TIERS, ModelInput
from solver.scaling import (
    RPS_SCALE,
    budget_units,
    capacity_units,
    cost_units,
    demand_units,
    share_permille,
)


@dataclass
class BuiltModel:
    model: cp_model.CpModel
    data: ModelInput
    x: dict[int, cp_model.IntVar] = field(default_factory=dict)
    r: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)
    s: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)
    y: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)
    held: dict[tuple[str, str], cp_model.IntVar] = field(default_factory=dict)
    buy: dict[tuple[str, str, int], cp_model.IntVar] = field(default_factory=dict)
    served: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)
    used_config: dict[str, cp_model.IntVar] = field(default_factory=dict)
    cost_terms: list = field(default_factory=list)
    cost: cp_model.LinearExpr | None = None
    capacity: dict[int, int] = field(default_factory=dict)
    """μ_k in milli-req/s (rounded down)."""
    replica_bound: dict[int, int] = field(default_factory=dict)
    rows_by_workload: dict[int, list[int]] = field(default_factory=dict)


def replicas_needed(demand_rps: float, capacity_rps: float, min_replicas: int) -> int:
    """max(min_replicas, ⌈D / μ⌉) with the integer rounding of solver/scaling."""
    cap = capacity_units(capacity_rps)
    dem = demand_units(demand_rps)
    if cap <= 0:
        return 10**9
    return max(min_replicas, -(-dem // cap))


def replica_floor(wl, capacity_rps: float) -> list[int]:
    """Fewest replicas per slot one configuration needs: R_t = max(min_replicas, ⌈D_t/μ⌉), raised to
    the envelope max_s (R_s − step·d(s, t)) when replicas may change by at most `step` between
    consecutive slots (d: distance on the cycle of slots). Any feasible schedule is ≥ this one."""
    need = [replicas_needed(d, capacity_rps, wl.min_replicas) for d in wl.demand_rps]
    step = wl.max_scale_step
    T = len(need)
    if step is None or T < 2:
        return need
    return [max(need[s] - step * min(abs(s - t), T - abs(s - t)) for s in range(T)) for t in range(T)]


def build_model(data: ModelInput) -> BuiltModel:
    m = cp_model.CpModel()
    b = BuiltModel(model=m, data=data)
    _add_variables(b)
    add_configuration_choice(b)
    add_replica_links(b)
    add_demand(b)
    add_min_replicas(b)
    add_scale_steps(b)
    add_spot_share(b)
    add_instance_capacity(b)
    add_inventory(b)
    _add_cost(b)
    add_budget(b)
    _add_objective(b)
    return b


def _rows_of(b: BuiltModel, w: int) -> list[int]:
    return b.rows_by_workload.get(w, [])


def _add_variables(b: BuiltModel) -> None:
    d, m = b.data, b.model
    rows = d.rows
    for k, row in enumerate(rows.itertuples(index=False)):
        w = int(row.workload)
        wl = d.workloads[w]
        offer = d.offers[row.offer]
        b.rows_by_workload.setdefault(w, []).append(k)
        b.capacity[k] = capacity_units(row.capacity_rps)
        need = max(replica_floor(wl, row.capacity_rps))
        bound = need if wl.max_configs == 1 or wl.max_scale_step is None else 2 * need
        b.replica_bound[k] = bound
        b.x[k] = m.new_bool_var(f"x[{k}]")
        regular_ok = any(t in offer.usd_per_hour for t in (*HELD_TIERS, "on_demand"))
        spot_ok = "spot" in offer.usd_per_hour and wl.spot_max_share > 0
        for t in range(d.num_slots):
            b.r[k, t] = m.new_int_var(0, bound if regular_ok else 0, f"r[{k},{t}]")
            if spot_ok:
                b.s[k, t] = m.new_int_var(0, bound, f"s[{k},{t}]")
            if offer.busy_gpu_usd_per_hour > 0:
                b.y[k, t] = m.new_int_var(0, bound * b.capacity[k], f"y[{k},{t}]")
    for g, offer in d.offers.items():
        for tier in offer.usd_per_hour:
            if tier in HELD_TIERS:
                b.held[g, tier] = m.new_int_var(0, _instance_bound(b, g), f"held[{g},{tier}]")
            else:
                for t in range(d.num_slots):
                    b.buy[g, tier, t] = m.new_int_var(0, _instance_bound(b, g), f"buy[{g},{tier},{t}]")
    if d.objective == "max_throughput":
        for w, wl in enumerate(d.workloads):
            for t in range(d.num_slots):
                b.served[w, t] = m.new_int_var(0, demand_units(wl.traffic_rps[t]), f"served[{w},{t}]")


def _instance_bound(b: BuiltModel, g: str) -> int:
    """No more instances than it takes to host every replica that could run on the offer."""
    offer = b.data.offers[g]
    gpus = sum(
        b.replica_bound[k] * int(row.gpus)
        for k, row in enumerate(b.data.rows.itertuples(index=False))
        if row.offer == g
    )
    bound = math.ceil(gpus / offer.gpus_per_instance)
    return bound if offer.max_instances is None else min(bound, offer.max_instances)


def add_configuration_choice(b: BuiltModel) -> None:
    """1 ≤ Σ_{k∈K_w} x[k] ≤ max_configs_w (0 ≤ ... when maximising throughput, which may drop a
    workload); u[c] ≥ x[k] for every row k of distinct configuration c."""
    lower = 0 if b.data.objective == "max_throughput" else 1
    for w, wl in enumerate(b.data.workloads):
        ks = _rows_of(b, w)
        b.model.add(sum(b.x[k] for k in ks) >= lower).with_name(f"one_config[{wl.name}]")
        b.model.add(sum(b.x[k] for k in ks) <= wl.max_configs).with_name(f"max_configs[{wl.name}]")
    if b.data.config_fixed_usd_per_hour > 0:
        for k, key in enumerate(b.data.rows["config_key"]):
            if key not in b.used_config:
                b.used_config[key] = b.model.new_bool_var(f"u[{key}]")
            b.model.add_implication(b.x[k], b.used_config[key])


def add_replica_links(b: BuiltModel) -> None:
    """r[k,t] + s[k,t] ≤ U_k·x[k]; with one configuration per workload also
    r[k,t] + s[k,t] ≥ floor_kt·x[k] (`replica_floor`: a valid cut that tightens the bound).
    Owned rows: y[k,t] ≤ μ_k·r[k,t]."""
    d = b.data
    for k, row in enumerate(d.rows.itertuples(index=False)):
        wl = d.workloads[int(row.workload)]
        floor = replica_floor(wl, row.capacity_rps)
        for t in range(d.num_slots):
            total = b.r[k, t] + (b.s[k, t] if (k, t) in b.s else 0)
            b.model.add(total <= b.replica_bound[k] * b.x[k]).with_name(f"link[{k},{t}]")
            if wl.max_configs == 1 and d.objective == "min_cost":
                b.model.add(total >= floor[t] * b.x[k]).with_name(f"need[{k},{t}]")
            if (k, t) in b.y:
                b.model.add(b.y[k, t] <= b.capacity[k] * b.r[k, t]).with_name(f"owned_load[{k},{t}]")


def _served_capacity(b: BuiltModel, w: int, t: int):
    """Σ_k μ_k·(r+s), with owned rows counted through y (the load they actually serve)."""
    terms = []
    for k in _rows_of(b, w):
        if (k, t) in b.y:
            terms.append(b.y[k, t])
        else:
            terms.append(b.capacity[k] * b.r[k, t])
        if (k, t) in b.s:
            terms.append(b.capacity[k] * b.s[k, t])
    return sum(terms)


def add_demand(b: BuiltModel) -> None:
    """min_cost: Σ_k μ_k·(r[k,t] + s[k,t]) ≥ λ_w(t)·(1 + headroom) for every workload and slot.
    max_throughput: served[w,t] ≤ Σ_k μ_k·(r+s) and served ≤ λ_w(t)."""
    for w, wl in enumerate(b.data.workloads):
        for t in range(b.data.num_slots):
            cap = _served_capacity(b, w, t)
            if b.data.objective == "max_throughput":
                b.model.add(b.served[w, t] <= cap).with_name(f"served[{wl.name},{t}]")
            else:
                b.model.add(cap >= demand_units(wl.demand_rps[t])).with_name(f"demand[{wl.name},{t}]")


def add_min_replicas(b: BuiltModel) -> None:
    """Σ_k r[k,t] + s[k,t] ≥ min_replicas_w in every slot (availability)."""
    for w, wl in enumerate(b.data.workloads):
        if wl.min_replicas <= 0:
            continue
        for t in range(b.data.num_slots):
            total = sum(b.r[k, t] + (b.s[k, t] if (k, t) in b.s else 0) for k in _rows_of(b, w))
            if b.data.objective == "max_throughput":
                # A workload the budget cannot serve at all may be dropped: floor only if chosen.
                chosen = sum(b.x[k] for k in _rows_of(b, w))
                b.model.add(total >= wl.min_replicas * chosen).with_name(f"min_replicas[{wl.name},{t}]")
            else:
                b.model.add(total >= wl.min_replicas).with_name(f"min_replicas[{wl.name},{t}]")


def add_scale_steps(b: BuiltModel) -> None:
    """|R_w(t) − R_w(t−1)| ≤ step_w with R_w(t) = Σ_k r + s; slots form a cycle (the day repeats)."""
    T = b.data.num_slots
    if T < 2:
        return
    for w, wl in enumerate(b.data.workloads):
        if wl.max_scale_step is None:
            continue
        totals = [sum(b.r[k, t] + (b.s[k, t] if (k, t) in b.s else 0) for k in _rows_of(b, w))
                  for t in range(T)]
        for t in range(T):
            diff = totals[t] - totals[t - 1]
            b.model.add(diff <= wl.max_scale_step).with_name(f"scale_up[{wl.name},{t}]")
            b.model.add(diff >= -wl.max_scale_step).with_name(f"scale_down[{wl.name},{t}]")


def add_spot_share(b: BuiltModel) -> None:
    """1000·Σ_k μ_k·s[k,t] ≤ share‰ · Σ_k μ_k·(r[k,t] + s[k,t]): spot can be reclaimed, so only a
    bounded share of each workload's capacity may run on it. With one configuration per workload
    μ_k cancels and the row-wise form (1000 − share‰)·s[k,t] ≤ share‰·r[k,t] is equivalent and
    much easier for the solver (small coefficients)."""
    for w, wl in enumerate(b.data.workloads):
        ks = [k for k in _rows_of(b, w) if (k, 0) in b.s]
        if not ks:
            continue
        permille = share_permille(wl.spot_max_share)
        for t in range(b.data.num_slots):
            if wl.max_configs == 1:
                for k in ks:
                    b.model.add((1000 - permille) * b.s[k, t] <= permille * b.r[k, t]).with_name(
                        f"spot_share[{wl.name},{k},{t}]")
                continue
            spot = sum(b.capacity[k] * b.s[k, t] for k in ks)
            total = sum(b.capacity[k] * (b.r[k, t] + (b.s[k, t] if (k, t) in b.s else 0))
                        for k in _rows_of(b, w))
            b.model.add(1000 * spot <= permille * total).with_name(f"spot_share[{wl.name},{t}]")


def add_instance_capacity(b: BuiltModel) -> None:
    """Whole instances: Σ_{k on g} n_k·r[k,t] ≤ G_g·(Σ_τ held[g,τ] + buy[g,on_demand,t]) and
    Σ_{k on g} n_k·s[k,t] ≤ G_g·buy[g,spot,t]. Replica sizes divide G_g or are multiples of it
    (powers of two), so the aggregate GPU count packs exactly into whole instances."""
    d = b.data
    by_offer: dict[str, list[int]] = {}
    for k, g in enumerate(d.rows["offer"]):
        by_offer.setdefault(g, []).append(k)
    gpus = d.rows["gpus"].astype(int).tolist()
    for g, offer in d.offers.items():
        ks = by_offer.get(g, [])
        G = offer.gpus_per_instance
        held = held_instances(b, g)
        for t in range(d.num_slots):
            regular_instances = held
            if (g, "on_demand", t) in b.buy:
                regular_instances += b.buy[g, "on_demand", t]
            regular = sum(gpus[k] * b.r[k, t] for k in ks)
            b.model.add(regular <= G * regular_instances).with_name(f"gpus[{g},{t}]")
            spot = sum(gpus[k] * b.s[k, t] for k in ks if (k, t) in b.s)
            spot_instances = b.buy.get((g, "spot", t), 0)
            b.model.add(spot <= G * spot_instances).with_name(f"spot_gpus[{g},{t}]")


def held_instances(b: BuiltModel, g: str):
    """Σ_τ held[g,τ]: instances of offer g held for the whole horizon (reserved, owned)."""
    return sum(b.held.get((g, tier), 0) for tier in HELD_TIERS)


def instances_in_slot(b: BuiltModel, g: str, t: int):
    """Held instances plus those bought for slot t (on demand, spot)."""
    return held_instances(b, g) + sum(b.buy.get((g, tier, t), 0) for tier in SLOT_TIERS)


def add_inventory(b: BuiltModel) -> None:
    """Instances of offer g in use in any slot ≤ cap_g; GPUs of accelerator a ≤ cap_a."""
    d = b.data
    for g, offer in d.offers.items():
        if offer.max_instances is None:
            continue
        for t in range(d.num_slots):
            b.model.add(instances_in_slot(b, g, t) <= offer.max_instances).with_name(f"inventory[{g},{t}]")
    for acc, cap in d.accelerator_max_gpus.items():
        for t in range(d.num_slots):
            total = sum(o.gpus_per_instance * instances_in_slot(b, g, t)
                        for g, o in d.offers.items() if o.accelerator == acc)
            b.model.add(total <= cap).with_name(f"inventory[{acc},{t}]")


def _add_cost(b: BuiltModel) -> None:
    """Total cost over the horizon, micro-USD:
    Σ_{g,τ held} p_gτ·H·held + Σ_t h_t·Σ_{g,τ slot} p_gτ·buy
    + Σ_t h_t·Σ_{owned k} c_g^busy·(n_k/μ_k)·y[k,t]  (power above idle, by utilisation)
    + f·H·Σ_c u[c]  (fixed cost per distinct configuration)."""
    d = b.data
    H = d.horizon_hours
    terms = []
    for (g, tier), v in b.held.items():
        terms.append(cost_units(d.offers[g].usd_per_hour[tier] * H) * v)
    for (g, tier, t), v in b.buy.items():
        terms.append(cost_units(d.offers[g].usd_per_hour[tier] * d.slot_hours[t]) * v)
    gpus = d.rows["gpus"].astype(int).tolist()
    offers = d.rows["offer"].tolist()
    for (k, t), v in b.y.items():
        busy = d.offers[offers[k]].busy_gpu_usd_per_hour
        per_unit = busy * gpus[k] / (b.capacity[k] / RPS_SCALE) / RPS_SCALE * d.slot_hours[t]
        terms.append(cost_units(per_unit) * v)
    if d.config_fixed_usd_per_hour > 0:
        per = cost_units(d.config_fixed_usd_per_hour * H)
        terms += [per * u for u in b.used_config.values()]
    b.cost_terms = terms
    b.cost = sum(terms)


def add_budget(b: BuiltModel) -> None:
    """Total cost ≤ budget_usd_per_hour · H."""
    if b.data.budget_usd_per_hour is not None:
        limit = budget_units(b.data.budget_usd_per_hour * b.data.horizon_hours)
        b.model.add(b.cost <= limit).with_name("budget")


def throughput_objective(b: BuiltModel):
    """Served output tokens over the horizon (integer weights: h_t in centi-hours · osl)."""
    return sum(
        round(b.data.slot_hours[t] * 100) * max(1, round(wl.output_tokens)) * b.served[w, t]
        for w, wl in enumerate(b.data.workloads)
        for t in range(b.data.num_slots)
    )


def _add_objective(b: BuiltModel) -> None:
    if b.data.objective == "max_throughput":
        b.model.maximize(throughput_objective(b))
    else:
        b.model.minimize(b.cost)


__all__ = ["BuiltModel", "build_model", "replica_floor", "replicas_needed"]
