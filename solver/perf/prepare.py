"""Turn a table of replica configurations into the performance model's `Rows`, in named stages.

1. `normalise`: columns typed, ids lower-cased.
2. Catalog rows: model, accelerator and engine entries, looked up once per distinct id.
3. Static checks (`checks.py`), each with its own name and message; a row keeps the first it fails.
4. Kernel parameters: per (accelerator, engine) the profile and device numbers, per weight format
   the GEMM and MoE curves, per KV dtype the decode-attention curve (`kernels.py`).
5. Link parameters (`links.py`): collective latency and bandwidth, network beyond the scale-up domain.

Catalog look-ups run once per distinct key, never once per row; all per-row arithmetic is numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from solver.catalog.schema import Accelerator, EfficiencyProfile, Engine
from solver.errors import CatalogError
from solver.perf import checks
from solver.perf import memory as mem
from solver.perf.arch import KV_BYTES, WEIGHT_BYTES, Geometry, compute_dtype, geometry, moe_compute_dtype, weight_bytes
from solver.perf.kernels import Curve, KernelLibrary
from solver.perf.links import inter_node_bytes_per_s, link_parameters
from solver.perf.moe import load_imbalance
from solver.perf.profiles import default_kv_quant, resolve_profile, support_reason
from solver.perf.rows import DecodeCurve, Device, KernelCurve, MoeCurve, Rows, Runtime
from solver.units import BYTES_PER_GB

REQUIRED = ("model", "accelerator", "engine", "quant", "kv_quant", "tp", "pp", "ep", "max_batch", "isl", "osl")
OPTIONAL = {"dp": 1.0, "slo_ttft_ms": np.nan, "slo_tpot_ms": np.nan, "slo_e2e_ms": np.nan, "percentile": 99.0}


def per_key(df: pd.DataFrame, cols: list[str], fn, keys_out: dict | None = None,
            codes_of: dict | None = None) -> tuple[list, np.ndarray]:
    """Apply fn(*key) once per distinct key; returns (values per distinct key, row -> key index).
    `codes_of`: a cache of each column's factorisation, for several calls over the same unchanged `df`."""
    if len(df) == 0:
        return [], np.zeros(0, int)
    combined = np.zeros(len(df), dtype=np.int64)
    uniq_cols = []
    for c in cols:
        if codes_of is None:
            codes, uniques = pd.factorize(df[c].to_numpy(), use_na_sentinel=False)
        else:
            if c not in codes_of:
                codes_of[c] = pd.factorize(df[c].to_numpy(), use_na_sentinel=False)
            codes, uniques = codes_of[c]
        combined = combined * (len(uniques) + 1) + codes
        uniq_cols.append((codes, uniques))
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    firsts = [tuple(u[cd[i]] for cd, u in uniq_cols) for i in first]
    vals = [fn(*k) for k in firsts]
    if keys_out is not None:
        keys_out.update(zip(firsts, vals, strict=True))
    return vals, inverse.reshape(-1)


def _lookup(catalog, section, key):
    try:
        return catalog.lookup(section, str(key))
    except CatalogError:
        return None


def engine_layout_rules(engine) -> tuple[str, str]:
    """(attention_dp, expert_parallel) of the engine's catalog `parallelism` (permissive when unknown)."""
    rules = getattr(engine, "parallelism", None)
    if rules is None:
        return ("any", "divides_stage")
    return (rules.attention_dp, rules.expert_parallel)


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"evaluate_candidates: missing columns {missing}")
    out = df.copy()
    for c, v in OPTIONAL.items():
        if c not in out.columns:
            out[c] = v
    for c in ("tp", "pp", "ep", "max_batch", "isl", "osl", *OPTIONAL):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    out["percentile"] = out["percentile"].fillna(99.0)
    out["dp"] = out["dp"].fillna(1.0)
    for c in ("model", "accelerator", "engine", "quant", "kv_quant"):
        codes, uniques = pd.factorize(out[c], use_na_sentinel=False)
        clean = np.array(["" if (u is None or (isinstance(u, float) and np.isnan(u))) else str(u).strip().lower()
                          for u in uniques], dtype=object)
        out[c] = clean[codes] if len(uniques) else out[c].astype(str)
    return out


# --- per-key kernel parameters ------------------------------------------------------------------
def _derated(curve: Curve, prof: EfficiencyProfile) -> tuple[float, float, float, float]:
    """(η_c, η_m, p, t0) of a fitted curve with the profile's serving derates applied."""
    return (curve.eta_c * prof.compute_efficiency, curve.eta_m * prof.memory_efficiency, curve.p,
            curve.t0_s * prof.kernel_floor_scale)


@dataclass(frozen=True)
class DeviceEngine:
    """What one (accelerator, engine) pair contributes; `reason` non-empty when it cannot serve."""

    reason: str
    acc: Accelerator | None = None
    engine: Engine | None = None
    profile: EfficiencyProfile | None = None
    framework: str = ""
    values: dict | None = None
    """Device, Runtime and prefill-attention fields, scalars."""


def device_engine(catalog, kernels: KernelLibrary, a: str, e: str) -> DeviceEngine | None:
    acc: Accelerator | None = _lookup(catalog, "accelerators", a)
    eng: Engine | None = _lookup(catalog, "engines", e)
    if acc is None or eng is None:
        return None
    prof = resolve_profile(eng, acc.family)
    if prof is None:
        return DeviceEngine(f"engine: {eng.id} has no efficiency profile for the {acc.family} family")
    fw = prof.kernel_framework or eng.id
    pfa = _derated(kernels.curve(acc, "prefill_attention", fw, "bf16"), prof)
    values = {
        "memory_bytes": acc.memory_gb * BYTES_PER_GB, "hbm_bytes_per_s": acc.hbm_bandwidth_tb_s * 1e12,
        "peak_bf16_flop_per_s": (acc.peak_tflops.bf16 or acc.peak_tflops.fp16) * 1e12,
        "scale_up_domain_gpus": float(max(acc.scale_up_domain_gpus, 1)),
        "pfa_eta_c": pfa[0], "pfa_eta_m": pfa[1], "pfa_p": pfa[2], "pfa_t0_s": pfa[3],
        "step_overhead_s": prof.step_overhead_ms * 1e-3, "ttft_overhead_s": prof.ttft_overhead_ms * 1e-3,
        "max_num_tokens": float(prof.max_num_tokens), "memory_utilisation": prof.memory_utilisation,
        "runtime_reserve_bytes": prof.runtime_reserve_gb * BYTES_PER_GB,
        "kv_admission_output_fraction": prof.kv_admission_output_fraction,
        "max_batch_default": float(prof.max_batch_default),
        "kv_memory_fraction_of_free": float(prof.kv_memory_fraction_of_free),
        "kernel_floor_s": _derated(kernels.curve(acc, "gemm", fw, "bf16"), prof)[3],
        "kv_window_capped": 0.0 if getattr(eng.sliding_window_kv, "holds", "window") == "full_context" else 1.0,
        "inter_node_bytes_per_s": inter_node_bytes_per_s(acc, catalog),
    }
    return DeviceEngine("", acc, eng, prof, fw, values)


def _block_scaled_fp8(catalog, model_id) -> bool:
    model = _lookup(catalog, "models", model_id)
    return bool(model is not None and model.native_fp8_block_size)


def quant_values(entry: DeviceEngine | None, kernels: KernelLibrary, q: str,
                 block_scaled: bool = False) -> dict | None:
    """Peak and GEMM/MoE curves of one weight format on one (accelerator, engine); `block_scaled`: the
    model's own FP8 checkpoint, whose weights carry block scales (`Model.native_fp8_block_size`)."""
    if not entry or entry.reason or q not in WEIGHT_BYTES:
        return None
    peak_key, dt = compute_dtype(entry.acc, q)
    moe_peak_key, moe_dt = moe_compute_dtype(entry.acc, q, entry.framework)
    block_scaled = block_scaled and dt == "fp8"
    # Block-scaled FP8 weights (DeepSeek-V3/R1 as published) run block-scaled GEMMs in every engine
    # (DeepGEMM and its peers: ~5 us floors against ~13 us for TensorRT-LLM's per-tensor path, which
    # quantizes the activations in a kernel of its own).
    gemm = _derated(kernels.curve(entry.acc, "gemm", entry.framework, "fp8_block" if block_scaled else dt),
                    entry.profile)
    gather, dispatch = moe_exchange_bytes(entry.framework, moe_dt)
    # fp8 MoE: block-scaled checkpoints run the fp8_block MoE kernels everywhere; otherwise TensorRT-LLM
    # serves ModelOpt per-tensor fp8 checkpoints, and vLLM and SGLang the published block-scaled ones
    # (Qwen3-FP8), run by their fp8_block MoE kernels.
    if moe_dt == "fp8":
        moe_dt = "fp8_block" if block_scaled or entry.framework != "trtllm" else "fp8"
    moe_curve = kernels.curve(entry.acc, "moe", entry.framework, moe_dt)
    moe = _derated(moe_curve, entry.profile)
    return {"peak_flop_per_s": getattr(entry.acc.peak_tflops, peak_key) * 1e12,
            "moe_peak_flop_per_s": getattr(entry.acc.peak_tflops, moe_peak_key) * 1e12,
            "gemm_eta_c": gemm[0], "gemm_eta_m": gemm[1], "gemm_p": gemm[2], "gemm_t0_s": gemm[3],
            "moe_eta_c": moe[0], "moe_eta_m": moe[1], "moe_p": moe[2], "moe_t0_s": moe[3],
            "moe_gamma": moe_curve.gamma, "gather_bytes": gather, "dispatch_bytes": dispatch}


QUANTIZED_ACTIVATION_BYTES = {"fp4": 0.5 + 1.0 / 16.0, "fp8": 1.0, "mxfp4_w4a8": 1.0 + 1.0 / 32.0}
"""Bytes per element of a MoE layer's input sent quantized: NVFP4 (4 bits plus an FP8 scale per 16
elements), FP8, or MXFP8 (8 bits plus an 8-bit scale per 32) in front of MXFP4 experts."""


def moe_exchange_bytes(framework: str, compute_dtype: str) -> tuple[float, float]:
    """(all-gather, all-to-all dispatch) bytes per element of the tokens a MoE layer exchanges; the combine
    (and reduce-scatter) always carries BF16 outputs.

    TensorRT-LLM quantizes the layer's input before it leaves the GPU, per-tensor FP8 or NVFP4
    (NVIDIA/TensorRT-LLM@000a01de66f0eab4ab05640711f0253f50f5209c
    tensorrt_llm/_torch/modules/fused_moe/fused_moe_cutlass.py, `run_post_quant_allgather`; the WideEP
    all-to-all likewise, `TRTLLM_MOE_POST_QUANT_ALLTOALLV` on by default). vLLM's default
    `allgather_reducescatter` backend and SGLang's DP-attention gather send BF16 hidden states; their
    DeepEP all-to-all dispatches FP8 when the weights are quantized."""
    quantized = QUANTIZED_ACTIVATION_BYTES.get(compute_dtype)
    if framework == "trtllm":
        return (quantized or 2.0, quantized or 2.0)
    return (2.0, 1.0 if quantized else 2.0)


def kv_values(entry: DeviceEngine | None, kernels: KernelLibrary, kq: str) -> dict | None:
    """Bytes per element and decode-attention curve of one KV dtype on one (accelerator, engine)."""
    if not entry or entry.reason or kq not in KV_BYTES:
        return None
    curve = kernels.curve(entry.acc, "decode_attention", entry.framework, "fp8" if kq == "fp8" else "bf16")
    dca = _derated(curve, entry.profile)
    return {"beta_kv": KV_BYTES[kq], "dca_eta_c": dca[0], "dca_eta_m": dca[1], "dca_p": dca[2], "dca_t0_s": dca[3],
            "dca_units": curve.units_full_bw}


class Prepared:
    """The rows of a configuration table that pass the static checks, as `Rows` (None when none pass).

    `reason` is per input row ('' = usable), `idx` the input rows behind `rows` (rows whose tp exceeds
    the scale-up domain stay in `idx` with their reason, so their memory is still reported).
    """

    def __init__(self, df: pd.DataFrame, catalog, kernels: KernelLibrary | None = None):
        self.df = df = normalise(df)
        self.catalog = catalog
        self.kernels = kernels or KernelLibrary.for_catalog(catalog)
        self._codes: dict = {}  # factorised columns of self.df (kv_quant only once its defaults are filled)
        self._reasons = checks.Reasons(len(df))
        self._catalog_rows()
        self._static_checks()
        self._kernel_keys()
        self._engine_checks()
        self.idx = np.flatnonzero(self._reasons.ok)
        self.rows = self._assemble() if len(self.idx) else None
        if self.rows is not None:
            self._reasons.text[self.idx] = checks.tp_within_scale_up_domain(self.rows.tp,
                                                                            self.rows.device.scale_up_domain_gpus)
        self.reason = self._reasons.text

    # --- stage 2: catalog rows ----------------------------------------------------------------
    def _catalog_rows(self) -> None:
        df, catalog = self.df, self.catalog
        self.models, self.model_code = per_key(df, ["model"], lambda m: _lookup(catalog, "models", m),
                                              codes_of=self._codes)
        self.accs, self.acc_code = per_key(df, ["accelerator"], lambda a: _lookup(catalog, "accelerators", a),
                                          codes_of=self._codes)
        self.engines, self.engine_code = per_key(df, ["engine"], lambda e: _lookup(catalog, "engines", e),
                                                codes_of=self._codes)
        # Invalid sizes (< 1) are flagged by the checks; 1 keeps the arithmetic quiet.
        self.tp, self.dp, self.pp, self.ep = (np.where(df[c].to_numpy() >= 1, df[c].to_numpy(), 1.0)
                                              for c in ("tp", "dp", "pp", "ep"))
        rows = [geometry(m).as_dict() if m is not None else None for m in self.models]
        names = next((list(r) for r in rows if r), [])
        self.geometry = Geometry(**{k: np.array([r[k] if r else np.nan for r in rows], float)[self.model_code]
                                    for k in names}) if names else None

    # --- stage 3: static checks ---------------------------------------------------------------
    def _static_checks(self) -> None:
        df, reasons = self.df, self._reasons
        reasons.apply(*checks.known_entries(
            df, np.array([m is None for m in self.models])[self.model_code],
            np.array([a is None for a in self.accs])[self.acc_code],
            np.array([e is None for e in self.engines])[self.engine_code]))
        reasons.apply(*checks.positive_sizes(df))
        if self.geometry is not None:
            reasons.apply(*checks.parallelism_fits_model(self.geometry, self.tp, self.dp, self.pp, self.ep,
                                                         df["isl"].to_numpy(), df["osl"].to_numpy()))
        rules, codes = per_key(df, ["engine"], lambda e: engine_layout_rules(_lookup(self.catalog, "engines", e)),
                               codes_of=self._codes)
        reasons.apply(checks.engine_layout(df["engine"].to_numpy(), rules, codes, self.tp, self.dp, self.ep))

    # --- stage 4: kernel parameters per key -----------------------------------------------------
    def _kernel_keys(self) -> None:
        df, catalog, kernels = self.df, self.catalog, self.kernels
        self.entries: dict = {}
        self.ae, self.ae_code = per_key(df, ["accelerator", "engine"],
                                        lambda a, e: device_engine(catalog, kernels, a, e), self.entries,
                                        self._codes)
        self.qv, self.q_code = per_key(df, ["accelerator", "engine", "quant", "model"],
                                       lambda a, e, q, m: quant_values(self.entries[(a, e)], kernels, q,
                                                                       _block_scaled_fp8(catalog, m)),
                                       codes_of=self._codes)
        self._fill_kv_default()
        self.kv, self.kv_code = per_key(df, ["accelerator", "engine", "kv_quant"],
                                        lambda a, e, kq: kv_values(self.entries[(a, e)], kernels, kq),
                                        codes_of=self._codes)

    def _fill_kv_default(self) -> None:
        """KV dtype not given: the profile's default (see EfficiencyProfile.kv_quant_default)."""
        df = self.df
        unset = df["kv_quant"].isin(["", "nan", "none", "auto"]).to_numpy()
        if not unset.any():
            return

        def kv_default(m, a, e, q):
            entry = self.entries.get((a, e))
            model = _lookup(self.catalog, "models", m)
            if not entry or entry.reason or model is None:
                return "bf16"
            return default_kv_quant(entry.profile, entry.engine, entry.acc, model, q)

        vals, codes = per_key(df[unset], ["model", "accelerator", "engine", "quant"], kv_default)
        df.loc[unset, "kv_quant"] = [vals[c] for c in codes]

    def _engine_checks(self) -> None:
        df, reasons = self.df, self._reasons
        reasons.apply(checks.known_kv_quant(df))
        reasons.apply(checks.int4_kernels(df, np.array([a is not None and not a.int4_weight_only
                                                        for a in self.accs], bool)[self.acc_code]))
        arch = np.array([m.architecture if m is not None else "" for m in self.models], dtype=object)[self.model_code]
        fam = np.array([a.family if a is not None else "" for a in self.accs], dtype=object)[self.acc_code]
        arch_model = {m.architecture: m for m in self.models if m is not None}

        def supported(ar, fa, e, q, kq):
            eng = _lookup(self.catalog, "engines", e)
            if not ar or not fa or eng is None:
                return ""
            return support_reason(eng, fa, arch_model[ar], q, kq)

        keyed = pd.DataFrame({"a": arch, "f": fam, "e": df["engine"].to_numpy(), "q": df["quant"].to_numpy(),
                              "k": df["kv_quant"].to_numpy()})
        sv, s_code = per_key(keyed, ["a", "f", "e", "q", "k"], supported)
        reasons.apply(checks.by_reason("engine_support", sv, s_code))
        reasons.apply(checks.by_reason("efficiency_profile", [v.reason if v else "" for v in self.ae], self.ae_code))

    # --- stage 5: per-row arrays and links -----------------------------------------------------
    def _take(self, values: list, codes: np.ndarray, name: str) -> np.ndarray:
        table = np.array([v[name] if v else np.nan for v in values], float)
        return table[codes[self.idx]]

    def _assemble(self) -> Rows:
        idx = self.idx
        ae = [v.values if v and not v.reason else None for v in self.ae]

        def dev(name):
            return self._take(ae, self.ae_code, name)

        def quant(name):
            return self._take(self.qv, self.q_code, name)

        def kv(name):
            return self._take(self.kv, self.kv_code, name)

        tp, dp, pp, ep = self.tp[idx], self.dp[idx], self.pp[idx], self.ep[idx]
        geo = Geometry(**{k: v[idx] for k, v in vars(self.geometry).items()})
        quants, uniq = pd.factorize(self.df["quant"].to_numpy()[idx])
        betas = np.array([weight_bytes(q, "") for q in uniq], float).reshape(-1, 2)
        device = Device(memory_bytes=dev("memory_bytes"), hbm_bytes_per_s=dev("hbm_bytes_per_s"),
                        peak_bf16_flop_per_s=dev("peak_bf16_flop_per_s"), peak_flop_per_s=quant("peak_flop_per_s"),
                        scale_up_domain_gpus=dev("scale_up_domain_gpus"),
                        moe_peak_flop_per_s=quant("moe_peak_flop_per_s"))
        runtime = Runtime(**{f: dev(f) for f in Runtime.__dataclass_fields__})
        links = link_parameters(self.df.iloc[idx], tp, dp, pp, device.scale_up_domain_gpus,
                                dev("inter_node_bytes_per_s"), self.entries, self.kernels, per_key)
        return Rows(
            geometry=geo, tp=tp, dp=dp, pp=pp, ep=ep, moe_load_imbalance=load_imbalance(ep),
            moe_gather_bytes=quant("gather_bytes"), moe_dispatch_bytes=quant("dispatch_bytes"),
            dense_weight_bytes=betas[quants, 0],
            expert_weight_bytes=betas[quants, 1],
            kv_bytes_per_element=kv("beta_kv"), kv_elements_per_token_layer=mem.kv_elems_local(geo, tp),
            device=device, runtime=runtime, links=links,
            gemm=KernelCurve(quant("gemm_eta_c"), quant("gemm_eta_m"), quant("gemm_p"), quant("gemm_t0_s")),
            moe=MoeCurve(quant("moe_eta_c"), quant("moe_eta_m"), quant("moe_p"), quant("moe_t0_s"), quant("moe_gamma")),
            prefill_attention=KernelCurve(dev("pfa_eta_c"), dev("pfa_eta_m"), dev("pfa_p"), dev("pfa_t0_s")),
            decode_attention=DecodeCurve(kv("dca_eta_c"), kv("dca_eta_m"), kv("dca_p"), kv("dca_t0_s"),
                                         kv("dca_units")))

    def with_batch_caps(self, source: np.ndarray, max_batch: np.ndarray) -> Prepared:
        """The preparation of a table whose row i is this table's input row `source[i]` with max_batch
        `max_batch[i]`. No check or catalog look-up reads max_batch (it enters through the memory plan
        only), so the rows are taken rather than prepared again; every source row must be usable."""
        source = np.asarray(source, int)
        pos = np.searchsorted(self.idx, source)
        if len(source) and (pos.max() >= len(self.idx) or not np.array_equal(self.idx[pos], source)):
            raise ValueError("with_batch_caps: every source row must have passed the static checks")
        out = object.__new__(Prepared)
        out.df = self.df.iloc[source].reset_index(drop=True)
        out.df["max_batch"] = np.asarray(max_batch, float)
        out.catalog, out.kernels = self.catalog, self.kernels
        out.idx = np.arange(len(source))
        out.rows = self.rows.take(pos) if len(source) else None
        out.reason = np.full(len(source), "", dtype=object)
        return out

    def memory(self, max_batch) -> mem.MemoryPlan:
        """Memory plan of the usable rows at their max_batch."""
        df, idx = self.df, self.idx
        return mem.memory_plan(self.rows, df["isl"].to_numpy()[idx], df["osl"].to_numpy()[idx], max_batch)
