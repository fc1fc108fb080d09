"""Explain infeasibility in domain terms: which SLO, which limit, the closest achievable value."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from solver.catalog.loader import Catalog
from solver.optimize.data import ModelInput
from solver.problem import Problem


def explain_no_candidates(problem: Problem, catalog: Catalog, evaluated: pd.DataFrame, w: int,
                          num_offers: int) -> tuple[list[str], dict]:
    """Why no configuration of workload w can serve a single request within its SLOs."""
    wl = problem.workloads[w]
    name = f"workload {wl.name!r} ({wl.model})"
    if num_offers == 0:
        return [f"{name}: no offer passes the fleet filters (accelerators, providers, regions, "
                f"pricing tiers); allow more of them"], {"workload": wl.name, "cause": "no_offers"}
    rows = evaluated[evaluated["workload"] == w] if len(evaluated) else evaluated
    if rows.empty:
        return [f"{name}: no accelerator in the allowed fleet has an instance shape for any parallelism "
                f"of this model"], {"workload": wl.name, "cause": "no_shapes"}
    category = rows["pruned_reason"].str.split(":").str[0]
    reasons = category.value_counts()
    lines = [f"{name}: none of {len(rows)} configurations works ("
             + ", ".join(f"{n} {r}" for r, n in reasons.items()) + ")"]
    detail: dict = {"workload": wl.name, "reasons": {str(k): int(v) for k, v in reasons.items()}}
    fits = rows[category == "slo"]
    if fits.empty and (category == "memory").any():
        mem = rows[category == "memory"]
        need = mem["pruned_reason"].str.extract(r"needs ([0-9.]+) GB")[0].astype(float)
        best = mem.loc[need.idxmin()] if need.notna().any() else mem.iloc[0]
        acc = catalog.accelerators[best["accelerator"]]
        largest = max(catalog.accelerators[a].memory_gb for a in rows["accelerator"].unique())
        lines.append(
            f"  memory blocks it: the smallest footprint is {need.min():.1f} GB/GPU ({best['accelerator']} "
            f"{acc.memory_gb:g} GB, tp={best['tp']} pp={best['pp']} ep={best['ep']}, {best['quant']}); the largest "
            f"allowed accelerator has {largest:g} GB. Allow larger accelerators, more GPUs per replica, "
            f"a smaller quantization or shorter contexts")
        detail.update(cause="memory", min_memory_gb_per_gpu=float(need.min()))
        return lines, detail
    if fits.empty and (category == "engine").any():
        examples = sorted(set(rows.loc[category == "engine", "pruned_reason"]))[:4]
        supported = sorted({
            f"{e.id}: {', '.join(sup.weight_quants)}"
            for e in catalog.engines.values() for sup in e.support
            if set(sup.families) & {catalog.accelerators[a].family for a in rows["accelerator"].unique()}
        })
        lines.append("  engine support blocks it: " + "; ".join(examples))
        lines.append("  weight quantizations the engines run on the allowed accelerators: " + " | ".join(supported))
        detail["cause"] = "engine"
        return lines, detail
    if fits.empty:
        lines.append("  " + "; ".join(sorted(set(rows["pruned_reason"]))[:3]))
        detail["cause"] = str(reasons.index[0])
        return lines, detail
    slo = wl.slo
    causes = []
    pct = f"p{slo.percentile:g}"
    if slo.ttft_ms is not None:
        floor = float(fits["ttft_floor_ms"].min())
        if floor > slo.ttft_ms:
            causes.append("ttft")
            lines.append(f"  TTFT SLO blocks it: the best {pct} TTFT any configuration reaches is "
                         f"{floor:.1f} ms > {slo.ttft_ms:g} ms; loosen slo.ttft_ms to at least {math.ceil(floor)}")
            detail["best_ttft_ms"] = floor
    if slo.tpot_ms is not None:
        floor = float(fits["tpot_floor_ms"].min())
        if floor > slo.tpot_ms:
            causes.append("tpot")
            lines.append(f"  TPOT SLO blocks it: the best {pct} TPOT any configuration reaches is "
                         f"{floor:.2f} ms > {slo.tpot_ms:g} ms; loosen slo.tpot_ms to at least "
                         f"{math.ceil(floor * 10) / 10:g}")
            detail["best_tpot_ms"] = floor
    if slo.e2e_ms is not None and "e2e" in " ".join(reasons.index):
        causes.append("e2e")
        lines.append(f"  the end-to-end SLO of {slo.e2e_ms:g} ms is out of reach at {pct}")
    if not causes:
        causes.append("combined")
        lines.append("  each SLO is reachable alone but no configuration meets all of them together; "
                     "loosen one of them")
    detail["cause"] = "+".join(causes)
    return lines, detail


def explain_model_infeasible(data: ModelInput, solve_fn) -> tuple[list[str], dict]:
    """CP-SAT proved no plan exists although every workload has candidates: find which limit
    blocks it by re-solving with one family of limits removed at a time."""
    lines: list[str] = []
    if data.budget_usd_per_hour is not None:
        relaxed = replace(data, budget_usd_per_hour=None)
        raw = solve_fn(relaxed)
        if raw.has_solution:
            need = raw.cost_usd / data.horizon_hours
            lines.append(f"budget blocks it: the cheapest plan costs {need:.2f} USD/h > budget "
                         f"{data.budget_usd_per_hour:g} USD/h; raise fleet.budget_usd_per_hour to at least "
                         f"{math.ceil(need * 100) / 100:.2f}")
            return lines, {"cause": "budget", "min_usd_per_hour": need}
    capped = [g for g, o in data.offers.items() if o.max_instances is not None] or data.accelerator_max_gpus
    if capped:
        offers = {g: replace(o, max_instances=None) for g, o in data.offers.items()}
        relaxed = replace(data, offers=offers, accelerator_max_gpus={}, budget_usd_per_hour=None)
        raw = solve_fn(relaxed)
        if raw.has_solution:
            wanted: dict[str, int] = {}
            for (g, _tier, _t), v in raw.buy.items():
                wanted[g] = max(wanted.get(g, 0), v + sum(h for (gg, _), h in raw.held.items() if gg == g))
            for (g, _tier), v in raw.held.items():
                wanted[g] = max(wanted.get(g, 0), v)
            parts = []
            for g, n in sorted(wanted.items()):
                if n and data.offers[g].max_instances is not None and n > data.offers[g].max_instances:
                    parts.append(f"{g}: needs {n} instances, cap {data.offers[g].max_instances}")
            for acc, cap in data.accelerator_max_gpus.items():
                gpus = max((sum(v * data.offers[g].gpus_per_instance for (g, _ti, tt), v in raw.buy.items()
                                if data.offers[g].accelerator == acc and tt == t)
                            + sum(v * data.offers[g].gpus_per_instance for (g, _ti), v in raw.held.items()
                                  if data.offers[g].accelerator == acc)
                            for t in range(data.num_slots)), default=0)
                if gpus > cap:
                    parts.append(f"{acc}: needs {gpus} GPUs, cap {cap}")
            lines.append("inventory blocks it: the cheapest plan without caps uses more than the caps allow"
                         + ("; " + "; ".join(parts) if parts else "")
                         + f". Without caps it would cost {raw.cost_usd / data.horizon_hours:.2f} USD/h")
            return lines, {"cause": "inventory", "usd_per_hour_without_caps": raw.cost_usd / data.horizon_hours}
    if any(w.max_scale_step is not None for w in data.workloads):
        relaxed = replace(data, workloads=[replace(w, max_scale_step=None) for w in data.workloads])
        if solve_fn(relaxed).has_solution:
            return (["max_scale_step blocks it: traffic changes faster between slots than the allowed "
                     "replica step; raise max_scale_step"], {"cause": "scale_step"})
    lines.append("no plan meets every limit together (availability floors, spot share, budget and caps); "
                 "loosen one of them")
    return lines, {"cause": "combined"}
