"""A solve result as plain data (JSON / CSV), deterministic: same input, same bytes.

Timings are excluded unless asked for, and floats are rounded to 6 significant digits, so two runs
(or two worker counts) of the same problem print identical JSON.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from solver.optimize.solve import SolveResult


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def result_to_dict(result: SolveResult, timings: bool = False) -> dict[str, Any]:
    plan = result.plan
    costs = plan.costs.groupby("category")["usd"].sum().to_dict() if len(plan.costs) else {}
    out: dict[str, Any] = {
        "status": result.status,
        "objective": result.objective,
        "usd_per_hour": result.usd_per_hour,
        "usd_per_month": result.usd_per_month,
        "usd_total": result.total_usd,
        "horizon_hours": result.horizon_hours,
        "best_bound_usd_per_hour": result.best_bound_usd / result.horizon_hours,
        "gap": result.gap,
        "canonical": bool(result.raw.canonical) if result.raw is not None else False,
        "cost_breakdown_usd": costs,
        "idle_usd": sum(plan.idle_usd.values()),
        "workloads": result.workloads,
        "instances": plan.instances.to_dict("records"),
        "runner_ups": result.runner_ups.drop(columns=["chosen"], errors="ignore").to_dict("records"),
        "layouts": result.layouts.to_dict("records"),
        "candidates": result.candidate_counts,
        "model": {"rows": result.model_rows, "variables": result.num_variables,
                  "constraints": result.num_constraints, "models": result.models},
        "violations": result.violations,
    }
    if result.routing is not None:
        out["routing"] = [r.as_dict() for r in result.routing]
    if result.margin is not None:
        out["margin"] = result.margin
    if timings:
        out["solve_time_s"] = result.solve_time_s
        out["total_time_s"] = result.total_time_s
    return _clean(out)


def result_rows(result: SolveResult) -> pd.DataFrame:
    """One CSV row per (workload, configuration)."""
    rows = []
    for w in result.workloads:
        for c in w["configs"]:
            rows.append({
                "workload": w["workload"], "model": w["model"], "offers": " + ".join(c["offers"]),
                **{k: v for k, v in c.items() if not isinstance(v, list)},
                "slo_ttft_ms": w["slo"]["ttft_ms"], "slo_tpot_ms": w["slo"]["tpot_ms"],
                "percentile": w["slo"]["percentile"], "usd_per_hour": w["usd_per_hour"],
                "usd_per_month": w["usd_per_month"],
                "usd_per_million_output_tokens": w["usd_per_million_output_tokens"],
                "status": result.status,
            })
    return pd.DataFrame(rows)
