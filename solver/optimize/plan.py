"""Turn a raw CP-SAT solution into the deployment plan users read: what to buy, what runs where,
what it costs (by category, per workload, per slot) and what it buys."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from solver.optimize.cpsat import RawSolution
from solver.optimize.data import ModelInput
from solver.optimize.model import busy_unit_usd
from solver.units import HOURS_PER_MONTH


@dataclass
class Plan:
    choices: pd.DataFrame
    """One row per chosen configuration: the candidate's columns plus its offer."""
    schedule: pd.DataFrame
    """slot, hours, workload, config, offer, replicas, spot_replicas, traffic_rps, capacity_rps, role ('' for an
    aggregated replica, 'prefill' or 'decode' for a disaggregated configuration's workers)."""
    instances: pd.DataFrame
    """offer, tier, slot, instances (held tiers repeat in every slot)."""
    costs: pd.DataFrame
    """workload, category, usd over the horizon (categories sum to the total)."""
    idle_usd: dict[str, float] = field(default_factory=dict)
    """Per workload: USD paid for GPU time not doing useful work (the utilisation gap)."""
    horizon_hours: float = 24.0

    @property
    def total_usd(self) -> float:
        return float(self.costs["usd"].sum())


SCHEDULE_COLUMNS = ["slot", "hours", "workload", "row", "offer", "gpus_per_replica", "replicas", "spot_replicas",
                    "traffic_rps", "demand_rps", "replica_capacity_rps", "role"]


def extract_plan(data: ModelInput, raw: RawSolution, rows: pd.DataFrame) -> Plan:
    chosen = [k for k, v in sorted(raw.x.items()) if v]
    choices = rows.iloc[chosen].copy()
    choices.insert(0, "row", chosen)
    T = data.num_slots
    gpus = data.rows["gpus"].astype(int).to_numpy()
    cap = data.rows["capacity_rps"].to_numpy()
    role = data.rows["role"].fillna("").astype(str).tolist() if "role" in data.rows else [""] * len(data.rows)
    sched = []
    for k in chosen:
        w = int(data.rows.at[k, "workload"])
        wl = data.workloads[w]
        for t in range(T):
            sched.append({
                "slot": t, "hours": data.slot_hours[t], "workload": wl.name, "row": k,
                "offer": data.rows.at[k, "offer"], "gpus_per_replica": int(gpus[k]),
                "replicas": raw.r.get((k, t), 0), "spot_replicas": raw.s.get((k, t), 0),
                "traffic_rps": wl.traffic_rps[t], "demand_rps": wl.demand_rps[t],
                "replica_capacity_rps": float(cap[k]), "role": role[k],
            })
    schedule = pd.DataFrame(sched, columns=SCHEDULE_COLUMNS)  # columns kept when nothing is chosen
    inst = []
    for (g, tier), v in sorted(raw.held.items()):
        if v:
            inst += [{"offer": g, "tier": tier, "slot": t, "instances": v} for t in range(T)]
    for (g, tier, t), v in sorted(raw.buy.items()):
        if v:
            inst.append({"offer": g, "tier": tier, "slot": t, "instances": v})
    instances = pd.DataFrame(inst, columns=["offer", "tier", "slot", "instances"])
    costs, idle = _attribute_costs(data, raw, schedule, instances)
    return Plan(choices=choices, schedule=schedule, instances=instances, costs=costs, idle_usd=idle,
                horizon_hours=data.horizon_hours)


def _attribute_costs(data: ModelInput, raw: RawSolution, schedule: pd.DataFrame, instances: pd.DataFrame):
    """Cost of every (offer, tier, slot) split over workloads by their share of the GPUs in use on
    that offer (regular tiers by regular replicas, spot by spot replicas); owned busy power and
    fixed per-configuration costs go to the workload that causes them."""
    rows_out = []
    idle: dict[str, float] = {w.name: 0.0 for w in data.workloads}
    if schedule.empty:
        return pd.DataFrame(columns=["workload", "category", "usd"]), idle
    sched = schedule.assign(
        reg_gpus=schedule["replicas"] * schedule["gpus_per_replica"],
        spot_gpus=schedule["spot_replicas"] * schedule["gpus_per_replica"],
    )
    # Utilisation of a workload's capacity in a slot: traffic / provisioned capacity.
    cap = sched.assign(c=(sched["replicas"] + sched["spot_replicas"]) * sched["replica_capacity_rps"])
    cap_by = cap.groupby(["workload", "slot"])["c"].sum().to_dict()
    # Looked up once per (offer, slot): filtering the frames for every instance row is slow.
    hosted = {key: list(group.itertuples(index=False)) for key, group in sched.groupby(["offer", "slot"])}
    regular = instances[instances["tier"] != "spot"].groupby(["offer", "slot"])["instances"].sum().to_dict()
    for inst in instances.itertuples(index=False):
        g, tier, t, n = inst.offer, inst.tier, int(inst.slot), int(inst.instances)
        offer = data.offers[g]
        hours = data.slot_hours[t]
        slot_cost = offer.usd_per_hour[tier] * hours * n
        column = "spot_gpus" if tier == "spot" else "reg_gpus"
        here = hosted.get((g, t), [])
        paid_gpus = n * offer.gpus_per_instance
        if tier != "spot":
            # Regular replicas share every non-spot tier of the offer in proportion to instances.
            regular_total = int(regular.get((g, t), 0))
            share_of_tier = n / regular_total if regular_total else 0.0
        else:
            share_of_tier = 1.0
        used = sum(getattr(rep, column) for rep in here) * share_of_tier
        categories = _categories(offer, tier, slot_cost, hours, n)
        for rep in here:
            gpus_w = getattr(rep, column) * share_of_tier
            if gpus_w <= 0:
                continue
            frac = gpus_w / used if used else 0.0
            for cat, usd in categories.items():
                rows_out.append((rep.workload, cat, usd * frac))
            util = min(1.0, rep.traffic_rps / cap_by[rep.workload, t]) if cap_by[rep.workload, t] else 0
            busy_gpu_h = gpus_w * util * hours
            per_gpu_h = slot_cost / (paid_gpus * hours) if paid_gpus else 0.0
            idle[rep.workload] += slot_cost * frac - busy_gpu_h * per_gpu_h
        if used == 0:
            rows_out += [("(unassigned)", cat, usd) for cat, usd in categories.items()]
    gpus = data.rows["gpus"].astype(int).to_numpy()
    for (k, t), y in raw.y.items():
        if y:
            offer = data.offers[data.rows.at[k, "offer"]]
            usd = busy_unit_usd(offer.busy_gpu_usd_per_hour, int(gpus[k]), data.slot_hours[t]) * y
            rows_out.append((data.workloads[int(data.rows.at[k, "workload"])].name, "power_cooling", usd))
    if data.config_fixed_usd_per_hour > 0:
        chosen = schedule.drop_duplicates("row")
        keys = data.rows.loc[chosen["row"], "config_key"]
        per_key = chosen.assign(key=keys.to_numpy()).groupby("key")["workload"].apply(list)
        for names in per_key:
            for name in names:
                rows_out.append((name, "config_fixed", data.config_fixed_usd_per_hour * data.horizon_hours
                                 / len(names)))
    costs = pd.DataFrame(rows_out, columns=["workload", "category", "usd"])
    costs = costs.groupby(["workload", "category"], as_index=False)["usd"].sum()
    return costs, idle


def _categories(offer, tier: str, slot_cost: float, hours: float, n: int) -> dict[str, float]:
    if tier == "owned":
        power = offer.idle_power_usd_per_hour * hours * n
        return {"capital": slot_cost - power, "power_cooling": power}
    return {f"rental_{tier}": slot_cost}


__all__ = ["HOURS_PER_MONTH", "Plan", "extract_plan"]
