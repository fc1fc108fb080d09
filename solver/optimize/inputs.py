"""From a validated problem, the catalog and the candidate rows to the solver's ModelInput.

- Offers pass the fleet filters (accelerators, providers, regions, offer ids, pricing tiers) and
  are priced per allowed tier. Owned servers cost amortised capital plus idle power per hour held,
  plus `busy_gpu_usd_per_hour` per GPU-hour of load: (P_full − P_idle)·PUE·USD/kWh / G.
- Time slots are the union of every workload's slot boundaries (profiles must cover the same
  number of hours), so one slot grid serves all workloads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from solver.catalog.loader import Catalog
from solver.errors import ProblemError
from solver.optimize.candidates import CONFIG_COLUMNS, remove_dominated
from solver.optimize.data import ModelInput, OfferData, WorkloadData
from solver.problem import Problem, profile_cover_issues


def allowed_offers(problem: Problem, catalog: Catalog) -> dict[str, OfferData]:
    fleet = problem.fleet
    providers = {p.lower() for p in fleet.providers} if fleet.providers else None
    caps: dict[str, int] = {}
    for cap in fleet.inventory:
        if cap.offer is not None:
            offer = catalog.offers[cap.offer]
            limit = cap.max_instances if cap.max_instances is not None else cap.max_gpus // offer.gpus_per_instance
            caps[cap.offer] = min(caps.get(cap.offer, limit), limit)
    out: dict[str, OfferData] = {}
    for oid in sorted(catalog.offers):
        o = catalog.offers[oid]
        if fleet.offers is not None and oid not in fleet.offers:
            continue
        if fleet.accelerators is not None and o.accelerator not in fleet.accelerators:
            continue
        if providers is not None and o.provider.lower() not in providers:
            continue
        if fleet.regions is not None and (o.region or "") not in fleet.regions:
            continue
        prices: dict[str, float] = {}
        busy = idle_usd = 0.0
        for tier in fleet.pricing_tiers:
            if o.kind == "owned" and tier == "owned":
                idle_kw = o.power_kw_idle if o.power_kw_idle is not None else o.power_kw_full
                idle_usd = idle_kw * o.pue * o.usd_per_kwh
                prices["owned"] = o.owned_capital_usd_per_hour + idle_usd
                busy = (o.power_kw_full - idle_kw) * o.pue * o.usd_per_kwh / o.gpus_per_instance
            elif o.kind == "cloud" and tier != "owned":
                price = o.usd_per_hour(tier)
                if price is not None:
                    prices[tier] = price
        if not prices:
            continue
        out[oid] = OfferData(
            id=oid, accelerator=o.accelerator, gpus_per_instance=o.gpus_per_instance, usd_per_hour=prices,
            busy_gpu_usd_per_hour=busy, idle_power_usd_per_hour=idle_usd, max_instances=caps.get(oid),
            provider=o.provider, kind=o.kind,
        )
    return out


def slot_grid(problem: Problem, file: str = "problem") -> tuple[tuple[float, ...], list[tuple[float, ...]]]:
    """(slot hours, per-workload traffic per slot) on the union of all workloads' boundaries."""
    per_workload = [w.traffic.slots() for w in problem.workloads]
    totals = [sum(s.hours for s in slots) for slots in per_workload]
    if len({round(t, 6) for t in totals}) > 1:
        issues = profile_cover_issues(problem, file)
        if issues:
            raise ProblemError(issues)
        longest = max(totals)
        per_workload = [
            [type(s[0])(hours=longest, requests_per_s=s[0].requests_per_s, name=s[0].name)]
            if len(s) == 1 else s for s in per_workload
        ]
    bounds = sorted({round(b, 9) for slots in per_workload for b in np.cumsum([s.hours for s in slots])})
    starts = [0.0, *bounds[:-1]]
    hours = tuple(float(e - s) for s, e in zip(starts, bounds, strict=True))
    rates = []
    for slots in per_workload:
        ends = np.cumsum([s.hours for s in slots])
        rates.append(tuple(
            float(slots[int(np.searchsorted(ends, (s + e) / 2))].requests_per_s)
            for s, e in zip(starts, bounds, strict=True)
        ))
    return hours, rates


def without_dominated_offers(offers: dict[str, OfferData]) -> dict[str, OfferData]:
    """The offers an optimal plan may need. An offer is left out when another of the same accelerator and
    instance size sells every tier it sells at no higher price and has no instance cap (cloud offers
    only: owned hardware pays power by use). Any plan using it can move those instances to the other at
    no more cost, since identical instance shapes host the same replicas, so the optimum is unchanged.
    Among offers equal on every tier the first id stays, the one the canonical plan would pick."""

    def dominates(p: OfferData, o: OfferData) -> bool:
        return (p.accelerator == o.accelerator and p.gpus_per_instance == o.gpus_per_instance
                and p.max_instances is None and p.kind == o.kind == "cloud"
                and all(t in p.usd_per_hour and p.usd_per_hour[t] <= price for t, price in o.usd_per_hour.items()))

    same_shape: dict[tuple, list[OfferData]] = {}
    for o in offers.values():
        same_shape.setdefault((o.accelerator, o.gpus_per_instance), []).append(o)
    return {oid: o for oid, o in offers.items()
            if not any(dominates(p, o) and (not dominates(o, p) or p.id < o.id)
                       for p in same_shape[(o.accelerator, o.gpus_per_instance)] if p.id != oid)}


def join_offers(usable: pd.DataFrame, offers: dict[str, OfferData], catalog: Catalog) -> pd.DataFrame:
    """One row per (candidate, offer of its accelerator whose instance shape it fits), dominated
    rows removed per offer.

    Shape rules: tensor parallelism stays inside one instance (tp ≤ G: it needs the scale-up
    fabric); a replica either divides an instance (G mod n = 0) or spans whole instances (n mod G
    = 0), and spanning is only allowed for full-node instances (G = the accelerator's node size),
    which are the ones sold with a cluster network.
    """
    if usable.empty:
        return usable.assign(offer=pd.Series(dtype=str), candidate=pd.Series(dtype=int))
    table = pd.DataFrame(
        [(o.id, o.accelerator, o.gpus_per_instance, catalog.accelerators[o.accelerator].gpus_per_node)
         for o in offers.values()],
        columns=["offer", "accelerator", "gpus_per_instance", "node_gpus"],
    )
    # Placements are decided on the few columns the shape rules and dominance read; the candidates'
    # other columns join the survivors only (a fleet of thousands of workloads has millions of
    # candidate × offer pairs before the shape rules and dominance cut them).
    slim_cols = ["workload", "gpus", "capacity_rps", *CONFIG_COLUMNS]
    slim = usable[slim_cols].reset_index(names="candidate").merge(table, on="accelerator")
    G, n = slim["gpus_per_instance"], slim["gpus"]
    divides = G % n == 0
    spans = (n % G == 0) & (G >= slim["node_gpus"])
    slim = slim[(slim["tp"] <= G) & (divides | spans)]
    slim = remove_dominated(slim, fits=True)
    placed = slim[["candidate", "offer", "gpus_per_instance", "node_gpus"]]
    rows = placed.join(usable, on="candidate")[["candidate", *usable.columns, *table.columns.drop("accelerator")]]
    rows = rows.sort_values(["workload", "candidate", "offer"], kind="mergesort").reset_index(drop=True)
    rows["config_key"] = (
        rows["model"] + "|" + rows["accelerator"] + "|" + rows["engine"] + "|" + rows["quant"] + "|"
        + rows["kv_quant"] + "|tp" + rows["tp"].astype(str) + "dp" + rows["dp"].astype(str)
        + "pp" + rows["pp"].astype(str) + "ep" + rows["ep"].astype(str) + "|b" + rows["max_batch"].astype(str)
    )
    return rows


def model_input(problem: Problem, catalog: Catalog, rows: pd.DataFrame, offers: dict[str, OfferData]) -> ModelInput:
    hours, rates = slot_grid(problem)
    workloads = [
        WorkloadData(
            name=w.name,
            demand_rps=tuple(r * (1 + w.headroom) for r in rates[i]),
            traffic_rps=rates[i],
            output_tokens=w.osl(), input_tokens=w.isl(),
            min_replicas=w.min_replicas, max_scale_step=w.max_scale_step,
            spot_max_share=w.spot_max_share if "spot" in problem.fleet.pricing_tiers else 0.0,
            max_configs=problem.solver.max_configs_per_workload,
        )
        for i, w in enumerate(problem.workloads)
    ]
    acc_caps: dict[str, int] = {}
    for cap in problem.fleet.inventory:
        if cap.accelerator is not None:
            limit = cap.max_gpus if cap.max_gpus is not None else None
            if limit is None:
                sizes = [o.gpus_per_instance for o in offers.values() if o.accelerator == cap.accelerator]
                limit = cap.max_instances * max(sizes, default=0)
            acc_caps[cap.accelerator] = min(acc_caps.get(cap.accelerator, limit), limit)
    used_offers = {g: offers[g] for g in sorted(set(rows["offer"]))} if len(rows) else {}
    return ModelInput(
        slot_hours=hours, workloads=workloads, offers=used_offers,
        rows=rows[["workload", "offer", "gpus", "capacity_rps", "config_key"]].reset_index(drop=True),
        accelerator_max_gpus=acc_caps,
        budget_usd_per_hour=problem.fleet.budget_usd_per_hour,
        config_fixed_usd_per_hour=problem.fleet.config_fixed_usd_per_hour,
        objective=problem.objective,
    )
