"""Routing by size: split enumeration, hand-derived instances, brute force on two and three size classes."""

from __future__ import annotations

import itertools
import math
import random

import pandas as pd
import pytest
from test_optimizer_bruteforce import brute_force

from solver.optimize.cpsat import solve_model
from solver.optimize.data import ModelInput, OfferData, WorkloadData
from solver.optimize.routing import cheapest, class_workloads, routing_points, splits
from solver.problem import Problem
from solver.scaling import cost_units


def test_splits_are_every_contiguous_partition():
    assert splits(3, 2) == [(), (1,), (2,)]
    assert splits(3, 3) == [(), (1,), (2,), (1, 2)]
    assert len(splits(6, 3)) == 1 + 5 + 10


def _workload(**kw):
    body = {"name": "mix", "model": "llama-3.1-8b", "traffic": {"requests_per_s": 10},
            "input_tokens": {"buckets": [{"tokens": 300, "weight": 7}, {"tokens": 8000, "weight": 3}]},
            "output_tokens": 200, "routing": "by_size", **kw}
    return Problem.model_validate({"workloads": [body]}).workloads[0]


def test_class_workloads_split_the_traffic_and_lengths():
    ws, classes = class_workloads(_workload(), (1,))
    assert [w.name for w in ws] == ["mix.300-300tok", "mix.8000-8000tok"]
    assert [w.traffic.requests_per_s for w in ws] == pytest.approx([7.0, 3.0])
    assert [w.isl() for w in ws] == [300.0, 8000.0]
    assert [c.share for c in classes] == pytest.approx([0.7, 0.3])
    assert all(w.routing == "single" and w.output_tokens == 200 for w in ws)
    one, _ = class_workloads(_workload(), ())
    assert one[0].name == "mix" and one[0].isl() == pytest.approx(0.7 * 300 + 0.3 * 8000)


def test_routing_points_merge_the_lightest_neighbours():
    w = _workload(input_tokens={"lognormal": {"mean": 800, "p99": 6000}})
    pts = routing_points(w)
    assert len(pts) == 6
    assert sum(p for _, p in pts) == pytest.approx(1.0)
    assert sum(t * p for t, p in pts) == pytest.approx(w.isl())  # merging keeps the mean


def test_routing_needs_two_sizes():
    with pytest.raises(ValueError, match="at least two sizes"):
        _workload(input_tokens=1000)


# -- the optimizer over size classes ------------------------------------------------------------------
def _instance(points, configs, offers, rate, min_replicas=0):
    """One ModelInput per split of `points` [(share, ...)]: class c is a workload with rate·Σπ, and a
    configuration j serves it at capacity 1/Σ_{k∈c}(π_k/π_c)·t_jk (its mean time per request), or not
    at all when some t_jk is None. Returns [(split, ModelInput)]."""
    out = []
    n = len(points)
    for c in range(1, n + 1):
        for cut in itertools.combinations(range(1, n), c - 1):
            bounds = [0, *cut, n]
            workloads, rows = [], []
            for w, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
                share = sum(points[a:b])
                workloads.append(WorkloadData(name=f"c{w}", demand_rps=(rate * share,), traffic_rps=(rate * share,),
                                              output_tokens=100, input_tokens=100, min_replicas=min_replicas))
                for j, (offer, gpus, times) in enumerate(configs):
                    ts = times[a:b]
                    if any(t is None for t in ts):
                        continue
                    mean_t = sum(p * t for p, t in zip(points[a:b], ts, strict=True)) / share
                    rows.append({"workload": w, "offer": offer, "gpus": gpus, "capacity_rps": 1.0 / mean_t,
                                 "config_key": f"k{j}"})
            out.append((cut, ModelInput(slot_hours=(1.0,), workloads=workloads, offers=offers,
                                        rows=pd.DataFrame(rows, columns=["workload", "offer", "gpus",
                                                                         "capacity_rps", "config_key"]))))
    return out


def _routed_optimum(instances):
    """(index of the chosen split, its CP-SAT cost in micro-USD) by `cheapest` over exact solves."""
    costs = []
    for _, data in instances:
        if set(data.rows["workload"]) != set(range(len(data.workloads))):
            costs.append(None)  # a class no configuration serves
            continue
        raw = solve_model(data, time_limit_s=10, workers=1)
        costs.append(None if not raw.has_solution else cost_units(raw.cost_usd))
        assert raw.status in ("optimal", "infeasible")
    k = cheapest(costs)
    return k, (None if k is None else costs[k])


OFFERS = {"big": OfferData("big", "a-big", 1, {"on_demand": 4.0}), "small": OfferData("small", "a-small", 1,
                                                                                     {"on_demand": 1.0})}


def test_hand_derived_routing_is_strictly_cheaper():
    """80 % short, 20 % long prompts at 10 req/s. One pool: only `big` serves long ones; a mixed
    replica takes 0.8·0.1 + 0.2·0.4 = 0.16 s per request (6.25 req/s): 2 replicas, 8 USD/h.
    Routed: 8 req/s of short ones on `small` at 0.25 s (4 req/s): 2 replicas, 2 USD/h; 2 req/s of
    long ones on `big` at 0.4 s (2.5 req/s): 1 replica, 4 USD/h. Total 6 USD/h: saves 2 (25 %)."""
    configs = [("big", 1, [0.1, 0.4]), ("small", 1, [0.25, None])]
    instances = _instance([0.8, 0.2], configs, OFFERS, rate=10.0)
    k, cost = _routed_optimum(instances)
    assert instances[k][0] == (1,)
    assert cost == cost_units(6.0)
    raw_single = solve_model(instances[0][1], time_limit_s=10, workers=1)
    assert cost_units(raw_single.cost_usd) == cost_units(8.0)


def test_hand_derived_routing_not_cheaper_keeps_one_class():
    """Same, but `small` takes 0.5 s per short request (2 req/s): routed = 4 replicas (4 USD/h) + 4 USD/h
    = 8 USD/h, a tie with one pool: the single class is kept (routing must be strictly cheaper)."""
    configs = [("big", 1, [0.1, 0.4]), ("small", 1, [0.5, None])]
    instances = _instance([0.8, 0.2], configs, OFFERS, rate=10.0)
    k, cost = _routed_optimum(instances)
    assert instances[k][0] == ()
    assert cost == cost_units(8.0)


def _random_case(rng: random.Random):
    n = rng.choice([2, 3])
    raw = [rng.uniform(0.1, 1.0) for _ in range(n)]
    points = [p / sum(raw) for p in raw]
    offers = {}
    for i in range(rng.choice([1, 2, 2])):
        G = rng.choice([1, 2])
        offers[f"o{i}"] = OfferData(f"o{i}", f"a{i}", G, {"on_demand": round(rng.uniform(0.5, 4.0) * G, 2)},
                                    max_instances=rng.choice([None, None, 3]))
    configs = []
    for _ in range(rng.choice([1, 2, 3])):
        g = rng.choice(sorted(offers))
        base = rng.uniform(0.2, 1.0)
        times = [base * (1 + k * rng.uniform(0.5, 3.0)) for k in range(n)]
        if rng.random() < 0.3:
            times[-1] = None  # cannot serve the longest prompts
        configs.append((g, rng.choice([1, offers[g].gpus_per_instance]), times))
    return points, configs, offers, round(rng.uniform(0.5, 6.0), 2), rng.choice([0, 1])


@pytest.mark.parametrize("seed", range(40))
def test_routing_matches_brute_force_on_two_and_three_classes(seed):
    """The routed optimum (CP-SAT per split, cheapest split) equals enumeration of every split and every
    plan of its classes (configuration, replicas, instances) by the independent enumerator."""
    points, configs, offers, rate, floor = _random_case(random.Random(seed))
    instances = _instance(points, configs, offers, rate, floor)
    k, cost = _routed_optimum(instances)
    brute = [brute_force(data) for _, data in instances]
    feasible = [b for b in brute if b is not None]
    if not feasible:
        assert k is None
        return
    assert cost == pytest.approx(min(feasible), abs=1)
    assert brute[k] == pytest.approx(min(feasible), abs=1)
    # The single pool is never beaten by a tie: when it is optimal, it is the one chosen.
    if brute[0] is not None and brute[0] <= min(feasible) + 1:
        assert k == 0
    assert math.isfinite(cost)


def test_schema_has_the_new_problem_fields(cli):
    import json

    res = cli("schema", "problem")
    assert res.exit_code == 0
    defs = json.loads(res.stdout)["$defs"]
    assert {"prefix_cache", "routing", "max_size_classes"} <= set(defs["Workload"]["properties"])
    assert {"lognormal", "quantiles", "csv", "buckets", "mean"} <= set(defs["Lengths"]["properties"])
    assert {"shared_prefix_tokens", "share", "hit_rate"} == set(defs["PrefixCache"]["properties"])
