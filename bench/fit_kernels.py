"""Fit shape-dependent kernel efficiency curves to the measured kernel tables.

Reads kernel tables (CSV) exported from the AIConfigurator 0.12.0 performance database (the
aiconfigurator-core 0.12.0 wheel on PyPI, aiconfigurator_core/systems/data/, Apache-2.0, measured on NVIDIA
GPUs) and writes `catalogs/kernel_fits.yaml`, which `solver/perf` reads.

Every compute kernel (GEMM, fused MoE, prefill attention, decode attention) is fitted with one form:

    t = t0 + (t_c^p + t_m^p)^(1/p),   t_c = FLOPs / (η_c · P),   t_m = bytes / (η_m · BW)

(fused MoE adds γ · routed pairs · hidden bytes to its traffic: the permute / un-permute copies)

Decode attention also has a parallelism limit: a kernel that does not split the KV sequence over thread
blocks runs one block per (request, KV head), so with fewer than U such units the GPU cannot keep its
memory system busy and t_m = bytes / (η_m · BW · min(1, units/U)). On L40S and RTX PRO 6000 the
measured bandwidth grows in proportion to batch × KV heads up to U ≈ 20–50 units (a long-context
batch-1 read reaches 2 % of peak); kernels that split the sequence saturate from one unit. U is kept
only where it lowers the fit's median error by at least `UNITS_MIN_GAIN_PCT` points; elsewhere U = 1.

a smooth roofline: small shapes are memory-bound at η_m of peak bandwidth, large shapes approach η_c of
peak compute, `p` sets how sharp the knee is (p → ∞ is the hard max), and `t0` is the per-kernel floor
(launch + tail). P and BW are the nominal peaks of systems.csv, so η are fractions of each GPU's own
spec and transfer to an unmeasured GPU of the same kind by its spec sheet.

Collectives: t = α + f(n) · bytes / busbw with f = 2(n−1)/n for all-reduce and (n−1)/n for all-to-all,
fitted per (system, framework, GPUs) to the envelope (fastest of the framework's graph-mode custom
kernel and the same box's NCCL at each message size, which is what engines pick; vLLM and SGLang turn
their custom kernel off on more than two PCIe-only GPUs, so there they get NCCL alone).

Per shape only the fastest kernel of a framework is kept (engines autotune or pick it).
Filters (see the kernels README caveats): rows whose operands fit in L2 (frac_peak_bw > 0.95, or
bytes < 64 MB while memory-bound) are dropped; DeepSeek-geometry MoE rows and `power_law` rows are
dropped; t0 is the median latency of the smallest shape of each table.

Run:  python bench/fit_kernels.py --kernels DIR [--out catalogs/kernel_fits.yaml]
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import least_squares

HERE = Path(__file__).resolve().parents[1]

# Kernel-table system -> catalog accelerator ids measured on exactly that hardware.
SYSTEM_ACCELERATORS = {
    "a100_sxm": ["a100-80gb-sxm"],
    "h100_sxm": ["h100-sxm"],
    "h200_sxm": ["h200-sxm"],
    "b200_sxm": ["b200"],
    "b300_sxm": ["b300"],
    "gb200": ["gb200"],
    "gb300": ["gb300"],
    "l40s": ["l40s"],
    "rtx_pro_6000_server": ["rtx-pro-6000"],
}
GEMM_DTYPES = {"bfloat16": "bf16", "fp8": "fp8", "fp8_block": "fp8_block", "nvfp4": "fp4", "int8_wo": "int8_wo",
               "int4_wo": "int4_wo"}
MOE_DTYPES = {"bfloat16": "bf16", "fp8": "fp8", "fp8_block": "fp8_block", "nvfp4": "fp4",
              "int4_wo": "int4_wo", "w4a16_mxfp4": "mxfp4_wo", "w4a8_mxfp4_mxfp8": "mxfp4_w4a8"}
PEAK_COLUMN = {"bf16": "bf16_tflops", "fp8": "fp8_tflops", "fp8_block": "fp8_tflops", "fp4": "fp4_tflops",
               "int8_wo": "bf16_tflops", "int4_wo": "bf16_tflops", "mxfp4_wo": "bf16_tflops",
               "mxfp4_w4a8": "fp8_tflops"}
L2_SAFE_BYTES = 64e6
UNITS_MIN_GAIN_PCT = 3.0
"""A parallelism limit U is kept only where it lowers the median error by this many points."""


def smooth_roofline(params: np.ndarray, flops, bytes_, peak, bw, t0):
    eta_c, eta_m, p = params
    tc = flops / (eta_c * peak)
    tm = bytes_ / (eta_m * bw)
    return t0 + (tc**p + tm**p) ** (1.0 / p)


def fit_roofline(df: pd.DataFrame, peak: float, bw: float, t0: float, extra: np.ndarray | None = None,
                 units: np.ndarray | None = None) -> dict | None:
    """Least squares on log latency for (η_c, η_m, p) with t0 fixed at the measured floor.

    With `extra` (MoE: routed pairs × hidden), a fourth parameter γ adds γ·extra bytes of traffic: the
    permute / un-permute copies of routed activations, which grow with tokens, not with weights.
    With `units` (decode attention: batch × KV heads), a parallelism limit U is tried as well (module
    docstring) and kept when it pays.
    """
    if len(df) < 8:
        return None
    f = df["flops"].to_numpy(float)
    b = df["bytes"].to_numpy(float)
    t = df["latency_us"].to_numpy(float) * 1e-6
    ex = np.zeros_like(b) if extra is None else extra

    def resid(x):
        return np.log(smooth_roofline(x[:3], f, b + x[3] * ex, peak, bw, t0)) - np.log(t)

    hi_gamma = 200.0 if extra is not None else 1e-9
    sol = least_squares(resid, x0=[0.6, 0.8, 3.0, 0.0], bounds=([0.02, 0.05, 1.0, 0.0], [1.0, 1.0, 12.0, hi_gamma]))
    r = resid(sol.x)
    units_full_bw = None
    if units is not None:
        def resid_units(x):
            return np.log(smooth_roofline(x[:3], f, b / np.minimum(1.0, units / np.exp(x[3])), peak, bw, t0)) \
                - np.log(t)

        # Several starts: below every row's units the limit has no gradient.
        tries = [least_squares(resid_units, x0=[0.6, 0.8, 3.0, np.log(u0)],
                               bounds=([0.02, 0.05, 1.0, 0.0], [1.0, 1.0, 12.0, np.log(4096.0)]))
                 for u0 in (1.0, 8.0, 32.0, 128.0)]
        with_units = min(tries, key=lambda s: s.cost)
        r_units = resid_units(with_units.x)
        gain = (np.median(np.abs(np.expm1(r))) - np.median(np.abs(np.expm1(r_units)))) * 100
        if gain >= UNITS_MIN_GAIN_PCT:
            sol, r, units_full_bw = with_units, r_units, float(np.exp(with_units.x[3]))
    out = {
        "eta_c": round(float(sol.x[0]), 4),
        "eta_m": round(float(sol.x[1]), 4),
        "p": round(float(sol.x[2]), 3),
        "t0_us": round(t0 * 1e6, 3),
        "rows": int(len(df)),
        "median_abs_pct_err": round(float(np.median(np.abs(np.expm1(r)))) * 100, 1),
    }
    if extra is not None:
        out["gamma_bytes_per_pair_hidden"] = round(float(sol.x[3]), 3)
    if units_full_bw is not None:
        out["units_full_bw"] = round(units_full_bw, 1)
    return out


def usable(df: pd.DataFrame, ridge: float) -> pd.DataFrame:
    """Drop L2-resident rows: memory-bound rows need bytes well above L2 and a fraction below 0.95."""
    intensity = df["flops"] / df["bytes"]
    keep = (df["frac_peak_bw"] <= 0.95) & ((df["bytes"] >= L2_SAFE_BYTES) | (intensity >= 2 * ridge))
    return df[keep & (df["latency_us"] > 0)]


def floor_us(df: pd.DataFrame) -> float:
    small = df[df["flops"] <= df["flops"].min() * 4]
    return float(small["latency_us"].median()) * 1e-6


def envelope(df: pd.DataFrame) -> pd.DataFrame:
    """Fastest kernel per measured shape: engines autotune or pick their fastest implementation."""
    derived = {"kernel_source", "latency_us", "achieved_tflops", "achieved_tb_s", "frac_peak_compute",
               "frac_peak_bw", "framework_version", "active_experts_local"}
    keys = [c for c in df.columns if c not in derived]
    return df.loc[df.groupby(keys, dropna=False)["latency_us"].idxmin()]


def fit_compute_table(df, systems, dtype_col, dtype_map, group_cols=("framework",),
                      stream_eta_from_bytes: float | None = None, units_cols: tuple[str, ...] | None = None) -> dict:
    out: dict = {}
    df = envelope(df)
    for (system, fw, raw), g in df.groupby(["system", *group_cols, dtype_col]):
        if raw not in dtype_map:
            continue
        dt_ = dtype_map[raw]
        spec = systems.loc[system]
        peak = float(spec[PEAK_COLUMN[dt_]] or np.nan) * 1e12
        bw = float(spec["mem_bw_tb_s"]) * 1e12
        if not np.isfinite(peak):
            continue
        use = usable(g, peak / bw)
        extra = None
        if "top_k" in use.columns:
            extra = (use["tokens"] * use["top_k"] / use["moe_ep"] * use["hidden"]).to_numpy(float)
        units = use[list(units_cols)].prod(axis=1).to_numpy(float) if units_cols else None
        res = fit_roofline(use, peak, bw, floor_us(g), extra, units)
        if res and stream_eta_from_bytes:
            big = g[(g["bytes"] >= stream_eta_from_bytes) & (g["frac_peak_bw"] <= 1.0)]
            if "units_full_bw" in res:  # streaming efficiency where the kernel has parallelism enough
                big = big[big[list(units_cols)].prod(axis=1) >= res["units_full_bw"]]
            if len(big) >= 5:
                # Streaming efficiency of large reads, as measured (median), not the compromise
                # the joint fit settles on across shapes.
                res["eta_m"] = round(float(big["frac_peak_bw"].median()), 4)
                res["eta_m_from"] = f"median frac_peak_bw of {len(big)} rows with bytes >= {stream_eta_from_bytes:.0e}"
        if res:
            out.setdefault(system, {}).setdefault(fw, {})[dt_] = res
    return out


def fit_collective(df: pd.DataFrame, factor) -> dict:
    """α + factor(n)·bytes/busbw on the envelope of the available kernels, log least squares."""
    out: dict = {}
    for (system, fw, n), g in df.groupby(["system", "framework", "num_gpus"]):
        if "mode" in g:
            g = g[g["mode"].fillna("graph") != "eager"]
        env = g.groupby("message_bytes")["latency_us"].min().reset_index()
        m = env["message_bytes"].to_numpy(float)
        t = env["latency_us"].to_numpy(float) * 1e-6
        fn = factor(n)

        def resid(x, m=m, t=t, fn=fn):
            return np.log(x[0] * 1e-6 + fn * m / (x[1] * 1e9)) - np.log(t)

        sol = least_squares(resid, x0=[10.0, 100.0], bounds=([0.1, 0.1], [1e4, 5e3]))
        r = resid(sol.x)
        out.setdefault(system, {}).setdefault(fw, {})[int(n)] = {
            "alpha_us": round(float(sol.x[0]), 2),
            "busbw_gb_s": round(float(sol.x[1]), 1),
            "median_abs_pct_err": round(float(np.median(np.abs(np.expm1(r)))) * 100, 1),
        }
    return out


CUSTOM_AR_PCIE_MAX_GPUS = {"vllm": 2, "sglang": 2}
"""vLLM's custom all-reduce (and SGLang's copy of it) refuses more than two GPUs without NVLink ("not
supported on more than two PCIe-only GPUs") and falls back to NCCL; TensorRT-LLM's AUTO strategy keeps
its own kernel where peer access works."""


def framework_allreduce(ar: pd.DataFrame, systems: pd.DataFrame) -> pd.DataFrame:
    """All-reduce rows an engine actually runs, per (system, framework, GPUs): its custom kernel where the
    engine enables it, plus the same box's NCCL, since every engine falls back to NCCL for large messages
    (and where its custom kernel is off); `fit_collective` keeps the fastest at each message size."""
    pcie_only = set(systems.index[systems["intra_node_bw_gb_s"] <= systems["pcie_bw_gb_s"]])
    custom = ar[ar["source"] == "framework_custom_allreduce"]
    limit = custom["framework"].map(CUSTOM_AR_PCIE_MAX_GPUS).fillna(np.inf)
    custom = custom[~(custom["system"].isin(pcie_only) & (custom["num_gpus"] > limit))]
    nccl = ar[ar["source"] == "nccl_tests"].drop(columns="framework")
    pairs = ar.loc[ar["source"] == "framework_custom_allreduce", ["system", "framework"]].drop_duplicates()
    return pd.concat([custom, nccl.merge(pairs, on="system")], ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernels", type=Path, required=True,
                    help="folder of kernel-table CSVs exported from the aiconfigurator-core 0.12.0 wheel")
    ap.add_argument("--out", type=Path, default=HERE / "catalogs" / "kernel_fits.yaml")
    args = ap.parse_args()
    k = args.kernels
    systems = pd.read_csv(k / "systems.csv").set_index("system")

    gemm = pd.read_csv(k / "gemm.csv")
    # vLLM's block-scaled FP8 GEMM rows (DeepGEMM, FlashInfer) take 57-500 us at M <= 8 whatever the
    # shape, 10-100x the same kernels timed in SGLang and TensorRT-LLM and more than vLLM's whole
    # DeepSeek decode layer; they are left out, and vLLM's block-scaled GEMMs take another framework's
    # block-scaled curve (`KernelLibrary.curve` falls back over frameworks; DeepGEMM is common to all).
    gemm = gemm[~((gemm["framework"] == "vllm") & (gemm["dtype"] == "fp8_block"))]
    moe = pd.read_csv(k / "moe.csv")
    moe = moe[(moe["distribution"] == "balanced") & (moe["model_example"] != "DeepSeek-V3")]
    moe = moe[~moe["model_example"].str.contains("DeepSeek|Kimi", regex=True)]
    ctx = pd.read_csv(k / "context_attention.csv")
    ctx = ctx[(ctx["window_size"] == 0) & (ctx["attn_dtype"] == "bfloat16") & (ctx["head_dim"] == 128)]
    ctx = ctx.assign(kv="all")
    gen = pd.read_csv(k / "generation_attention.csv")
    gen = gen[(gen["window_size"] == 0) & (gen["head_dim"] == 128)]
    gen = gen[~((gen["system"] == "a100_sxm") & (gen["framework"] == "trtllm"))]  # suspect rows (README)

    fits = {
        "gemm": fit_compute_table(gemm, systems, "dtype", GEMM_DTYPES),
        "moe": fit_compute_table(moe, systems, "dtype", MOE_DTYPES),
        "prefill_attention": fit_compute_table(ctx, systems, "kv", {"all": "bf16"}),
        "decode_attention": fit_compute_table(gen, systems, "kv_cache_dtype",
                                              {"bfloat16": "bf16", "fp8": "fp8"}, stream_eta_from_bytes=5e8,
                                              units_cols=("batch", "kv_heads")),
    }
    ar = pd.read_csv(k / "allreduce.csv")
    a2a = pd.read_csv(k / "alltoall.csv")
    a2a = a2a[a2a["dtype"] == "float16"].assign(framework="nccl")
    fits["allreduce"] = fit_collective(framework_allreduce(ar, systems), lambda n: 2 * (n - 1) / n)
    nccl_ar = ar[ar["source"] == "nccl_tests"].assign(framework="nccl")
    for system, v in fit_collective(nccl_ar, lambda n: 2 * (n - 1) / n).items():
        fits["allreduce"].setdefault(system, {}).update(v)
    fits["alltoall"] = fit_collective(a2a, lambda n: (n - 1) / n)

    out_systems = {}
    for system in SYSTEM_ACCELERATORS:
        spec = systems.loc[system]
        entry = {
            "accelerators": SYSTEM_ACCELERATORS[system],
            "p2p_latency_us": float(spec["p2p_latency_us"]),
            "intra_node_bw_gb_s": float(spec["intra_node_bw_gb_s"]),
            "inter_node_bw_gb_s": float(spec["inter_node_bw_gb_s"]),
        }
        for table in ("gemm", "moe", "prefill_attention", "decode_attention", "allreduce", "alltoall"):
            entry[table] = fits[table].get(system, {})
        out_systems[system] = entry
    doc = {
        "source": "AIConfigurator 0.12.0 kernel database, aiconfigurator-core 0.12.0 wheel "
                  "(https://pypi.org/project/aiconfigurator-core/0.12.0/, Apache-2.0), "
                  "aiconfigurator_core/systems/data/<system>/<op>/<framework>/<version>/*.parquet",
        "generated_by": "bench/fit_kernels.py",
        "generated_on": dt.date.today().isoformat(),
        "form": "t = t0 + ((F/(eta_c*P))^p + (B/(eta_m*BW*min(1, units/units_full_bw)))^p)^(1/p) (units: "
                "batch x KV heads of decode attention, units_full_bw 1 when absent); "
                "collectives t = alpha + f(n)*bytes/busbw",
        "systems": out_systems,
    }
    args.out.write_text("# Generated by bench/fit_kernels.py; do not edit by hand.\n"
                        + yaml.safe_dump(doc, sort_keys=False, width=110))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
