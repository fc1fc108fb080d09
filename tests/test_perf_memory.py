"""Memory fit: which catalog models fit which accelerators at which tp and quantization, and the
KV-cache rules (GQA replication, MLA latent, sliding windows)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from solver.catalog.loader import load_catalog
from solver.perf import evaluate_candidates
from solver.perf import memory as mem
from solver.perf.arch import geometry


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def fits(catalog, model, acc, quant, tp, kv="bf16", engine="vllm", pp=1, ep=1, isl=1024, osl=256):
    row = {"model": model, "accelerator": acc, "engine": engine, "quant": quant, "kv_quant": kv, "tp": tp,
           "pp": pp, "ep": ep, "max_batch": 64, "isl": isl, "osl": osl}
    out = evaluate_candidates(pd.DataFrame([row]), catalog).iloc[0]
    return bool(out["fits"]), out["pruned_reason"], out


@pytest.mark.parametrize(
    "model, acc, quant, tp, expected",
    [
        # 70B bf16 = 141 GB of weights: not on one 85.5 GB (80 GiB) GPU, fine over 4.
        ("llama-3.1-70b", "h100-sxm", "bf16", 1, False),
        ("llama-3.1-70b", "h100-sxm", "bf16", 4, True),
        # fp8 halves it: 71 GB fits one 141 GB H200.
        ("llama-3.1-70b", "h200-sxm", "fp8", 1, True),
        # 405B bf16 = 811 GB: 101 GB per GPU over 8 H100 does not fit; fp8 (51 GB per GPU) does.
        ("llama-3.1-405b", "h100-sxm", "bf16", 8, False),
        ("llama-3.1-405b", "h100-sxm", "fp8", 8, True),
        # DeepSeek-V3 native fp8 (671 GB): 84 GB per GPU, fits 8 H200 but not 8 H100.
        ("deepseek-v3", "h200-sxm", "fp8", 8, True),
        ("deepseek-v3", "h100-sxm", "fp8", 8, False),
        # 8B bf16 (16 GB) on a 24 GB L4.
        ("llama-3.1-8b", "l4", "bf16", 1, True),
        # gpt-oss-120b with MXFP4 experts (~65 GB) fits one H100; in bf16 (~234 GB) it does not.
        ("gpt-oss-120b", "h100-sxm", "mxfp4", 1, True),
        ("gpt-oss-120b", "h100-sxm", "bf16", 1, False),
    ],
)
def test_memory_fit_boundaries(catalog, model, acc, quant, tp, expected):
    ok, reason, _ = fits(catalog, model, acc, quant, tp)
    assert ok is expected, reason
    if not expected:
        assert reason.startswith("memory: needs ")


def test_memory_reason_names_need_and_available(catalog):
    ok, reason, out = fits(catalog, "llama-3.1-70b", "h100-sxm", "bf16", 1)
    assert not ok
    need, avail = (float(x.split()[0]) for x in reason.removeprefix("memory: needs ").split(", "))
    # vLLM may use 0.9 of the device's 81,559 MiB = 85.52 GB (catalog memory_gb is byte-exact).
    assert need > avail == pytest.approx(85.521 * 0.9, abs=0.06)
    assert out["memory_gb_per_gpu"] == pytest.approx(need, rel=0.01)


def test_gqa_kv_heads_replicate_beyond_their_count(catalog):
    g = geometry(catalog.models["llama-3.1-70b"])  # 8 KV heads
    per_gpu = {tp: float(mem.kv_elems_local(g, np.array([tp]))[0]) for tp in (1, 2, 8, 16)}
    assert per_gpu[1] == 2 * 8 * 128
    assert per_gpu[2] == 2 * 4 * 128
    assert per_gpu[8] == 2 * 1 * 128
    assert per_gpu[16] == per_gpu[8]  # one head per GPU, replicated


def test_mla_latent_is_not_sharded(catalog):
    g = geometry(catalog.models["deepseek-v3"])
    # (kv_lora_rank 512 + rope 64) per layer per token on every tp rank.
    for tp in (1, 8):
        assert float(mem.kv_elems_local(g, np.array([tp]))[0]) == 576
    per_req = mem.kv_bytes_per_request(g, 1.0, np.array([8]), np.array([1]), np.array([1000.0]))[0]
    assert per_req == 61 * 576 * 1000


def test_sliding_window_layers_cap_their_context(catalog):
    g = geometry(catalog.models["gemma-3-27b"])  # 52 of 62 layers windowed at 1024
    short = mem.kv_bytes_per_request(g, 2.0, np.array([1]), np.array([1]), np.array([1000.0]))[0]
    long = mem.kv_bytes_per_request(g, 2.0, np.array([1]), np.array([1]), np.array([100_000.0]))[0]
    per_token_layer = 2 * 16 * 128 * 2
    assert short == 62 * 1000 * per_token_layer
    assert long == (10 * 100_000 + 52 * 1024) * per_token_layer


def test_tensorrt_llm_sizes_sliding_window_layers_as_full_attention(catalog):
    """gpt-oss-120b: 36 layers, 18 of them windowed at 128 tokens, 8 KV heads of 64 (1,024 KV elements per
    token and layer), fp8 KV. A request of 1,024 + 8,192 tokens holds 36 · 9,216 · 1,024 B = 339.7 MB on
    TensorRT-LLM, which sizes its cache as if every layer were full attention, and (18 · 9,216 + 18 · 128)
    · 1,024 B = 172.2 MB on vLLM, whose hybrid allocator keeps only the window; so vLLM admits about twice
    the batch from the same free memory."""
    rows = [{"model": "gpt-oss-120b", "accelerator": "b200", "engine": e, "quant": "mxfp4", "kv_quant": "fp8",
             "tp": 1, "pp": 1, "ep": 1, "max_batch": 65536, "isl": 1024.0, "osl": 8192.0} for e in ("trtllm", "vllm")]
    from solver.perf.prepare import Prepared

    prep = Prepared(pd.DataFrame(rows), catalog)
    plan = prep.memory(np.array([65536.0, 65536.0]))
    assert list(prep.rows.runtime.kv_window_capped) == [0.0, 1.0]
    np.testing.assert_allclose(plan.kv_bytes_per_request_full, [36 * 9216 * 1024, (18 * 9216 + 18 * 128) * 1024])
    per_request = plan.kv_bytes_per_request_full
    assert per_request[0] / per_request[1] == pytest.approx(36 * 9216 / (18 * 9216 + 18 * 128))


def test_fp8_kv_never_needs_more_memory_than_bf16(catalog):
    _, _, bf = fits(catalog, "llama-3.1-70b", "h100-sxm", "fp8", 2, kv="bf16")
    _, _, f8 = fits(catalog, "llama-3.1-70b", "h100-sxm", "fp8", 2, kv="fp8")
    assert f8["kv_cache_tokens"] == pytest.approx(2 * bf["kv_cache_tokens"], abs=2)  # floor() rounding


def test_expert_parallel_shards_experts_not_attention(catalog):
    """tp 2 alone: experts sliced over 2 GPUs. tp 2 × dp 4 with ep 8 (8 GPUs, moe_tp 1): one of the 8
    experts per GPU, attention still sharded over tp 2."""
    g = geometry(catalog.models["mixtral-8x7b"])
    one = mem.weights_per_gpu(g, 2.0, 2.0, 2, 1, 1, 1)
    ep = mem.weights_per_gpu(g, 2.0, 2.0, 2, 4, 1, 8)
    experts = g.n_moe_layers * g.experts * g.expert_params * 2.0
    assert one - ep == pytest.approx(experts / 2 - experts / 8)
    # ep 8 inside tp 8 (SGLang --tp 8 --ep 8, TensorRT-LLM moe_ep 8): the same expert share, attention over 8.
    inside = mem.weights_per_gpu(g, 2.0, 2.0, 8, 1, 1, 8)
    assert inside - ep == pytest.approx((one - experts / 2) / 4 - (one - experts / 2))
    # ep that does not divide the experts: ⌈8/3⌉ = 3 expert slots per rank (redundant copies fill them).
    odd = mem.weights_per_gpu(g, 2.0, 2.0, 1, 3, 1, 3)
    assert odd - (one - experts / 2) * 2 == pytest.approx(experts / 8 * 3)
