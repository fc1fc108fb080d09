"""The CP-SAT model: one function per constraint family, its math in the docstring.

Sets: workloads w; configurations c ∈ C_w (what runs on the GPUs: accelerator, engine,
parallelism, quantization, batch cap; capacity μ_c requests/s per replica of n_c GPUs); placements
k ∈ K_c (the configuration on one offer g(k)); time slots t of h_t hours (H = Σ h_t); pricing tiers
held for the whole horizon (reserved, owned) or bought per slot (on-demand, spot).

Variables:
- x[c] ∈ {0,1}: configuration c is used by its workload (`max_configs` counts these);
- r[k,t] ∈ ℤ≥0: replicas of placement k on regular (non-spot) instances in slot t; s[k,t] on spot;
- y[k,t] ∈ ℤ≥0: busy units of an owned placement (1/Q of a replica doing work), to charge power;
- held[g,τ] ∈ ℤ≥0: instances of offer g held all horizon under tier τ; buy[g,τ,t] per slot;
- served[w,t]: load served (max-throughput objective only); u[c] ∈ {0,1}: distinct config c in use.
Everything is integer; solver/scaling.py holds every rule that turns a float into an integer.

Disaggregated configurations (rows with a `role` column, `solver/optimize/disagg.py`): a configuration
c is a prefill pool and a decode pool, its placements each carry one role ρ ∈ {prefill, decode} with the
role's capacity μ_cρ per worker, and every replica constraint holds per role (r counts workers of that
role). A workload's demand is met by each role: aggregated capacity plus that role's capacity ≥ D. An
aggregated configuration has the one role "" and everything reads as without roles.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from solver.optimize.data import HELD_TIERS, SLOT_TIERS, ModelInput
from solver.scaling import (
    REL_TOL,
    SHARE_SCALE,
    RateScale,
    budget_units,
    cost_units,
    hour_weight,
    replicas_for,
    share_units,
)

BUSY_UNITS = 1000
"""Q: owned placements count their busy load in 1/Q of a replica (power is charged per unit)."""
THROUGHPUT_TOL = 1e-6
"""Relative precision of `served` in the max-throughput objective (it weighs, never limits)."""


@dataclass
class BuiltModel:
    model: cp_model.CpModel
    data: ModelInput
    x: dict[int, cp_model.IntVar] = field(default_factory=dict)
    """Per configuration index c."""
    r: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)
    s: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)
    y: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)
    held: dict[tuple[str, str], cp_model.IntVar] = field(default_factory=dict)
    buy: dict[tuple[str, str, int], cp_model.IntVar] = field(default_factory=dict)
    served: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)
    used_config: dict[str, cp_model.IntVar] = field(default_factory=dict)
    cost_terms: list = field(default_factory=list)
    cost: cp_model.LinearExpr | None = None
    config_of: list[int] = field(default_factory=list)
    """Placement k -> its configuration index c."""
    placements: dict[int, list[int]] = field(default_factory=dict)
    """Configuration c -> its placements k."""
    config_workload: list[int] = field(default_factory=list)
    config_capacity_rps: list[float] = field(default_factory=list)
    replica_bound: dict[int, int] = field(default_factory=dict)
    """Per configuration: most replicas it can need in one slot."""
    rate_scale: dict[int, RateScale] = field(default_factory=dict)
    """Per workload, when its demand constraint mixes configurations (see solver/scaling.py)."""
    configs_by_workload: dict[int, list[int]] = field(default_factory=dict)
    role_of: list[str] = field(default_factory=list)
    """Placement k -> its role ('' aggregated, 'prefill', 'decode')."""
    roles: dict[int, dict[str, float]] = field(default_factory=dict)
    """Configuration c -> {role: capacity per replica (worker) of that role}."""
    role_bound: dict[tuple[int, str], int] = field(default_factory=dict)
    """Per (configuration, role): most replicas (workers) it can need in one slot."""


def replicas_needed(demand_rps: float, capacity_rps: float, min_replicas: int) -> int:
    """max(min_replicas, ⌈D / μ⌉), computed in floating point (solver/scaling.replicas_for)."""
    return max(min_replicas, replicas_for(demand_rps, capacity_rps))


def replica_floor(wl, capacity_rps: float) -> list[int]:
    """Fewest replicas per slot one configuration needs: R_t = max(min_replicas, ⌈D_t/μ⌉), raised to
    the envelope max_s (R_s − step·d(s, t)) when replicas may change by at most `step` between
    consecutive slots (d: distance on the cycle of slots). Any feasible schedule is ≥ this one."""
    return list(_replica_floor(tuple(wl.demand_rps), wl.min_replicas, wl.max_scale_step, float(capacity_rps)))


@functools.lru_cache(maxsize=65536)
def _replica_floor(demand_rps: tuple[float, ...], min_replicas: int, step: int | None,
                   capacity_rps: float) -> tuple[int, ...]:
    need = [replicas_needed(d, capacity_rps, min_replicas) for d in demand_rps]
    T = len(need)
    if step is None or T < 2:
        return tuple(need)
    return tuple(max(need[s] - step * min(abs(s - t), T - abs(s - t)) for s in range(T)) for t in range(T))


def single_config(b: BuiltModel, w: int) -> bool:
    """One configuration serves all of w's demand: its replica floor is the exact demand constraint."""
    return b.data.workloads[w].max_configs == 1 and b.data.objective == "min_cost"


def build_model(data: ModelInput) -> BuiltModel:
    m = cp_model.CpModel()
    b = BuiltModel(model=m, data=data)
    _index_configurations(b)
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


def _replicas(b: BuiltModel, c: int, t: int, role: str | None = None):
    """Σ_{k∈K_c(ρ)} r[k,t] + s[k,t] (every placement of c, or those of one role)."""
    return sum(b.r[k, t] + (b.s[k, t] if (k, t) in b.s else 0) for k in _of_role(b, c, role))


def _of_role(b: BuiltModel, c: int, role: str | None) -> list[int]:
    return [k for k in b.placements[c] if role is None or b.role_of[k] == role]


def serving_replicas(b: BuiltModel, c: int, t: int):
    """Replicas that answer users: aggregated replicas, or a disaggregated configuration's decode workers."""
    return _replicas(b, c, t, "decode" if "decode" in b.roles[c] else "")


def demand_roles(b: BuiltModel, w: int) -> list[str]:
    """The roles whose capacity must each meet w's demand: [''] without disaggregation, else both."""
    if any(len(b.roles[c]) > 1 for c in b.configs_by_workload.get(w, [])):
        return ["prefill", "decode"]
    return [""]


def _roles_serving(b: BuiltModel, c: int, role: str) -> list[str]:
    """Roles of c that count towards demand role `role` (aggregated replicas count for every role)."""
    return [""] if "" in b.roles[c] else [r for r in b.roles[c] if r == role or role == ""]


def _index_configurations(b: BuiltModel) -> None:
    """Configurations are (workload, config_key); placements of one share its capacity and GPUs."""
    d = b.data
    index: dict[tuple[int, str], int] = {}
    roles = d.rows["role"].fillna("").astype(str) if "role" in d.rows else [""] * len(d.rows)
    for k, (w, key, cap, role) in enumerate(zip(d.rows["workload"].astype(int), d.rows["config_key"],
                                                d.rows["capacity_rps"], roles, strict=True)):
        c = index.setdefault((w, key), len(index))
        if c == len(b.config_workload):
            b.config_workload.append(w)
            b.config_capacity_rps.append(float(cap))
            b.configs_by_workload.setdefault(w, []).append(c)
        b.roles.setdefault(c, {})[role] = float(cap)
        # A disaggregated configuration is as fast as its slower pool per worker.
        b.config_capacity_rps[c] = min(b.roles[c].values())
        b.config_of.append(c)
        b.role_of.append(role)
        b.placements.setdefault(c, []).append(k)
    for c, w in enumerate(b.config_workload):
        wl = d.workloads[w]
        for role, cap in b.roles[c].items():
            need = max(replica_floor(wl, cap))
            b.role_bound[c, role] = need if wl.max_configs == 1 or wl.max_scale_step is None else 2 * need
        b.replica_bound[c] = max(b.role_bound[c, role] for role in b.roles[c])
    for w, wl in enumerate(d.workloads):
        if single_config(b, w):
            continue
        units = sum(b.role_bound[c, role] * (BUSY_UNITS if _has_owned(b, c) else 1)
                    for c in b.configs_by_workload.get(w, []) for role in b.roles[c])
        demands = list(wl.demand_rps if d.objective == "min_cost" else wl.traffic_rps)
        if d.objective == "min_cost":
            b.rate_scale[w] = RateScale.for_demand(demands, units)
        else:
            positive = [v for v in demands if v > 0]
            per = max(1, units) / (2 * THROUGHPUT_TOL * min(positive)) if positive else 1.0
            b.rate_scale[w] = RateScale(float(2 ** max(0, math.ceil(math.log2(per)))))


def _has_owned(b: BuiltModel, c: int) -> bool:
    offers = b.data.rows["offer"]
    return any(b.data.offers[offers.iat[k]].busy_gpu_usd_per_hour > 0 for k in b.placements[c])


def _add_variables(b: BuiltModel) -> None:
    d, m = b.data, b.model
    offers_col = d.rows["offer"].tolist()
    for c in range(len(b.config_workload)):
        b.x[c] = m.new_bool_var(f"x[{c}]")
    for k, g in enumerate(offers_col):
        c = b.config_of[k]
        wl = d.workloads[b.config_workload[c]]
        offer = d.offers[g]
        bound = b.role_bound[c, b.role_of[k]]
        regular_ok = any(t in offer.usd_per_hour for t in (*HELD_TIERS, "on_demand"))
        spot_ok = "spot" in offer.usd_per_hour and wl.spot_max_share > 0
        for t in range(d.num_slots):
            b.r[k, t] = m.new_int_var(0, bound if regular_ok else 0, f"r[{k},{t}]")
            if spot_ok:
                b.s[k, t] = m.new_int_var(0, bound, f"s[{k},{t}]")
            if offer.busy_gpu_usd_per_hour > 0:
                b.y[k, t] = m.new_int_var(0, bound * BUSY_UNITS, f"y[{k},{t}]")
    bounds = _instance_bounds(b)
    for g, offer in d.offers.items():
        for tier in offer.usd_per_hour:
            if tier in HELD_TIERS:
                b.held[g, tier] = m.new_int_var(0, bounds[g], f"held[{g},{tier}]")
            else:
                for t in range(d.num_slots):
                    b.buy[g, tier, t] = m.new_int_var(0, bounds[g], f"buy[{g},{tier},{t}]")
    if d.objective == "max_throughput":
        for w, wl in enumerate(d.workloads):
            scale = b.rate_scale.get(w, RateScale(1.0))
            for t in range(d.num_slots):
                b.served[w, t] = m.new_int_var(0, scale.capacity(wl.traffic_rps[t]), f"served[{w},{t}]")


def _instance_bounds(b: BuiltModel) -> dict[str, int]:
    """Per offer: no more instances than it takes to host every replica that could run on it."""
    gpus = dict.fromkeys(b.data.offers, 0)
    for k, (o, n) in enumerate(zip(b.data.column("offer"), b.data.column("gpus"), strict=True)):
        gpus[o] += b.role_bound[b.config_of[k], b.role_of[k]] * int(n)
    out = {}
    for g, offer in b.data.offers.items():
        bound = math.ceil(gpus[g] / offer.gpus_per_instance)
        out[g] = bound if offer.max_instances is None else min(bound, offer.max_instances)
    return out


def add_configuration_choice(b: BuiltModel) -> None:
    """1 ≤ Σ_{c∈C_w} x[c] ≤ max_configs_w (0 ≤ ... when maximising throughput, which may drop a
    workload); u[key] ≥ x[c] for every configuration with that key (fixed cost per distinct key)."""
    lower = 0 if b.data.objective == "max_throughput" else 1
    for w, wl in enumerate(b.data.workloads):
        cs = b.configs_by_workload.get(w, [])
        b.model.add(sum(b.x[c] for c in cs) >= lower).with_name(f"one_config[{wl.name}]")
        b.model.add(sum(b.x[c] for c in cs) <= wl.max_configs).with_name(f"max_configs[{wl.name}]")
    if b.data.config_fixed_usd_per_hour > 0:
        keys = b.data.rows["config_key"]
        for c, ks in b.placements.items():
            key = keys.iat[ks[0]]
            if key not in b.used_config:
                b.used_config[key] = b.model.new_bool_var(f"u[{key}]")
            b.model.add_implication(b.x[c], b.used_config[key])


def add_replica_links(b: BuiltModel) -> None:
    """Σ_{k∈K_c} r[k,t] + s[k,t] ≤ U_c·x[c]; with one configuration per workload also
    Σ_{k∈K_c} r[k,t] + s[k,t] ≥ R_ct·x[c], the exact replica need (`replica_floor`, computed in
    floating point). Owned placements: y[k,t] ≤ Q·r[k,t]."""
    d = b.data
    for c, w in enumerate(b.config_workload):
        wl = d.workloads[w]
        for role, cap in b.roles[c].items():
            floor = replica_floor(wl, cap)
            tag = f"{c}{',' + role if role else ''}"
            for t in range(d.num_slots):
                total = _replicas(b, c, t, role)
                b.model.add(total <= b.role_bound[c, role] * b.x[c]).with_name(f"link[{tag},{t}]")
                if wl.max_configs == 1 and d.objective == "min_cost":
                    b.model.add(total >= floor[t] * b.x[c]).with_name(f"need[{tag},{t}]")
    for (k, t), y in b.y.items():
        b.model.add(y <= BUSY_UNITS * b.r[k, t]).with_name(f"owned_load[{k},{t}]")


def _units(b: BuiltModel, c: int, t: int, role: str | None = None) -> list[tuple[int, cp_model.IntVar]]:
    """(units per replica q, variable) pairs counting configuration c's serving capacity in slot t (of one
    role's placements, or all): whole replicas (q = 1), and busy units y (q = Q) in place of an owned
    placement's replicas."""
    out = []
    for k in _of_role(b, c, role):
        out.append((BUSY_UNITS, b.y[k, t]) if (k, t) in b.y else (1, b.r[k, t]))
        if (k, t) in b.s:
            out.append((1, b.s[k, t]))
    return out


def add_demand(b: BuiltModel) -> None:
    """min_cost, one configuration c per workload: Σ_units (Q/q)·units ≥ ⌈Q·D_t/μ_c·(1 − tol)⌉ when c
    has owned placements (their busy units must cover the load; otherwise the replica floor above is
    the demand constraint). Mixing configurations: Σ_c Σ_units round(μ_c·S/q)·units ≥ ⌈D_t·S·(1 − tol)⌉
    in the workload's rate scale S. max_throughput: served[w,t] ≤ the same capacity sum."""
    d = b.data
    for w, wl in enumerate(d.workloads):
        cs = b.configs_by_workload.get(w, [])
        for t in range(d.num_slots):
            if single_config(b, w):
                for c in cs:
                    for role, mu in b.roles[c].items():
                        if not any(q == BUSY_UNITS for q, _ in _units(b, c, t, role)):
                            continue
                        need = math.ceil(BUSY_UNITS * wl.demand_rps[t] / mu * (1 - REL_TOL))
                        units = sum((BUSY_UNITS // q) * v for q, v in _units(b, c, t, role))
                        b.model.add(units >= need * b.x[c]).with_name(f"demand[{wl.name},{c}{role},{t}]")
                continue
            scale = b.rate_scale[w]
            for role in demand_roles(b, w):
                cap = sum(scale.capacity(b.roles[c][r], q) * v for c in cs for r in _roles_serving(b, c, role)
                          for q, v in _units(b, c, t, r))
                tag = f"{wl.name}{',' + role if role else ''}"
                if d.objective == "max_throughput":
                    b.model.add(b.served[w, t] <= cap).with_name(f"served[{tag},{t}]")
                else:
                    b.model.add(cap >= scale.demand(wl.demand_rps[t])).with_name(f"demand[{tag},{t}]")


def add_min_replicas(b: BuiltModel) -> None:
    """Σ_c Σ_{k∈K_c} r[k,t] + s[k,t] ≥ min_replicas_w in every slot (availability); with disaggregated
    configurations, per demand role (aggregated replicas plus that role's workers)."""
    for w, wl in enumerate(b.data.workloads):
        if wl.min_replicas <= 0:
            continue
        cs = b.configs_by_workload.get(w, [])
        for t in range(b.data.num_slots):
            for role in demand_roles(b, w):
                total = sum(_replicas(b, c, t, r) for c in cs for r in _roles_serving(b, c, role))
                tag = f"{wl.name}{',' + role if role else ''}"
                if b.data.objective == "max_throughput":
                    # A workload the budget cannot serve at all may be dropped: floor only if chosen.
                    chosen = sum(b.x[c] for c in cs)
                    b.model.add(total >= wl.min_replicas * chosen).with_name(f"min_replicas[{tag},{t}]")
                else:
                    b.model.add(total >= wl.min_replicas).with_name(f"min_replicas[{tag},{t}]")


def add_scale_steps(b: BuiltModel) -> None:
    """|R_w(t) − R_w(t−1)| ≤ step_w with R_w(t) = Σ r + s; slots form a cycle (the day repeats)."""
    T = b.data.num_slots
    if T < 2:
        return
    for w, wl in enumerate(b.data.workloads):
        if wl.max_scale_step is None:
            continue
        totals = [sum(serving_replicas(b, c, t) for c in b.configs_by_workload.get(w, [])) for t in range(T)]
        for t in range(T):
            diff = totals[t] - totals[t - 1]
            b.model.add(diff <= wl.max_scale_step).with_name(f"scale_up[{wl.name},{t}]")
            b.model.add(diff >= -wl.max_scale_step).with_name(f"scale_down[{wl.name},{t}]")


def add_spot_share(b: BuiltModel) -> None:
    """Σ μ_c·s ≤ share·Σ μ_c·(r + s) per workload and slot: spot can be reclaimed, so only a bounded
    share of each workload's capacity may run on it. With one configuration μ_c cancels and the form
    (P − p)·Σ_{k∈K_c} s[k,t] ≤ p·Σ_{k∈K_c} r[k,t] (p = share in parts per million P) is exact; mixing
    configurations weighs replicas by round(μ_c·S') with S' the workload's rate scale at THROUGHPUT_TOL
    precision (keeps coefficients small; the share is then exact to 1e-6)."""
    d = b.data
    P = SHARE_SCALE
    for w, wl in enumerate(d.workloads):
        cs = [c for c in b.configs_by_workload.get(w, []) if any((k, 0) in b.s for k in b.placements[c])]
        if not cs:
            continue
        p = share_units(wl.spot_max_share)
        for t in range(d.num_slots):
            if wl.max_configs == 1:
                for c in cs:
                    for role in b.roles[c]:
                        spot = sum(b.s[k, t] for k in _of_role(b, c, role) if (k, t) in b.s)
                        regular = sum(b.r[k, t] for k in _of_role(b, c, role))
                        b.model.add((P - p) * spot <= p * regular).with_name(f"spot_share[{wl.name},{c}{role},{t}]")
                continue
            low = min(mu for i in b.configs_by_workload[w] for mu in b.roles[i].values())
            for role in demand_roles(b, w):
                pools = [(c, r) for c in b.configs_by_workload[w] for r in _roles_serving(b, c, role)]
                weight = {(c, r): max(1, round(b.roles[c][r] / low * 1e3)) for c, r in pools}
                spot = sum(weight[c, r] * b.s[k, t] for c, r in pools if c in cs for k in _of_role(b, c, r)
                           if (k, t) in b.s)
                total = sum(weight[c, r] * _replicas(b, c, t, r) for c, r in pools)
                b.model.add(P * spot <= p * total).with_name(f"spot_share[{wl.name}{role},{t}]")


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


def busy_unit_usd(busy_gpu_usd_per_hour: float, gpus: int, hours: float) -> float:
    """Power above idle of one busy unit (1/Q replica) of an owned placement for a slot."""
    return busy_gpu_usd_per_hour * gpus * hours / BUSY_UNITS


def _add_cost(b: BuiltModel) -> None:
    """Total cost over the horizon, micro-USD:
    Σ_{g,τ held} p_gτ·H·held + Σ_t h_t·Σ_{g,τ slot} p_gτ·buy
    + Σ_t Σ_{owned k} c_g^busy·n_k·h_t·y[k,t]/Q  (power above idle, by busy units)
    + f·H·Σ u  (fixed cost per distinct configuration)."""
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
        per_unit = busy_unit_usd(d.offers[offers[k]].busy_gpu_usd_per_hour, gpus[k], d.slot_hours[t])
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
    """Served output tokens over the horizon: Σ h_t·osl_w·served[w,t]/S_w with integer weights
    (hours in seconds; S_w powers of two, brought to the largest with integer multipliers)."""
    top = max((s.per_rps for s in b.rate_scale.values()), default=1.0)
    return sum(
        hour_weight(b.data.slot_hours[t]) * max(1, round(wl.output_tokens))
        * int(top / b.rate_scale.get(w, RateScale(1.0)).per_rps) * b.served[w, t]
        for w, wl in enumerate(b.data.workloads)
        for t in range(b.data.num_slots)
    )


def _add_objective(b: BuiltModel) -> None:
    if b.data.objective == "max_throughput":
        b.model.maximize(throughput_objective(b))
    else:
        b.model.minimize(b.cost)


__all__ = ["BUSY_UNITS", "BuiltModel", "build_model", "replica_floor", "replicas_needed"]
