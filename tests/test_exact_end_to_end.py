"""Issue-level cases of exactness on the real catalog: the replica count a plan buys is ⌈D/μ⌉ of the
configuration it chose (no rate grid), a low-rate workload is feasible whenever one replica meets
its SLOs, and the reports that compare against the optimum respect the same limits."""

from __future__ import annotations

import math

import pytest

from solver.catalog.loader import load_catalog
from solver.errors import InfeasibleError
from solver.optimize.solve import solve
from solver.perf import evaluate_candidates
from solver.problem import Problem, check_problem

CATALOG = load_catalog()


def problem(body: dict) -> Problem:
    p = Problem.model_validate(body)
    check_problem(p, CATALOG)
    return p


def rag(rate: float) -> dict:
    return {"name": "rounding", "workloads": [{
        "name": "rag", "model": "llama-3.1-8b", "traffic": {"requests_per_s": rate},
        "input_tokens": 16000, "output_tokens": 300,
        "slo": {"ttft_ms": 1500, "tpot_ms": 30, "e2e_ms": 8000, "percentile": 99}}],
        "fleet": {"accelerators": ["l4", "l40s", "a10g", "a100-80gb-pcie"], "pricing_tiers": ["on_demand"]},
        "solver": {"workers": 2}}


@pytest.mark.parametrize("rate", [0.0205, 20.0])
def test_replicas_are_the_exact_ceiling_of_demand_over_capacity(rate):
    result = solve(problem(rag(rate)), CATALOG)
    (config,) = result.workloads[0]["configs"]
    assert config["replicas_peak"] == math.ceil(rate / config["replica_capacity_rps"] * (1 - 1e-9))
    (placement,) = config["placements"]
    offer = CATALOG.offers[placement["offer"]]
    instances = math.ceil(config["replicas_peak"] * config["gpus_per_replica"] / offer.gpus_per_instance)
    assert result.usd_per_hour == pytest.approx(instances * offer.usd_per_hour("on_demand"), rel=1e-9)
    assert result.violations == []


def test_a_low_rate_workload_is_feasible_when_one_replica_meets_its_slos():
    """Qwen2.5-72B at 0.0005 req/s with an end-to-end limit 2 % above what an 8-GPU B200 replica
    achieves unloaded: one replica serves it (a 0.001 req/s grid called it infeasible)."""
    row = {"model": "qwen2.5-72b", "accelerator": "b200", "engine": "trtllm", "quant": "fp8", "kv_quant": "fp8",
           "tp": 8, "pp": 1, "ep": 1, "max_batch": 64.0, "isl": 2000.0, "osl": 200.0,
           "slo_ttft_ms": float("nan"), "slo_tpot_ms": float("nan"), "slo_e2e_ms": 1e9, "percentile": 99.0}
    import pandas as pd

    floor_ms = float(evaluate_candidates(pd.DataFrame([row]), CATALOG)["e2e_ms"].iat[0])
    body = {"name": "low-rate", "workloads": [{
        "name": "batch", "model": "qwen2.5-72b", "traffic": {"requests_per_s": 0.0005}, "input_tokens": 2000,
        "output_tokens": 200, "slo": {"e2e_ms": round(floor_ms * 1.02), "percentile": 99}}],
        "fleet": {"accelerators": ["b200"], "pricing_tiers": ["on_demand"]}, "solver": {"workers": 2}}
    try:
        result = solve(problem(body), CATALOG)
    except InfeasibleError as err:  # pragma: no cover - the failure this test guards against
        pytest.fail(f"infeasible although one replica meets the SLO: {err}")
    assert result.workloads[0]["configs"][0]["replicas_peak"] == 1


def test_runner_ups_and_the_naive_plan_respect_inventory_caps():
    """With B200 capped at one 8-GPU instance and H100 capped too, no stand-alone plan listed needs
    more instances than its cap, and the naive plan is never cheaper than the optimum."""
    body = rag(6.0)
    body["workloads"][0]["slo"] = {"ttft_ms": 2000, "tpot_ms": 40, "percentile": 99}
    body["fleet"] = {"accelerators": ["h100-sxm", "b200", "l40s"], "pricing_tiers": ["on_demand"],
                     "inventory": [{"accelerator": "b200", "max_gpus": 8}, {"accelerator": "h100-sxm", "max_gpus": 8}]}
    result = solve(problem(body), CATALOG)
    for r in result.runner_ups.itertuples():
        offer = CATALOG.offers[r.offer]
        replicas = math.ceil(6.0 / r.capacity_rps * (1 - 1e-9))
        gpus = math.ceil(replicas * r.gpus / offer.gpus_per_instance) * offer.gpus_per_instance
        if r.accelerator in ("b200", "h100-sxm"):
            assert gpus <= 8
        assert r.standalone_usd_per_hour >= result.usd_per_hour * (1 - 1e-9)
    naive = result.workloads[0]["naive_usd_per_hour"]
    assert math.isnan(naive) or naive >= result.usd_per_hour * (1 - 1e-9)


def test_when_cp_sat_finds_nothing_in_time_the_greedy_plan_is_returned_not_proven(monkeypatch):
    """An anytime limit: the stand-alone greedy plan built for pruning is feasible, so a solve whose
    CP-SAT run ends without a solution returns it as 'feasible' with a bound and a gap."""
    from solver.optimize import solve as solve_module
    from solver.optimize.cpsat import RawSolution

    monkeypatch.setattr(solve_module, "solve_model",
                        lambda data, **kw: RawSolution("unknown", math.nan, math.nan, math.nan, 0.0, math.nan, 0, 0))
    body = rag(0.5)
    body["workloads"].append({**body["workloads"][0], "name": "rag2", "traffic": {"requests_per_s": 2.0}})
    result = solve(problem(body), CATALOG)
    assert result.status == "feasible" and result.violations == []
    assert 0 <= result.gap < 1 and result.best_bound_usd <= result.total_usd
    for w in result.workloads:
        (config,) = w["configs"]
        assert config["replicas_peak"] >= 1
