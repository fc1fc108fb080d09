"""'Proven optimal' is optimal for the unrounded model: CP-SAT against an enumeration in floating point
on instances whose replica capacities span 1e-4 … 1e3 requests/s (log-uniform), where one
configuration may be placed on several offers of its accelerator (and split its replicas over them).

The enumerator knows nothing of solver/scaling's integer rules: it counts replicas up from zero until
their capacity meets demand (`meets_demand`, the one float definition), and for each configuration and
slot tries every split of those replicas over the configuration's placements, paying whole instances.
"""

from __future__ import annotations

import itertools
import math
import random

import pandas as pd
import pytest

from solver.optimize.checker import check_plan
from solver.optimize.cpsat import solve_model
from solver.optimize.data import ModelInput, OfferData, WorkloadData
from solver.optimize.plan import extract_plan
from solver.scaling import cost_units, meets_demand


def exact_instance(rng: random.Random) -> ModelInput:
    num_slots = rng.choice([1, 1, 2])
    slot_hours = tuple(rng.choice([1.0, 6.0, 24.0]) for _ in range(num_slots))
    reference_rps = 10 ** rng.uniform(-4, 3)
    offers, rows = {}, []
    for c in range(rng.choice([1, 2, 3])):
        capacity = reference_rps * 10 ** rng.uniform(-0.3, 0.5)
        if rng.random() < 0.3:
            capacity = float(f"{capacity:.3g}")
        n = rng.choice([1, 1, 2, 4])
        for j in range(rng.choice([1, 2, 2, 3])):
            G = rng.choice([g for g in (1, 2, 4, 8) if g >= n])
            g = f"a{c}-o{j}"
            price = round(rng.uniform(0.5, 4.0) * G * (1.0 if G == 8 else rng.uniform(1.0, 1.4)), 2)
            offers[g] = OfferData(g, f"acc{c}", G, {"on_demand": price},
                                  max_instances=rng.choice([None, None, None, 1, 2, 5]))
            rows.append({"workload": 0, "offer": g, "gpus": n, "capacity_rps": capacity, "config_key": f"c{c}"})
    demand = []
    for _ in range(num_slots):
        if rng.random() < 0.25:  # exactly a whole number of replicas of the first configuration
            demand.append(rows[0]["capacity_rps"] * rng.randint(1, 12))
        else:
            demand.append(reference_rps * rng.uniform(0.05, 25.0))
    wl = WorkloadData(name="w", demand_rps=tuple(demand), traffic_rps=tuple(demand), output_tokens=100,
                      input_tokens=100, min_replicas=rng.choice([0, 1, 1, 2]))
    return ModelInput(slot_hours=slot_hours, workloads=[wl], offers=offers, rows=pd.DataFrame(rows))


def _replicas_needed(capacity_rps: float, demand_rps: float, floor: int) -> int:
    r = 0
    while not meets_demand(capacity_rps * r, demand_rps):
        r += 1
    return max(r, floor)


def enumerate_optimum(data: ModelInput) -> int | None:
    """Cheapest plan in micro-USD, or None when no plan meets demand within the instance caps."""
    wl = data.workloads[0]
    best = None
    for _key, placements in data.rows.groupby("config_key"):
        placements = placements.to_dict("records")
        capacity, n = placements[0]["capacity_rps"], placements[0]["gpus"]
        total = 0
        for t, hours in enumerate(data.slot_hours):
            need = _replicas_needed(capacity, wl.demand_rps[t], wl.min_replicas)
            slot_best = None
            for split in itertools.product(range(need + 1), repeat=len(placements) - 1):
                rest = need - sum(split)
                if rest < 0:
                    continue
                cost = 0
                for p, replicas in zip(placements, (*split, rest), strict=True):
                    offer = data.offers[p["offer"]]
                    instances = math.ceil(replicas * n / offer.gpus_per_instance)
                    if offer.max_instances is not None and instances > offer.max_instances:
                        cost = None
                        break
                    cost += cost_units(offer.usd_per_hour["on_demand"] * hours) * instances
                if cost is not None and (slot_best is None or cost < slot_best):
                    slot_best = cost
            if slot_best is None:
                total = None
                break
            total += slot_best
        if total is not None and (best is None or total < best):
            best = total
    return best


@pytest.mark.parametrize("seed", range(320))
def test_exact_replica_arithmetic_matches_enumeration(seed):
    data = exact_instance(random.Random(1000 + seed))
    expected = enumerate_optimum(data)
    raw = solve_model(data, time_limit_s=20, workers=2)
    if expected is None:
        assert raw.status == "infeasible"
        return
    assert raw.status == "optimal"
    assert cost_units(raw.cost_usd) == pytest.approx(expected, abs=1)
    plan = extract_plan(data, raw, data.rows)
    assert check_plan(data, plan, plan.total_usd) == []
    assert plan.choices["config_key"].nunique() == 1


def test_one_replica_of_a_tiny_capacity_serves_its_demand():
    """The rounding example: a replica sustaining 0.0205029 req/s serves 0.0205 req/s alone
    (a 0.001 req/s grid rounded it to 0.020 and bought two)."""
    offer = OfferData("l40s", "l40s", 1, {"on_demand": 0.79})
    rows = pd.DataFrame([{"workload": 0, "offer": "l40s", "gpus": 1, "capacity_rps": 0.0205029, "config_key": "c"}])
    wl = WorkloadData("rag", (0.0205,), (0.0205,), 300, 16000)
    raw = solve_model(ModelInput((1.0,), [wl], {"l40s": offer}, rows))
    assert raw.status == "optimal" and raw.cost_usd == pytest.approx(0.79)
    # At 20 req/s: ⌈20 / 0.0205029⌉ = 976 replicas, not 1,000.
    wl20 = WorkloadData("rag", (20.0,), (20.0,), 300, 16000)
    raw = solve_model(ModelInput((1.0,), [wl20], {"l40s": offer}, rows))
    assert raw.r[0, 0] == 976 and raw.cost_usd == pytest.approx(976 * 0.79)


def test_a_configuration_spans_two_offers_of_its_accelerator():
    """11 one-GPU replicas: one 8-GPU instance (8 × 3.50 = 28.00) plus three 1-GPU instances
    (3 × 4.50 = 13.50) cost 41.50 USD/h; eleven 1-GPU instances would cost 49.50. Still one
    configuration (one launch command), placed on two offers."""
    offers = {"big": OfferData("big", "h200", 8, {"on_demand": 28.0}),
              "one": OfferData("one", "h200", 1, {"on_demand": 4.5})}
    rows = pd.DataFrame([
        {"workload": 0, "offer": "big", "gpus": 1, "capacity_rps": 1.0, "config_key": "gemma"},
        {"workload": 0, "offer": "one", "gpus": 1, "capacity_rps": 1.0, "config_key": "gemma"},
    ])
    wl = WorkloadData("w", (10.5,), (10.5,), 100, 100)
    data = ModelInput((1.0,), [wl], offers, rows)
    raw = solve_model(data)
    assert raw.cost_usd == pytest.approx(41.5)
    assert (raw.r[0, 0], raw.r[1, 0]) == (8, 3)
    plan = extract_plan(data, raw, rows)
    assert check_plan(data, plan, plan.total_usd) == []
    assert plan.choices["config_key"].unique().tolist() == ["gemma"]


def test_mixing_configurations_is_exact_at_tiny_rates():
    """Two configurations mixed (max_configs 2) at capacities far below the old 0.001 req/s grid:
    2 × 0.0004 + 1 × 0.0002 = 0.001 req/s exactly meets 0.001 req/s (cost 2 × 1 + 1 × 0.6 = 2.6);
    one configuration alone needs 3 × 1.0 or 5 × 0.6 = 3.0."""
    offers = {"a": OfferData("a", "x", 1, {"on_demand": 1.0}), "b": OfferData("b", "y", 1, {"on_demand": 0.6})}
    rows = pd.DataFrame([
        {"workload": 0, "offer": "a", "gpus": 1, "capacity_rps": 0.0004, "config_key": "fast"},
        {"workload": 0, "offer": "b", "gpus": 1, "capacity_rps": 0.0002, "config_key": "slow"},
    ])
    wl = WorkloadData("w", (0.001,), (0.001,), 100, 100, max_configs=2)
    raw = solve_model(ModelInput((1.0,), [wl], offers, rows))
    assert raw.cost_usd == pytest.approx(2.6)
    assert (raw.r[0, 0], raw.r[1, 0]) == (2, 1)
