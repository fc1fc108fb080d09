"""Disaggregated prefill and decode: the performance model's properties, hand-computed transfer, CP-SAT against
brute-force enumeration on small instances with disaggregated configurations, the example problems, and the CLI."""

from __future__ import annotations

import itertools
import json
import math
import random

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from solver.cli import (
    app,
    commands,  # noqa: F401  (registers the commands)
)
from solver.optimize.checker import check_plan
from solver.optimize.cpsat import solve_model
from solver.optimize.data import ModelInput, OfferData, WorkloadData
from solver.optimize.plan import extract_plan
from solver.perf import evaluate_candidates
from solver.perf.disagg import evaluate_pairs
from solver.perf.disagg_estimate import estimate_disagg
from solver.problem import load_problem
from solver.scaling import cost_units, meets_demand

runner = CliRunner()


@pytest.fixture(scope="module")
def catalog():
    from solver.catalog.loader import load_catalog

    return load_catalog()


def _rows(accs=("h100-sxm", "h200-sxm", "b200", "mi300x"), tps=(2, 4, 8), loads=((2000, 200), (8000, 300)),
          ttft=math.nan, tpot=40.0):
    return pd.DataFrame([dict(model="llama-3.1-70b", accelerator=a, engine="vllm", quant="fp8", kv_quant="fp8", tp=t,
                              pp=1, ep=1, max_batch=math.nan, isl=i, osl=o, slo_ttft_ms=ttft, slo_tpot_ms=tpot,
                              slo_e2e_ms=math.nan, percentile=99.0)
                         for a in accs for t in tps for i, o in loads])


# --- performance model ---------------------------------------------------------------------------------------------
def test_transfer_time_is_kv_shard_over_network_link(catalog):
    """Llama-3.1-70B: 80 layers, 8 KV heads of 128, fp8 KV (1 byte): 2·80·8·128 = 163,840 B per token; tp 4
    holds 2 KV heads per GPU, so one GPU sends 4000·163,840/4 = 163.84 MB. H200 network 50 GB/s per GPU at the
    catalog's 0.475 transfer efficiency (Mooncake 190 GB/s on 8×400 Gb/s): 163.84e6 / 23.75e9 = 6.8985 ms."""
    assert catalog.accelerators["h200-sxm"].inter_node_bandwidth_gb_s == 50
    df = _rows(accs=("h200-sxm",), tps=(4,), loads=((4000, 500),), ttft=1000, tpot=50)
    res = evaluate_pairs(df, df, [(0, 0)], catalog, link="network").iloc[0]
    assert res["pruned_reason"] == ""
    assert res["transfer_ms"] == pytest.approx(4000 * 163_840 / 4 / (50e9 * 0.475) * 1e3, rel=1e-9)
    free = evaluate_pairs(df, df, [(0, 0)], catalog, link="free").iloc[0]
    assert free["transfer_ms"] == 0.0


def test_ttft_never_below_prefill_compute_plus_transfer(catalog):
    df = _rows(ttft=2500, tpot=50)
    pairs = [(i, j) for i in range(len(df)) for j in range(len(df)) if df.isl[i] == df.isl[j]][::3]
    res = evaluate_pairs(df, df, pairs, catalog, link="network")
    ok = res[res["pruned_reason"] == ""]
    assert len(ok) > 20
    assert (ok["ttft_ms"] >= ok["prefill_ms"] + ok["transfer_ms"]).all()
    assert (ok["ttft_mean_ms"] >= ok["prefill_ms"] + ok["transfer_ms"]).all()
    parts = ok[[c for c in ok if c.startswith("ttft_mean.")]].sum(axis=1)
    assert np.allclose(parts, ok["ttft_mean_ms"])
    assert (ok["ttft_ms"] <= 2500 * (1 + 1e-9)).all() and (ok["tpot_ms"] <= 50 * (1 + 1e-9)).all()


@pytest.mark.parametrize("ttft", [math.nan, 3000.0])
def test_identical_pools_on_a_free_link_serve_at_least_the_aggregated_replica(catalog, ttft):
    """One prefill and one decode worker of the aggregated replica's configuration, KV moved for free: the pair
    serves at least what the aggregated replica (whose decode iterations carry prefill chunks) serves under a
    TTFT SLO shortened by the hand-off the pair adds (its first decode step and the wait for a decode slot)."""
    df = _rows(loads=((2000, 200), (8000, 300), (500, 500)), ttft=ttft)
    res = evaluate_pairs(df, df, [(i, i) for i in range(len(df))], catalog, link="free")
    handoff = res["first_decode_step_ms"] + res["decode_slot_wait_ms"]
    agg = evaluate_candidates(df.assign(slo_ttft_ms=df["slo_ttft_ms"] - handoff.to_numpy()), catalog)
    usable = agg["capacity_rps"].to_numpy() > 0
    assert usable.sum() > 20
    pair = np.minimum(res["prefill_capacity_rps"], res["decode_capacity_rps"]).to_numpy()
    assert (pair[usable] >= agg["capacity_rps"].to_numpy()[usable] * (1 - 1e-6)).all()


def test_pairs_the_engines_do_not_document_are_refused(catalog):
    df = pd.concat([_rows(accs=("h100-sxm",), tps=(4,), loads=((2000, 200),)),
                    _rows(accs=("mi300x",), tps=(4,), loads=((2000, 200),))], ignore_index=True)
    res = evaluate_pairs(df.assign(engine="sglang"), df.assign(engine="sglang"), [(0, 1)], catalog)
    assert "sglang documents no pools on different accelerators" in res["pruned_reason"][0]
    nv = evaluate_pairs(df, df, [(0, 0)], catalog, link="nvlink")
    assert nv["pruned_reason"][0] == ""
    cross = evaluate_pairs(df, df, [(0, 1)], catalog, link="nvlink")
    assert cross["pruned_reason"][0].startswith("link: nvlink")


def test_estimate_disagg_sizes_each_pool(catalog):
    res = estimate_disagg("llama-3.1-70b", {"accelerator": "b200", "tp": 2}, {"accelerator": "h200-sxm", "tp": 4},
                          isl=4000, osl=500, engine="vllm", quant="fp8", kv_quant="fp8", slo_ttft_ms=1000,
                          slo_tpot_ms=50, rate=10, catalog=catalog)
    assert res["fits"] and res["link"] == "network"
    assert res["prefill_workers"] == math.ceil(10 / res["prefill"]["capacity_rps"])
    assert res["decode_workers"] == math.ceil(10 / res["decode"]["capacity_rps"])
    assert res["gpus"] == 2 * res["prefill_workers"] + 4 * res["decode_workers"]
    same = estimate_disagg("llama-3.1-70b", {"accelerator": "h200-sxm", "tp": 2},
                           {"accelerator": "h200-sxm", "tp": 4}, isl=4000, osl=500, engine="vllm", quant="fp8",
                           kv_quant="fp8", slo_ttft_ms=1000, slo_tpot_ms=50, catalog=catalog)
    assert same["link"] == "nvlink" and same["transfer_ms"] < res["transfer_ms"]


# --- optimizer against brute force --------------------------------------------------------------------------------
def disagg_instance(rng: random.Random) -> ModelInput:
    """One aggregated configuration and one or two disaggregated ones (prefill and decode placements on one or
    two offers each, offers shared between roles and configurations)."""
    num_slots = rng.choice([1, 2])
    ref = 10 ** rng.uniform(-2, 2)
    offers = {}
    for g in range(rng.choice([2, 3])):
        G = rng.choice([1, 2, 4, 8])
        offers[f"o{g}"] = OfferData(f"o{g}", f"acc{g}", G, {"on_demand": round(rng.uniform(0.5, 4.0) * G, 2)},
                                    max_instances=rng.choice([None, None, 3, 6]))
    names = list(offers)

    def placements(n):
        fit = [g for g in names if offers[g].gpus_per_instance >= n]
        return rng.sample(fit, min(len(fit), rng.choice([1, 2]))) if fit else []

    rows = []
    n = rng.choice([1, 2])
    cap = ref * rng.uniform(0.5, 2)
    for g in placements(n):
        rows.append({"workload": 0, "offer": g, "gpus": n, "capacity_rps": cap,
                     "config_key": "agg", "role": ""})
    for c in range(rng.choice([1, 2])):
        for role in ("prefill", "decode"):
            n = rng.choice([1, 2, 4])
            cap = ref * rng.uniform(0.3, 4)
            for g in placements(n):
                rows.append({"workload": 0, "offer": g, "gpus": n, "capacity_rps": cap, "config_key": f"d{c}",
                             "role": role})
    rows = pd.DataFrame(rows)
    keys = [k for k, g in rows.groupby("config_key") if k == "agg" or set(g["role"]) == {"prefill", "decode"}]
    rows = rows[rows["config_key"].isin(keys)].reset_index(drop=True)
    demand = tuple(ref * rng.uniform(0.2, 6) for _ in range(num_slots))
    wl = WorkloadData(name="w", demand_rps=demand, traffic_rps=demand, output_tokens=100, input_tokens=100,
                      min_replicas=rng.choice([0, 1, 2]))
    return ModelInput(slot_hours=tuple(rng.choice([1.0, 6.0]) for _ in range(num_slots)), workloads=[wl],
                      offers={g: offers[g] for g in sorted(set(rows["offer"]))}, rows=rows)


def _need(cap: float, demand: float, floor: int) -> int:
    r = 0
    while not meets_demand(cap * r, demand):
        r += 1
    return max(r, floor)


def enumerate_optimum(data: ModelInput) -> int | None:
    """Cheapest plan in micro-USD: one configuration; per slot and role the fewest workers meeting demand,
    split in every way over the role's placements; workers of both roles on one offer share its instances."""
    wl = data.workloads[0]
    best = None
    for _key, conf in data.rows.groupby("config_key"):
        total = 0
        for t, hours in enumerate(data.slot_hours):
            choices = []  # per role: list of {offer: gpus}
            for _role, pl in conf.groupby("role"):
                pl = pl.to_dict("records")
                need = _need(pl[0]["capacity_rps"], wl.demand_rps[t], wl.min_replicas)
                opts = []
                for split in itertools.product(range(need + 1), repeat=len(pl) - 1):
                    rest = need - sum(split)
                    if rest < 0:
                        continue
                    use: dict = {}
                    for p, r in zip(pl, (*split, rest), strict=True):
                        use[p["offer"]] = use.get(p["offer"], 0) + r * p["gpus"]
                    opts.append(use)
                choices.append(opts)
            slot_best = None
            for combo in itertools.product(*choices):
                gpus: dict = {}
                for use in combo:
                    for g, v in use.items():
                        gpus[g] = gpus.get(g, 0) + v
                cost = 0
                for g, v in gpus.items():
                    offer = data.offers[g]
                    inst = math.ceil(v / offer.gpus_per_instance)
                    if offer.max_instances is not None and inst > offer.max_instances:
                        cost = None
                        break
                    cost += inst * cost_units(offer.usd_per_hour["on_demand"] * hours)
                if cost is not None and (slot_best is None or cost < slot_best):
                    slot_best = cost
            if slot_best is None:
                total = None
                break
            total += slot_best
        if total is not None and (best is None or total < best):
            best = total
    return best


@pytest.mark.parametrize("seed", range(40))
def test_cpsat_agrees_with_enumeration_on_disaggregated_instances(seed):
    data = disagg_instance(random.Random(1000 + seed))
    expected = enumerate_optimum(data)
    raw = solve_model(data, time_limit_s=20, workers=1, seed=0)
    if expected is None:
        assert raw.status == "infeasible"
        return
    assert raw.status == "optimal"
    plan = extract_plan(data, raw, data.rows)
    assert check_plan(data, plan, plan.total_usd) == []
    assert cost_units(plan.total_usd) == pytest.approx(expected, abs=len(data.slot_hours) * len(data.offers))


@pytest.mark.parametrize("seed", range(15))
def test_allowing_disaggregated_configurations_never_raises_cost(seed):
    data = disagg_instance(random.Random(2000 + seed))
    agg_only = data.subset((data.rows["role"] == "").to_numpy())
    if agg_only.rows.empty:
        return
    both = solve_model(data, time_limit_s=20, workers=1, seed=0)
    alone = solve_model(agg_only, time_limit_s=20, workers=1, seed=0)
    if alone.has_solution:
        assert both.has_solution and both.cost_usd <= alone.cost_usd + 1e-6


# --- example problems and CLI -------------------------------------------------------------------------------------
def test_long_prompts_example_is_disaggregated(catalog):
    from solver.optimize.disagg import solve_disagg

    problem = load_problem("problems/disaggregation/long-prompts.yaml", catalog)
    res = solve_disagg(problem, catalog, workers=1)
    assert res.violations == []
    assert res.disaggregated and res.usd_per_hour < res.aggregated.usd_per_hour
    split = res.splits[0]
    assert split["prefill_workers"] >= 1 and split["decode_workers"] >= 1 and split["transfer_ms"] > 0
    sched = res.plan.schedule
    for role, cap_key in (("prefill", "prefill_capacity_rps"), ("decode", "decode_capacity_rps")):
        mine = sched[sched["role"] == role]
        assert (mine["replicas"] * mine["replica_capacity_rps"]).sum() >= 10 * (1 - 1e-9)
        assert mine["replica_capacity_rps"].iat[0] == pytest.approx(split[cap_key])


def test_long_prompts_report_shows_split_transfer_and_launch(cli):
    out = cli("solve", "problems/disaggregation/long-prompts.yaml", "--workers", "1")
    assert out.exit_code == 0, out.stderr
    assert "Disaggregation saves" in out.stdout and "KV transfer" in out.stdout
    assert out.stdout.count("--kv-transfer-config") == 2 and "NixlConnector" in out.stdout
    res = json.loads(cli("solve", "problems/disaggregation/long-prompts.yaml", "--json", "--workers", "1").stdout)
    split = res["workloads"][0]
    assert res["disaggregated"] and split["form"] == "disaggregated"
    assert res["usd_per_hour"] < res["aggregated_usd_per_hour"]
    assert any("--disaggregation" in line or "NixlConnector" in line for line in split["launch"])


def test_short_chat_example_stays_aggregated_and_says_by_how_much(catalog):
    out = runner.invoke(app, ["solve", "problems/disaggregation/short-chat.yaml", "--json", "--workers", "1"])
    assert out.exit_code == 0, out.output
    res = json.loads(out.output)
    assert res["disaggregated"] is False
    assert res["usd_per_hour"] == pytest.approx(res["aggregated_usd_per_hour"])
    assert res["best_disaggregated_usd_per_hour"] > res["aggregated_usd_per_hour"]
    text = runner.invoke(app, ["solve", "problems/disaggregation/short-chat.yaml", "--workers", "1"]).output
    assert "Aggregated wins" in text and "more" in text


def test_cli_estimate_disagg_and_bad_pool_spec(cli):
    args = ["estimate", "--disagg", "--model", "llama-3.1-70b", "--engine", "vllm", "--quant", "fp8",
            "--kv-quant", "fp8", "--isl", "4000", "--osl", "500", "--slo-ttft-ms", "1000", "--slo-tpot-ms", "50"]
    ok = cli(*args, "--prefill", "accelerator=b200,tp=2", "--decode", "accelerator=h200-sxm,tp=4", "--json")
    assert ok.exit_code == 0, ok.stderr
    res = json.loads(ok.stdout)
    assert res["fits"] and res["transfer_ms"] > 0 and set(res["breakdown"]["ttft_mean_ms"]) >= {"kv_transfer"}
    bad = cli(*args, "--prefill", "accelerator=b200,tp=two", "--decode", "accelerator=h200-sxm")
    assert bad.exit_code == 1
    assert "--prefill: tp must be a whole number, got 'two'" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout
    extra = cli(*args, "--prefill", "accelerator=b200", "--decode", "accelerator=b200", "--tp", "2")
    assert extra.exit_code == 1 and "--tp" in extra.stderr
    unknown = cli(*args, "--prefill", "accelerator=b201", "--decode", "accelerator=b200")
    assert unknown.exit_code == 1 and "b201" in unknown.stderr
