"""Kernel latency floors in serving: block-scaled FP8 checkpoints run block-scaled GEMMs, and a profile's
`kernel_floor_scale` scales every kernel floor t0 it applies, and nothing else."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from solver.catalog.loader import builtin_catalog_dir, load_catalog
from solver.perf.calibrate import _with_profile
from solver.perf.prepare import Prepared

CATALOG = load_catalog()
FITS = yaml.safe_load((builtin_catalog_dir() / "kernel_fits.yaml").read_text())["systems"]


def _rows(catalog, **kw):
    base = {"model": "deepseek-r1", "accelerator": "b200", "engine": "trtllm", "quant": "fp8", "kv_quant": "fp8",
            "tp": 8, "pp": 1, "ep": 1, "max_batch": 64, "isl": 1000.0, "osl": 1000.0}
    base.update(kw)
    return Prepared(pd.DataFrame([base]), catalog).rows


def test_deepseeks_block_scaled_fp8_runs_block_scaled_gemms():
    """DeepSeek-R1 ships FP8 weights with 128x128 block scales: its linear layers get TensorRT-LLM's
    fp8_block GEMM floor on B200 (kernel_fits.yaml, DeepGEMM ~5.5 us), Llama-3.3-70B's per-tensor FP8 the
    fp8 one (~13 us, the activation quantized by a kernel of its own)."""
    assert CATALOG.models["deepseek-r1"].native_fp8_block_size == 128
    gemm = FITS["b200_sxm"]["gemm"]["trtllm"]
    prof = next(p for p in CATALOG.engines["trtllm"].profiles if "blackwell" in p.families)
    scale = prof.kernel_floor_scale
    deepseek = _rows(CATALOG)
    llama = _rows(CATALOG, model="llama-3.3-70b")
    assert deepseek.gemm.t0_s[0] == pytest.approx(gemm["fp8_block"]["t0_us"] * 1e-6 * scale)
    assert llama.gemm.t0_s[0] == pytest.approx(gemm["fp8"]["t0_us"] * 1e-6 * scale)
    assert deepseek.gemm.t0_s[0] < 0.5 * llama.gemm.t0_s[0]


def test_kernel_floor_scale_scales_every_floor_and_nothing_else():
    prof = next(p for p in CATALOG.engines["trtllm"].profiles if "blackwell" in p.families)
    one = _with_profile(CATALOG, "trtllm", "blackwell", {"kernel_floor_scale": 1.0})
    half = _with_profile(CATALOG, "trtllm", "blackwell", {"kernel_floor_scale": 0.5})
    a, b = _rows(one), _rows(half)
    for curve in ("gemm", "moe", "prefill_attention", "decode_attention"):
        ca, cb = getattr(a, curve), getattr(b, curve)
        assert cb.t0_s[0] == pytest.approx(0.5 * ca.t0_s[0]), curve
        assert (cb.eta_c[0], cb.eta_m[0], cb.p[0]) == (ca.eta_c[0], ca.eta_m[0], ca.p[0]), curve
    assert b.runtime.kernel_floor_s[0] == pytest.approx(0.5 * a.runtime.kernel_floor_s[0])
    assert b.runtime.step_overhead_s[0] == a.runtime.step_overhead_s[0] == pytest.approx(prof.step_overhead_ms * 1e-3)
