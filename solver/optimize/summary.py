"""Per-workload summaries of a plan, as typed plain data: what each workload runs (configurations),
where (placements: offer and replicas per slot), what it costs and what it serves."""

from __future__ import annotations

import math
from typing import TypedDict

import pandas as pd

from solver.catalog.loader import Catalog
from solver.optimize.cpsat import RawSolution
from solver.optimize.data import ModelInput
from solver.optimize.launch import effective_max_batch, launch_command
from solver.optimize.plan import HOURS_PER_MONTH, Plan
from solver.problem import Problem
from solver.units import SECONDS_PER_HOUR


class PlacementReport(TypedDict):
    offer: str
    provider: str
    instance_type: str
    replicas_peak: int
    replicas_by_slot: list[int]
    spot_replicas_by_slot: list[int]


class ConfigurationReport(TypedDict):
    """What runs on the GPUs (one launch command), with the offers it is placed on."""
    offers: list[str]
    accelerator: str
    engine: str
    quant: str
    kv_quant: str
    tp: int
    dp: int
    pp: int
    ep: int
    moe_tp: int
    gpus_per_replica: int
    max_batch: int
    replica_capacity_rps: float
    replicas_peak: int
    replicas_by_slot: list[int]
    spot_replicas_by_slot: list[int]
    ttft_ms: float
    tpot_ms: float
    e2e_ms: float
    memory_gb_per_gpu: float
    launch_command: str
    placements: list[PlacementReport]


class WorkloadReport(TypedDict, total=False):
    workload: str
    model: str
    slo: dict
    input_tokens_mean: float
    output_tokens_mean: float
    max_context_tokens: int
    slot_hours: list[float]
    configs: list[ConfigurationReport]
    usd_total: float
    usd_per_hour: float
    usd_per_month: float
    usd_per_million_output_tokens: float
    peak_utilisation: float
    served_rps_by_slot: list[float]
    served_share: float
    idle_usd: float
    cost_breakdown_usd: dict[str, float]
    naive_usd_per_hour: float


def served_rps(data: ModelInput, raw: RawSolution, w: int) -> list[float]:
    """Requests/s served per slot: all traffic when minimising cost, what the budget buys otherwise."""
    if data.objective != "max_throughput":
        return list(data.workloads[w].traffic_rps)
    return [raw.served_rps.get((w, t), 0.0) for t in range(data.num_slots)]


def _placement(catalog: Catalog, offer_id: str, mine: pd.DataFrame) -> PlacementReport:
    offer = catalog.offers[offer_id]
    total = mine["replicas"] + mine["spot_replicas"]
    return PlacementReport(offer=offer_id, provider=offer.provider, instance_type=offer.instance_type,
                           replicas_peak=int(total.max()), replicas_by_slot=[int(v) for v in total],
                           spot_replicas_by_slot=[int(v) for v in mine["spot_replicas"]])


def configuration_reports(catalog: Catalog, plan: Plan, sched: pd.DataFrame, wl) -> list[ConfigurationReport]:
    out = []
    chosen = plan.choices[plan.choices["row"].isin(sched["row"].unique())]
    for key in dict.fromkeys(chosen.sort_values("row")["config_key"]):
        rows = chosen[chosen["config_key"] == key].sort_values("row")
        row = rows.iloc[0]
        placements = [_placement(catalog, r["offer"], sched[sched["row"] == r["row"]].sort_values("slot"))
                      for _, r in rows.iterrows()]
        slots = range(len(placements[0]["replicas_by_slot"]))
        by_slot = [sum(p["replicas_by_slot"][t] for p in placements) for t in slots]
        spot = [sum(p["spot_replicas_by_slot"][t] for p in placements) for t in slots]
        out.append(ConfigurationReport(
            offers=[p["offer"] for p in placements], accelerator=row["accelerator"], engine=row["engine"],
            quant=row["quant"], kv_quant=row["kv_quant"], tp=int(row["tp"]), dp=int(row["dp"]), pp=int(row["pp"]),
            ep=int(row["ep"]), moe_tp=int(row["tp"] * row["dp"] // row["ep"]),
            gpus_per_replica=int(row["gpus"]), max_batch=effective_max_batch(row),
            replica_capacity_rps=float(row["capacity_rps"]), replicas_peak=max(by_slot),
            replicas_by_slot=by_slot, spot_replicas_by_slot=spot,
            ttft_ms=float(row["ttft_ms"]), tpot_ms=float(row["tpot_ms"]), e2e_ms=float(row["e2e_ms"]),
            memory_gb_per_gpu=float(row["memory_gb_per_gpu"]), launch_command=launch_command(catalog, row, wl),
            placements=placements,
        ))
    return out


def workload_summaries(problem: Problem, catalog: Catalog, data: ModelInput, plan: Plan,
                       raw: RawSolution) -> list[WorkloadReport]:
    out = []
    costs = plan.costs
    for w, wl in enumerate(problem.workloads):
        sched = plan.schedule[plan.schedule["workload"] == wl.name] if len(plan.schedule) else plan.schedule
        usd = float(costs[costs["workload"] == wl.name]["usd"].sum())
        served = served_rps(data, raw, w)
        hours = data.slot_hours
        tokens = sum(served[t] * SECONDS_PER_HOUR * hours[t] for t in range(data.num_slots)) * wl.osl()
        demand = sum(data.workloads[w].traffic_rps[t] * hours[t] for t in range(data.num_slots))
        served_share = sum(served[t] * hours[t] for t in range(data.num_slots)) / demand if demand else 1.0
        if len(sched):
            capacity = sched.assign(c=(sched["replicas"] + sched["spot_replicas"]) * sched["replica_capacity_rps"])
            cap_slot = capacity.groupby("slot")["c"].sum()
            traffic = pd.Series(served)
            util = float((traffic / cap_slot.reindex(traffic.index).replace(0, math.nan)).max())
        else:
            util = math.nan
        breakdown = costs[costs["workload"] == wl.name].set_index("category")["usd"].to_dict()
        out.append(WorkloadReport(
            workload=wl.name, model=wl.model,
            slo={"ttft_ms": wl.slo.ttft_ms, "tpot_ms": wl.slo.tpot_ms, "e2e_ms": wl.slo.e2e_ms,
                 "percentile": wl.slo.percentile},
            input_tokens_mean=wl.isl(), output_tokens_mean=wl.osl(), max_context_tokens=wl.max_context(),
            slot_hours=list(hours),
            configs=configuration_reports(catalog, plan, sched, wl) if len(sched) else [],
            usd_total=usd, usd_per_hour=usd / data.horizon_hours,
            usd_per_month=usd / data.horizon_hours * HOURS_PER_MONTH,
            usd_per_million_output_tokens=usd / tokens * 1e6 if tokens else math.nan,
            peak_utilisation=util, served_rps_by_slot=served, served_share=served_share,
            idle_usd=plan.idle_usd.get(wl.name, 0.0), cost_breakdown_usd=breakdown,
        ))
    return out
