"""One workload served by one placement alone: the cost function behind the greedy upper bound,
the runner-ups ('what the optimum beat') and the naive plan.

For placement k (configuration of μ_k req/s per replica of n_k GPUs on offer g with G GPUs per
instance) the replicas per slot are R_kt = `replica_floor` (availability floor and scale steps
included), or the peak all day for the naive plan; the instances I_kt = ⌈R_kt·n_k/G⌉. The cost is
the cheaper of buying I_kt on demand per slot or holding max_t I_kt under a held tier for the
horizon, plus owned busy power c_g·n_k·(D_t/μ_k)·h_t. The plan is `within_limits` when it respects
the offer's instance cap, the accelerator's GPU cap and the budget (each alone: capacity other
workloads use under a shared cap is not counted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from solver.optimize.data import HELD_TIERS, ModelInput
from solver.optimize.model import replica_floor


@dataclass(frozen=True)
class Standalone:
    usd: float
    """Over the horizon; inf when the offer has no allowed non-spot tier."""
    replicas: list[int]
    instances: list[int]
    tier: str
    held: int
    within_limits: bool
    limit: str = ""
    """The limit it breaks, when it breaks one."""


def standalone(data: ModelInput, k: int, *, peak_all_day: bool = False, tiers: tuple[str, ...] | None = None
               ) -> Standalone:
    offer_id = data.column("offer")[k]
    wl = data.workloads[int(data.column("workload")[k])]
    offer = data.offers[offer_id]
    n, mu = int(data.column("gpus")[k]), float(data.column("capacity_rps")[k])
    replicas = replica_floor(wl, mu)
    if peak_all_day:
        replicas = [max(replicas)] * len(replicas)
    instances = [math.ceil(r * n / offer.gpus_per_instance) for r in replicas]
    allowed = [t for t in offer.usd_per_hour if t != "spot" and (tiers is None or t in tiers)]
    options = []
    if "on_demand" in allowed:
        price = offer.usd_per_hour["on_demand"]
        options.append((sum(h * price * i for h, i in zip(data.slot_hours, instances, strict=True)), "on_demand", 0))
    for tier in HELD_TIERS:
        if tier in allowed:
            options.append((offer.usd_per_hour[tier] * data.horizon_hours * max(instances), tier, max(instances)))
    if not options:
        return Standalone(math.inf, replicas, instances, "", 0, False, "no allowed non-spot tier")
    usd, tier, held = min(options)
    if offer.busy_gpu_usd_per_hour > 0:
        usd += sum(offer.busy_gpu_usd_per_hour * n * d / mu * h for d, h in zip(wl.demand_rps, data.slot_hours,
                                                                                 strict=True))
    limit = ""
    if offer.max_instances is not None and max(instances) > offer.max_instances:
        limit = f"{offer_id}: needs {max(instances)} instances, cap {offer.max_instances}"
    cap = data.accelerator_max_gpus.get(offer.accelerator)
    if cap is not None and max(instances) * offer.gpus_per_instance > cap:
        limit = f"{offer.accelerator}: needs {max(instances) * offer.gpus_per_instance} GPUs, cap {cap}"
    if data.budget_usd_per_hour is not None and usd / data.horizon_hours > data.budget_usd_per_hour * (1 + 1e-9):
        limit = f"budget: {usd / data.horizon_hours:.2f} USD/h > {data.budget_usd_per_hour:g}"
    return Standalone(usd, replicas, instances, tier, held, not limit, limit)
