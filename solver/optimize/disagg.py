"""Disaggregated candidates and the solve that may choose them (`solver.disaggregation: true`).

Per workload, from the configurations the candidate step already evaluated (`candidates.build_candidates`):

1. Pool configurations: every configuration whose engine serves disaggregated (`catalogs/disaggregation.yaml`)
   and that fits in memory (its aggregated SLO verdict does not matter: the pools see other loads).
2. Dominance per side, before pairing. Prefill: per (accelerator, engine, KV dtype), a configuration is kept
   when no other is at least as good on all of GPU time per prompt g·D, the prompt alone P and the KV bytes
   one GPU sends; decode: on GPU time per request at the TPOT SLO and the batch-1 step. At most
   `KEEP_PER_SIDE` per group (best GPU time first).
3. Pairs (prefill, decode) of one engine and KV dtype on accelerators the engine pairs, evaluated by
   `perf.disagg.evaluate_pairs` over the scale-out network (two pools the solver places freely cannot be
   promised one NVLink domain); a pair dominated by another of the same accelerators (no more GPUs per
   worker on either side, at least the capacity on both) is dropped, and so is a pair whose lower bound on
   cost (fractional workers at the cheapest GPU-hour) exceeds the aggregated optimum (`prune_by_bound`).
4. Placements: one configuration per (pair, provider, region) so both pools sit where the KV can travel;
   each pool's rows on the offers of that place whose instance shape it fits, with `role` prefill or decode.

The CP-SAT model (`model.py`) then chooses aggregated replicas or prefill and decode worker counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from solver.catalog.loader import Catalog
from solver.optimize.candidates import CONFIG_COLUMNS, starts_with
from solver.optimize.checker import check_plan
from solver.optimize.cpsat import solve_model
from solver.optimize.inputs import allowed_offers, model_input
from solver.optimize.plan import Plan, extract_plan
from solver.optimize.solve import SolveResult, prepare, solve
from solver.perf.disagg import evaluate_pairs, pool_scores
from solver.perf.disagg_catalog import disagg_catalog
from solver.perf.kernels import KernelLibrary
from solver.problem import Problem

KEEP_PER_SIDE = 6
"""Most pool configurations kept per (accelerator, engine, KV dtype) and side after dominance."""
POOL_KEYS = ["accelerator", "engine", "kv_quant"]
PAIR_COLUMNS = ("transfer_ms", "ttft_ms", "tpot_ms", "prefill_ms", "first_decode_step_ms", "prefill_queue_ms",
                "decode_slot_wait_ms", "prefill_capacity_rps", "decode_capacity_rps", "gpus_prefill", "gpus_decode")


def _pareto(df: pd.DataFrame, cols: list[str], keep: int) -> pd.DataFrame:
    """Per group of POOL_KEYS: the rows no other row of the group beats or ties on every column of `cols`
    (lower is better; of identical rows the first), best first by the first column, at most `keep`;
    groups in key order. One sort for all groups, then the dominance test per group on arrays."""
    if df.empty:
        return df
    df = df.sort_values([*POOL_KEYS, *cols], kind="mergesort")
    v = df[cols].to_numpy(float)
    starts = np.flatnonzero(np.r_[True, (df[POOL_KEYS].to_numpy()[1:] != df[POOL_KEYS].to_numpy()[:-1]).any(axis=1)])
    chosen = []
    for lo, hi in zip(starts, [*starts[1:], len(df)], strict=True):
        g = v[lo:hi]
        no_worse = (g[:, None, :] <= g[None, :, :]).all(axis=2)  # [j, i]: row j is no worse than row i everywhere
        better = (g[:, None, :] < g[None, :, :]).any(axis=2)
        earlier = np.arange(len(g))[:, None] < np.arange(len(g))[None, :]
        dominated = (no_worse & (better | earlier)).any(axis=0)
        chosen.extend((lo + np.flatnonzero(~dominated))[:keep])
    return df.iloc[chosen]


def pool_candidates(evaluated: pd.DataFrame, catalog: Catalog, kernels: KernelLibrary
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(prefill pools, decode pools) of one workload's evaluated configurations, pruned by dominance."""
    engines = {e.engine for e in disagg_catalog().engines}
    fits = evaluated["pruned_reason"].eq("") | starts_with(evaluated["pruned_reason"], "slo")
    pools = evaluated[fits & evaluated["engine"].isin(engines)]
    pools = pools.drop_duplicates(CONFIG_COLUMNS).reset_index(drop=True)
    if pools.empty:
        return pools, pools
    # A prefill worker never holds a decoding batch: its batch cap does not matter (the engine's default).
    prefill_pools = pools.drop_duplicates(CONFIG_COLUMNS[:-1]).assign(max_batch=np.nan).reset_index(drop=True)
    p_score, _ = pool_scores(prefill_pools, prefill_pools.iloc[:0], catalog, kernels)
    _, d_score = pool_scores(pools.iloc[:0], pools, catalog, kernels)
    pf = prefill_pools.assign(**{c: p_score[c].to_numpy() for c in p_score if c != "pruned_reason"})
    pf = pf[p_score["pruned_reason"].eq("").to_numpy()]
    dc = pools.assign(**{c: d_score[c].to_numpy() for c in d_score if c != "pruned_reason"})
    dc = dc[d_score["pruned_reason"].eq("").to_numpy() & np.isfinite(dc["decode_gpu_s_per_request"].to_numpy())]
    pf = _pareto(pf, ["prefill_gpu_s_per_request", "prefill_alone_ms", "kv_mb_per_gpu"], KEEP_PER_SIDE)
    dc = _pareto(dc, ["decode_gpu_s_per_request", "tpot_floor_ms"], KEEP_PER_SIDE)
    return pf.reset_index(drop=True), dc.reset_index(drop=True)


def pair_candidates(pf: pd.DataFrame, dc: pd.DataFrame, catalog: Catalog, kernels: KernelLibrary) -> pd.DataFrame:
    """Usable, non-dominated (prefill, decode) pairs with their figures (`perf.disagg.evaluate_pairs`)."""
    if pf.empty or dc.empty:
        return pd.DataFrame()
    dcat = disagg_catalog()
    allowed: dict[tuple, bool] = {}
    keys_p = list(zip(pf["engine"], pf["kv_quant"], pf["accelerator"], strict=True))
    keys_d = list(zip(dc["engine"], dc["kv_quant"], dc["accelerator"], strict=True))
    pairs = []
    for a, (e, kv, acc) in enumerate(keys_p):
        for b, (e2, kv2, acc2) in enumerate(keys_d):
            if e != e2 or kv != kv2:
                continue
            if (e, acc, acc2) not in allowed:
                allowed[e, acc, acc2] = not dcat.pair_reason(e, catalog.accelerators[acc], catalog.accelerators[acc2])
            if allowed[e, acc, acc2]:
                pairs.append((a, b))
    if not pairs:
        return pd.DataFrame()
    res = evaluate_pairs(pf, dc, pairs, catalog, link="network", kernels=kernels, dcat=dcat)
    res = res[res["pruned_reason"].eq("") & (res["prefill_capacity_rps"] > 0) & (res["decode_capacity_rps"] > 0)]
    res = res.assign(prefill_accelerator=pf["accelerator"].to_numpy()[res["prefill_row"]],
                     decode_accelerator=dc["accelerator"].to_numpy()[res["decode_row"]])
    keep = []
    for _, g in res.groupby(["prefill_accelerator", "decode_accelerator"]):
        v = g[["gpus_prefill", "gpus_decode", "prefill_capacity_rps", "decode_capacity_rps"]].to_numpy(float)
        for n in range(len(v)):
            dominated = ((v[:, 0] <= v[n, 0]) & (v[:, 1] <= v[n, 1]) & (v[:, 2] >= v[n, 2]) & (v[:, 3] >= v[n, 3])
                         & ((v != v[n]).any(axis=1) | (np.arange(len(v)) < n)))
            if not dominated.any():
                keep.append(g.index[n])
    return res.loc[sorted(keep)].reset_index(drop=True)


def _gpu_hour_usd(offers: dict) -> dict[str, float]:
    """Cheapest price of one GPU-hour per accelerator over the allowed offers and tiers."""
    out: dict[str, float] = {}
    for o in offers.values():
        v = min(o.usd_per_hour.values()) / o.gpus_per_instance
        out[o.accelerator] = min(out.get(o.accelerator, math.inf), v)
    return out


def prune_by_bound(pairs: pd.DataFrame, demand_rps: tuple, slot_hours: tuple, min_replicas: int, offers: dict,
                   upper_usd: float) -> pd.DataFrame:
    """Pairs whose lower bound on cost stays within `upper_usd` (the cost of a feasible plan of the whole
    problem), so no pruned pair is in an optimal plan. Per slot the pools need at least
    max(min_replicas, D_t/μ) workers each, paid at the cheapest GPU-hour of their accelerator:
    LB = Σ_t h_t·Σ_pool max(min_replicas, D_t/μ_pool)·g_pool·c_pool (fractional workers and instances)."""
    if pairs.empty or not math.isfinite(upper_usd):
        return pairs
    rate = _gpu_hour_usd(offers)
    c_p = pairs["prefill_accelerator"].map(rate).to_numpy(float)
    c_d = pairs["decode_accelerator"].map(rate).to_numpy(float)
    lb = np.zeros(len(pairs))
    for d, h in zip(demand_rps, slot_hours, strict=True):
        for cap, g, c in ((pairs["prefill_capacity_rps"], pairs["gpus_prefill"], c_p),
                          (pairs["decode_capacity_rps"], pairs["gpus_decode"], c_d)):
            lb += h * np.maximum(min_replicas, d / cap.to_numpy(float)) * g.to_numpy(float) * c
    return pairs[lb <= upper_usd * (1 + 1e-9) + 1e-6].reset_index(drop=True)


def prune_pools_by_bound(pf: pd.DataFrame, dc: pd.DataFrame, demand_rps: tuple, slot_hours: tuple,
                         min_replicas: int, offers: dict, upper_usd: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pools that can be part of a pair within `upper_usd`, before pairing. A worker serves at most
    1/D prompts/s (prefill, ρ < 1) and at most the TPOT-limited rate (decode), so g·D and the decode pool's
    GPU-seconds per request bound each side's GPU time per request from below; each side's bound plus the
    other side's smallest must not exceed the cost of a feasible plan."""
    if pf.empty or dc.empty or not math.isfinite(upper_usd):
        return pf, dc
    rate = _gpu_hour_usd(offers)

    def bound(df, gpu_s_col):
        c = df["accelerator"].map(rate).to_numpy(float)
        g = df["gpus"].to_numpy(float)
        gs = df[gpu_s_col].to_numpy(float)
        return sum(h * np.maximum(min_replicas * g, d * gs) * c for d, h in zip(demand_rps, slot_hours, strict=True))

    lb_p, lb_d = bound(pf, "prefill_gpu_s_per_request"), bound(dc, "decode_gpu_s_per_request")
    limit = upper_usd * (1 + 1e-9) + 1e-6
    return (pf[lb_p + lb_d.min() <= limit].reset_index(drop=True),
            dc[lb_d + lb_p.min() <= limit].reset_index(drop=True))


def standalone_usd(pairs: pd.DataFrame, pf: pd.DataFrame, dc: pd.DataFrame, demand_rps: tuple, slot_hours: tuple,
                   min_replicas: int, offers: dict, catalog: Catalog) -> float:
    """Cost of the cheapest plan that serves the workload with one of `pairs` alone, each pool on on-demand
    instances of one offer in a place hosting both (inf when none can): a feasible plan, so an upper bound."""
    best = math.inf
    if pairs.empty or any(o.max_instances is not None for o in offers.values()):
        return best
    places: dict[tuple[str, str], list] = {}
    for o in offers.values():
        if "on_demand" in o.usd_per_hour:
            places.setdefault((o.provider, catalog.offers[o.id].region or ""), []).append(o)
    for pair in pairs.itertuples(index=False):
        p, d = pf.iloc[int(pair.prefill_row)], dc.iloc[int(pair.decode_row)]
        for here in places.values():
            total = 0.0
            for cfg, g, cap in ((p, int(pair.gpus_prefill), pair.prefill_capacity_rps),
                                (d, int(pair.gpus_decode), pair.decode_capacity_rps)):
                acc = catalog.accelerators[cfg["accelerator"]]
                fit = [o for o in here if o.accelerator == acc.id and _fits(o, acc, int(cfg["tp"]), g)]
                if not fit:
                    total = math.inf
                    break
                for dem, h in zip(demand_rps, slot_hours, strict=True):
                    workers = max(min_replicas, math.ceil(dem / cap * (1 - 1e-12)))
                    total += h * min(math.ceil(workers * g / o.gpus_per_instance) * o.usd_per_hour["on_demand"]
                                     for o in fit)
            best = min(best, total)
    return best


def _config_key(model: str, row) -> str:
    return (f"{model}|{row['accelerator']}|{row['engine']}|{row['quant']}|{row['kv_quant']}|tp{int(row['tp'])}"
            f"pp{int(row['pp'])}ep{int(row['ep'])}|b{row['max_batch']}")


def _fits(offer, acc, tp: int, n: int) -> bool:
    """The instance-shape rule of `inputs.join_offers`: tp inside one instance; a worker divides an
    instance, or spans whole full-node instances."""
    G = offer.gpus_per_instance
    return tp <= G and (G % n == 0 or (n % G == 0 and G >= acc.gpus_per_node))


def disaggregated_rows(workload: int, model: str, pf: pd.DataFrame, dc: pd.DataFrame, pairs: pd.DataFrame,
                       offers: dict, catalog: Catalog) -> pd.DataFrame:
    """Placement rows (role prefill/decode) of every pair at every (provider, region) hosting both pools."""
    places: dict[tuple[str, str], list] = {}
    for o in offers.values():
        region = catalog.offers[o.id].region or ""
        places.setdefault((o.provider, region), []).append(o)
    out = []
    for n, pair in pairs.iterrows():
        p, d = pf.iloc[int(pair["prefill_row"])], dc.iloc[int(pair["decode_row"])]
        for (provider, region), here in sorted(places.items()):
            sides = []
            for role, cfg, gpus, cap in (("prefill", p, pair["gpus_prefill"], pair["prefill_capacity_rps"]),
                                         ("decode", d, pair["gpus_decode"], pair["decode_capacity_rps"])):
                acc = catalog.accelerators[cfg["accelerator"]]
                fit = [o for o in here if o.accelerator == acc.id and _fits(o, acc, int(cfg["tp"]), int(gpus))]
                sides.append([(role, cfg, int(gpus), float(cap), o) for o in fit])
            if not sides[0] or not sides[1]:
                continue
            key = (f"disagg|{provider}|{region}|P:{_config_key(model, p)}|D:{_config_key(model, d)}")
            for role, cfg, gpus, cap, o in sides[0] + sides[1]:
                out.append({"workload": workload, "offer": o.id, "gpus": gpus, "capacity_rps": cap, "config_key": key,
                            "role": role, "model": model, "pair": n, **{c: cfg[c] for c in CONFIG_COLUMNS},
                            **{c: pair[c] for c in PAIR_COLUMNS}})
    return pd.DataFrame(out)


@dataclass
class DisaggResult:
    """The cheapest plan when disaggregation is allowed, next to the best aggregated plan and the best
    all-disaggregated plan."""

    status: str
    usd_per_hour: float
    best_bound_usd_per_hour: float
    aggregated: SolveResult
    plan: Plan
    best_disaggregated_usd_per_hour: float
    """The cheapest plan whose every workload runs disaggregated (inf when none can)."""
    violations: list[str]
    splits: list[dict] = field(default_factory=list)
    """Per workload: its chosen form and, when disaggregated, the split (workers, GPUs, transfer time)."""
    candidate_pairs: dict[str, int] = field(default_factory=dict)
    note: str = ""
    """Why there is no best disaggregated plan, when there is none."""

    @property
    def disaggregated(self) -> bool:
        return any(s["form"] == "disaggregated" for s in self.splits)

    @property
    def saving_usd_per_hour(self) -> float:
        """What disaggregation saves over the aggregated optimum (0 when aggregated wins)."""
        return self.aggregated.usd_per_hour - self.usd_per_hour


def solve_disagg(problem: Problem, catalog: Catalog, time_limit_s: float | None = None,
                 workers: int | None = None) -> DisaggResult:
    """Aggregated optimum (the usual `solve`) and the optimum over disaggregated candidates only; with one
    configuration per workload the better of the two is the optimum over both (with mixing, a third model
    over aggregated and disaggregated rows together). The result never costs more than the aggregated one."""
    settings = problem.solver
    time_limit_s = settings.time_limit_s if time_limit_s is None else time_limit_s
    workers = settings.workers if workers is None else workers
    cache: dict = {}  # filled with the fitting rows first, so the aggregated solve reuses the evaluation
    cands, rows, inputs = prepare(problem, catalog, cache, keep_fitting=True)
    aggregated = solve(problem, catalog, time_limit_s=time_limit_s, workers=workers, cache=cache)
    offers = allowed_offers(problem, catalog)
    kernels = KernelLibrary.for_catalog(catalog)
    prunable = problem.objective == "min_cost" and settings.max_configs_per_workload == 1
    pools: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {}

    def pools_of(w: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        if w not in pools:
            pools[w] = pool_candidates(cands.fitting[w], catalog, kernels)
        return pools[w]

    def build(upper_usd: float) -> tuple[list[pd.DataFrame], dict[str, int]]:
        frames, counts = [], {}
        for w, wl in enumerate(problem.workloads):
            pf, dc = pools_of(w)
            wd = inputs.workloads[w]
            # Any plan using a pair of w costs at least the pair's bound (w served by it alone); a plan
            # costing `upper_usd` exists, so pools and pairs whose bound exceeds it cannot be optimal.
            pf, dc = prune_pools_by_bound(pf, dc, wd.demand_rps, inputs.slot_hours, wd.min_replicas, offers,
                                          upper_usd)
            pairs = pair_candidates(pf, dc, catalog, kernels)
            pairs = prune_by_bound(pairs, wd.demand_rps, inputs.slot_hours, wd.min_replicas, offers, upper_usd)
            counts[wl.name] = len(pairs)
            if len(pairs):
                frames.append(disaggregated_rows(w, wl.model, pf, dc, pairs, offers, catalog))
        return frames, counts

    frames, counts = build(aggregated.total_usd if prunable else math.inf)
    horizon = aggregated.horizon_hours
    disagg_only = _solve_rows(problem, catalog, offers, frames, time_limit_s, workers)
    if prunable and len(problem.workloads) == 1 and (
            disagg_only is None or disagg_only[0].cost_usd >= aggregated.total_usd * (1 - 1e-9)):
        # Aggregated wins: the best all-disaggregated plan, to say by how much, bounded by a feasible one
        # (a few promising pairs, each pool on one offer).
        frames, counts = build(_disaggregated_upper_bound(*pools_of(0), inputs, offers, catalog, kernels))
        disagg_only = _solve_rows(problem, catalog, offers, frames, time_limit_s, workers)
    best_disagg = disagg_only[0].cost_usd / horizon if disagg_only else math.inf
    if not disagg_only:
        note = ("no disaggregated candidate meets the SLOs" if not any(counts.values()) or not prunable
                else "no disaggregated plan is cheaper than the aggregated optimum")
    else:
        note = ""
    combined = disagg_only
    if settings.max_configs_per_workload > 1:
        combined = _solve_rows(problem, catalog, offers, [rows.assign(role=""), *frames], time_limit_s, workers)
    # Ties go to the aggregated plan (one pool is simpler to run).
    if combined is None or combined[0].cost_usd >= aggregated.total_usd * (1 - 1e-9):
        plan, status, bound = aggregated.plan, aggregated.status, aggregated.best_bound_usd
        rows_used, violations = None, list(aggregated.violations)
    else:
        raw, data, rows_used = combined
        plan, status = extract_plan(data, raw, rows_used), raw.status
        bound = min(raw.best_bound, aggregated.best_bound_usd) if problem.solver.max_configs_per_workload == 1 \
            else raw.best_bound
        violations = check_plan(data, plan, plan.total_usd)
    result = DisaggResult(status=status, usd_per_hour=plan.total_usd / horizon,
                          best_bound_usd_per_hour=bound / horizon, aggregated=aggregated, plan=plan,
                          best_disaggregated_usd_per_hour=best_disagg, violations=violations, candidate_pairs=counts,
                          note=note)
    result.splits = _splits(problem, result, rows_used)
    return result


SEED_POOLS = 4
"""Pools per side (lowest bound first) whose pairs give the feasible all-disaggregated plan of the bound."""


def _disaggregated_upper_bound(pf: pd.DataFrame, dc: pd.DataFrame, inputs, offers: dict, catalog: Catalog,
                               kernels: KernelLibrary) -> float:
    """Cost of a feasible all-disaggregated plan of the one workload (inf when none is found)."""
    pf, dc = pf.copy(), dc.copy()
    if pf.empty or dc.empty:
        return math.inf
    wd = inputs.workloads[0]
    rate = _gpu_hour_usd(offers)
    for df, col in ((pf, "prefill_gpu_s_per_request"), (dc, "decode_gpu_s_per_request")):
        df["_lb"] = df["accelerator"].map(rate).to_numpy(float) * df["gpus"].to_numpy(float) * df[col].to_numpy(float)
    seed_p = pf.sort_values("_lb", kind="mergesort").groupby(["engine", "kv_quant"]).head(SEED_POOLS)
    seed_d = dc.sort_values("_lb", kind="mergesort").groupby(["engine", "kv_quant"]).head(SEED_POOLS)
    seed_p, seed_d = seed_p.reset_index(drop=True), seed_d.reset_index(drop=True)
    pairs = pair_candidates(seed_p, seed_d, catalog, kernels)
    return standalone_usd(pairs, seed_p, seed_d, wd.demand_rps, inputs.slot_hours, wd.min_replicas, offers, catalog)


def _solve_rows(problem: Problem, catalog: Catalog, offers: dict, frames: list[pd.DataFrame], time_limit_s: float,
                workers: int):
    """CP-SAT over the given placement rows: (raw, data, rows), or None when no plan exists."""
    if not frames:
        return None
    rows = pd.concat(frames, ignore_index=True)
    if set(rows["workload"]) != set(range(len(problem.workloads))):
        return None
    rows = rows.sort_values(["workload", "config_key", "role", "offer"], kind="mergesort").reset_index(drop=True)
    data = model_input(problem, catalog, rows, offers)
    data.rows["role"] = rows["role"].to_numpy()
    raw = solve_model(data, time_limit_s=time_limit_s, workers=workers, seed=problem.solver.seed)
    return (raw, data, rows) if raw.has_solution else None


def _splits(problem: Problem, result: DisaggResult, rows: pd.DataFrame | None) -> list[dict]:
    out = []
    sched = result.plan.schedule
    for wl in problem.workloads:
        mine = sched[sched["workload"] == wl.name]
        roles = set(mine["role"]) if "role" in mine else {""}
        if rows is None or roles <= {""}:
            out.append({"workload": wl.name, "form": "aggregated"})
            continue
        peak = mine.groupby(["slot", "role"])[["replicas", "spot_replicas"]].sum().sum(axis=1).groupby("role").max()
        first = rows.loc[mine["row"].iloc[0]]
        used = rows.loc[mine.loc[(mine["replicas"] + mine["spot_replicas"]) > 0, "row"].unique()]
        used = used if len(used) else rows.loc[mine["row"].unique()]
        pf = used[used["role"] == "prefill"].iloc[0]
        dc = used[used["role"] == "decode"].iloc[0]
        out.append({
            "workload": wl.name, "form": "disaggregated",
            "prefill_workers": int(peak.get("prefill", 0)), "decode_workers": int(peak.get("decode", 0)),
            "prefill": {c: _plain(pf[c]) for c in CONFIG_COLUMNS} | {"gpus_per_worker": int(pf["gpus"]),
                                                                     "offer": pf["offer"]},
            "decode": {c: _plain(dc[c]) for c in CONFIG_COLUMNS} | {"gpus_per_worker": int(dc["gpus"]),
                                                                   "offer": dc["offer"]},
            **{c: _plain(first[c]) for c in ("transfer_ms", "ttft_ms", "tpot_ms", "prefill_ms", "first_decode_step_ms",
                                              "prefill_capacity_rps", "decode_capacity_rps")},
        })
    return out


def _plain(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(float(v)) else float(v)
    return v


def result_to_dict(result: DisaggResult) -> dict:
    """JSON view: costs of both optima, the saving, and each workload's split."""
    return {"status": result.status, "usd_per_hour": result.usd_per_hour,
            "best_bound_usd_per_hour": result.best_bound_usd_per_hour,
            "aggregated_usd_per_hour": result.aggregated.usd_per_hour,
            "best_disaggregated_usd_per_hour": result.best_disaggregated_usd_per_hour
            if math.isfinite(result.best_disaggregated_usd_per_hour) else None,
            "saving_usd_per_hour": result.saving_usd_per_hour,
            "saving_fraction": result.saving_usd_per_hour / result.aggregated.usd_per_hour
            if result.aggregated.usd_per_hour else 0.0,
            "disaggregated": result.disaggregated, "workloads": result.splits,
            "candidate_pairs": result.candidate_pairs, "violations": result.violations, "note": result.note}


__all__ = ["DisaggResult", "pair_candidates", "pool_candidates", "result_to_dict", "solve_disagg"]
