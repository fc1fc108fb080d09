"""Explain infeasibility in domain terms: which SLO, which limit, the closest achievable value."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from solver.catalog.loader import Catalog
from solver.optimize.data import ModelInput
from solver.problem import MEAN, WEIGHT_QUANTS, Problem


def explain_no_candidates(problem: Problem, catalog: Catalog, evaluated: pd.DataFrame, w: int,
                          num_offers: int) -> tuple[list[str], dict]:
    """Why no configuration of workload w can serve a single request within its SLOs."""
    wl = problem.workloads[w]
    name = f"workload {wl.name!r} ({wl.model})"
    if num_offers == 0:
        return [f"{name}: no offer passes the fleet filters (accelerators, providers, regions, offers, "
                f"pricing tiers){_filter_hint(problem, catalog)}"], {"workload": wl.name, "cause": "no_offers"}
    rows = evaluated[evaluated["workload"] == w] if len(evaluated) else evaluated
    if rows.empty:
        return [f"{name}: no accelerator in the allowed fleet has an instance shape for any parallelism "
                f"of this model"], {"workload": wl.name, "cause": "no_shapes"}
    category = rows["pruned_reason"].str.split(":").str[0]
    reasons = category.value_counts()
    lines = [f"{name}: none of {len(rows)} configurations works ("
             + ", ".join(f"{n} {r}" for r, n in reasons.items()) + ")"]
    detail: dict = {"workload": wl.name, "reasons": {str(k): int(v) for k, v in reasons.items()}}
    fits = rows[category == "slo"].copy()
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
        families = sorted({catalog.accelerators[a].family for a in rows["accelerator"].unique()})
        allowed = [catalog.lookup("engines", e).id for e in wl.engines] if wl.engines else sorted(catalog.engines)
        supported = sorted({
            f"{e.id} on {family}: {', '.join(q for q in WEIGHT_QUANTS if q in sup.weight_quants)}"
            for e in (catalog.engines[i] for i in dict.fromkeys(allowed)) for sup in e.support
            for family in families if family in sup.families and wl.model in catalog.models
            and catalog.models[wl.model].architecture in sup.architectures
        })
        lines.append("  engine support blocks it: " + "; ".join(examples))
        lines.append("  weight quantizations the allowed engines run for this model on the allowed accelerators: "
                     + (" | ".join(supported) if supported else "none; allow other engines or accelerators"))
        detail["cause"] = "engine"
        return lines, detail
    if fits.empty:
        lines.append("  " + "; ".join(sorted(set(rows["pruned_reason"]))[:3]))
        detail["cause"] = str(reasons.index[0])
        return lines, detail
    slo = wl.slo
    causes = []
    pct = slo.percentile if slo.percentile == MEAN else f"p{slo.percentile:g}"
    peak_rps = max(s.requests_per_s for s in wl.traffic.slots()) * (1 + wl.headroom)
    nearest = nearest_feasible_slos(fits, catalog, slo, peak_rps)
    floors = {"ttft_ms": float(fits["ttft_floor_ms"].min()), "tpot_ms": float(fits["tpot_floor_ms"].min())}
    e2e_floors = fits["pruned_reason"].str.extract(r" E2E ([0-9.]+) ms")[0].astype(float)
    if e2e_floors.notna().any():
        floors["e2e_ms"] = float(e2e_floors.min())
    names = {"ttft_ms": "TTFT", "tpot_ms": "TPOT", "e2e_ms": "end-to-end"}
    for key in ("ttft_ms", "tpot_ms", "e2e_ms"):
        limit = getattr(slo, key)
        if limit is None or key not in nearest:
            continue
        floor = floors.get(key, math.nan)
        causes.append(key.removesuffix("_ms"))
        lines.append(f"  {names[key]} SLO blocks it: no configuration serves at {pct} {names[key]} <= {limit:g} ms; "
                     f"the nearest feasible value is {nearest[key]:g} ms: loosen slo.{key} to at least "
                     f"{nearest[key]:g}")
        detail[f"best_{key}"] = floor
        detail[f"nearest_{key}"] = nearest[key]
    if not causes:
        causes.append("combined")
        lines.append("  no single SLO loosened up to 100x makes a configuration work; loosen several of them "
                     "or allow faster accelerators")
    detail["cause"] = "+".join(causes)
    return lines, detail


SLO_RESOLUTION_MS = {"ttft_ms": 1.0, "tpot_ms": 0.1, "e2e_ms": 1.0}
"""Suggestions are the smallest feasible value on this grid (bisection is exact on it)."""
SUGGESTION_MAX_REPLICAS = 1000
"""A configuration 'serves' the workload at a suggested SLO when its peak demand needs at most this
many replicas of it (any positive capacity would, at an absurd replica count)."""


def nearest_feasible_slos(rows: pd.DataFrame, catalog: Catalog, slo, demand_rps: float = 0.0) -> dict[str, float]:
    """For each SLO the workload sets: the smallest looser value (others unchanged) on the grid of
    SLO_RESOLUTION_MS at which at least one of `rows` (configurations that fit memory and engine
    support) serves `demand_rps` with at most SUGGESTION_MAX_REPLICAS replicas. Capacity never falls
    as an SLO loosens, so bisection over the grid finds that value exactly, and the same problem
    always gets the same suggestion. Missing when even 100x the limit does not help."""
    from solver.perf import evaluate_candidates

    inputs = ["model", "accelerator", "engine", "quant", "kv_quant", "tp", "pp", "ep", "max_batch", "isl", "osl",
              "slo_ttft_ms", "slo_tpot_ms", "slo_e2e_ms", "percentile"]
    base = rows[[c for c in inputs if c in rows.columns]].reset_index(drop=True)
    needed_rps = max(demand_rps / SUGGESTION_MAX_REPLICAS, 1e-12)
    out: dict[str, float] = {}
    for key in ("ttft_ms", "tpot_ms", "e2e_ms"):
        limit = getattr(slo, key)
        if limit is None or f"slo_{key}" not in base.columns or base.empty:
            continue
        step = SLO_RESOLUTION_MS[key]

        def serving(units: int, among: pd.DataFrame, key: str = key, step: float = step) -> pd.DataFrame:
            ev = evaluate_candidates(among.assign(**{f"slo_{key}": units * step}), catalog)
            return among[ev["capacity_rps"].to_numpy() >= needed_rps]

        low = math.floor(limit / step + 1e-9)
        if len(serving(low, base)):
            continue  # this SLO alone does not block
        # Only rows serving at some value can serve at any tighter one, so each step evaluates just the
        # rows serving at the current `high`: first 100x the limit, then doubling from the limit up to
        # the first value that serves, then bisection.
        top = math.ceil(limit * 100 / step)
        alive = serving(top, base)
        if alive.empty:
            continue
        high = low
        while True:
            low, high = high, min(top, max(1, 2 * high))
            at_high = serving(high, alive)
            if len(at_high):
                alive = at_high
                break
        while high - low > 1:  # invariant: low does not serve, high does
            mid = (low + high) // 2
            at_mid = serving(mid, alive)
            if len(at_mid):
                high, alive = mid, at_mid
            else:
                low = mid
        out[key] = round(high * step, 6)
    return out


def _filter_hint(problem: Problem, catalog: Catalog) -> str:
    """Which single fleet filter, removed, would let offers through (the nearest feasible fleet)."""
    from solver.optimize.inputs import allowed_offers

    fleet = problem.fleet
    hints = []
    for field, everything in (("accelerators", None), ("providers", None), ("regions", None), ("offers", None),
                              ("pricing_tiers", ["on_demand", "spot", "reserved_1y", "reserved_3y", "owned"])):
        if getattr(fleet, field) is None or (everything is not None and getattr(fleet, field) == everything):
            continue
        relaxed = problem.model_copy(update={"fleet": fleet.model_copy(update={field: everything})})
        n = len(allowed_offers(relaxed, catalog))
        if n:
            hints.append(f"without fleet.{field} {n} offer{'s' if n > 1 else ''} would pass")
    return "; " + "; ".join(hints) if hints else "; allow more of them"


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
    if data.accelerator_max_gpus or any(o.max_instances is not None for o in data.offers.values()):
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
