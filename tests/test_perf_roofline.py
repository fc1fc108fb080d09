"""Hand-computed roofline cases on a tiny in-test catalog with ideal kernels.

The kernel library here has η_c = η_m = 1, no per-kernel floor and a knee exponent of 60 (the smooth
roofline is then within 1% of max(compute, memory)), so every number can be written out by hand.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from solver.catalog.loader import Catalog
from solver.catalog.schema import (
    Accelerator,
    AcceleratorFamily,
    EfficiencyProfile,
    Engine,
    EngineSupport,
    Model,
    PeakTflops,
)
from solver.perf.candidates import evaluate_candidates
from solver.perf.kernels import KernelLibrary
from solver.perf.latency import step_time
from solver.perf.prepare import Prepared

SRC = {"source": "test", "as_of": dt.date(2026, 1, 1)}
IDEAL = {"eta_c": 1.0, "eta_m": 1.0, "p": 60.0, "t0_us": 0.0}


def ideal_kernels(acc_ids: list[str]) -> KernelLibrary:
    curve = {"trtllm": {"bf16": IDEAL, "fp8": IDEAL, "fp4": IDEAL, "int4_wo": IDEAL}}
    link = {"trtllm": {2: {"alpha_us": 5.0, "busbw_gb_s": 100.0}, 8: {"alpha_us": 5.0, "busbw_gb_s": 100.0}},
            "nccl": {2: {"alpha_us": 5.0, "busbw_gb_s": 100.0}, 8: {"alpha_us": 5.0, "busbw_gb_s": 100.0}}}
    fits = {"systems": {"ideal": {"accelerators": acc_ids, "p2p_latency_us": 10.0, "intra_node_bw_gb_s": 100.0,
                                  "inter_node_bw_gb_s": 50.0, "gemm": curve, "moe": curve,
                                  "prefill_attention": curve, "decode_attention": curve,
                                  "allreduce": link, "alltoall": link}}}
    return KernelLibrary(fits)


def tiny_catalog(**profile) -> Catalog:
    acc = Accelerator(id="toy-gpu", name="Toy", vendor="nvidia", family="hopper", memory_gb=80,
                      hbm_bandwidth_tb_s=1.0, peak_tflops=PeakTflops(bf16=100, fp16=100, fp8=200),
                      gpus_per_node=8, scale_up_domain_gpus=8, intra_node_bandwidth_gb_s=100,
                      inter_node_bandwidth_gb_s=50, **SRC)
    model = Model(id="toy-2l", name="Toy", hf_id="x/toy", architecture="dense", num_layers=2, hidden_size=1024,
                  intermediate_size=4096, num_attention_heads=8, num_kv_heads=8, head_dim=128, vocab_size=1000,
                  max_context_tokens=32768, native_dtype="bf16", **SRC)
    settings = {"max_batch_default": 256, "max_num_tokens": 8192, "memory_utilisation": 0.9, "runtime_reserve_gb": 2.0,
                "kv_admission_output_fraction": 0.5, "kv_memory_fraction_of_free": False, "kv_quant_default": "auto"}
    prof = EfficiencyProfile(families=["hopper"], compute_efficiency=1.0, memory_efficiency=1.0,
                             step_overhead_ms=profile.pop("step_overhead_ms", 0.0), collective_latency_us=5.0,
                             fitted_to="test", ttft_overhead_ms=0.0, kernel_framework="trtllm",
                             **{**settings, **profile})
    eng = Engine(id="trtllm", name="T", launch_template="x", profiles=[prof],
                 support=[EngineSupport(families=["hopper"], weight_quants=["bf16", "fp8", "int4"],
                                        kv_quants=["bf16", "fp8"])], **SRC)
    family = AcceleratorFamily(id="hopper", name="Hopper", kernel_system="ideal", kernel_tables_measured=True,
                               default_inter_node_bandwidth_gb_s=25, **SRC)
    return Catalog(accelerators={acc.id: acc}, models={model.id: model}, engines={eng.id: eng},
                   families={family.id: family})


def prepared(**row):
    base = {"model": "toy-2l", "accelerator": "toy-gpu", "engine": "trtllm", "quant": "bf16", "kv_quant": "bf16",
            "tp": 1, "pp": 1, "ep": 1, "max_batch": 64, "isl": 1000, "osl": 100}
    base.update(row)
    cat = tiny_catalog()
    return Prepared(pd.DataFrame([base]), cat, ideal_kernels(["toy-gpu"]))


# Per layer: attention 2·d·n_h·d_h + 2·d·n_kv·d_h = 4·1024·1024 = 4,194,304 weights (+ 2·1024 norm weights),
# FFN 3·1024·4096 = 12,582,912. Two layers: 33,558,528 linear weights. Embedding and LM head 1000·1024 each.
LINEAR = 2 * (4 * 1024 * 1024 + 2 * 1024 + 3 * 1024 * 4096)
LM_HEAD = 1000 * 1024


def test_linear_weight_count_matches_the_arithmetic():
    p = prepared()
    g = p.rows.geometry
    assert g.layers[0] * (g.attn_params[0] + g.dense_ffn_params[0]) == LINEAR


def test_decode_step_at_batch_one_is_weight_and_kv_streaming():
    p = prepared()
    # Memory-bound: bf16 weights 2 B each, 1 TB/s.
    #   linear layers 33,558,528 · 2 B = 67,117,056 B -> 67.12 µs
    #   LM head 1,024,000 · 2 B = 2,048,000 B         ->  2.05 µs
    #   KV cache at context 1000: 1000 tokens · 2 layers · 2 (K,V) · 8 heads · 128 · 2 B = 8,192,000 B -> 8.19 µs
    #   activations of the 4 element-wise kernels and of the GEMMs: 1 token · 1024 · 4 B each, ~0.05 µs
    expected = (LINEAR * 2 + LM_HEAD * 2 + 1000 * 2 * 2 * 8 * 128 * 2) / 1e12
    step = step_time(p.rows, 1.0, np.array([1000.0]), 0.0, 0.0)
    assert step.total_s[0] == pytest.approx(expected, rel=0.02)
    # The parts name where that time goes: weights streamed, KV cache streamed, nothing compute-bound.
    assert step.weights_read_s[0] == pytest.approx((LINEAR * 2 + LM_HEAD * 2) / 1e12, rel=0.01)
    assert step.kv_read_s[0] == pytest.approx(1000 * 2 * 2 * 8 * 128 * 2 / 1e12, rel=0.01)
    assert step.gemm_compute_s[0] < 1e-3 * step.weights_read_s[0]
    assert step.allreduce_s[0] == step.alltoall_s[0] == step.moe_s[0] == step.scheduler_overhead_s[0] == 0.0
    assert sum(step.parts().values())[0] == pytest.approx(step.total_s[0], rel=1e-9)


def test_prefill_is_compute_bound_with_quadratic_attention():
    p = prepared()
    s = 4096.0
    # Linear FLOPs 2 · 4096 tokens · 33,558,528 weights = 274.9 GFLOP -> 2.749 ms at 100 TFLOPS.
    # Causal attention: per layer 2 · 8 heads · (128 + 128) · 4096 · (4096 + 1)/2 pairs = 34.36 GFLOP;
    #   two layers 68.7 GFLOP -> 0.687 ms.
    # LM head for the one prompt's last token: 2 MB of weights -> 0.002 ms.
    # Element-wise kernels (2 norms, rotary, activation): 4 per layer, each reading and writing the
    #   4096 · 1024 bf16 activations = 16.8 MB -> 2 layers · 4 · 16.8 µs = 0.134 ms.
    linear = 2 * s * LINEAR / 100e12
    attn = 2 * (2 * 8 * 256 * s * (s + 1) / 2) / 100e12
    misc = 2 * 4 * s * 1024 * 4 / 1e12
    step = step_time(p.rows, 0.0, 0.0, np.array([s]), np.array([(s + 1) / 2]))
    assert step.total_s[0] == pytest.approx(linear + attn + misc + 2 * LM_HEAD / 1e12, rel=0.02)
    # Parts: the linear layers are compute, the LM head (one row) streams its weights.
    assert step.gemm_compute_s[0] == pytest.approx(linear, rel=0.01)
    assert step.weights_read_s[0] == pytest.approx(2 * LM_HEAD / 1e12, rel=0.05)
    assert step.attention_s[0] == pytest.approx(attn, rel=0.01)
    assert step.other_kernels_s[0] == pytest.approx(misc, rel=0.01)
    assert step.kv_read_s[0] == 0.0
    assert sum(step.parts().values())[0] == pytest.approx(step.total_s[0], rel=1e-9)
    # Doubling the prompt more than doubles the time: attention grows with the square.
    t2 = step_time(p.rows, 0.0, 0.0, np.array([2 * s]), np.array([(2 * s + 1) / 2])).total_s[0]
    assert t2 > 2 * step.total_s[0]


def test_fp8_weights_halve_the_streaming_time_and_double_the_peak():
    bf = prepared()
    f8 = prepared(quant="fp8")
    t_bf = step_time(bf.rows, 1.0, np.array([1.0]), 0.0, 0.0).total_s[0]
    t_f8 = step_time(f8.rows, 1.0, np.array([1.0]), 0.0, 0.0).total_s[0]
    # Weights: linear layers 1 B instead of 2; the LM head stays bf16 (2 MB either way).
    assert t_f8 == pytest.approx((LINEAR * 1 + LM_HEAD * 2) / 1e12, rel=0.03)
    assert t_bf == pytest.approx((LINEAR * 2 + LM_HEAD * 2) / 1e12, rel=0.03)
    assert f8.rows.device.peak_flop_per_s[0] == 200e12 and bf.rows.device.peak_flop_per_s[0] == 100e12


def test_int4_is_weight_only_without_a_native_int4_peak():
    p = prepared(quant="int4")
    assert p.rows.device.peak_flop_per_s[0] == 100e12  # dequantised into bf16 math
    assert p.rows.dense_weight_bytes[0] == pytest.approx(0.515625)


def test_tensor_parallel_adds_two_all_reduces_per_layer():
    one = prepared()
    two = prepared(tp=2)
    t1 = step_time(one.rows, 1.0, np.array([1000.0]), 0.0, 0.0).total_s[0]
    t2 = step_time(two.rows, 1.0, np.array([1000.0]), 0.0, 0.0).total_s[0]
    # Half the weights and KV per GPU (LM head split too), plus 2 layers · 2 all-reduces of
    # 1 token · 1024 · 2 B: each 5 µs + 2·(1/2)·2048 B / 100 GB/s = 5.02 µs.
    ar = 4 * (5e-6 + 2048 / 100e9)
    assert t2 == pytest.approx(t1 / 2 + ar, rel=0.03)


def test_step_overhead_is_added_once_per_iteration():
    cat = tiny_catalog(step_overhead_ms=1.5)
    row = {"model": "toy-2l", "accelerator": "toy-gpu", "engine": "trtllm", "quant": "bf16", "kv_quant": "bf16",
           "tp": 1, "pp": 1, "ep": 1, "max_batch": 64, "isl": 1000, "osl": 100}
    with_oh = Prepared(pd.DataFrame([row]), cat, ideal_kernels(["toy-gpu"]))
    without = prepared()
    a = step_time(with_oh.rows, 1.0, np.array([100.0]), 0.0, 0.0).total_s[0]
    b = step_time(without.rows, 1.0, np.array([100.0]), 0.0, 0.0).total_s[0]
    assert a - b == pytest.approx(1.5e-3, rel=1e-6)


def test_tpot_floor_is_the_batch_one_step():
    cat = tiny_catalog()
    row = {"model": "toy-2l", "accelerator": "toy-gpu", "engine": "trtllm", "quant": "bf16", "kv_quant": "bf16",
           "tp": 1, "pp": 1, "ep": 1, "max_batch": 64, "isl": 1000, "osl": 100, "slo_ttft_ms": np.nan,
           "slo_tpot_ms": np.nan, "slo_e2e_ms": np.nan, "percentile": 99.0}
    out = evaluate_candidates(pd.DataFrame([row]), cat, ideal_kernels(["toy-gpu"]))
    # Context during decode: 1000 + 100/2 = 1050 tokens of KV.
    expected_ms = (LINEAR * 2 + LM_HEAD * 2 + 1050 * 2 * 2 * 8 * 128 * 2) / 1e12 * 1e3
    assert out["tpot_floor_ms"].iloc[0] == pytest.approx(expected_ms, rel=0.02)


def test_decode_attention_without_enough_units_leaves_bandwidth_idle():
    """A decode-attention kernel that needs U = 32 (request, KV head) units for full bandwidth: the toy
    model has 8 KV heads, so one request on one GPU reads its KV cache at 8/32 of the bandwidth, four
    requests at all of it, and at TP 2 (4 heads per GPU) one request at 4/32."""
    kernels = ideal_kernels(["toy-gpu"])
    kernels.fits["systems"]["ideal"]["decode_attention"] = {"trtllm": {"bf16": {**IDEAL, "units_full_bw": 32.0}}}
    base = {"model": "toy-2l", "accelerator": "toy-gpu", "engine": "trtllm", "quant": "bf16", "kv_quant": "bf16",
            "pp": 1, "ep": 1, "max_batch": 64, "isl": 1000, "osl": 100}
    rows = Prepared(pd.DataFrame([{**base, "tp": 1}, {**base, "tp": 2}]), tiny_catalog(), kernels).rows
    kv_one_request = 1000 * 2 * 2 * 8 * 128 * 2 / 1e12  # 8.19 µs of KV at 1 TB/s (as above), all heads
    one = step_time(rows, 1.0, np.array([1000.0, 1000.0]), 0.0, 0.0)
    assert one.kv_read_s[0] == pytest.approx(kv_one_request * 32 / 8, rel=0.01)
    assert one.kv_read_s[1] == pytest.approx(kv_one_request / 2 * 32 / 4, rel=0.01)
    four = step_time(rows, 4.0, np.array([1000.0, 1000.0]), 0.0, 0.0)
    assert four.kv_read_s[0] == pytest.approx(4 * kv_one_request, rel=0.01)
