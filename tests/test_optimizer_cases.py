"""Tiny deployment problems whose optimum is derived by hand (arithmetic in each test)."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from solver.optimize.checker import check_plan, pack_replicas, recompute_cost
from solver.optimize.cpsat import solve_model
from solver.optimize.data import ModelInput, OfferData, WorkloadData
from solver.optimize.explain import explain_model_infeasible
from solver.optimize.plan import extract_plan


def workload(name="w", demand=(1.0,), min_replicas=1, spot_share=0.0, step=None, max_configs=1):
    return WorkloadData(name=name, demand_rps=tuple(demand), traffic_rps=tuple(demand), output_tokens=100,
                        input_tokens=100, min_replicas=min_replicas, max_scale_step=step,
                        spot_max_share=spot_share, max_configs=max_configs)


def row(w, offer, gpus, capacity, key=None):
    return {"workload": w, "offer": offer, "gpus": gpus, "capacity_rps": capacity,
            "config_key": key or f"{offer}-{gpus}-{capacity}"}


def data(hours, workloads, offers, rows, **kw) -> ModelInput:
    return ModelInput(slot_hours=tuple(hours), workloads=workloads, offers={o.id: o for o in offers},
                      rows=pd.DataFrame(rows), **kw)


def solve_checked(d: ModelInput):
    raw = solve_model(d, time_limit_s=10, workers=2)
    assert raw.status == "optimal"
    plan = extract_plan(d, raw, d.rows)
    assert check_plan(d, plan, plan.total_usd) == []
    assert recompute_cost(d, plan) == pytest.approx(raw.cost_usd, abs=1e-3)
    return raw, plan


def test_reserved_beats_on_demand_above_break_even_utilisation():
    # Break-even utilisation = reserved / on-demand = 2.4 / 4.0 = 60 % of the horizon.
    offer = OfferData("o", "a", 1, {"on_demand": 4.0, "reserved_1y": 2.4})
    rows = [row(0, "o", 1, 1.0)]
    # Needed 16 h of 24 (66.7 % > 60 %): reserve one instance: 2.4 · 24 = 57.6 USD < 4.0 · 16 = 64.
    busy = data([16, 8], [workload(demand=(1.0, 0.0), min_replicas=0)], [offer], rows)
    raw, _ = solve_checked(busy)
    assert raw.held[("o", "reserved_1y")] == 1
    assert raw.cost_usd == pytest.approx(57.6)
    # Needed 12 h of 24 (50 % < 60 %): on demand: 4.0 · 12 = 48 USD < 57.6.
    light = data([12, 12], [workload(demand=(1.0, 0.0), min_replicas=0)], [offer], rows)
    raw, _ = solve_checked(light)
    assert raw.held[("o", "reserved_1y")] == 0
    assert raw.cost_usd == pytest.approx(48.0)


def test_owned_versus_rented_at_known_prices():
    # Owned 8-GPU server: 240,000 USD over 3 years = 240000 / (3 · 8760) = 9.132420 USD/h capital;
    # idle 4 kW · PUE 1.5 · 0.10 USD/kWh = 0.60 USD/h; full 10 kW, so busy power per GPU-hour at full
    # load = (10 − 4) · 1.5 · 0.10 / 8 = 0.1125 USD.
    capital = 240_000 / (3 * 8760)
    owned = OfferData("own", "h", 8, {"owned": capital + 0.6}, busy_gpu_usd_per_hour=0.1125,
                      idle_power_usd_per_hour=0.6, kind="owned")
    cloud = OfferData("cloud", "h", 8, {"on_demand": 12.0})
    rows = [row(0, "own", 8, 2.0, "k"), row(0, "cloud", 8, 2.0, "k")]
    d = data([24], [workload(demand=(1.5,))], [owned, cloud], rows)
    raw, plan = solve_checked(d)
    # One replica serves 1.5 of its 2.0 req/s: busy power = 0.1125 · 8 GPUs · 0.75 · 24 h = 16.2 USD.
    expected = (capital + 0.6) * 24 + 16.2
    assert raw.held[("own", "owned")] == 1
    assert raw.cost_usd == pytest.approx(expected, abs=1e-3)
    breakdown = plan.costs.groupby("category")["usd"].sum()
    assert breakdown["capital"] == pytest.approx(capital * 24)
    assert breakdown["power_cooling"] == pytest.approx(0.6 * 24 + 16.2, abs=1e-3)
    # Renting wins once the cloud price drops below the owned hourly cost (≈ 10.41 USD/h here).
    cheap = OfferData("cloud", "h", 8, {"on_demand": 10.0})
    raw, _ = solve_checked(data([24], [workload(demand=(1.5,))], [owned, cheap], rows))
    assert raw.held[("own", "owned")] == 0
    assert raw.cost_usd == pytest.approx(240.0)


def test_spot_share_limit_holds():
    # 4 req/s at 1 req/s per 1-GPU replica; spot 1 USD/h vs on-demand 3 USD/h; at most half on spot:
    # 2 spot + 2 on-demand for 10 h = (2 · 1 + 2 · 3) · 10 = 80 USD.
    offer = OfferData("o", "a", 1, {"on_demand": 3.0, "spot": 1.0})
    d = data([10], [workload(demand=(4.0,), spot_share=0.5)], [offer], [row(0, "o", 1, 1.0)])
    raw, _ = solve_checked(d)
    assert raw.s[(0, 0)] == 2 and raw.r[(0, 0)] == 2
    assert raw.cost_usd == pytest.approx(80.0)


def test_replicas_of_two_workloads_share_a_node():
    # w1: 2 replicas × 2 GPUs, w2: 1 replica × 4 GPUs = 8 GPUs = one 8-GPU instance (16 USD/h),
    # cheaper than the 1-GPU offer at 2.5 USD/GPU-h (8 · 2.5 = 20).
    big = OfferData("big", "a", 8, {"on_demand": 16.0})
    small = OfferData("small", "a", 1, {"on_demand": 2.5})
    rows = [row(0, "big", 2, 1.0), row(0, "small", 2, 1.0), row(1, "big", 4, 1.0), row(1, "small", 4, 1.0)]
    d = data([1], [workload("w1", (2.0,)), workload("w2", (1.0,))], [big, small], rows)
    raw, _ = solve_checked(d)
    assert raw.buy[("big", "on_demand", 0)] == 1
    assert raw.cost_usd == pytest.approx(16.0)


def test_replica_larger_than_a_node_spans_whole_nodes():
    # A 16-GPU replica on 8-GPU instances takes 2 instances: 2 · 10 USD/h · 1 h.
    offer = OfferData("o", "a", 8, {"on_demand": 10.0})
    raw, _ = solve_checked(data([1], [workload(demand=(0.5,))], [offer], [row(0, "o", 16, 1.0)]))
    assert raw.buy[("o", "on_demand", 0)] == 2
    assert raw.cost_usd == pytest.approx(20.0)


def test_scale_step_limits_how_fast_replicas_change():
    # Demand 1 → 5 → 1 req/s at 1 req/s per replica; with a step of 2 the middle slot still needs 5,
    # so the neighbours (a cycle) must hold at least 3: 3 + 5 + 3 = 11 replica-hours at 1 USD.
    offer = OfferData("o", "a", 1, {"on_demand": 1.0})
    d = data([1, 1, 1], [workload(demand=(1.0, 5.0, 1.0), step=2, min_replicas=0)], [offer],
             [row(0, "o", 1, 1.0)])
    raw, _ = solve_checked(d)
    assert [raw.r[(0, t)] for t in range(3)] == [3, 5, 3]
    assert raw.cost_usd == pytest.approx(11.0)


def test_fixed_cost_per_configuration_prefers_sharing_one_recipe():
    # Two workloads each need 1 replica; configs "a" (1 GPU, 1.0 USD/h) and "b" (1 GPU, 0.9 USD/h for
    # w2 only). Without a fixed cost w2 takes b: 1.9 USD/h. With 0.5 USD/h per distinct configuration,
    # both on "a" costs 2.0 + 0.5 = 2.5 < 1.9 + 1.0 = 2.9.
    oa = OfferData("oa", "x", 1, {"on_demand": 1.0})
    ob = OfferData("ob", "y", 1, {"on_demand": 0.9})
    rows = [row(0, "oa", 1, 1.0, "a"), row(1, "oa", 1, 1.0, "a"), row(1, "ob", 1, 1.0, "b")]
    wls = [workload("w1"), workload("w2")]
    raw, _ = solve_checked(data([1], wls, [oa, ob], rows))
    assert raw.cost_usd == pytest.approx(1.9)
    raw, _ = solve_checked(data([1], wls, [oa, ob], rows, config_fixed_usd_per_hour=0.5))
    assert raw.cost_usd == pytest.approx(2.5)


def test_budget_too_small_is_explained_with_the_minimum_budget():
    offer = OfferData("o", "a", 1, {"on_demand": 3.0})
    d = data([1], [workload(demand=(2.0,))], [offer], [row(0, "o", 1, 1.0)], budget_usd_per_hour=5.0)
    assert solve_model(d).status == "infeasible"
    lines, detail = explain_model_infeasible(d, lambda x: solve_model(x, time_limit_s=5))
    assert detail["cause"] == "budget"
    assert detail["min_usd_per_hour"] == pytest.approx(6.0)
    assert "6.00" in lines[0]


def test_inventory_too_small_is_explained_with_the_needed_count():
    offer = OfferData("o", "a", 1, {"on_demand": 3.0}, max_instances=2)
    d = data([1], [workload(demand=(3.0,))], [offer], [row(0, "o", 1, 1.0)])
    assert solve_model(d).status == "infeasible"
    lines, detail = explain_model_infeasible(d, lambda x: solve_model(x, time_limit_s=5))
    assert detail["cause"] == "inventory"
    assert "needs 3 instances, cap 2" in lines[0]


def test_max_throughput_serves_what_the_budget_buys():
    # 10 USD/h buys 3 one-GPU replicas at 3 USD/h: 3 of the 5 req/s are served.
    offer = OfferData("o", "a", 1, {"on_demand": 3.0})
    d = data([1], [workload(demand=(5.0,), min_replicas=0)], [offer], [row(0, "o", 1, 1.0)],
             budget_usd_per_hour=10.0, objective="max_throughput")
    raw = solve_model(d)
    assert raw.status == "optimal"
    assert raw.served_rps[(0, 0)] == pytest.approx(3.0, rel=1e-6)


@pytest.mark.parametrize("seed", range(25))
def test_a_profile_never_costs_more_than_its_peak_all_day(seed):
    rng = random.Random(seed)
    offers = [OfferData("o1", "a", 8, {"on_demand": 20.0, "reserved_1y": 13.0}),
              OfferData("o2", "b", 1, {"on_demand": 3.1})]
    rows = [row(0, "o1", rng.choice([1, 2, 4, 8]), rng.uniform(0.5, 3)), row(0, "o2", 1, rng.uniform(0.2, 1))]
    profile = tuple(rng.uniform(0, 6) for _ in range(6))
    hours = [4] * 6
    shaped = solve_model(data(hours, [workload(demand=profile)], offers, rows))
    peak = solve_model(data(hours, [workload(demand=(max(profile),) * 6)], offers, rows))
    assert shaped.cost_usd <= peak.cost_usd + 1e-6


def test_packing_counts_whole_instances():
    assert pack_replicas([4, 2, 2], 8) == 1
    assert pack_replicas([4, 4, 4], 8) == 2
    assert pack_replicas([16], 8) == 2
    assert pack_replicas([], 8) == 0


def test_mixing_two_configurations_when_it_pays():
    # 2.5 req/s. A: 8 GPUs on an 8-GPU instance (8 USD/h), 2 req/s. B: 1 GPU (2.5 USD/h), 0.5 req/s.
    # One configuration: A × 2 = 16 or B × 5 = 12.5 → 12.5. Two allowed: A × 1 + B × 1 = 10.5.
    big = OfferData("big", "a", 8, {"on_demand": 8.0})
    small = OfferData("small", "b", 1, {"on_demand": 2.5})
    rows = [row(0, "big", 8, 2.0), row(0, "small", 1, 0.5)]
    raw, _ = solve_checked(data([1], [workload(demand=(2.5,))], [big, small], rows))
    assert raw.cost_usd == pytest.approx(12.5)
    raw, _ = solve_checked(data([1], [workload(demand=(2.5,), max_configs=2)], [big, small], rows))
    assert raw.cost_usd == pytest.approx(10.5)
    assert raw.x == {0: 1, 1: 1}
