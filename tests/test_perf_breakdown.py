"""The breakdown `trilemma estimate` shows: its parts add up to the totals, and a hand-computed case."""

from __future__ import annotations

import json

import pytest

from solver.catalog.loader import load_catalog
from solver.perf.estimate import estimate_many
from tests.test_perf_roofline import LINEAR, LM_HEAD, ideal_kernels, tiny_catalog

CATALOG = load_catalog()
MODES = [
    {"model": "llama-3.3-70b", "accelerator": "h100-sxm", "gpus": 2, "tp": 2, "engine": "vllm", "isl": 1000,
     "osl": 250, "mode": "rate", "mode_value": 3},
    {"model": "deepseek-v3", "accelerator": "h200-sxm", "gpus": 8, "tp": 8, "ep": 1, "engine": "sglang",
     "quant": "fp8", "isl": 2000, "osl": 500, "mode": "concurrency", "mode_value": 64},
    {"model": "qwen3-30b-a3b", "accelerator": "h100-sxm", "gpus": 4, "tp": 1, "pp": 2, "ep": 2, "engine": "vllm",
     "isl": 3000, "osl": 300, "mode": "max_throughput"},
    {"model": "llama-3.1-8b", "accelerator": "a100-80gb-sxm", "gpus": 1, "engine": "vllm", "isl": 500, "osl": 100,
     "mode": "static_batch", "mode_value": 16},
    {"model": "qwen3-32b", "accelerator": "h200-sxm", "gpus": 2, "tp": 2, "engine": "trtllm", "quant": "fp8",
     "isl": 2000, "osl": 300, "mode": "slo", "slo_ttft_ms": 1500, "slo_tpot_ms": 40},
]


@pytest.mark.parametrize("row", MODES, ids=[r["mode"] for r in MODES])
def test_parts_add_up_to_the_totals_the_estimate_reports(row):
    out = estimate_many([row], CATALOG, breakdown=True)[0]
    assert out["fits"], out["reason"]
    bd = out["breakdown"]
    for group, parts in bd.items():
        assert sum(v for k, v in parts.items() if k != "total") == pytest.approx(parts["total"], rel=1e-3), group
        assert all(v >= 0 for v in parts.values()), group
    assert bd["decode_step_ms"]["total"] == pytest.approx(out["tpot_ms"], rel=1e-12)
    assert bd["ttft_ms"]["total"] == pytest.approx(out["ttft_ms"], rel=1e-12)
    assert bd["memory_gb_per_gpu"]["total"] == pytest.approx(out["memory_gb_per_gpu"], rel=1e-12)


def test_moe_and_expert_parallel_parts_show_up():
    out = estimate_many([MODES[2]], CATALOG, breakdown=True)[0]
    decode = out["breakdown"]["decode_step_ms"]
    assert decode["moe"] > 0 and decode["alltoall"] > 0 and decode["pipeline"] > 0
    assert decode["allreduce"] == 0  # tp 1: attention needs no all-reduce; the MoE layers exchange by all-to-all


def test_hand_computed_static_batch_of_one_on_the_ideal_toy_gpu():
    """Toy GPU (1 TB/s, 100 TFLOPS bf16, ideal kernels), toy 2-layer model, tp 2, one request of 1000 + 100.

    Decode step at context 1050 (isl + osl/2), per GPU:
      weights read: (linear 33,558,528 + LM head 1,024,000) / 2 GPUs · 2 B = 34.58 MB -> 34.58 µs
      KV read: 1050 tokens · 2 layers · 2 (K, V) · 4 local heads · 128 · 2 B = 4.30 MB -> 4.30 µs
      all-reduce: 2 layers · 2 · (5 µs + 2·(1/2)·(1024 · 2 B) / 100 GB/s) = 20.08 µs
    Memory per GPU: weights (33,558,528 + 2 · 1,024,000) · 2 B / 2 = 35.61 MB; reserve 2 GB (profile
    default); KV at batch 1 and context 1050: 2.15 MB.
    """
    row = {"model": "toy-2l", "accelerator": "toy-gpu", "engine": "trtllm", "quant": "bf16", "kv_quant": "bf16",
           "gpus": 2, "tp": 2, "pp": 1, "ep": 1, "isl": 1000, "osl": 100, "mode": "static_batch", "mode_value": 1}
    out = estimate_many([row], tiny_catalog(), ideal_kernels(["toy-gpu"]), breakdown=True)[0]
    decode, memory = out["breakdown"]["decode_step_ms"], out["breakdown"]["memory_gb_per_gpu"]
    assert decode["weights_read"] == pytest.approx((LINEAR + LM_HEAD) / 2 * 2 / 1e12 * 1e3, rel=0.01)
    assert decode["kv_read"] == pytest.approx(1050 * 2 * 2 * 4 * 128 * 2 / 1e12 * 1e3, rel=0.01)
    assert decode["allreduce"] == pytest.approx(4 * (5e-6 + 2048 / 100e9) * 1e3, rel=1e-9)
    assert decode["moe"] == decode["alltoall"] == decode["pipeline"] == decode["scheduler_overhead"] == 0
    assert memory["weights"] == pytest.approx((LINEAR + 2 * LM_HEAD) * 2 / 2 / 1e9, rel=1e-9)
    assert memory["runtime_reserve"] == 2.0
    assert memory["kv_cache"] == pytest.approx(1050 * 2 * 2 * 4 * 128 * 2 / 1e9, rel=1e-9)


def test_estimate_json_and_table_carry_the_breakdown(cli):
    args = ["estimate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm", "--gpus", "1", "--isl", "1000",
            "--osl", "200", "--rate", "2"]
    r = cli(*args, "--json")
    assert r.exit_code == 0, r.stderr
    bd = json.loads(r.stdout)["breakdown"]
    assert set(bd) == {"decode_step_ms", "prefill_step_ms", "ttft_ms", "memory_gb_per_gpu"}
    assert {"weights_read", "kv_read", "gemm_compute", "attention", "moe", "allreduce", "alltoall",
            "scheduler_overhead", "total"} <= set(bd["decode_step_ms"])
    table = cli(*args)
    assert table.exit_code == 0, table.stderr
    assert "decode step, ms (total = mean TPOT)" in table.stdout and "weights_read" in table.stdout
    assert "memory per GPU, GB" in table.stdout and "kv_cache" in table.stdout
