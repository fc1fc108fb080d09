"""The evaluate_candidates contract with the optimizer: columns, order, reasons, monotonicity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from solver.catalog.loader import load_catalog
from solver.perf import evaluate_candidates

OUT_COLUMNS = ["gpus", "fits", "pruned_reason", "memory_gb_per_gpu", "kv_cache_tokens", "capacity_rps", "ttft_ms",
               "tpot_ms", "e2e_ms", "output_tokens_per_s", "ttft_floor_ms", "tpot_floor_ms", "utilisation"]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def row(**kw):
    base = {"model": "llama-3.1-8b", "accelerator": "h100-sxm", "engine": "vllm", "quant": "bf16",
            "kv_quant": "bf16", "tp": 1, "pp": 1, "ep": 1, "max_batch": 128, "isl": 1000.0, "osl": 200.0,
            "slo_ttft_ms": 1000.0, "slo_tpot_ms": 50.0, "slo_e2e_ms": np.nan, "percentile": 99.0}
    base.update(kw)
    return base


def test_columns_order_and_types(catalog):
    rows = [row(), row(model="llama-3.1-70b", tp=4), row(accelerator="nope"), row(tp=3)]
    df = pd.DataFrame(rows, index=[10, 11, 12, 13])
    out = evaluate_candidates(df, catalog)
    assert list(out.index) == [10, 11, 12, 13]
    for c in OUT_COLUMNS:
        assert c in out.columns, c
    assert list(out["gpus"]) == [1, 4, 1, 3]
    assert out["fits"].tolist() == [True, True, False, False]
    assert out.loc[10, "pruned_reason"] == ""
    assert "unknown accelerator 'nope'" in out.loc[12, "pruned_reason"]
    assert out.loc[13, "pruned_reason"].startswith("parallelism: tp 3")
    ok = out[out["fits"]]
    assert (ok["capacity_rps"] > 0).all() and (ok["output_tokens_per_s"] > 0).all()
    assert (ok["ttft_ms"] <= 1000.0 + 1e-6).all() and (ok["tpot_ms"] <= 50.0 + 1e-6).all()
    assert (ok["ttft_floor_ms"] <= ok["ttft_ms"]).all() and (ok["tpot_floor_ms"] <= ok["tpot_ms"]).all()
    assert ((ok["utilisation"] > 0) & (ok["utilisation"] <= 1)).all()
    assert (out.loc[~out["fits"], "capacity_rps"] == 0).all()


@pytest.mark.parametrize(
    "kw, reason",
    [
        ({"ep": 2}, "parallelism: ep > 1 needs a mixture-of-experts model"),
        ({"model": "mixtral-8x7b", "ep": 3, "tp": 1}, "parallelism: ep 3 does not divide the stage"),
        ({"model": "mixtral-8x7b", "ep": 16, "tp": 8, "dp": 2}, "parallelism: ep 16 exceeds the model's 8 experts"),
        ({"model": "mixtral-8x7b", "ep": 2, "tp": 4, "engine": "vllm"},
         "parallelism: vllm runs expert parallelism as ep = 1 or ep = tp·dp"),
        ({"model": "mixtral-8x7b", "ep": 8, "tp": 2, "dp": 4, "engine": "trtllm"},
         "parallelism: trtllm runs attention data parallelism as dp = 1, or tp = 1"),
        ({"quant": "fp4"}, "engine: vllm does not run fp4 weights on hopper"),
        ({"quant": "nf5"}, "quant: unknown 'nf5'"),
        ({"accelerator": "mi300x", "engine": "trtllm"}, "engine: trtllm does not support the cdna3 family"),
        ({"tp": 16}, "parallelism: tp 16 exceeds the 8-GPU scale-up domain"),
        ({"engine": "nope"}, "catalog: unknown engine 'nope'"),
        ({"isl": 200_000.0}, "context: isl+osl"),
        ({"slo_tpot_ms": 0.5}, "slo: p99 TPOT"),
        ({"slo_ttft_ms": 1.0}, "slo: p99 TTFT"),
    ],
)
def test_row_level_impossibilities_are_reasons_not_exceptions(catalog, kw, reason):
    out = evaluate_candidates(pd.DataFrame([row(**kw), row()]), catalog)
    assert not out["fits"].iloc[0]
    assert out["pruned_reason"].iloc[0].startswith(reason), out["pruned_reason"].iloc[0]
    assert out["fits"].iloc[1]


def test_engine_alias_is_resolved(catalog):
    out = evaluate_candidates(pd.DataFrame([row(engine="nim"), row(engine="trtllm")]), catalog)
    assert out["fits"].all()
    assert out["capacity_rps"].iloc[0] == pytest.approx(out["capacity_rps"].iloc[1])


def test_capacity_never_increases_when_an_slo_tightens(catalog):
    tpots = [200.0, 80.0, 40.0, 25.0, 15.0, 10.0, 8.0]
    ttfts = [5000.0, 1000.0, 300.0, 100.0, 60.0]
    rows = [row(slo_tpot_ms=t) for t in tpots] + [row(slo_ttft_ms=t, slo_tpot_ms=np.nan) for t in ttfts]
    out = evaluate_candidates(pd.DataFrame(rows), catalog)
    cap = out["capacity_rps"].to_numpy()
    assert np.all(np.diff(cap[: len(tpots)]) <= 1e-12)
    assert np.all(np.diff(cap[len(tpots):]) <= 1e-12)


def test_no_slo_gives_saturation_capacity_and_slo_rows_stay_below_it(catalog):
    out = evaluate_candidates(pd.DataFrame([row(slo_ttft_ms=np.nan, slo_tpot_ms=np.nan), row()]), catalog)
    assert out["utilisation"].iloc[0] == pytest.approx(1.0)
    assert out["capacity_rps"].iloc[1] <= out["capacity_rps"].iloc[0]


def test_percentile_tightens_capacity(catalog):
    out = evaluate_candidates(pd.DataFrame([row(percentile=50.0), row(percentile=90.0), row(percentile=99.0)]),
                              catalog)
    cap = out["capacity_rps"].to_numpy()
    assert cap[0] >= cap[1] >= cap[2] > 0


def test_every_catalog_model_runs_on_every_accelerator_it_fits(catalog):
    rows = []
    for m in catalog.models.values():
        for a in catalog.accelerators.values():
            for tp in (1, 8):
                if tp > a.scale_up_domain_gpus:
                    continue
                engine = "vllm"
                rows.append(row(model=m.id, accelerator=a.id, engine=engine, quant=m.native_dtype, tp=tp,
                                slo_ttft_ms=np.nan, slo_tpot_ms=np.nan))
    out = evaluate_candidates(pd.DataFrame(rows), catalog)
    ok = out[out["fits"]]
    assert len(ok) > 50
    assert np.isfinite(ok[["ttft_ms", "tpot_ms", "e2e_ms", "capacity_rps"]].to_numpy()).all()
    assert (ok["capacity_rps"] > 0).all()
    assert (out.loc[~out["fits"], "pruned_reason"] != "").all()


def test_ten_thousand_mixed_rows_evaluate_in_one_call(catalog):
    rng = np.random.default_rng(0)
    models = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "qwen3-32b"]
    accs = ["h100-sxm", "h200-sxm", "a100-80gb-sxm", "l40s", "b200", "mi300x"]
    n = 10_000
    df = pd.DataFrame({"model": rng.choice(models, n), "accelerator": rng.choice(accs, n), "engine": "vllm",
                       "quant": rng.choice(["bf16", "fp8"], n), "kv_quant": "bf16", "tp": rng.choice([1, 2, 4, 8], n),
                       "pp": 1, "ep": 1, "max_batch": rng.choice([8, 64, 256], n), "isl": 1000.0, "osl": 200.0,
                       "slo_ttft_ms": 2000.0, "slo_tpot_ms": 50.0, "slo_e2e_ms": np.nan, "percentile": 99.0})
    out = evaluate_candidates(df, catalog)
    assert len(out) == n
    assert out["model"].tolist() == df["model"].tolist()  # same rows, same order
    assert out["fits"].any() and (~out["fits"]).any()


def test_empty_and_all_invalid_tables(catalog):
    empty = evaluate_candidates(pd.DataFrame(columns=list(row())), catalog)
    assert len(empty) == 0 and "capacity_rps" in empty.columns
    out = evaluate_candidates(pd.DataFrame([row(model="nope"), row(tp=0)]), catalog)
    assert not out["fits"].any()
    assert out["pruned_reason"].tolist() == ["catalog: unknown model 'nope'", "input: tp must be >= 1"]


@pytest.mark.parametrize("model,isl,osl,slo", [
    ("llama-3.3-70b", 2000, 300, {"slo_ttft_ms": 1500.0, "slo_tpot_ms": 50.0}),
    ("qwen3-30b-a3b", 8000, 500, {"slo_ttft_ms": 4000.0, "slo_tpot_ms": 30.0, "slo_e2e_ms": 20000.0}),
    ("llama-3.1-8b", 500, 1000, {"slo_tpot_ms": 20.0}),
])
def test_best_of_keeps_every_group_best_exactly(catalog, model, isl, osl, slo):
    """With `best_of`, rows that could be their layout's best get exactly their full values, every
    group's best capacity is unchanged, and each row called beaten is strictly below its group's best."""
    from solver.optimize.candidates import LAYOUT_COLUMNS
    from solver.perf.candidates import BEATEN

    grid = [row(model=model, accelerator=a, engine=e, quant=q, kv_quant=kv, tp=tp, dp=1, max_batch=b, isl=float(isl),
                osl=float(osl), **slo)
            for a in ("h100-sxm", "l40s", "mi300x") for e in ("vllm", "sglang", "trtllm")
            for q in ("bf16", "fp8") for kv in ("bf16", "fp8") for tp in (1, 2, 4, 8) for b in (16, 64, 256, 1024)]
    df = pd.DataFrame(grid)
    full = evaluate_candidates(df, catalog)
    some_beat = np.where(np.arange(len(df)) % 7 == 0, 0.5 * full["capacity_rps"].to_numpy(), 0.0)
    pruned = evaluate_candidates(df, catalog, best_of=LAYOUT_COLUMNS, beat_rps=some_beat)
    beaten = pruned["pruned_reason"].str.startswith(BEATEN).to_numpy()
    assert beaten.sum() > len(df) // 4, "the test should exercise pruning"
    keys = list(LAYOUT_COLUMNS)
    best_full = full.groupby(keys)["capacity_rps"].transform("max").to_numpy()
    best_pruned = pruned.groupby(keys)["capacity_rps"].transform("max").to_numpy()
    np.testing.assert_array_equal(best_pruned, best_full)
    assert (full["capacity_rps"].to_numpy()[beaten] < best_full[beaten]).all()
    kept = ~beaten
    cols = ["pruned_reason", "capacity_rps", "ttft_ms", "tpot_ms", "e2e_ms", "batch", "memory_gb_per_gpu"]
    pd.testing.assert_frame_equal(pruned.loc[kept, cols], full.loc[kept, cols])


@pytest.mark.parametrize("name", ["chat-70b", "deepseek-moe", "rag-long-context"])
def test_pruned_candidates_equal_those_of_a_full_evaluation(catalog, name):
    """The optimizer's candidates (rows beaten within their layout dropped during evaluation, grid caps
    skipped by the λ bound) are exactly those a full evaluation keeps (`keep_fitting` evaluates every
    row to the end)."""
    from pathlib import Path

    from solver.optimize.candidates import build_candidates
    from solver.optimize.inputs import allowed_offers
    from solver.problem import load_problem

    problem = load_problem(Path(__file__).parents[1] / "problems" / f"{name}.yaml", catalog)
    offers = sorted(allowed_offers(problem, catalog))
    pruned = build_candidates(problem, catalog, offers)
    full = build_candidates(problem, catalog, offers, keep_fitting=True)
    pd.testing.assert_frame_equal(pruned.usable, full.usable)
    assert pruned.considered == full.considered


CAPS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


@pytest.mark.parametrize("kw", [
    {"model": "mixtral-8x7b", "accelerator": "h200-sxm", "engine": "trtllm", "quant": "fp8", "tp": 2, "ep": 2,
     "slo_ttft_ms": 500.0, "slo_tpot_ms": 20.0},
    {"model": "llama-3.1-70b", "accelerator": "h100-pcie", "engine": "sglang", "quant": "fp8", "tp": 2,
     "isl": 32000.0, "osl": 400.0, "slo_ttft_ms": 12000.0, "slo_tpot_ms": 60.0},
    {"model": "llama-3.1-8b", "accelerator": "h100-sxm", "engine": "sglang", "kv_quant": "fp8", "tp": 2, "pp": 4,
     "isl": 500.0, "osl": 64.0, "slo_ttft_ms": 150.0, "slo_tpot_ms": 8.0},
])
def test_a_lower_batch_cap_never_serves_more(catalog, kw):
    """At equal load every step time is the same under any cap; a smaller cap only adds batch-slot waiting
    while λ_sat does not rise. So capacity never falls as the cap grows (up to the search's 2^-17), and each
    cap with λ_sat at most the largest's is dominated by it (the rule `dominated_by_larger_cap` applies)."""
    from solver.optimize.candidates import dominated_by_larger_cap

    df = pd.DataFrame([row(max_batch=b, **kw) for b in CAPS])
    out = evaluate_candidates(df, catalog)
    cap = out["capacity_rps"].to_numpy()
    assert cap[-1] > 0, "the largest cap must be feasible for this test to say anything"
    assert (np.diff(cap) >= -cap[1:] * 2.0**-16).all(), cap
    sat = out["saturation_rps"].to_numpy()
    assert (np.diff(sat) >= 0).all(), sat
    assert (cap[:-1] <= cap[-1] * (1 + 2.0**-16)).all()
    larger = np.append(np.full(len(df) - 1, sat[-1]), np.nan)
    dominated = dominated_by_larger_cap(sat, larger)
    assert dominated[:-1].all() and not dominated[-1]


def test_capacity_far_below_saturation_is_found(catalog):
    """Under a TPOT limit just above the batch-1 step a replica serves below 1e-3 of its saturation rate.
    A linear bisection over [0, x_max] in 16 steps resolves only x_max·2^-16, and called such a capacity
    zero at a cap of 4,096 while it found it at caps of 2 and 64; the log search finds the same capacity
    under every cap."""
    df = pd.DataFrame([row(model="llama-3.1-8b", accelerator="h100-sxm", engine="sglang", kv_quant="fp8", tp=2, pp=4,
                           isl=500.0, osl=64.0, slo_ttft_ms=150.0, slo_tpot_ms=4.35, max_batch=b)
                       for b in (2, 64, 4096)])
    out = evaluate_candidates(df, catalog)
    cap = out["capacity_rps"].to_numpy()
    assert (out["pruned_reason"] == "").all(), out["pruned_reason"].tolist()
    assert cap[-1] < 1e-3 * out["saturation_rps"].iloc[-1]
    np.testing.assert_allclose(cap, cap[0], rtol=2.0**-15)


@pytest.mark.parametrize("name", ["chat-70b", "qwen3-moe"])
def test_candidates_launch_the_smallest_cap_that_serves_as_much(catalog, name):
    """Each usable candidate's batch cap is the smallest of the grid (or B*, the most the KV cache admits)
    whose capacity is within 2^-16 of B*'s: the next smaller grid cap serves less, B* no more."""
    from pathlib import Path

    from solver.optimize.candidates import DENSE_BATCH_GRID, UNBOUNDED_BATCH, build_candidates
    from solver.optimize.inputs import allowed_offers
    from solver.problem import load_problem

    problem = load_problem(Path(__file__).parents[1] / "problems" / f"{name}.yaml", catalog)
    usable = build_candidates(problem, catalog, sorted(allowed_offers(problem, catalog))).usable
    cols = [c for c in ("model", "accelerator", "engine", "quant", "kv_quant", "tp", "dp", "pp", "ep", "isl", "osl",
                        "slo_ttft_ms", "slo_tpot_ms", "slo_e2e_ms", "percentile") if c in usable.columns]
    rows = usable.drop_duplicates(cols + ["max_batch"]).reset_index(drop=True)
    assert len(rows) >= 3
    grid = np.array(DENSE_BATCH_GRID)
    below = [grid[grid < b].max() if (grid < b).any() else np.nan for b in rows["max_batch"]]
    probe = pd.concat([rows[cols].assign(max_batch=below), rows[cols].assign(max_batch=UNBOUNDED_BATCH)],
                      ignore_index=True)
    out = evaluate_candidates(probe, catalog)
    n = len(rows)
    capacity = rows["capacity_rps"].to_numpy()
    smaller = out["capacity_rps"].to_numpy()[:n]
    bstar = out["capacity_rps"].to_numpy()[n:]
    has_smaller = ~np.isnan(np.array(below, float))
    assert (smaller[has_smaller] < capacity[has_smaller] * (1 - 2.0**-16)).all()
    assert (bstar <= capacity * (1 + 2.0**-16)).all() and (bstar >= capacity * (1 - 2.0**-16)).all()


def test_rows_prepared_once_and_recapped_evaluate_as_freshly_prepared_rows(catalog):
    """`Prepared.with_batch_caps` (the grid pass reuses the first pass's preparation) gives exactly what
    preparing the re-capped rows from scratch gives, length mixes included."""
    from solver.perf.lengths import LengthMix
    from solver.perf.prepare import Prepared

    mix = LengthMix(((2000.0, 0.5), (8000.0, 0.5)), ((300.0, 1.0),))
    base = pd.DataFrame([row(model=m, accelerator=a, engine=e, tp=tp, max_batch=65536, isl=5000.0, osl=300.0)
                         for m, tp in (("llama-3.1-8b", 1), ("llama-3.1-70b", 4))
                         for a in ("h100-sxm", "l40s") for e in ("vllm", "trtllm")]).assign(lengths=[mix] * 8)
    prepared = Prepared(base, catalog)
    source = np.array([0, 0, 3, 5, 7, 7])
    caps = np.array([8.0, 64.0, 16.0, 32.0, 1.0, 256.0])
    grid = base.iloc[source].assign(max_batch=caps).reset_index(drop=True)
    fresh = evaluate_candidates(grid, catalog)
    reused = evaluate_candidates(grid, catalog, prepared=prepared.with_batch_caps(source, caps))
    pd.testing.assert_frame_equal(reused, fresh)
    assert (fresh["pruned_reason"] == "").sum() >= 3


def test_a_row_missing_its_tpot_only_under_prefill_interference_names_tpot():
    """The batch-1 step meets the TPOT limit, but the p99 TPOT at the lightest load (a prompt's prefill
    interrupting a decode) does not: the reason names TPOT with that value, not an E2E limit nobody set."""
    df = pd.DataFrame([row(model="llama-3.1-8b", accelerator="h100-sxm", engine="sglang", kv_quant="fp8", tp=2, pp=4,
                           isl=500.0, osl=64.0, slo_ttft_ms=150.0, slo_tpot_ms=4.31, max_batch=64)])
    out = evaluate_candidates(df, catalog=load_catalog())
    (reason,) = out["pruned_reason"]
    assert out["tpot_floor_ms"].iloc[0] < 4.31
    assert reason.startswith("slo: p99 TPOT ") and reason.endswith("> 4.31 ms at batch 1"), reason
    assert "nan" not in reason and "E2E" not in reason
