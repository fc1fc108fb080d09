"""CP-SAT against exhaustive enumeration on small random instances: the optima must agree exactly.

The enumerators share nothing with the CP-SAT model but the input structure, the float definition
of 'capacity meets demand' (solver/scaling.meets_demand) and micro-USD prices: they pick one
configuration per workload, try every replica split (regular / spot, or across the offers a
configuration is placed on) per slot, every number of reserved instances, and buy the rest on demand.
"""

from __future__ import annotations

import itertools
import math
import random

import pandas as pd
import pytest

from solver.optimize.bounds import greedy_upper_bound, prunable_rows
from solver.optimize.checker import check_plan
from solver.optimize.cpsat import solve_model
from solver.optimize.data import ModelInput, OfferData, WorkloadData
from solver.optimize.plan import extract_plan
from solver.scaling import cost_units, meets_demand


def random_instance(rng: random.Random) -> ModelInput:
    num_slots = rng.choice([1, 1, 2, 3])
    slot_hours = tuple(rng.choice([4.0, 8.0, 12.0]) for _ in range(num_slots))
    offers = {}
    for i in range(rng.choice([1, 2, 2])):
        G = rng.choice([1, 2, 4, 8])
        od = round(rng.uniform(1.0, 4.0) * G, 2)
        prices = {"on_demand": od}
        if rng.random() < 0.5:
            prices["spot"] = round(od * rng.uniform(0.3, 0.7), 2)
        if rng.random() < 0.5:
            prices["reserved_1y"] = round(od * rng.uniform(0.5, 0.8), 2)
        if rng.random() < 0.2:
            del prices["on_demand"]
            prices.setdefault("reserved_1y", round(od * 0.6, 2))
        cap = rng.choice([None, None, 2, 3])
        offers[f"o{i}"] = OfferData(f"o{i}", f"a{i}", G, prices, max_instances=cap)
    workloads, rows = [], []
    for w in range(rng.choice([1, 1, 2])):
        traffic = tuple(round(rng.uniform(0.2, 3.0), 3) for _ in range(num_slots))
        workloads.append(WorkloadData(
            name=f"w{w}", demand_rps=traffic, traffic_rps=traffic, output_tokens=100, input_tokens=100,
            min_replicas=rng.choice([0, 1, 1, 2]),
            spot_max_share=rng.choice([0.0, 0.0, 0.5, 1.0]),
        ))
        for _ in range(rng.choice([1, 2, 3])):
            g = rng.choice(sorted(offers))
            G = offers[g].gpus_per_instance
            n = rng.choice([d for d in (1, 2, 4, 8, 16) if d <= G or d % G == 0][:4])
            rows.append({"workload": w, "offer": g, "gpus": n,
                         "capacity_rps": round(rng.uniform(0.8, 2.5), 3), "config_key": f"c{len(rows)}"})
    return ModelInput(slot_hours=slot_hours, workloads=workloads, offers=offers, rows=pd.DataFrame(rows))


def brute_force(data: ModelInput) -> float | None:
    """Cheapest plan in micro-USD by enumeration, or None when infeasible."""
    rows = data.rows.to_dict("records")
    by_w = [[k for k, r in enumerate(rows) if r["workload"] == w] for w in range(len(data.workloads))]
    H = sum(data.slot_hours)
    best = None
    for choice in itertools.product(*by_w):
        # Replica options per workload and slot: (regular, spot) pairs meeting demand and floors.
        per_slot_options = []
        for t in range(data.num_slots):
            options_w = []
            for w, k in enumerate(choice):
                wl, row = data.workloads[w], rows[k]
                mu = row["capacity_rps"]
                dem = wl.demand_rps[t]
                offer = data.offers[row["offer"]]
                spot_ok = "spot" in offer.usd_per_hour and wl.spot_max_share > 0
                bound = max(wl.min_replicas, math.ceil(dem / mu))
                opts = []
                for reg in range(bound + 1):
                    for spot in range(bound + 1 if spot_ok else 1):
                        if not meets_demand(mu * (reg + spot), dem) or reg + spot < wl.min_replicas:
                            continue
                        if spot > wl.spot_max_share * (reg + spot) + 1e-12:
                            continue
                        opts.append((reg, spot))
                options_w.append(opts)
            per_slot_options.append(options_w)
        held_ranges = {}
        for g, offer in data.offers.items():
            held_tier = "reserved_1y" if "reserved_1y" in offer.usd_per_hour else None
            gpus_needed = max(
                (sum(max(reg * rows[choice[w]]["gpus"] for reg, _ in per_slot_options[t][w])
                     for w in range(len(choice)) if rows[choice[w]]["offer"] == g and per_slot_options[t][w])
                 for t in range(data.num_slots)), default=0)
            held_ranges[g] = range(0, -(-gpus_needed // offer.gpus_per_instance) + 1) if held_tier else range(1)
        for held in itertools.product(*held_ranges.values()):
            held_by = dict(zip(held_ranges, held, strict=True))
            total = sum(cost_units(data.offers[g].usd_per_hour["reserved_1y"] * H) * h
                        for g, h in held_by.items() if h)
            feasible = True
            for t in range(data.num_slots):
                slot_best = None
                for combo in itertools.product(*per_slot_options[t]):
                    reg_gpus = {g: 0 for g in data.offers}
                    spot_gpus = {g: 0 for g in data.offers}
                    for w, (reg, spot) in enumerate(combo):
                        row = rows[choice[w]]
                        reg_gpus[row["offer"]] += reg * row["gpus"]
                        spot_gpus[row["offer"]] += spot * row["gpus"]
                    cost = 0
                    ok = True
                    for g, offer in data.offers.items():
                        G = offer.gpus_per_instance
                        need = -(-reg_gpus[g] // G)
                        od = max(0, need - held_by[g])
                        if od and "on_demand" not in offer.usd_per_hour:
                            ok = False
                            break
                        sp = -(-spot_gpus[g] // G)
                        if offer.max_instances is not None and held_by[g] + od + sp > offer.max_instances:
                            ok = False
                            break
                        if od:
                            cost += cost_units(offer.usd_per_hour["on_demand"] * data.slot_hours[t]) * od
                        if sp:
                            cost += cost_units(offer.usd_per_hour["spot"] * data.slot_hours[t]) * sp
                    if ok and (slot_best is None or cost < slot_best):
                        slot_best = cost
                if slot_best is None:
                    feasible = False
                    break
                total += slot_best
            if feasible and (best is None or total < best):
                best = total
    return best


@pytest.mark.parametrize("seed", range(150))
def test_cpsat_matches_brute_force(seed):
    data = random_instance(random.Random(seed))
    expected = brute_force(data)
    raw = solve_model(data, time_limit_s=20, workers=2)
    if expected is None:
        assert raw.status == "infeasible"
    else:
        assert raw.status == "optimal"
        assert cost_units(raw.cost_usd) == pytest.approx(expected, abs=1)
        plan = extract_plan(data, raw, data.rows)
        assert check_plan(data, plan, plan.total_usd) == []


@pytest.mark.parametrize("seed", range(0, 150, 2))
def test_bound_pruning_keeps_the_optimum(seed):
    data = random_instance(random.Random(seed))
    data.offers = {g: o.__class__(**{**o.__dict__, "max_instances": None}) for g, o in data.offers.items()}
    greedy = greedy_upper_bound(data)
    if greedy is None:
        pytest.skip("greedy bound does not apply")
    upper, _ = greedy
    full = solve_model(data, time_limit_s=20, workers=2)
    assert full.cost_usd <= upper + 1e-6
    keep = ~prunable_rows(data, upper)
    pruned = ModelInput(slot_hours=data.slot_hours, workloads=data.workloads, offers=data.offers,
                        rows=data.rows[keep].reset_index(drop=True))
    assert solve_model(pruned, time_limit_s=20, workers=2).cost_usd == pytest.approx(full.cost_usd, abs=1e-6)
