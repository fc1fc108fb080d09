"""What the optimum beat: the best stand-alone configuration on each accelerator type, rented
(cloud) and owned separately, and the naive plan; both under the limits the optimum respects.

Costs come from `solver/optimize/standalone.py` (one workload on one placement, whole instances,
availability floors and scale steps, the cheapest allowed non-spot tier). A stand-alone plan that
breaks the offer's instance cap, the accelerator's GPU cap or the budget is left out; with several
workloads each is costed alone (capacity the others take under a shared cap is not counted), which
the report says.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from solver.optimize.data import ModelInput
from solver.optimize.plan import Plan
from solver.optimize.standalone import standalone
from solver.problem import Problem

COLUMNS = ["workload", "accelerator", "kind", "offer", "engine", "quant", "kv_quant", "tp", "dp", "pp", "ep",
           "max_batch", "gpus", "capacity_rps", "standalone_usd_per_hour", "optimum_usd_per_hour",
           "extra_usd_per_hour", "chosen"]


def standalone_usd_per_hour(data: ModelInput, rows: pd.DataFrame) -> np.ndarray:
    """Per row: its stand-alone cost in USD/h, inf when it has no non-spot price or breaks a limit."""
    out = np.full(len(rows), math.inf)
    for i in range(len(rows)):
        plan = standalone(data, i)
        if plan.within_limits:
            out[i] = plan.usd / data.horizon_hours
    return out


def runner_ups(problem: Problem, data: ModelInput, rows: pd.DataFrame, plan: Plan,
               usd_per_hour: np.ndarray | None = None) -> pd.DataFrame:
    """Best stand-alone row per (workload, accelerator, kind); `usd_per_hour`: `standalone_usd_per_hour`
    of `rows`, when the caller has it already."""
    if rows.empty:
        return pd.DataFrame(columns=COLUMNS)
    if usd_per_hour is None:
        usd_per_hour = standalone_usd_per_hour(data, rows)
    table = rows.assign(standalone_usd_per_hour=usd_per_hour,
                        kind=[data.offers[o].kind for o in rows["offer"]])
    table = table[np.isfinite(table["standalone_usd_per_hour"])]
    if table.empty:
        return pd.DataFrame(columns=COLUMNS)
    best = table.sort_values(["workload", "accelerator", "kind", "standalone_usd_per_hour", "offer"],
                             kind="mergesort")
    best = best.groupby(["workload", "accelerator", "kind"], as_index=False).first()
    best["workload"] = [problem.workloads[int(w)].name for w in best["workload"]]
    chosen = plan.choices.assign(workload=[problem.workloads[int(w)].name for w in plan.choices["workload"]],
                                 kind=[data.offers[o].kind if o in data.offers else "" for o in plan.choices["offer"]])
    chosen_keys = set(zip(chosen["workload"], chosen["accelerator"], chosen["kind"], strict=True))
    optimum = plan.costs.groupby("workload")["usd"].sum() / data.horizon_hours
    best["chosen"] = [key in chosen_keys for key in zip(best["workload"], best["accelerator"], best["kind"],
                                                         strict=True)]
    best["optimum_usd_per_hour"] = [float(optimum.get(w, math.nan)) for w in best["workload"]]
    best["extra_usd_per_hour"] = best["standalone_usd_per_hour"] - best["optimum_usd_per_hour"]
    return best[COLUMNS].sort_values(["workload", "standalone_usd_per_hour"], kind="mergesort").reset_index(drop=True)


def naive_usd_per_hour(data: ModelInput, rows: pd.DataFrame, w: int) -> float:
    """The naive plan a finance team compares against: the workload's peak replica count on demand
    all day, on its cheapest on-demand configuration within the limits (NaN when none is)."""
    best = math.inf
    for k in np.flatnonzero(rows["workload"].to_numpy() == w):
        if "on_demand" not in data.offers[rows["offer"].iat[k]].usd_per_hour:
            continue
        plan = standalone(data, int(k), peak_all_day=True, tiers=("on_demand",))
        if plan.within_limits:
            best = min(best, plan.usd / data.horizon_hours)
    return best if math.isfinite(best) else math.nan


def layout_class(tp: int, dp: int, ep: int, node_gpus: int) -> str:
    """The engines' names for a MoE layout: TP (experts tensor-parallel), TP+EP (experts spread over the
    tensor-parallel GPUs), DP-attention+TP-MoE, DP-attention+EP, and wide EP (a stage beyond one node)."""
    if dp * tp > node_gpus and ep > 1:
        return "wide EP"
    if dp == 1:
        return "TP" if ep == 1 else "TP+EP"
    return "DP-attention+TP-MoE" if ep == 1 else "DP-attention+EP"


LAYOUT_COLUMNS = ["workload", "layout", "accelerator", "offer", "engine", "quant", "tp", "dp", "pp", "ep", "gpus",
                  "max_batch", "capacity_rps", "capacity_rps_per_gpu", "standalone_usd_per_hour", "chosen"]


def layout_runner_ups(problem: Problem, data: ModelInput, rows: pd.DataFrame, plan: Plan,
                      usd_per_hour: np.ndarray | None = None) -> pd.DataFrame:
    """Per MoE workload, the best stand-alone plan of each layout class (under the same limits), so a
    report can say which layout won and by how much; empty for dense models."""
    if rows.empty or "dp" not in rows.columns:
        return pd.DataFrame(columns=LAYOUT_COLUMNS)
    moe = {w for w in range(len(problem.workloads)) if rows.loc[rows["workload"] == w, "ep"].max() > 1
           or rows.loc[rows["workload"] == w, "dp"].max() > 1}
    table = rows[rows["workload"].isin(moe)]
    if table.empty:
        return pd.DataFrame(columns=LAYOUT_COLUMNS)
    if usd_per_hour is None:
        usd_per_hour = standalone_usd_per_hour(data, rows)
    table = table.assign(standalone_usd_per_hour=np.asarray(usd_per_hour)[table.index.to_numpy()])
    table = table[np.isfinite(table["standalone_usd_per_hour"])]
    table = table.assign(layout=[layout_class(int(r.tp), int(r.dp), int(r.ep), int(r.node_gpus))
                                 for r in table.itertuples()],
                         capacity_rps_per_gpu=table["capacity_rps"] / table["gpus"])
    best = table.sort_values(["workload", "layout", "standalone_usd_per_hour", "offer"], kind="mergesort")
    best = best.groupby(["workload", "layout"], as_index=False).first()
    chosen = set(zip(plan.choices["workload"], plan.choices["config_key"], strict=True))
    best["chosen"] = [(w, k) in chosen for w, k in zip(best["workload"], best["config_key"], strict=True)]
    best["workload"] = [problem.workloads[int(w)].name for w in best["workload"]]
    return best[LAYOUT_COLUMNS].sort_values(["workload", "standalone_usd_per_hour"], kind="mergesort").reset_index(
        drop=True)
