"""Configuration-by-configuration search (solver/optimize/by_config.py) against the full model, and
the single-workload lower bounds it stops on against each configuration's own optimum."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from solver.optimize import by_config
from solver.optimize.bounds import row_lower_bounds
from solver.optimize.cpsat import solve_model
from solver.optimize.data import ModelInput, OfferData, WorkloadData


def single_workload_instance(rng: random.Random) -> ModelInput:
    """One workload, 2–4 configurations, each on 1–3 offers (one configuration across offers), with
    spot shares, reserved tiers and scale steps: the cases the search must get exactly right."""
    T = rng.choice([1, 2, 4])
    offers = {}
    for i in range(rng.choice([2, 3, 4])):
        G = rng.choice([1, 2, 4, 8])
        od = round(rng.uniform(1.0, 4.0) * G, 2)
        prices = {"on_demand": od}
        if rng.random() < 0.6:
            prices["spot"] = round(od * rng.uniform(0.2, 0.6), 2)
        if rng.random() < 0.4:
            prices["reserved_1y"] = round(od * rng.uniform(0.5, 0.8), 2)
        offers[f"o{i}"] = OfferData(f"o{i}", "gpu", G, prices, max_instances=rng.choice([None, None, 3]))
    traffic = tuple(round(rng.uniform(0.3, 6.0), 3) for _ in range(T))
    wl = WorkloadData(name="w", demand_rps=traffic, traffic_rps=traffic, output_tokens=100, input_tokens=100,
                      min_replicas=rng.choice([0, 1, 2]), spot_max_share=rng.choice([0.0, 0.3, 0.5, 1.0]),
                      max_scale_step=rng.choice([None, None, 1, 2]))
    rows = []
    for c in range(rng.choice([2, 3, 4])):
        n = rng.choice([1, 1, 2])
        mu = round(rng.uniform(0.5, 2.5), 3)
        sizes = {g: o.gpus_per_instance for g, o in offers.items()}
        fitting = [g for g in sorted(offers) if n <= sizes[g] or n % sizes[g] == 0]
        for g in rng.sample(fitting, k=min(len(fitting), rng.choice([1, 2, 3]))):
            rows.append({"workload": 0, "offer": g, "gpus": n, "capacity_rps": mu, "config_key": f"c{c}"})
    return ModelInput(slot_hours=tuple(rng.choice([2.0, 6.0]) for _ in range(T)), workloads=[wl], offers=offers,
                      rows=pd.DataFrame(rows))


def _run(d: ModelInput, _keep) -> object:
    return solve_model(d, time_limit_s=20, workers=2)


@pytest.mark.parametrize("seed", range(60))
def test_search_by_configuration_matches_the_full_model(seed):
    data = single_workload_instance(random.Random(seed))
    assert by_config.applies(data)
    full = solve_model(data, time_limit_s=20, workers=2)
    found = by_config.solve_by_config(data, _run)
    if full.status == "infeasible":
        assert found is None
        return
    assert full.status == "optimal" and found is not None
    assert found.raw.cost_usd == pytest.approx(full.cost_usd, abs=1e-6)
    assert found.raw.gap == 0.0
    assert set(found.data.rows["config_key"]) == {data.rows["config_key"][found.keep].iat[0]}


@pytest.mark.parametrize("seed", range(60))
def test_lower_bound_never_exceeds_a_configurations_optimum(seed):
    data = single_workload_instance(random.Random(seed))
    lb = row_lower_bounds(data)
    keys = data.rows["config_key"].to_numpy()
    for key in sorted(set(keys)):
        own = solve_model(data.subset(keys == key), time_limit_s=20, workers=2)
        if own.status == "optimal":
            assert lb[keys == key][0] <= own.cost_usd + 1e-6, key


def test_spot_share_raises_the_bound_by_hand():
    """R = 4 one-GPU replicas for 10 h on one 1-GPU offer, on demand 2.00, spot 0.50 USD/h, spot share
    at most 25 %: at least 3 regular replicas, so LB = 10·(3·2.00 + 1·0.50) = 65.00 USD (all-spot
    pricing would say 20.00)."""
    offer = OfferData("o", "gpu", 1, {"on_demand": 2.0, "spot": 0.5})
    wl = WorkloadData(name="w", demand_rps=(4.0,), traffic_rps=(4.0,), output_tokens=1, input_tokens=1,
                      min_replicas=0, spot_max_share=0.25)
    rows = pd.DataFrame([{"workload": 0, "offer": "o", "gpus": 1, "capacity_rps": 1.0, "config_key": "c"}])
    data = ModelInput(slot_hours=(10.0,), workloads=[wl], offers={"o": offer}, rows=rows)
    assert row_lower_bounds(data)[0] == pytest.approx(65.0)
    assert solve_model(data).cost_usd == pytest.approx(65.0)


def test_search_stops_when_the_time_limit_is_spent():
    """The run's time limit counts the whole search: with nothing left, no small model is started and
    the caller falls back to the full model (which reports what it found in the time it gets)."""
    data = single_workload_instance(random.Random(3))
    calls = []
    assert by_config.solve_by_config(data, lambda d, k: calls.append(k) or _run(d, k), time_left=lambda: 0.0) is None
    assert calls == []
