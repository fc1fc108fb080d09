"""`estimate`: one deployment (or many rows) under a named load mode, whole-system numbers.

Modes (per DESIGN §5 metrics; all latencies are means unless named p50/p90/p99):
- max_throughput: offline, every request issued at once; the batch fills to B_max (KV cache, max_batch,
  token budget). TTFT is reported without the wait for a batch slot, which depends on how many requests
  were issued (unknown to the model).
- rate R: Poisson arrivals at R req/s over all replicas (R/replicas each); above the saturation rate the
  system serves λ_sat and latencies are those at ρ = 0.99.
- concurrency N: closed loop with N requests in flight (N/replicas per replica).
- static_batch N: one batch of N requests (N/replicas per replica); e2e is the whole batch's latency.
- slo: the highest Poisson rate meeting slo_ttft_ms and slo_tpot_ms at the percentile.

When tp, pp or ep are not given, every parallelism that fits the GPUs is evaluated and the one with
the highest output throughput for the mode is reported (ties, within `TIE_REL`: fewer GPUs per replica,
then smaller tp).
`quant=None` means the model's native checkpoint dtype; `quant="best"` tries every weight format the
engine runs on the family and keeps the fastest.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from solver.catalog.schema import WEIGHT_QUANTS
from solver.errors import CatalogError, EstimateError
from solver.perf.candidates import Prepared
from solver.perf.kernels import KernelLibrary
from solver.perf.serving import Serving, closed_others

MODES = ("max_throughput", "concurrency", "rate", "static_batch", "slo")
POW2 = (1, 2, 4, 8, 16, 32, 64, 128)


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _int(v):
    return None if _blank(v) else int(float(v))


def _float(v):
    return None if _blank(v) else float(v)


def _percentile(v) -> float:
    """99 when blank; `serving.MEAN_PERCENTILE` (0) stays 0, it asks for means."""
    p = _float(v)
    return 99.0 if p is None else p


def _parallel_options(model, acc, gpus: int, tp, pp, ep) -> list[tuple[int, int, int]]:
    tps = [tp] if tp else [t for t in POW2 if t <= gpus and t <= max(acc.scale_up_domain_gpus, 1)]
    pps = [pp] if pp else [p for p in POW2 if p <= gpus]
    eps = [ep] if ep else ([e for e in POW2 if e <= gpus] if model.is_moe else [1])
    out = [(t, p, e) for t in tps for p in pps for e in eps if t * p * e <= gpus and gpus % (t * p * e) == 0]
    return out or [(tp or 1, pp or 1, ep or 1)]


def _quant_options(catalog, model, acc, engine, quant) -> list[str]:
    if _blank(quant):
        return [model.native_dtype]
    if str(quant).lower() != "best":
        return [str(quant).lower()]
    eng = catalog.lookup("engines", engine)
    runs = {q for s in eng.support if acc.family in s.families and model.architecture in s.architectures
            for q in s.weight_quants}
    return [q for q in WEIGHT_QUANTS if q in runs] or [model.native_dtype]


def expand(rows: list[dict], catalog) -> tuple[pd.DataFrame, list[str | None]]:
    """Candidate replica rows for every request row; errors per request row."""
    cand = []
    errors: list[str | None] = []
    for i, r in enumerate(rows):
        try:
            model = catalog.lookup("models", str(r["model"]).strip().lower())
            acc = catalog.lookup("accelerators", str(r["accelerator"]).strip().lower())
            engine = str(r.get("engine") or "vllm").strip().lower()
            catalog.lookup("engines", engine)
            mode = str(r.get("mode") or "max_throughput").strip().lower()
            if mode not in MODES:
                raise EstimateError(f"mode: unknown {mode!r}; one of {', '.join(MODES)}")
            for k in ("isl", "osl"):
                if _float(r.get(k)) is None or _float(r.get(k)) < 1:
                    raise EstimateError(f"{k}: a positive token count is required")
            if mode in ("concurrency", "rate", "static_batch") and (_float(r.get("mode_value")) or 0) <= 0:
                raise EstimateError(f"mode {mode} needs a positive mode_value")
            if mode == "slo" and _float(r.get("slo_ttft_ms")) is None and _float(r.get("slo_tpot_ms")) is None:
                raise EstimateError("mode slo needs slo_ttft_ms and/or slo_tpot_ms")
            tp, pp, ep = _int(r.get("tp")), _int(r.get("pp")), _int(r.get("ep"))
            gpus = _int(r.get("gpus")) or (tp or 1) * (pp or 1) * (ep or 1)
            if (tp or 1) * (pp or 1) * (ep or 1) > gpus:
                raise EstimateError(f"gpus: {gpus} is fewer than tp·pp·ep = {(tp or 1) * (pp or 1) * (ep or 1)}")
            kv = "" if _blank(r.get("kv_quant")) else str(r["kv_quant"]).strip().lower()
            for q in _quant_options(catalog, model, acc, engine, r.get("quant")):
                for t, p, e in _parallel_options(model, acc, gpus, tp, pp, ep):
                    cand.append({"req": i, "model": model.id, "accelerator": acc.id, "engine": engine, "quant": q,
                                 "kv_quant": kv, "tp": t, "pp": p, "ep": e, "gpus_total": gpus,
                                 "max_batch": _float(r.get("max_batch")), "isl": float(r["isl"]),
                                 "osl": float(r["osl"]), "mode": mode, "mode_value": _float(r.get("mode_value")),
                                 "slo_ttft_ms": _float(r.get("slo_ttft_ms")),
                                 "slo_tpot_ms": _float(r.get("slo_tpot_ms")),
                                 "percentile": _percentile(r.get("percentile"))})
            errors.append(None)
        except (CatalogError, EstimateError) as exc:
            errors.append(str(exc).strip())
        except (ValueError, OverflowError) as exc:  # a non-number in a numeric column: this row's error
            errors.append(f"not a number: {exc}")
    return pd.DataFrame(cand), errors


def evaluate_modes(cand: pd.DataFrame, catalog, kernels: KernelLibrary | None = None) -> pd.DataFrame:
    """Whole-system metrics per candidate row (columns documented in `_FIELDS`)."""
    out = cand.copy()
    n = len(cand)
    for f in _FIELDS:
        out[f] = np.nan
    out["reason"] = ""
    if n == 0:
        return out
    df = cand.assign(slo_e2e_ms=np.nan).astype({"slo_ttft_ms": float, "slo_tpot_ms": float, "max_batch": float})
    prep = Prepared(df, catalog, kernels)
    out["kv_quant"] = prep.df["kv_quant"].to_numpy()
    idx = prep.idx
    reason = prep.reason.copy()
    if len(idx):
        R = prep.R
        m = prep.memory(prep.df["max_batch"].to_numpy()[idx])
        rs = reason[idx].copy()
        no_mem = (m["free"] < m["per_req_full"]) & (rs == "")
        need = m["weights"] + m["act"] + R["reserve_gb"] * 1e9 + m["per_req_full"]
        rs[no_mem] = [f"memory: needs {a / 1e9:.1f} GB/GPU, {b / 1e9:.1f} available"
                      for a, b in zip(need[no_mem], m["device"][no_mem], strict=True)]
        sub = df.iloc[idx]
        per = (sub["tp"] * sub["pp"] * sub["ep"]).to_numpy(float)
        replicas = np.floor(sub["gpus_total"].to_numpy(float) / per)
        S, osl = sub["isl"].to_numpy(float), sub["osl"].to_numpy(float)
        b_max = np.maximum(m["b_max"], 1.0)
        mode = sub["mode"].to_numpy()
        val = sub["mode_value"].to_numpy(float)
        pct = sub["percentile"].to_numpy(float)
        sv = {p: Serving(R, S, osl, b_max, np.full(len(idx), p)) for p in (50.0, 90.0, 99.0)}
        svp = Serving(R, S, osl, b_max, pct)
        base = sv[99.0]
        x = base.x_max.copy()
        kw_closed = np.zeros(len(idx), bool)
        others = np.ones(len(idx))
        extra = np.zeros(len(idx))
        lam = base.lam_sat.copy()
        saturated = np.zeros(len(idx), bool)
        # rate
        r = mode == "rate"
        lam_r = np.where(r, val / replicas, 1.0)
        if r.any():
            xr = base.bisect(lambda pt: pt.lam <= lam_r)
            x = np.where(r, xr, x)
            saturated |= r & (lam_r >= base.lam_sat)
        c = mode == "concurrency"
        if c.any():
            n_r = np.where(c, val / replicas, 1.0)
            others = np.where(c, closed_others(n_r), 1.0)
            xc = base.bisect(lambda pt: pt.lam * (pt.ttft_mean + base.O1 * pt.tpot_mean) <= n_r, queue_slots=False,
                             others=others)
            x = np.where(c, xc, x)
            sat = c & (n_r > b_max)
            extra = np.where(sat, (n_r - b_max) / base.lam_sat, 0.0)
            saturated |= sat
            kw_closed |= c
        s = mode == "slo"
        if s.any():
            xs = svp.capacity(np.where(s, sub["slo_ttft_ms"].to_numpy(float) * 1e-3, np.nan),
                              np.where(s, sub["slo_tpot_ms"].to_numpy(float) * 1e-3, np.nan),
                              np.full(len(idx), np.nan))
            x = np.where(s, xs, x)
            rs[s & (xs <= 0) & (rs == "")] = "slo: no load level meets the SLOs on this configuration"
        mt = mode == "max_throughput"
        pts = {}
        for p, svx in sv.items():
            q_open = svx.point(x, queue_slots=True, others=others)
            q_closed = svx.point(x, closed_extra_wait=extra, queue_slots=False, others=others)
            pts[p] = (q_open, q_closed)
        res = {}
        for p in (50.0, 90.0, 99.0):
            q_open, q_closed = pts[p]
            use_closed = kw_closed | mt
            ttft_p = np.where(use_closed, q_closed.ttft_p, q_open.ttft_p)
            res[f"ttft_p{p:.0f}_ms"] = ttft_p * 1e3
            res[f"tpot_p{p:.0f}_ms"] = q_open.tpot_p * 1e3
        q_open, q_closed = pts[99.0]
        use_closed = kw_closed | mt
        # The row's own percentile (or mean), e.g. p95, beside the fixed p50/p90/p99.
        q_pct, q_pct_closed = svp.point(x, queue_slots=True, others=others), \
            svp.point(x, closed_extra_wait=extra, queue_slots=False, others=others)
        res["ttft_at_percentile_ms"] = np.where(use_closed, q_pct_closed.ttft_p, q_pct.ttft_p) * 1e3
        res["tpot_at_percentile_ms"] = q_pct.tpot_p * 1e3
        ttft = np.where(use_closed, q_closed.ttft_mean, q_open.ttft_mean)
        tpot = q_open.tpot_mean
        # An open loop below saturation serves exactly the offered rate (the bisection only brackets it).
        lam = np.where(r, np.where(saturated, base.lam_sat, lam_r), q_open.lam)
        lam = np.where(c & saturated, base.lam_sat, lam)
        lam = np.where(mt, base.lam_sat, lam)
        batch = q_open.n_dec
        e2e = ttft + base.O1 * tpot
        rho = np.minimum(lam / base.lam_sat, 1.0)
        st = mode == "static_batch"
        if st.any():
            n_s = np.where(st, np.ceil(val / replicas), 1.0)
            s_ttft, s_tau, s_e2e = base.static_batch(n_s)
            ttft = np.where(st, s_ttft, ttft)
            tpot = np.where(st, s_tau, tpot)
            e2e = np.where(st, s_e2e, e2e)
            lam = np.where(st, n_s / s_e2e, lam)
            batch = np.where(st, np.minimum(n_s, b_max), batch)
            for p in ("p50", "p90", "p99", "at_percentile"):
                res[f"ttft_{p}_ms"] = np.where(st, s_ttft * 1e3, res[f"ttft_{p}_ms"])
                res[f"tpot_{p}_ms"] = np.where(st, s_tau * 1e3, res[f"tpot_{p}_ms"])
        live = rs == ""
        tok = lam * osl * replicas
        batch_mem = np.minimum(batch, b_max) / R["ep"]
        vals = {
            "replicas": replicas, "batch": batch, "max_batch_effective": b_max,
            "memory_gb_per_gpu": (m["weights"] + m["act"] + R["reserve_gb"] * 1e9
                                  + batch_mem * m["per_req_mean"]) / 1e9,
            "kv_cache_tokens": np.floor(m["kv_tokens"]),
            "ttft_ms": ttft * 1e3, "tpot_ms": tpot * 1e3, "e2e_ms": e2e * 1e3,
            "e2e_p99_ms": (res["ttft_p99_ms"] + base.O1 * res["tpot_p99_ms"]),
            "requests_per_s": lam * replicas, "output_tokens_per_s": tok,
            "output_tokens_per_s_per_gpu": tok / sub["gpus_total"].to_numpy(float),
            "utilisation": np.where(st, 1.0, rho),
            "saturated": saturated.astype(float), **res,
        }
        for k, v in vals.items():
            arr = out[k].to_numpy(float).copy()
            arr[idx] = np.where(live, v, np.nan) if k not in ("memory_gb_per_gpu", "kv_cache_tokens") else v
            out[k] = arr
        reason[idx] = rs
    out["reason"] = reason.astype(str)
    out["fits"] = out["reason"] == ""
    return out


_FIELDS = ("replicas", "batch", "max_batch_effective", "memory_gb_per_gpu", "kv_cache_tokens", "ttft_ms", "tpot_ms",
           "e2e_ms", "ttft_p50_ms", "ttft_p90_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p90_ms", "tpot_p99_ms",
           "e2e_p99_ms", "requests_per_s", "output_tokens_per_s", "output_tokens_per_s_per_gpu", "utilisation",
           "saturated", "ttft_at_percentile_ms", "tpot_at_percentile_ms")
OUTPUT_KEYS = ("fits", "reason", "model", "accelerator", "engine", "quant", "kv_quant", "gpus", "tp", "pp", "ep",
               "mode", "mode_value", "percentile", *_FIELDS)


TIE_REL = 1e-3
"""Candidates whose output throughput is within this fraction of the best are ties, settled by fewer GPUs
per replica, then smaller tp."""


def _pick(group: pd.DataFrame) -> pd.Series:
    ok = group[group["fits"]]
    if len(ok):
        per = ok["tp"] * ok["pp"] * ok["ep"]
        # Throughputs within TIE_REL of each other are ties (they come from bisections).
        thr = ok["output_tokens_per_s"].to_numpy(float)
        best = np.nanmax(thr) if len(thr) else 0.0
        tied = thr >= best * (1.0 - TIE_REL)
        key = ok.assign(_per=per, _neg=np.where(tied, -best, -thr))
        return key.sort_values(["_neg", "_per", "tp"]).iloc[0]
    # None fits: report the most informative reason. Parallelism mismatches are artefacts of the
    # search, so prefer any other reason, and among those the largest replica (e.g. its memory need).
    per = group["tp"] * group["pp"] * group["ep"]
    search = group["reason"].str.startswith("parallelism:").astype(int)
    return group.assign(_per=per, _search=search).sort_values(["_search", "_per"], ascending=[True, False]).iloc[0]


def estimate_many(rows: list[dict], catalog, kernels: KernelLibrary | None = None) -> list[dict]:
    """One result dict per input row, in input order (errors become fits=False with `error`)."""
    cand, errors = expand(rows, catalog)
    res = evaluate_modes(cand, catalog, kernels) if len(cand) else cand
    out: list[dict] = []
    groups = dict(tuple(res.groupby("req"))) if len(res) else {}
    for i, row in enumerate(rows):
        if errors[i] is not None:
            out.append({"fits": False, "reason": errors[i], "error": errors[i], **_echo(row)})
            continue
        best = _pick(groups[i])
        d = {k: _clean(best.get(k)) for k in OUTPUT_KEYS if k in best.index}
        d["gpus"] = int(best["gpus_total"])
        for k in ("tp", "pp", "ep"):
            d[k] = int(best[k])
        d["fits"] = bool(best["fits"])
        d["replicas"] = int(best["replicas"]) if d["fits"] else 0
        d["saturated"] = bool(best.get("saturated") == 1.0)
        d["engine_requested"] = str(row.get("engine") or "vllm").strip().lower()
        d["engine"] = catalog.lookup("engines", d["engine_requested"]).id
        for k in ("case_id",):
            if k in row and not _blank(row[k]):
                d[k] = row[k]
        out.append(d)
    return out


def _echo(row: dict) -> dict:
    keep = ("case_id", "model", "accelerator", "engine", "quant", "mode", "mode_value")
    return {k: _clean(row.get(k)) for k in keep if k in row}


def _clean(v):
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def estimate(model: str, accelerator: str, gpus: int | None = None, *, isl: float, osl: float,
             mode: str = "max_throughput", mode_value: float | None = None, tp: int | None = None,
             pp: int | None = None, ep: int | None = None, quant: str | None = None, kv_quant: str | None = None,
             engine: str = "vllm", slo_ttft_ms: float | None = None, slo_tpot_ms: float | None = None,
             percentile: float = 99.0, max_batch: int | None = None, catalog=None) -> dict:
    """Predict one deployment under a load mode; see the module docstring. Raises EstimateError."""
    if catalog is None:
        from solver.catalog.loader import load_catalog

        catalog = load_catalog()
    row = {"model": model, "accelerator": accelerator, "gpus": gpus, "isl": isl, "osl": osl, "mode": mode,
           "mode_value": mode_value, "tp": tp, "pp": pp, "ep": ep, "quant": quant, "kv_quant": kv_quant,
           "engine": engine, "slo_ttft_ms": slo_ttft_ms, "slo_tpot_ms": slo_tpot_ms, "percentile": percentile,
           "max_batch": max_batch}
    res = estimate_many([row], catalog)[0]
    if res.get("error"):
        raise EstimateError(res["error"])
    return res
