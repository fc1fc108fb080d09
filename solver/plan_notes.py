"""Notes on a solve that the optimiser alone cannot phrase: which problem field blocks a workload,
why a max-throughput plan serves nothing, and what batch a chosen configuration actually runs.

- `pricing_blocks`: with `fleet.pricing_tiers: [spot]` and a workload's `spot_max_share` at 0 (the
  default), no instance may carry that workload: the field to change is named.
- `empty_plan_reasons`: a max-throughput plan may serve nothing (a valid answer); the reasons are the
  pricing blocks above and, per workload, the cheapest single replica against the budget:
  price(g) · ⌈n_k / G_g⌉ for the cheapest allowed tier of offer g, GPUs per replica n_k and GPUs per
  instance G_g.
- `add_running_batch`: the engine's cap (max running requests) is not what runs. At the planned load
  each replica of a chosen row k receives λ_k = u·μ_k requests/s, with μ_k the replica's capacity and u
  the workload's peak utilisation (load is split over the chosen replicas in proportion to capacity,
  so every replica runs at the same utilisation). The mean running batch is the performance model's
  decoding batch at that rate (`Serving.at_rate`, through `estimate_many` in mode `rate`).
"""

from __future__ import annotations

import math

from solver.catalog.loader import Catalog
from solver.errors import InfeasibleError
from solver.problem import Problem

SPOT = "spot"


def pricing_blocks(problem: Problem) -> list[str]:
    """One line per workload that no allowed pricing tier may carry."""
    if set(problem.fleet.pricing_tiers) != {SPOT}:
        return []
    return [f"workloads[{i}].spot_max_share is {w.spot_max_share:g}"
            f"{' (the default)' if 'spot_max_share' not in w.model_fields_set else ''} while fleet.pricing_tiers "
            f"allows only spot: no instance may serve {w.name!r}; raise spot_max_share (up to 1) or allow on_demand"
            for i, w in enumerate(problem.workloads) if w.spot_max_share <= 0]


def solve_explained(problem: Problem, catalog: Catalog, **kwargs):
    """`solve`, with the pricing limits that block a workload named first in an infeasibility
    (the optimiser's diagnosis says which limit binds, not which field to change)."""
    from solver.optimize.solve import solve

    try:
        return solve(problem, catalog, **kwargs)
    except InfeasibleError as exc:
        blocks = pricing_blocks(problem)
        if not blocks:
            raise
        raise InfeasibleError([*blocks, *exc.explanation], exc.details) from None


def cheapest_replica(problem: Problem, catalog: Catalog) -> dict[str, tuple[float, str]]:
    """Per workload: (USD/h of the cheapest instance set holding one replica, description)."""
    from solver.optimize.solve import prepare

    try:
        _, rows, data = prepare(problem, catalog)
    except InfeasibleError:
        return {}
    out: dict[str, tuple[float, str]] = {}
    for row in rows.itertuples(index=False):
        offer = data.offers[row.offer]
        wl = problem.workloads[int(row.workload)]
        prices = [p for tier, p in offer.usd_per_hour.items() if tier != SPOT or wl.spot_max_share > 0]
        if not prices:
            continue
        usd = min(prices) * math.ceil(row.gpus / offer.gpus_per_instance)
        if usd < out.get(wl.name, (math.inf, ""))[0]:
            out[wl.name] = (usd, f"{int(row.gpus)} × {row.accelerator} on {row.offer}")
    return out


def empty_plan_reasons(problem: Problem, catalog: Catalog) -> list[str]:
    """Why a max-throughput plan serves nothing."""
    reasons = pricing_blocks(problem)
    budget = problem.fleet.budget_usd_per_hour or math.inf
    cheapest = cheapest_replica(problem, catalog)
    for wl in problem.workloads:
        if wl.name not in cheapest:
            continue
        usd, what = cheapest[wl.name]
        if usd > budget:
            reasons.append(f"{wl.name}: the cheapest replica ({what}) costs {usd:,.2f} USD/h, above the budget "
                           f"of {budget:,.2f} USD/h (fleet.budget_usd_per_hour)")
    return reasons or ["no allowed configuration fits within the budget and the fleet's limits together"]


def add_running_batch(result, problem: Problem, catalog: Catalog) -> None:
    """Set `mean_running_batch` (mean decoding requests per replica at the planned peak load) on every
    chosen configuration of `result.workloads`; None where it cannot be evaluated."""
    from solver.perf.estimate import running_batch_at_rate

    requests, where = [], []
    by_name = {w.name: w for w in problem.workloads}
    for summary in result.workloads:
        wl = by_name.get(summary["workload"])
        if wl is None:  # a size class of a workload routed by size: its lengths are the class's own
            for c in summary["configs"]:
                c["mean_running_batch"] = None
            continue
        util = summary.get("peak_utilisation")
        for c in summary["configs"]:
            c["mean_running_batch"] = None
            if util is None or not math.isfinite(util) or c["tp"] * c.get("dp", 1) * c["pp"] != c["gpus_per_replica"]:
                continue
            requests.append({
                "model": wl.model, "accelerator": c["accelerator"], "engine": c["engine"], "gpus":
                c["gpus_per_replica"], "tp": c["tp"], "dp": c.get("dp", 1), "pp": c["pp"], "ep": c["ep"],
                "quant": c["quant"],
                "kv_quant": c["kv_quant"], "isl": wl.isl(), "osl": wl.osl(), "mode": "rate",
                "mode_value": max(util, 0.0) * c["replica_capacity_rps"], "max_batch": c["max_batch"],
            })
            where.append(c)
    if not requests:
        return
    for c, batch in zip(where, running_batch_at_rate(requests, catalog), strict=True):
        if batch is not None:
            c["mean_running_batch"] = round(batch, 1)
