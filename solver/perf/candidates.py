"""Vectorised evaluation of replica configurations: `evaluate_candidates(df, catalog)`.

Input columns (one row per replica configuration): model, accelerator, engine, quant, kv_quant, tp, pp,
ep, max_batch, isl, osl, slo_ttft_ms, slo_tpot_ms, slo_e2e_ms (NaN = no limit), percentile.
Output: the same rows, same order, plus
  gpus (per replica), fits (bool), pruned_reason (str, "" when usable),
  memory_gb_per_gpu (GB at the operating batch), kv_cache_tokens (replica KV capacity, tokens),
  capacity_rps (highest Poisson rate one replica sustains meeting every SLO at the percentile, req/s),
  ttft_ms, tpot_ms, e2e_ms (at that percentile at capacity), output_tokens_per_s (at capacity),
  ttft_floor_ms, tpot_floor_ms (one request alone), utilisation (busy fraction λ/λ_sat at capacity),
  batch (mean requests decoding at capacity), max_batch_effective (the batch bound actually used),
  kv_quant_effective (the KV dtype used, after the profile default for an empty kv_quant).

Conventions: GPUs per replica = tp·pp·ep. ep > 1 (MoE only) means attention, dense and shared layers
run data-parallel over ep groups of tp GPUs (each group holds its own requests' KV cache) while routed
experts are sharded over all ep·tp GPUs of a pipeline stage; tokens reach their experts by all-to-all.
max_batch is the most requests decoding at once in the replica (the engine's max_num_seqs); the batch
actually used is also bounded by the KV cache and the iteration token budget (`max_batch_effective`).
NaN max_batch means the engine's default. An empty kv_quant means the profile's default KV dtype.

Catalog look-ups run once per distinct key (model; accelerator × engine; × quant; × kv_quant; × tp),
never once per row; all per-row arithmetic is numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from solver.catalog.schema import Accelerator, Engine
from solver.errors import CatalogError
from solver.perf import memory as mem
from solver.perf.arch import KV_BYTES, WEIGHT_BYTES, compute_dtype, geometry, weight_bytes
from solver.perf.kernels import KernelLibrary
from solver.perf.latency import step_time
from solver.perf.profiles import default_kv_quant, resolve_profile, support_reason
from solver.perf.serving import Serving

REQUIRED = ("model", "accelerator", "engine", "quant", "kv_quant", "tp", "pp", "ep", "max_batch", "isl", "osl")
OPTIONAL = {"slo_ttft_ms": np.nan, "slo_tpot_ms": np.nan, "slo_e2e_ms": np.nan, "percentile": 99.0}


def _per_key(df: pd.DataFrame, cols: list[str], fn, keys_out: dict | None = None) -> tuple[list, np.ndarray]:
    """Apply fn(*key) once per distinct key; returns (values per distinct key, row -> key index)."""
    if len(df) == 0:
        return [], np.zeros(0, int)
    combined = np.zeros(len(df), dtype=np.int64)
    uniq_cols = []
    for c in cols:
        codes, uniques = pd.factorize(df[c].to_numpy(), use_na_sentinel=False)
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
    for c in ("model", "accelerator", "engine", "quant", "kv_quant"):
        codes, uniques = pd.factorize(out[c], use_na_sentinel=False)
        clean = np.array(["" if (u is None or (isinstance(u, float) and np.isnan(u))) else str(u).strip().lower()
                          for u in uniques], dtype=object)
        out[c] = clean[codes] if len(uniques) else out[c].astype(str)
    return out


class Prepared:
    """Per-row arrays of the performance model for the rows that pass the static checks."""

    def __init__(self, df: pd.DataFrame, catalog, kernels: KernelLibrary | None = None):
        self.df = df = normalise(df)
        n = len(df)
        self.kernels = kernels or KernelLibrary()
        reason = np.full(n, "", dtype=object)

        def flag(mask, msg):
            mask = np.asarray(mask, bool) & (reason == "")
            if np.any(mask):
                if callable(msg):
                    idx = np.flatnonzero(mask)
                    reason[idx] = [msg(i) for i in idx]
                else:
                    reason[mask] = msg

        # --- catalog entries ---------------------------------------------------------------
        models, mcode = _per_key(df, ["model"], lambda m: _lookup(catalog, "models", m))
        accs, acode = _per_key(df, ["accelerator"], lambda a: _lookup(catalog, "accelerators", a))
        engs, ecode = _per_key(df, ["engine"], lambda e: _lookup(catalog, "engines", e))
        flag(np.array([m is None for m in models])[mcode],
             lambda i: f"catalog: unknown model {df['model'].iat[i]!r}")
        flag(np.array([a is None for a in accs])[acode],
             lambda i: f"catalog: unknown accelerator {df['accelerator'].iat[i]!r}")
        flag(np.array([e is None for e in engs])[ecode],
             lambda i: f"catalog: unknown engine {df['engine'].iat[i]!r} (not an id or alias)")
        flag(~df["quant"].isin(list(WEIGHT_BYTES)).to_numpy(), lambda i: f"quant: unknown {df['quant'].iat[i]!r}")
        for c in ("tp", "pp", "ep", "max_batch", "isl", "osl"):
            v = df[c].to_numpy()
            bad = (v < 1) if c == "max_batch" else (~(v >= 1) | np.isnan(v))
            flag(bad, f"input: {c} must be >= 1")

        # --- geometry per model ------------------------------------------------------------
        geo_rows = [geometry(m).as_dict() if m is not None else None for m in models]
        keys = next((list(r) for r in geo_rows if r), [])
        self.g = {k: np.array([r[k] if r else np.nan for r in geo_rows], float)[mcode] for k in keys}
        g = self.g
        # Invalid sizes (< 1) are already flagged; 1 keeps the arithmetic below quiet.
        tp, pp, ep = (np.where(df[c].to_numpy() >= 1, df[c].to_numpy(), 1.0) for c in ("tp", "pp", "ep"))
        S = df["isl"].to_numpy()
        osl = df["osl"].to_numpy()

        ok = reason == ""
        if keys:
            heads, kvh = g["heads"], g["kv_heads"]
            flag(ok & (np.mod(heads, tp) != 0),
                 lambda i: f"parallelism: tp {tp[i]:.0f} does not divide {heads[i]:.0f} attention heads")
            gqa = g["is_mla"] == 0
            flag(ok & gqa & (np.mod(kvh, tp) != 0) & (np.mod(tp, kvh) != 0),
                 lambda i: f"parallelism: tp {tp[i]:.0f} and {kvh[i]:.0f} KV heads do not divide each other")
            flag(ok & (ep > 1) & (g["n_moe_layers"] == 0), "parallelism: ep > 1 needs a mixture-of-experts model")
            flag(ok & (g["n_moe_layers"] > 0) & (np.mod(g["experts"], ep) != 0),
                 lambda i: f"parallelism: ep {ep[i]:.0f} does not divide {g['experts'][i]:.0f} experts")
            flag(ok & (pp > g["layers"]), "parallelism: pp exceeds the number of layers")
            flag(ok & (S + osl > g["max_context"]),
                 lambda i: f"context: isl+osl {S[i] + osl[i]:.0f} exceeds the model's "
                           f"{g['max_context'][i]:.0f}-token context")

        # --- accelerator, engine, profile ----------------------------------------------------
        def acc_engine(a, e):
            acc: Accelerator | None = _lookup(catalog, "accelerators", a)
            eng: Engine | None = _lookup(catalog, "engines", e)
            if acc is None or eng is None:
                return None
            prof = resolve_profile(eng, acc.family)
            if prof is None:
                return {"reason": f"engine: {eng.id} has no efficiency profile for the {acc.family} family"}
            fw = prof.kernel_framework or eng.id
            pfa = self.kernels.curve(acc, "prefill_attention", fw, "bf16")
            floor = self.kernels.curve(acc, "gemm", fw, "bf16").t0_s
            scale_c, scale_m = prof.compute_efficiency, prof.memory_efficiency
            out = {
                "reason": "", "acc": acc, "eng": eng, "prof": prof, "fw": fw,
                "memory_gb": acc.memory_gb, "bw": acc.hbm_bandwidth_tb_s * 1e12,
                "peak_bf16": (acc.peak_tflops.bf16 or acc.peak_tflops.fp16) * 1e12,
                "domain": float(max(acc.scale_up_domain_gpus, 1)),
                "pfa_eta_c": pfa.eta_c * scale_c, "pfa_eta_m": pfa.eta_m * scale_m, "pfa_p": pfa.p,
                "pfa_t0": pfa.t0_s,
                "step_overhead": prof.step_overhead_ms * 1e-3, "ttft_overhead": prof.ttft_overhead_ms * 1e-3,
                "max_num_tokens": float(prof.max_num_tokens), "util": prof.memory_utilisation,
                "reserve_gb": prof.runtime_reserve_gb, "kv_admit": prof.kv_admission_output_fraction,
                "max_batch_default": float(prof.max_batch_default),
                "kv_free": float(prof.kv_memory_fraction_of_free),
                "floor": floor,
                "p2p_alpha": self.kernels.p2p_latency_s(acc),
                "inter_bw": (acc.inter_node_bandwidth_gb_s or 25.0) * 1e9,
            }
            return out

        ae_map: dict = {}
        ae, aecode = _per_key(df, ["accelerator", "engine"], acc_engine, ae_map)

        def quant_fn(a, e, q):
            base = ae_map[(a, e)]
            if not base or base["reason"] or q not in WEIGHT_BYTES:
                return None
            acc = base["acc"]
            peak_key, dt = compute_dtype(acc, q)
            peak = getattr(acc.peak_tflops, peak_key) * 1e12
            gemm = self.kernels.curve(acc, "gemm", base["fw"], dt)
            # fp8 MoE: TensorRT-LLM serves ModelOpt per-tensor fp8 checkpoints; vLLM and SGLang serve the
            # published block-scaled ones (DeepSeek, Qwen3-FP8), run by their fp8_block MoE kernels.
            moe_dt = ("fp8" if base["fw"] == "trtllm" else "fp8_block") if dt == "fp8" else dt
            moe = self.kernels.curve(acc, "moe", base["fw"], moe_dt)
            prof = base["prof"]
            return {"peak": peak, "peak_moe": peak,
                    "gemm_eta_c": gemm.eta_c * prof.compute_efficiency,
                    "gemm_eta_m": gemm.eta_m * prof.memory_efficiency, "gemm_p": gemm.p, "gemm_t0": gemm.t0_s,
                    "moe_eta_c": moe.eta_c * prof.compute_efficiency,
                    "moe_eta_m": moe.eta_m * prof.memory_efficiency, "moe_p": moe.p, "moe_t0": moe.t0_s,
                    "moe_gamma": moe.gamma}

        def kv_fn(a, e, kq):
            base = ae_map[(a, e)]
            if not base or base["reason"] or kq not in KV_BYTES:
                return None
            dca = self.kernels.curve(base["acc"], "decode_attention", base["fw"], "fp8" if kq == "fp8" else "bf16")
            prof = base["prof"]
            return {"beta_kv": KV_BYTES[kq], "dca_eta_c": dca.eta_c * prof.compute_efficiency,
                    "dca_eta_m": dca.eta_m * prof.memory_efficiency, "dca_p": dca.p, "dca_t0": dca.t0_s}

        qv, qcode = _per_key(df, ["accelerator", "engine", "quant"], quant_fn)

        # KV dtype not given: the profile's default (see EfficiencyProfile.kv_quant_default).
        unset = df["kv_quant"].isin(["", "nan", "none", "auto"]).to_numpy()
        if unset.any():
            def kv_default(m, a, e, q):
                base = ae_map.get((a, e))
                model = _lookup(catalog, "models", m)
                if not base or base["reason"] or model is None:
                    return "bf16"
                return default_kv_quant(base["prof"], base["eng"], base["acc"], model, q)

            sub_df = df[unset]
            vals, codes = _per_key(sub_df, ["model", "accelerator", "engine", "quant"], kv_default)
            df.loc[unset, "kv_quant"] = [vals[c] for c in codes]
        kv, kcode = _per_key(df, ["accelerator", "engine", "kv_quant"], kv_fn)
        ok_kv = reason == ""
        flag(ok_kv & ~df["kv_quant"].isin(list(KV_BYTES)).to_numpy(),
             lambda i: f"kv_quant: unknown {df['kv_quant'].iat[i]!r}")

        arch = np.array([m.architecture if m is not None else "" for m in models], dtype=object)[mcode]
        fam = np.array([a.family if a is not None else "" for a in accs], dtype=object)[acode]
        arch_model = {m.architecture: m for m in models if m is not None}

        no_int4 = np.array([a is not None and not a.int4_weight_only for a in accs], bool)[acode]
        flag((reason == "") & no_int4 & (df["quant"].to_numpy() == "int4"),
             lambda i: f"quant: {df['accelerator'].iat[i]} has no weight-only int4 kernels")

        def sup_fn(ar, fa, e, q, kq):
            eng = _lookup(catalog, "engines", e)
            if not ar or not fa or eng is None:
                return ""
            return support_reason(eng, fa, arch_model[ar], q, kq)

        keyed = pd.DataFrame({"a": arch, "f": fam, "e": df["engine"].to_numpy(), "q": df["quant"].to_numpy(),
                              "k": df["kv_quant"].to_numpy()})
        sv, scode = _per_key(keyed, ["a", "f", "e", "q", "k"], sup_fn)
        ok = reason == ""
        flag(ok & np.array([v != "" for v in sv], bool)[scode], lambda i: sv[scode[i]])
        ok = reason == ""
        flag(ok & np.array([v is not None and v["reason"] != "" for v in ae], bool)[aecode],
             lambda i: ae[aecode[i]]["reason"])

        # --- assemble arrays for the rows still usable ----------------------------------------
        ok = reason == ""
        self.ok = ok
        idx = np.flatnonzero(ok)
        self.idx = idx
        self.reason = reason
        if len(idx) == 0:
            self.R = {"g": {}}
            return
        R: dict = {"g": {k: v[idx] for k, v in g.items()}}
        def take(values, codes, name):
            table = np.array([v[name] if v and not v.get("reason") else np.nan for v in values], float)
            return table[codes[idx]]

        for name in ("bw", "peak_bf16", "domain", "pfa_eta_c", "pfa_eta_m", "pfa_p", "pfa_t0", "step_overhead",
                     "ttft_overhead", "max_num_tokens", "util", "reserve_gb", "kv_admit", "memory_gb",
                     "max_batch_default", "p2p_alpha", "inter_bw", "kv_free", "floor"):
            R[name] = take(ae, aecode, name)
        for name in ("peak", "peak_moe", "gemm_eta_c", "gemm_eta_m", "gemm_p", "gemm_t0", "moe_eta_c",
                     "moe_eta_m", "moe_p", "moe_t0", "moe_gamma"):
            R[name] = take(qv, qcode, name)
        for name in ("beta_kv", "dca_eta_c", "dca_eta_m", "dca_p", "dca_t0"):
            R[name] = take(kv, kcode, name)
        qcodes, quniq = pd.factorize(df["quant"].to_numpy()[idx])
        b = np.array([weight_bytes(q, "") for q in quniq], float).reshape(-1, 2)
        R["beta_ne"] = b[qcodes, 0] if len(idx) else np.zeros(0)
        R["beta_e"] = b[qcodes, 1] if len(idx) else np.zeros(0)
        R["tp"], R["pp"], R["ep"] = tp[idx], pp[idx], ep[idx]

        # Links: tensor-parallel all-reduce within tp; all-to-all over tp·ep; pipeline hops.
        sub = df.iloc[idx].assign(_tp=tp[idx], _n=tp[idx] * ep[idx])

        def link_fn(a, e, n, kind):
            base = ae_map[(a, e)]
            return self.kernels.link(base["acc"], kind, base["fw"] if kind == "allreduce" else "nccl", int(n))

        if len(idx):
            arl, arc = _per_key(sub, ["accelerator", "engine", "_tp"], lambda a, e, n: link_fn(a, e, n, "allreduce"))
            a2l, a2c = _per_key(sub, ["accelerator", "engine", "_n"], lambda a, e, n: link_fn(a, e, n, "alltoall"))
            R["ar_alpha"] = np.array([v.alpha_s for v in arl])[arc]
            R["ar_busbw"] = np.array([v.busbw_bytes_s for v in arl])[arc]
            R["a2a_alpha"] = np.array([v.alpha_s for v in a2l])[a2c]
            R["a2a_busbw"] = np.array([v.busbw_bytes_s for v in a2l])[a2c]
        else:
            for k in ("ar_alpha", "ar_busbw", "a2a_alpha", "a2a_busbw"):
                R[k] = np.zeros(0)
        # Groups larger than the scale-up domain use the network.
        cross_ar = R["tp"] > R["domain"]
        cross_a2a = R["tp"] * R["ep"] > R["domain"]
        R["ar_busbw"] = np.where(cross_ar, np.minimum(R["ar_busbw"], R["inter_bw"]), R["ar_busbw"])
        R["a2a_busbw"] = np.where(cross_a2a, np.minimum(R["a2a_busbw"], R["inter_bw"]), R["a2a_busbw"])
        cross_pp = R["tp"] * R["ep"] * R["pp"] > R["domain"]
        R["p2p_bw"] = np.where(cross_pp, R["inter_bw"], R["ar_busbw"])
        R["kv_elems_local"] = mem.kv_elems_local(R["g"], R["tp"])
        self.R = R
        self.reason = reason

        # tp beyond the scale-up domain is not offered (tensor parallel all-reduces every layer).
        rs = self._sub_reason()
        bad = R["tp"] > R["domain"]
        rs[bad] = [f"parallelism: tp {t:.0f} exceeds the {d:.0f}-GPU scale-up domain"
                   for t, d in zip(R["tp"][bad], R["domain"][bad], strict=True)]
        self._set_sub_reason(rs)

    def _sub_reason(self):
        return self.reason[self.idx].copy()

    def _set_sub_reason(self, rs):
        self.reason[self.idx] = rs

    # --- memory ----------------------------------------------------------------------------
    def memory(self, max_batch):
        """(weights+activations+reserve bytes, free bytes for KV, KV bytes/request, B_max) per usable row."""
        R, df, idx = self.R, self.df, self.idx
        g = R["g"]
        S = df["isl"].to_numpy()[idx]
        osl = df["osl"].to_numpy()[idx]
        w = mem.weights_per_gpu(g, R["beta_ne"], R["beta_e"], R["tp"], R["pp"], R["ep"])
        act = mem.activation_bytes(g, R["tp"], R["max_num_tokens"])
        usable = mem.usable_bytes(R["memory_gb"], R["util"], R["reserve_gb"])
        after = R["memory_gb"] * mem.GB - R["reserve_gb"] * mem.GB - w - act
        free = np.where(R["kv_free"] > 0, after * R["util"], usable - w - act)
        per_req_full = mem.kv_bytes_per_request(g, R["beta_kv"], R["tp"], R["pp"], S + osl)
        per_req_admit = mem.kv_bytes_per_request(g, R["beta_kv"], R["tp"], R["pp"], S + R["kv_admit"] * osl)
        per_token = mem.kv_bytes_per_request(g, R["beta_kv"], R["tp"], R["pp"], 1.0)
        b_kv = R["ep"] * np.floor(np.maximum(free, 0) / per_req_admit)
        mb = np.where(np.isnan(max_batch), R["max_batch_default"], max_batch)
        b_max = np.minimum(np.minimum(mb, b_kv), R["max_num_tokens"])
        return {"weights": w, "act": act, "usable": usable, "free": free, "per_req_full": per_req_full,
                "per_req_mean": mem.kv_bytes_per_request(g, R["beta_kv"], R["tp"], R["pp"], S + osl / 2),
                "kv_tokens": R["ep"] * np.maximum(free, 0) / per_token, "b_max": b_max,
                "device": R["memory_gb"] * mem.GB * np.where(R["kv_free"] > 0, 1.0, R["util"])}


def subset(R: dict, sel) -> dict:
    """Rows `sel` of every per-row array in R (and of the geometry dict)."""
    out = {}
    for k, v in R.items():
        if k == "g":
            out[k] = {gk: gv[sel] for gk, gv in v.items()}
        elif isinstance(v, np.ndarray) and v.ndim == 1:
            out[k] = v[sel]
        else:
            out[k] = v
    return out


def _ms(x):
    return x * 1e3


def evaluate_candidates(df_in: pd.DataFrame, catalog, kernels: KernelLibrary | None = None) -> pd.DataFrame:
    """Vectorised performance model over replica configurations (see module docstring for columns)."""
    prep = Prepared(df_in, catalog, kernels)
    df = prep.df
    n = len(df)
    out = df_in.copy()
    cols = {c: np.full(n, np.nan) for c in ("memory_gb_per_gpu", "kv_cache_tokens", "capacity_rps", "ttft_ms",
                                             "tpot_ms", "e2e_ms", "output_tokens_per_s", "ttft_floor_ms",
                                             "tpot_floor_ms", "utilisation", "batch", "max_batch_effective")}
    tp = np.nan_to_num(df["tp"].to_numpy(), nan=1.0)
    pp = np.nan_to_num(df["pp"].to_numpy(), nan=1.0)
    ep = np.nan_to_num(df["ep"].to_numpy(), nan=1.0)
    out["gpus"] = (tp * pp * ep).astype(int)
    idx = prep.idx
    reason = prep.reason
    if len(idx):
        R = prep.R
        m = prep.memory(df["max_batch"].to_numpy()[idx])
        need = m["weights"] + m["act"] + R["reserve_gb"] * mem.GB + m["per_req_full"]
        rs = reason[idx].copy()
        no_mem = (m["free"] < m["per_req_full"]) & (rs == "")
        rs[no_mem] = [f"memory: needs {a / mem.GB:.1f} GB/GPU, {b / mem.GB:.1f} available"
                      for a, b in zip(need[no_mem], m["device"][no_mem], strict=True)]
        live = rs == ""
        b_max_all = np.maximum(m["b_max"], 1.0)
        if live.any():
            L = np.flatnonzero(live)
            rows = idx[L]
            RL = subset(R, L)
            b_max = b_max_all[L]
            pctl = df["percentile"].to_numpy()[rows]
            sv = Serving(RL, df["isl"].to_numpy()[rows], df["osl"].to_numpy()[rows], b_max, pctl)
            slo_ttft = df["slo_ttft_ms"].to_numpy()[rows] * 1e-3
            slo_tpot = df["slo_tpot_ms"].to_numpy()[rows] * 1e-3
            slo_e2e = df["slo_e2e_ms"].to_numpy()[rows] * 1e-3
            has_slo = ~(np.isnan(slo_ttft) & np.isnan(slo_tpot) & np.isnan(slo_e2e))
            x = sv.x_max.copy()
            if has_slo.any():
                S = np.flatnonzero(has_slo)
                sub = Serving(subset(RL, S), sv.S[S], sv.O[S], b_max[S], pctl[S])
                x[S] = sub.capacity(slo_ttft[S], slo_tpot[S], slo_e2e[S])
            pt = sv.point(x)
            floor = sv.point(np.full_like(x, 1e-9))
            tpot_floor = step_time(RL, 1.0, sv.ctx, 0.0, 0.0)
            cap = np.where(x > 0, pt.lam, 0.0)
            rl = rs[L]
            none = x <= 0
            for i in np.flatnonzero(none):
                p = f"p{pctl[i]:g}"
                if floor.ttft_p[i] > (slo_ttft[i] if not np.isnan(slo_ttft[i]) else np.inf):
                    rl[i] = f"slo: {p} TTFT {floor.ttft_p[i] * 1e3:.1f} ms > {slo_ttft[i] * 1e3:g} ms at batch 1"
                elif tpot_floor[i] > (slo_tpot[i] if not np.isnan(slo_tpot[i]) else np.inf):
                    rl[i] = f"slo: {p} TPOT {tpot_floor[i] * 1e3:.1f} ms > {slo_tpot[i] * 1e3:g} ms at batch 1"
                else:
                    rl[i] = f"slo: {p} E2E {floor.e2e_p[i] * 1e3:.0f} ms > {slo_e2e[i] * 1e3:g} ms at batch 1"
            rs[L] = rl
            ok = rl == ""
            batch_mem = np.minimum(pt.n_dec, b_max) / RL["ep"]
            vals = {
                "capacity_rps": np.where(ok, cap, 0.0), "ttft_ms": _ms(pt.ttft_p), "tpot_ms": _ms(pt.tpot_p),
                "e2e_ms": _ms(pt.e2e_p), "output_tokens_per_s": np.where(ok, cap * sv.O, 0.0),
                "ttft_floor_ms": _ms(floor.ttft_p), "tpot_floor_ms": _ms(tpot_floor),
                "utilisation": np.where(ok, pt.rho, 0.0), "batch": np.where(ok, pt.n_dec, 0.0),
                "memory_gb_per_gpu": (m["weights"][L] + m["act"][L] + RL["reserve_gb"] * mem.GB
                                      + batch_mem * m["per_req_mean"][L]) / mem.GB,
            }
            for k, v in vals.items():
                cols[k][rows] = v
        cols["kv_cache_tokens"][idx] = np.floor(m["kv_tokens"])
        cols["max_batch_effective"][idx] = b_max_all
        dead = ~live
        cols["memory_gb_per_gpu"][idx[dead]] = (need[dead]) / mem.GB
        reason[idx] = rs
    out["fits"] = reason == ""
    out["pruned_reason"] = reason.astype(str)
    out["kv_quant_effective"] = prep.df["kv_quant"].to_numpy()
    for k, v in cols.items():
        out[k] = v
    out["capacity_rps"] = out["capacity_rps"].fillna(0.0)
    out["output_tokens_per_s"] = out["output_tokens_per_s"].fillna(0.0)
    return out
