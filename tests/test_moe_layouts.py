"""Mixture-of-experts layouts as the engines run them: a replica is pp stages of tp·dp GPUs and MoE
layers split the same GPUs as moe_tp × ep (ep never adds GPUs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from solver.catalog.loader import load_catalog
from solver.optimize.candidates import enumerate_configs
from solver.optimize.runner_up import layout_class
from solver.perf import estimate
from solver.perf.moe import load_imbalance
from solver.perf.prepare import Prepared
from solver.problem import Problem

CATALOG = load_catalog()


def est(accelerator: str, gpus: int, **layout) -> dict:
    return estimate("qwen3-235b-a22b", accelerator, gpus, isl=2000, osl=500, mode="concurrency", mode_value=64,
                    quant="fp8", engine="sglang", catalog=CATALOG, **layout)


@pytest.mark.parametrize(("accelerator", "gpus", "layout", "a2a"), [
    ("h100-sxm", 8, {"tp": 8, "ep": 8}, False),            # SGLang --tp 8 --ep 8: tokens replicated, no dispatch
    ("h100-sxm", 8, {"tp": 1, "dp": 8, "ep": 8}, True),    # DeepSeek-style DP attention + EP
    ("h100-sxm", 16, {"tp": 1, "dp": 16, "ep": 16}, True),  # wide EP over two nodes
    ("h100-sxm", 32, {"tp": 1, "dp": 32, "ep": 32}, True),
    ("gb200", 72, {"tp": 1, "dp": 72, "ep": 72}, True),     # a whole NVL72 rack (ep 72 on 128 experts: 2 slots)
])
def test_estimate_runs_the_engines_layouts_and_names_their_parts(accelerator, gpus, layout, a2a):
    r = est(accelerator, gpus, **layout)
    assert r["fits"], r["reason"]
    assert r["gpus"] == gpus and r["tp"] * r["dp"] * r["pp"] == gpus  # ep adds no GPUs
    assert r["moe_tp"] == r["tp"] * r["dp"] // r["ep"]
    step = r["breakdown"]["decode_step_ms"]
    assert step["moe"] > 0
    assert (step["alltoall"] > 0) == a2a
    assert sum(v for k, v in step.items() if k != "total") == pytest.approx(step["total"], rel=1e-3)


def test_gpus_fewer_than_the_layout_are_refused_naming_the_rule():
    with pytest.raises(Exception, match=r"tp·dp·pp"):
        est("h100-sxm", 4, tp=1, dp=8, ep=8)


def test_the_scale_up_domain_decides_the_all_to_all_link():
    """Within an 8-GPU HGX the all-to-all runs at NVLink speed; 16 GPUs cross the network (the catalog's
    per-GPU inter-node bandwidth); an NVL72 rack keeps 72 GPUs on NVLink."""
    rows = pd.DataFrame([{"model": "qwen3-235b-a22b", "accelerator": a, "engine": "sglang", "quant": "fp8",
                          "kv_quant": "fp8", "tp": 1, "dp": dp, "pp": 1, "ep": dp, "max_batch": 64.0, "isl": 2000.0,
                          "osl": 500.0} for a, dp in (("h100-sxm", 8), ("h100-sxm", 16), ("gb200", 72))])
    links = Prepared(rows, CATALOG).rows.links
    network = CATALOG.accelerators["h100-sxm"].inter_node_bandwidth_gb_s * 1e9
    assert links.alltoall_bytes_per_s[0] > network
    assert links.alltoall_bytes_per_s[1] == pytest.approx(network)
    assert links.alltoall_bytes_per_s[2] > CATALOG.accelerators["gb200"].inter_node_bandwidth_gb_s * 1e9


def test_expert_load_imbalance_follows_the_measured_eplb_figure():
    """(max − mean)/mean = 0.115 at EP 32 with EPLB (TensorRT-LLM blog 4, Table 1), 0 with one rank,
    interpolated in log2(ep) and held beyond 32."""
    assert load_imbalance(np.array([1, 8, 32, 72])) == pytest.approx([1.0, 1 + 0.115 * 3 / 5, 1.115, 1.115])


def test_candidates_cover_tp_tp_ep_dp_attention_and_wide_ep():
    problem = Problem.model_validate({"name": "q", "workloads": [{
        "name": "w", "model": "qwen3-235b-a22b", "traffic": {"requests_per_s": 1}, "input_tokens": 1000,
        "output_tokens": 500, "slo": {"tpot_ms": 50}}]})
    rows = enumerate_configs(problem.workloads[0], CATALOG.models["qwen3-235b-a22b"], CATALOG, ["h100-sxm"],
                             {"h100-sxm": {8}}, [64])
    classes = {layout_class(r.tp, r.dp, r.ep, 8) for r in rows.itertuples()}
    assert {"TP", "TP+EP", "DP-attention+TP-MoE", "DP-attention+EP", "wide EP"} <= classes
    assert (rows["ep"] <= rows["tp"] * rows["dp"]).all()
    dense = enumerate_configs(problem.workloads[0], CATALOG.models["llama-3.1-70b"], CATALOG, ["h100-sxm"],
                              {"h100-sxm": {8}}, [64])
    assert set(dense["dp"]) == {1} and set(dense["ep"]) == {1}


def test_moe_token_exchange_is_a_gather_inside_a_node_and_an_all_to_all_beyond():
    """Qwen3-235B (hidden 4096, top-8) with attention DP 8 × EP 8 on 8 H100s, 64 decoding tokens per dp
    group (512 on the stage): TensorRT-LLM all-gathers the FP8-quantized inputs (1 B) and reduce-scatters
    BF16 outputs (2 B): per GPU 7/8 · 512 · 4096 · 3 B over the stage's all-reduce bus bandwidth, plus two
    latencies. vLLM gathers BF16 (2 + 2 B). Over 16 GPUs (two nodes) it is an all-to-all per dp group:
    64 tokens · 8 experts · (15/16 remote) · 4096 · (1 B FP8 dispatch + 2 B BF16 combine) · ρ, over the
    all-to-all bandwidth, plus two latencies."""
    from solver.perf.latency import _LoadFree, moe_exchange

    def exchange(engine, dp):
        df = pd.DataFrame([{"model": "qwen3-235b-a22b", "accelerator": "h100-sxm", "engine": engine,
                            "quant": "fp8", "kv_quant": "fp8", "tp": 1, "dp": dp, "pp": 1, "ep": dp,
                            "max_batch": 1024.0, "isl": 2000.0, "osl": 500.0}])
        rows = Prepared(df, CATALOG).rows
        return rows, float(moe_exchange(rows, _LoadFree.of(rows), 64.0, 64.0 * dp)[0])

    d = 4096
    rows, trt = exchange("trtllm", 8)
    links = rows.links
    assert trt == pytest.approx(2 * links.moe_allreduce_latency_s[0]
                                + 7 / 8 * 512 * d * (1 + 2) / links.moe_allreduce_bytes_per_s[0], rel=1e-9)
    rows, vllm = exchange("vllm", 8)
    assert vllm == pytest.approx(2 * rows.links.moe_allreduce_latency_s[0]
                                 + 7 / 8 * 512 * d * (2 + 2) / rows.links.moe_allreduce_bytes_per_s[0], rel=1e-9)
    rows, wide = exchange("sglang", 16)
    rho = float(load_imbalance(np.array([16]))[0])
    assert wide == pytest.approx(2 * rows.links.alltoall_latency_s[0]
                                 + rho * 15 / 16 * 8 * 64 * d * (1 + 2) / rows.links.alltoall_bytes_per_s[0], rel=1e-9)


def test_mxfp4_experts_run_w4a8_in_tensorrt_llm_on_blackwell_and_w4a16_elsewhere():
    """gpt-oss keeps attention in bf16; its MXFP4 experts run with MXFP8 activations (fp8 peak) in
    TensorRT-LLM on B200, and dequantised to bf16 in vLLM on B200 and in TensorRT-LLM on H100."""
    df = pd.DataFrame([{"model": "gpt-oss-120b", "accelerator": a, "engine": e, "quant": "mxfp4", "kv_quant": "fp8",
                        "tp": 1, "dp": 1, "pp": 1, "ep": 1, "max_batch": 64.0, "isl": 1000.0, "osl": 1000.0}
                       for a, e in (("b200", "trtllm"), ("b200", "vllm"), ("h100-sxm", "trtllm"))])
    device = Prepared(df, CATALOG).rows.device
    b200, h100 = CATALOG.accelerators["b200"].peak_tflops, CATALOG.accelerators["h100-sxm"].peak_tflops
    assert list(device.moe_peak_flop_per_s) == pytest.approx([b200.fp8 * 1e12, b200.bf16 * 1e12, h100.bf16 * 1e12])
    assert list(device.peak_flop_per_s) == pytest.approx([b200.bf16 * 1e12, b200.bf16 * 1e12, h100.bf16 * 1e12])


def test_at_saturation_every_dp_rank_prefills_its_own_share():
    """Qwen3-235B, attention DP 4 × EP 4, 32,768-token prompts. Below saturation a dp rank takes a prompt's
    pieces of S/dp = 8,192 tokens whole, so 5,000 prefill tokens in one iteration land on one rank. At
    saturation (max throughput) every rank has prompts queued and prefills its own 5,000/4 = 1,250: its
    prefill attention is a quarter, the layer's FLOPs 2·(heads·(d_qk + d_v))·1,250·ctx, not 2·…·5,000·ctx."""
    from solver.perf.latency import _load, _LoadFree, step_time

    df = pd.DataFrame([{"model": "qwen3-235b-a22b", "accelerator": "b200", "engine": "trtllm", "quant": "fp8",
                        "kv_quant": "fp8", "tp": 1, "dp": 4, "pp": 1, "ep": 4, "max_batch": 256.0,
                        "isl": 32768.0, "osl": 1024.0}])
    rows = Prepared(df, CATALOG).rows
    assert float(_load(rows, 100.0, 5000.0, 8192.0).pf_g[0]) == 5000.0
    assert float(_load(rows, 100.0, 5000.0, 8192.0, ranks_queued=True).pf_g[0]) == 1250.0
    c = _LoadFree.of(rows)
    ctx = 16384.5
    spread = step_time(rows, 100.0, 20000.0, 5000.0, ctx, 8192.0, ranks_queued=True).prefill_attention
    alone = step_time(rows, 100.0, 20000.0, 5000.0, ctx, 8192.0).prefill_attention
    flops = 2 * 64 * (128 + 128) * 1250.0 * ctx
    assert float(c.heads_dd[0]) == 64 * (128 + 128)
    # Compute-bound at this size: the spread rank's kernel is about a quarter of the lone rank's.
    assert float(spread.time_s[0]) < 0.3 * float(alone.time_s[0])
    assert float(spread.compute_s[0]) == pytest.approx(flops / (rows.prefill_attention.eta_c[0]
                                                                * rows.device.peak_bf16_flop_per_s[0]), rel=0.05)
