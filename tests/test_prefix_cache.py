"""Prefix caching: more sharing never costs more, zero sharing is today's model, engines without it gain nothing."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.catalog.loader import load_catalog
from solver.optimize.solve import solve
from solver.perf import evaluate_candidates
from solver.perf.lengths import LengthMix, MixArrays
from solver.problem import load_problem

SHARES = (0.0, 0.1, 0.3, 0.6, 0.9, 1.0)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _rows(prefix_tokens: float, inputs, **kw) -> pd.DataFrame:
    mean_in = sum(t * w for t, w in inputs)
    base = {"model": "llama-3.1-8b", "accelerator": "l40s", "engine": "vllm", "quant": "bf16",
            "kv_quant": "bf16", "tp": 1, "pp": 1, "ep": 1, "max_batch": 256, "isl": mean_in, "osl": 300.0,
            "slo_ttft_ms": 800.0, "slo_tpot_ms": 60.0, "slo_e2e_ms": np.nan, "percentile": 99.0}
    base.update(kw)
    return pd.DataFrame([{**base, "lengths": LengthMix(tuple(inputs), ((300.0, 1.0),), prefix_tokens, s)}
                         for s in SHARES])


@pytest.mark.parametrize(("prefix", "inputs", "kw"), [
    (2000.0, [(2500.0, 1.0)], {}),
    (2000.0, [(800.0, 0.5), (3000.0, 0.4), (9000.0, 0.1)], {"slo_ttft_ms": 1200.0}),
    (6000.0, [(7000.0, 1.0)], {"accelerator": "h100-sxm", "model": "llama-3.1-70b", "quant": "fp8", "tp": 4}),
    (500.0, [(600.0, 1.0)], {"max_batch": 4096, "slo_ttft_ms": np.nan}),
])
def test_more_sharing_never_costs_capacity(catalog, prefix, inputs, kw):
    out = evaluate_candidates(_rows(prefix, inputs, **kw), catalog)
    assert out["fits"].all(), out["pruned_reason"].tolist()
    cap = out["capacity_rps"].to_numpy()
    assert np.all(np.diff(cap) >= -1e-9 * cap[:-1]), cap
    assert np.all(np.diff(out["ttft_floor_ms"].to_numpy()) <= 1e-9), out["ttft_floor_ms"].tolist()
    assert np.all(np.diff(out["max_batch_effective"].to_numpy()) >= 0)
    assert cap[-1] > cap[0]  # a prefix shared by everyone is worth something


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.integers(64, 8000), sizes=st.lists(st.integers(100, 16000), min_size=1, max_size=4, unique=True),
       shares=st.lists(st.floats(0, 1), min_size=2, max_size=4), tpot=st.sampled_from([40.0, 80.0]))
def test_property_more_sharing_never_costs_more(catalog, prefix, sizes, shares, tpot):
    inputs = tuple((float(t), 1.0 / len(sizes)) for t in sorted(sizes))
    rows = pd.DataFrame([{"model": "llama-3.1-8b", "accelerator": "h100-sxm", "engine": "vllm", "quant": "bf16",
                          "kv_quant": "bf16", "tp": 1, "pp": 1, "ep": 1, "max_batch": np.nan,
                          "isl": sum(t * w for t, w in inputs), "osl": 300.0, "slo_ttft_ms": 3000.0,
                          "slo_tpot_ms": tpot, "slo_e2e_ms": np.nan, "percentile": 99.0,
                          "lengths": LengthMix(inputs, ((300.0, 1.0),), float(prefix), s)} for s in sorted(shares)])
    out = evaluate_candidates(rows, catalog)
    cap = out["capacity_rps"].to_numpy()
    assert np.all(np.diff(cap) >= -1e-9 * np.maximum(cap[:-1], 1e-12)), (cap, sorted(shares))
    assert np.all(np.diff(out["max_batch_effective"].to_numpy()) >= 0)


def test_zero_sharing_is_the_model_without_a_cache(catalog):
    none = evaluate_candidates(_rows(2000.0, [(2500.0, 1.0)]).drop(columns="lengths").iloc[:1], catalog)
    zero = evaluate_candidates(_rows(2000.0, [(2500.0, 1.0)]).iloc[:1], catalog)
    pd.testing.assert_frame_equal(none, zero.drop(columns="lengths"))


def test_engine_without_prefix_caching_gets_no_benefit(catalog):
    cat = copy.copy(catalog)
    cat.engines = {**catalog.engines, "vllm": catalog.engines["vllm"].model_copy(update={"prefix_caching": None})}
    out = evaluate_candidates(_rows(2000.0, [(2500.0, 1.0)]), cat)
    assert out["capacity_rps"].nunique() == 1


def test_cached_tokens_per_prompt_hand_computed():
    """Prefix 2000 shared by 60 %: a 1000-token prompt caches 0.6·1000, a 5000-token one 0.6·2000."""
    mix = LengthMix(((1000.0, 0.5), (5000.0, 0.5)), ((100.0, 1.0),), 2000.0, 0.6)
    arr = MixArrays.build([mix], [True])
    np.testing.assert_allclose(arr.c[0], [600.0, 1200.0])
    assert arr.prefill_tokens()[0] == pytest.approx(0.5 * 400 + 0.5 * 3800)
    # Mean attention context of a prefilled token: E[(S−c)(S+c+1)/2] / E[S−c].
    want = (0.5 * 400 * 1601 / 2 + 0.5 * 3800 * 6201 / 2) / 2100
    assert arr.prefill_ctx()[0] == pytest.approx(want)
    hit = MixArrays.build([LengthMix(((1000.0, 1.0),), ((100.0, 1.0),), hit_rate=0.25)], [True])
    assert hit.prefill_tokens()[0] == 750.0 and hit.pinned[0] == 0.0


def _chat_problem(tmp_path, share: float | None) -> str:
    data = yaml.safe_load(open("problems/chat-70b.yaml"))
    data["fleet"]["providers"] = ["aws", "lambda"]
    w = data["workloads"][0]
    w["input_tokens"] = 3000
    if share is not None:
        w["prefix_cache"] = {"shared_prefix_tokens": 2000, "share": share}
    path = tmp_path / f"chat-{share}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_solved_cost_never_grows_with_sharing_and_zero_is_identical(tmp_path, catalog):
    costs = []
    plain = solve(load_problem(_chat_problem(tmp_path, None), catalog), catalog)
    for share in (0.0, 0.5, 1.0):
        res = solve(load_problem(_chat_problem(tmp_path, share), catalog), catalog)
        costs.append(res.total_usd)
        if share == 0.0:
            assert res.total_usd == plain.total_usd
            assert res.plan.schedule.equals(plain.plan.schedule)
            assert res.plan.choices.drop(columns="lengths", errors="ignore").equals(plain.plan.choices)
    assert costs[0] >= costs[1] >= costs[2]
    assert costs[2] < costs[0]
