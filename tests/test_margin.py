"""Plans with a safety margin: SLOs hold with latency inflated by P; error bands and their fallbacks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from solver.catalog.loader import load_catalog
from solver.optimize.margin import apply_margin, row_margins, solve_with_margin
from solver.perf.accuracy import band_for, band_table
from solver.perf.estimate import estimate
from solver.problem import Problem

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = sorted((ROOT / "problems").glob("*.yaml"))
SLO = {"ttft_ms": 500.0, "tpot_ms": 20.0, "percentile": 99}
P = 25.0


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_apply_margin_divides_every_slo_by_one_plus_p(catalog):
    rows = pd.DataFrame({"accelerator": ["h100-sxm", "l40s"], "engine": ["vllm", "trtllm"],
                         "slo_ttft_ms": [500.0, 1000.0], "slo_tpot_ms": [20.0, np.nan], "slo_e2e_ms": [np.nan, 5000.0]})
    out = apply_margin(rows, P, catalog)
    # 500 / 1.25 = 400, 20 / 1.25 = 16, 1000 / 1.25 = 800, 5000 / 1.25 = 4000; missing limits stay missing.
    assert out["slo_ttft_ms"].tolist() == [400.0, 800.0]
    assert out["slo_tpot_ms"].iloc[0] == 16.0 and math.isnan(out["slo_tpot_ms"].iloc[1])
    assert out["slo_e2e_ms"].iloc[1] == 4000.0
    assert apply_margin(rows, 0, catalog) is rows and apply_margin(rows, None, catalog) is rows


def _one_gpu(catalog, mode, **kw):
    return estimate("llama-3.1-8b", "h100-sxm", 1, tp=1, pp=1, isl=1000, osl=200, engine="vllm", quant="fp8",
                    kv_quant="fp8", mode=mode, catalog=catalog, **kw)


def _problem(demand: float, margin) -> Problem:
    return Problem.model_validate({
        "workloads": [{"name": "chat", "model": "llama-3.1-8b", "traffic": {"requests_per_s": demand},
                       "input_tokens": 1000, "output_tokens": 200, "engines": ["vllm"], "quantizations": ["fp8"],
                       "kv_quantizations": ["fp8"], "slo": SLO}],
        "fleet": {"accelerators": ["h100-sxm"]}, "solver": {"margin": margin, "max_batch_options": [256]}})


def test_plan_with_margin_meets_the_slos_with_latency_inflated_by_p(catalog):
    # One H100 replica sustains mu at the SLOs and mu' < mu at SLO / 1.25. A demand between the two is
    # served by one replica without the margin and needs two with it.
    full = _one_gpu(catalog, "slo", slo_ttft_ms=SLO["ttft_ms"], slo_tpot_ms=SLO["tpot_ms"], max_batch=256)
    tight = _one_gpu(catalog, "slo", slo_ttft_ms=SLO["ttft_ms"] / 1.25, slo_tpot_ms=SLO["tpot_ms"] / 1.25,
                     max_batch=256)
    mu, mu_tight = full["requests_per_s"], tight["requests_per_s"]
    assert 0 < mu_tight < mu
    demand = (mu + mu_tight) / 2
    result = solve_with_margin(_problem(demand, P), catalog)
    assert result.violations == []
    (config,) = result.workloads[0]["configs"]
    assert config["replicas_peak"] == 2 and config["replica_capacity_rps"] == pytest.approx(mu_tight, rel=1e-3)
    # Each of the 2 replicas serves demand / 2; its p99 latency inflated by P still meets the SLOs.
    served = _one_gpu(catalog, "rate", mode_value=demand / 2, max_batch=config["max_batch"])
    assert served["ttft_p99_ms"] * (1 + P / 100) <= SLO["ttft_ms"]
    assert served["tpot_p99_ms"] * (1 + P / 100) <= SLO["tpot_ms"]
    # The margin-free optimum is one replica (half the cost); inflated by P, it misses an SLO.
    m = result.margin
    assert m["usd_per_hour_with_margin"] == pytest.approx(2 * m["usd_per_hour_without_margin"])
    assert m["premium_pct"] == pytest.approx(100.0)
    alone = _one_gpu(catalog, "rate", mode_value=demand, max_batch=256)
    assert (alone["ttft_p99_ms"] * 1.25 > SLO["ttft_ms"]) or (alone["tpot_p99_ms"] * 1.25 > SLO["tpot_ms"])


def _ape_rows(engine, family, mode, metric, apes):
    return [{"engine": engine, "family": family, "mode": mode, "metric": metric, "ape_pct": a} for a in apes]


def test_bands_are_median_and_p90_of_held_out_errors():
    cmp = pd.DataFrame(_ape_rows("vllm", "hopper", "rate", "ttft_ms", [10, 20, 30, 40, 50])
                       + _ape_rows("vllm", "hopper", "rate", "tpot_ms", [5, np.nan]))
    bands = band_table(cmp)
    (g,) = bands["groups"]
    # p90 of 10..50 by linear interpolation: position 0.9·4 = 3.6 → 40 + 0.6·10 = 46.
    assert g["ttft_ms"] == {"n": 5, "median_pct": 30.0, "p90_pct": 46.0}
    assert g["tpot_ms"] == {"n": 1, "median_pct": 5.0, "p90_pct": 5.0}  # an unpredicted row is not counted
    assert bands["pooled"]["ttft_ms"]["p90_pct"] == 46.0


def _doc():
    cmp = pd.DataFrame(_ape_rows("vllm", "hopper", "rate", "ttft_ms", [10, 20, 30, 40, 50])
                       + _ape_rows("vllm", "hopper", "concurrency", "ttft_ms", [100])
                       + _ape_rows("trtllm", "cdna3", "rate", "tpot_ms", [1, 2, 3]))
    return band_table(cmp)


def test_band_of_a_group_without_cases_falls_back_and_says_so():
    doc = _doc()
    own = band_for(doc, "vllm", "hopper", "rate")["ttft_ms_band"]
    assert own == {"p90_pct": 46.0, "n": 5, "group": "vllm/hopper/rate"}
    # One concurrency case: too few; vllm/hopper over all modes has 6 (10..50, 100): p90 = 50 + 0.5·50 = 75.
    few = band_for(doc, "vllm", "hopper", "concurrency")["ttft_ms_band"]
    assert few["group"] == "vllm/hopper (all modes)" and few["n"] == 6 and few["p90_pct"] == 75.0
    assert "only 1 held-out" in few["note"]
    # No case at all for sglang on blackwell: pooled (all 6 TTFT errors), labelled.
    none = band_for(doc, "sglang", "blackwell", "rate")
    assert none["ttft_ms_band"]["group"] == "pooled" and none["ttft_ms_band"]["p90_pct"] == 75.0
    assert "no measured ttft_ms case for sglang/blackwell/rate" in none["ttft_ms_band"]["note"]
    assert none["output_tok_s_band"]["p90_pct"] is None  # no throughput case anywhere: unknown, said so


def test_auto_margin_reads_each_rows_engine_and_family(catalog):
    rows = pd.DataFrame({"accelerator": ["h100-sxm", "mi300x"], "engine": ["vllm", "trtllm"]})
    pt, pp, used = row_margins(rows, "auto", catalog, _doc())
    assert catalog.accelerators["mi300x"].family == "cdna3"
    # h100/vllm: own TTFT band 46; TPOT none anywhere for vllm/hopper → pooled TPOT (1, 2, 3): p90 = 2.8.
    assert pt.tolist() == [46.0, 75.0] and pp.tolist() == pytest.approx([2.8, 2.8])
    assert ("trtllm", "cdna3") in used


def test_bad_margin_is_bad_input(cli):
    result = cli("solve", PROBLEMS[0], "--margin", "lots")
    assert result.exit_code == 1
    assert "--margin" in result.stderr and "auto or a percentage" in result.stderr


def test_margin_in_problem_file_is_validated(cli, tmp_path):
    body = yaml.safe_load(PROBLEMS[0].read_text())
    body.setdefault("solver", {})["margin"] = -5
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(body))
    result = cli("solve", path)
    assert result.exit_code == 1 and "solver.margin" in result.stderr


MARGIN_EXAMPLES = [p for p in PROBLEMS if p.stem in ("chat-70b", "deepseek-moe", "owned-vs-cloud", "reserved-24x7",
                                                     "multi-model-fleet", "tight-interactive")]
"""One per kind (dense, MoE, owned, reserved, several workloads, tight SLO): each is solved twice, so the
whole list would take minutes of CI; every example was checked by hand with `--margin auto`."""


@pytest.mark.parametrize("path", MARGIN_EXAMPLES, ids=[p.stem for p in MARGIN_EXAMPLES])
def test_margin_auto_solves_every_example_and_states_the_premium(cli, path, catalog):
    result = cli("solve", path, "--json", "--margin", "auto", "--time-limit", "60", "--workers", "2")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["violations"] == []
    m = out["margin"]
    assert m["margin"] == "auto"
    assert m["premium_usd_per_hour"] == pytest.approx(
        m["usd_per_hour_with_margin"] - m["usd_per_hour_without_margin"], abs=1e-3)
    if out["objective"] == "min_cost":
        assert m["premium_usd_per_hour"] >= -1e-6 * m["usd_per_hour_without_margin"]
    pct = {(a["engine"], a["family"]): a for a in m["auto_pct"]}
    for w in out["workloads"]:
        for c in w["configs"]:
            a = pct[(c["engine"], catalog.accelerators[c["accelerator"]].family)]
            # At the capacity the plan relies on, latency inflated by the family's margin meets the SLO
            # (up to the report's rounding of latencies to 1e-4 ms).
            if w["slo"]["ttft_ms"] is not None:
                assert (c["ttft_ms"] - 5e-5) * (1 + a["ttft_pct"] / 100) <= w["slo"]["ttft_ms"] * (1 + 1e-6)
            if w["slo"]["tpot_ms"] is not None:
                assert (c["tpot_ms"] - 5e-5) * (1 + a["tpot_pct"] / 100) <= w["slo"]["tpot_ms"] * (1 + 1e-6)


def test_margin_auto_table_report_states_the_premium(cli):
    result = cli("solve", ROOT / "problems" / "chat-70b.yaml", "--margin", "auto")
    assert result.exit_code == 0, result.stderr
    assert "Safety margin auto" in result.stdout and "premium" in result.stdout
