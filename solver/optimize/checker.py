"""A solver-independent checker: recomputes capacity, packing, limits and cost of a plan in floats.

It never looks at CP-SAT's variables or objective; it reads the plan (replicas and instances per
slot) and the problem data, and lists every violated requirement. Tests call it on every solution.
"""

from __future__ import annotations

import math

import numpy as np

from solver.optimize.data import HELD_TIERS, ModelInput
from solver.optimize.model import busy_unit_usd, replicas_needed
from solver.optimize.plan import Plan
from solver.scaling import REL_TOL, meets_demand


def pack_replicas(replica_sizes: list[int], gpus_per_instance: int) -> int:
    """Instances needed to host replicas whole: replicas larger than an instance take ⌈n/G⌉ whole
    instances; smaller ones are packed largest first, each into the open instance with the most
    free space (worst-fit decreasing), opening a new instance when none has room. When sizes
    divide each other (powers of two) this is optimal: ⌈Σ n / G⌉.

    Sizes are grouped (a plan has few distinct replica sizes but may have tens of thousands of
    replicas), and instances with equal free space are filled in bulk, so the time does not grow
    with the number of replicas."""
    G = gpus_per_instance
    counts: dict[int, int] = {}
    for n in replica_sizes:
        counts[n] = counts.get(n, 0) + 1
    whole = sum(math.ceil(n / G) * c for n, c in counts.items() if n > G)
    free: dict[int, int] = {}
    """free space -> number of open instances with that much free space"""
    opened = 0
    for n in sorted((n for n in counts if n <= G), reverse=True):
        left = counts[n]
        for space in sorted(free, reverse=True):
            if left == 0:
                break
            if space < n:
                continue
            # Instances with the most free space first; each takes as many replicas as fit.
            per_instance = space // n
            instances = free.pop(space)
            full = min(instances, left // per_instance)
            left -= full * per_instance
            remainder = space - per_instance * n
            if full:
                free[remainder] = free.get(remainder, 0) + full
            rest = instances - full
            if rest and left:
                partial_space = space - left * n
                left = 0
                free[partial_space] = free.get(partial_space, 0) + 1
                rest -= 1
            if rest:
                free[space] = free.get(space, 0) + rest
        if left:
            per_instance = G // n
            new = math.ceil(left / per_instance)
            opened += new
            full_new = left // per_instance
            if full_new:
                free[G - per_instance * n] = free.get(G - per_instance * n, 0) + full_new
            if left % per_instance:
                leftover = G - (left % per_instance) * n
                free[leftover] = free.get(leftover, 0) + 1
    return whole + opened


def check_plan(data: ModelInput, plan: Plan, reported_total_usd: float | None = None) -> list[str]:
    problems: list[str] = []
    s = plan.schedule
    T = data.num_slots
    # Plain arrays: the checks below visit every workload and slot, where pandas filtering is slow.
    col = {c: s[c].to_numpy() for c in ("workload", "slot", "row", "replicas", "spot_replicas", "replica_capacity_rps")}
    role_all = s["role"].to_numpy() if "role" in s else np.full(len(s), "", dtype=object)
    pool_all = col["replicas"] + col["spot_replicas"]
    config_key = data.column("config_key")
    for _w, wl in enumerate(data.workloads):
        mine = col["workload"] == wl.name
        configs = len(set(config_key[np.unique(col["row"][mine])])) if mine.any() else 0
        if configs < 1 and data.objective == "min_cost":
            problems.append(f"{wl.name}: no configuration chosen")
        if configs > wl.max_configs:
            problems.append(f"{wl.name}: {configs} configurations > max {wl.max_configs}")
        totals = []
        # Disaggregated workers: prefill and decode capacity must each meet the demand.
        demand_roles = ["prefill", "decode"] if (role_all[mine] != "").any() else [""]
        for t in range(T):
            slot_all = mine & (col["slot"] == t)
            serving = slot_all & np.isin(role_all, ["", "decode"])
            replicas = int(pool_all[serving].sum())
            totals.append(replicas)
            for role in demand_roles:
                slot = slot_all & np.isin(role_all, ["", role])
                tag = f" {role}" if role else ""
                capacity = float((pool_all[slot] * col["replica_capacity_rps"][slot]).sum())
                spot_capacity = float((col["spot_replicas"][slot] * col["replica_capacity_rps"][slot]).sum())
                pool = int(pool_all[slot].sum())
                if data.objective == "min_cost" and not meets_demand(capacity, wl.demand_rps[t]):
                    problems.append(f"{wl.name} slot {t}:{tag} capacity {capacity:.6g} < demand "
                                    f"{wl.demand_rps[t]:.6g} req/s")
                # (prefill and decode pools are sized together with their pair: not checked one by one)
                if data.objective == "min_cost" and configs == 1 and slot.any() and wl.max_scale_step is None \
                        and demand_roles == [""]:
                    # The integer model must not have bought replicas the float need does not call for
                    # unless instances already paid for host them (rounding would show here first).
                    need = replicas_needed(wl.demand_rps[t], float(col["replica_capacity_rps"][slot][0]),
                                           wl.min_replicas)
                    extra = pool - need
                    if extra > 0 and _extra_replicas_cost_instances(data, plan, s[slot], t, extra):
                        problems.append(f"{wl.name} slot {t}:{tag} {pool} replicas where {need} serve the demand")
                if pool < wl.min_replicas and (data.objective == "min_cost" or configs):
                    problems.append(f"{wl.name} slot {t}:{tag} {pool} replicas < minimum {wl.min_replicas}")
                if spot_capacity > wl.spot_max_share * capacity * (1 + REL_TOL) + 1e-12:
                    problems.append(f"{wl.name} slot {t}:{tag} spot share {spot_capacity / capacity:.3f} "
                                    f"> {wl.spot_max_share}")
        if wl.max_scale_step is not None and T > 1:
            for t in range(T):
                if abs(totals[t] - totals[t - 1]) > wl.max_scale_step:
                    problems.append(f"{wl.name} slot {t}: scaled by {totals[t] - totals[t - 1]} replicas "
                                    f"> step {wl.max_scale_step}")
    inst = plan.instances
    # Only (offer, slot) pairs that host replicas or hold instances can break a rule: visit those.
    hosted = {key: group for key, group in s.groupby(["offer", "slot"])} if len(s) else {}
    held = {key: group for key, group in inst.groupby(["offer", "slot"])} if len(inst) else {}
    for g, t in sorted(set(hosted) | set(held)):
        offer = data.offers[g]
        here = hosted.get((g, t), s.iloc[:0])
        mine = held.get((g, t), inst.iloc[:0])
        regular = int(mine.loc[mine["tier"] != "spot", "instances"].sum())
        spot = int(mine.loc[mine["tier"] == "spot", "instances"].sum())
        sizes = [int(r.gpus_per_replica) for r in here.itertuples() for _ in range(int(r.replicas))]
        spot_sizes = [int(r.gpus_per_replica) for r in here.itertuples() for _ in range(int(r.spot_replicas))]
        if pack_replicas(sizes, offer.gpus_per_instance) > regular:
            problems.append(f"{g} slot {t}: replicas need {pack_replicas(sizes, offer.gpus_per_instance)} "
                            f"instances, {regular} bought")
        if pack_replicas(spot_sizes, offer.gpus_per_instance) > spot:
            problems.append(f"{g} slot {t}: spot replicas do not fit {spot} spot instances")
        if offer.max_instances is not None and regular + spot > offer.max_instances:
            problems.append(f"{g} slot {t}: {regular + spot} instances > cap {offer.max_instances}")
    for acc, cap in data.accelerator_max_gpus.items():
        for t in range(T):
            gpus = sum(int(r.instances) * data.offers[r.offer].gpus_per_instance
                       for r in inst.itertuples() if r.slot == t and data.offers[r.offer].accelerator == acc)
            if gpus > cap:
                problems.append(f"{acc} slot {t}: {gpus} GPUs > cap {cap}")
    total = recompute_cost(data, plan)
    if data.budget_usd_per_hour is not None and total > data.budget_usd_per_hour * data.horizon_hours * (1 + 1e-9):
        problems.append(f"cost {total:.2f} USD > budget {data.budget_usd_per_hour * data.horizon_hours:.2f} USD")
    # Owned power is paid in busy units of 1/BUSY_UNITS replica: allow one unit per owned row and slot.
    unit_slack = sum(busy_unit_usd(data.offers[r.offer].busy_gpu_usd_per_hour, int(r.gpus_per_replica), r.hours)
                     for r in s.itertuples() if data.offers[r.offer].busy_gpu_usd_per_hour > 0)
    if reported_total_usd is not None and not math.isclose(total, reported_total_usd, rel_tol=1e-6,
                                                           abs_tol=1e-3 + unit_slack):
        problems.append(f"reported cost {reported_total_usd:.6f} USD differs from recomputed {total:.6f} USD")
    return problems


def _extra_replicas_cost_instances(data: ModelInput, plan: Plan, slot, t: int, extra: int) -> bool:
    """Would hosting `extra` fewer replicas of this slot's configuration free a paid instance?"""
    inst = plan.instances
    s = plan.schedule
    for row in slot.itertuples():
        if extra < 1 or int(row.replicas) < 1:
            continue
        g = row.offer
        here = s[(s["offer"] == g) & (s["slot"] == t)]
        sizes = [int(r.gpus_per_replica) for r in here.itertuples() for _ in range(int(r.replicas))]
        sizes.remove(int(row.gpus_per_replica))  # one replica fewer on this placement
        mine = inst[(inst["offer"] == g) & (inst["slot"] == t)]
        bought = mine[mine["tier"] != "spot"]["instances"].sum()
        held = mine[mine["tier"].isin(HELD_TIERS)]["instances"].sum()
        if pack_replicas(sizes, data.offers[g].gpus_per_instance) < bought and bought > held:
            return True
    return False


def recompute_cost(data: ModelInput, plan: Plan) -> float:
    """Σ instances·price·hours over (offer, tier, slot) + owned busy power at each slot's load
    + fixed cost per distinct configuration, in USD over the horizon."""
    total = 0.0
    for r in plan.instances.itertuples():
        total += r.instances * data.offers[r.offer].usd_per_hour[r.tier] * data.slot_hours[r.slot]
    s = plan.schedule
    for (wname, t), slot in s.groupby(["workload", "slot"]):
        owned = slot[[data.offers[o].busy_gpu_usd_per_hour > 0 for o in slot["offer"]]]
        if owned.empty:
            continue
        wl = next(w for w in data.workloads if w.name == wname)
        other_capacity = float(((slot["replicas"] + slot["spot_replicas"]) * slot["replica_capacity_rps"]).sum()
                               - (owned["replicas"] * owned["replica_capacity_rps"]).sum())
        load_left = max(0.0, wl.demand_rps[t] - other_capacity)
        for r in owned.sort_values("row").itertuples():
            load = min(load_left, r.replicas * r.replica_capacity_rps)
            load_left -= load
            busy = data.offers[r.offer].busy_gpu_usd_per_hour
            total += busy * r.gpus_per_replica * load / r.replica_capacity_rps * data.slot_hours[t]
    if data.config_fixed_usd_per_hour > 0:
        keys = set(data.rows.loc[s["row"].unique(), "config_key"])
        total += len(keys) * data.config_fixed_usd_per_hour * data.horizon_hours
    return total


__all__ = ["check_plan", "pack_replicas", "recompute_cost"]
