"""`estimate`: one deployment (or many rows) under a named load mode, whole-system numbers.

Modes (per DESIGN §5 metrics; all latencies are means unless named p50/p90/p99):
- max_throughput: offline, every request issued at once; the batch fills to B_max (KV cache, max_batch,
  token budget). TTFT is reported without the wait for a batch slot, which depends on how many requests
  were issued (unknown to the model).
- rate R: Poisson arrivals at R req/s over all replicas (R/replicas each); above the saturation rate the
  system serves λ_sat and latencies are those at ρ = 0.99.
- concurrency N: closed loop with N requests in flight (N/replicas per replica); `closed_loop="burst"`:
  every client sends at t = 0 and fixed lengths keep them in lockstep (`solver.perf.closed_loop`).
- static_batch N: one batch of N requests (N/replicas per replica); e2e is the whole batch's latency.
- slo: the highest Poisson rate meeting slo_ttft_ms and slo_tpot_ms at the percentile.

When tp, dp, pp or ep are not given, every layout that fits the GPUs is evaluated and the one with
the highest output throughput for the mode is reported (ties, within `TIE_REL`: fewer GPUs per replica,
then smaller tp).
`quant=None` means the model's native checkpoint dtype; `quant="best"` tries every weight format the
engine runs on the family and keeps the fastest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from solver.errors import CatalogError, EstimateError
from solver.perf import memory as mem
from solver.perf.breakdown import breakdown_columns, nest
from solver.perf.closed_loop import CLOSED_LOOP_STARTS, burst_concurrency_x, burst_wait_s
from solver.perf.kernels import KernelLibrary
from solver.perf.prepare import Prepared
from solver.perf.serving import Serving, closed_others
from solver.quants import WEIGHT_QUANTS

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


def _parallel_options(model, acc, gpus: int, tp, dp, pp, ep) -> list[tuple[int, int, int, int]]:
    """(tp, dp, pp, ep) layouts of at most `gpus` GPUs (tp·dp·pp dividing them) for the values not given:
    dp > 1 and ep > 1 only for MoE models, ep ∈ {1, tp·dp} when not given (the engines' two common
    MoE layouts: experts tensor-parallel, or one expert-parallel rank per GPU)."""
    tps = [tp] if tp else [t for t in POW2 if t <= gpus and t <= max(acc.scale_up_domain_gpus, 1)]
    dps = [dp] if dp else ([d for d in POW2 if d <= gpus] if model.is_moe else [1])
    pps = [pp] if pp else [p for p in POW2 if p <= gpus]
    out = []
    for t in tps:
        for d in dps:
            for p in pps:
                n = t * d
                if n * p > gpus or gpus % (n * p):
                    continue
                for e in ([ep] if ep else ([1, n] if model.is_moe and n > 1 else [1])):
                    out.append((t, d, p, e))
    return out or [(tp or 1, dp or 1, pp or 1, ep or 1)]


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
            tp, dp, pp, ep = _int(r.get("tp")), _int(r.get("dp")), _int(r.get("pp")), _int(r.get("ep"))
            used = (tp or 1) * (dp or 1) * (pp or 1)
            gpus = _int(r.get("gpus")) or used
            if used > gpus:
                raise EstimateError(f"gpus: {gpus} is fewer than tp·dp·pp = {used}")
            if ep and ep > (tp or 1) * (dp or 1) and tp and dp:
                raise EstimateError(f"ep: {ep} exceeds the tp·dp = {tp * dp} GPUs of a stage it splits "
                                    "(GPUs per replica are tp·dp·pp; ep never adds GPUs)")
            kv = "" if _blank(r.get("kv_quant")) else str(r["kv_quant"]).strip().lower()
            closed_loop = "steady" if _blank(r.get("closed_loop")) else str(r["closed_loop"]).strip().lower()
            if closed_loop not in CLOSED_LOOP_STARTS:
                raise EstimateError(f"closed_loop: unknown {closed_loop!r}; one of {', '.join(CLOSED_LOOP_STARTS)}")
            for q in _quant_options(catalog, model, acc, engine, r.get("quant")):
                for t, d, p, e in _parallel_options(model, acc, gpus, tp, dp, pp, ep):
                    cand.append({"req": i, "model": model.id, "accelerator": acc.id, "engine": engine, "quant": q,
                                 "kv_quant": kv, "tp": t, "dp": d, "pp": p, "ep": e, "gpus_total": gpus,
                                 "max_batch": _float(r.get("max_batch")), "isl": float(r["isl"]),
                                 "osl": float(r["osl"]), "mode": mode, "mode_value": _float(r.get("mode_value")),
                                 "slo_ttft_ms": _float(r.get("slo_ttft_ms")),
                                 "slo_tpot_ms": _float(r.get("slo_tpot_ms")),
                                 "percentile": _percentile(r.get("percentile")),
                                 "closed_loop": closed_loop})
            errors.append(None)
        except (CatalogError, EstimateError) as exc:
            errors.append(str(exc).strip())
        except (ValueError, OverflowError) as exc:  # a non-number in a numeric column: this row's error
            errors.append(f"not a number: {exc}")
    return pd.DataFrame(cand), errors


@dataclass
class _Load:
    """Where each row operates: x arrivals per iteration, the closed-loop share of other clients' prefill
    work, the closed loop's extra wait for a slot, and whether the offered load saturates the replica."""

    x: np.ndarray
    others: np.ndarray
    extra_wait_s: np.ndarray
    saturated: np.ndarray
    rate_rps: np.ndarray
    """Offered rate per replica (rate mode; 1 elsewhere)."""


def _operating_load(base: Serving, svp: Serving, sub: pd.DataFrame, replicas, rs: np.ndarray) -> _Load:
    """The operating point of each row's mode (max_throughput and static_batch: x_max); slo rows that
    meet no load get their reason in `rs`."""
    n = len(sub)
    mode = sub["mode"].to_numpy()
    val = sub["mode_value"].to_numpy(float)
    load = _Load(base.x_max.copy(), np.ones(n), np.zeros(n), np.zeros(n, bool),
                 np.where(mode == "rate", val / replicas, 1.0))
    r = mode == "rate"
    if r.any():
        pt, saturated = base.at_rate(load.rate_rps)
        load.x = np.where(r, pt.x, load.x)
        load.saturated |= r & saturated
    c = mode == "concurrency"
    if c.any():
        clients = np.where(c, val / replicas, 1.0)
        load.others = np.where(c, closed_others(clients), 1.0)
        load.x = np.where(c, base.concurrency_x(clients), load.x)
        load.extra_wait_s = base.closed_extra_wait(clients)
        load.saturated |= c & (clients > base.b_max)
        burst = c & (sub["closed_loop"].to_numpy() == "burst") if "closed_loop" in sub else np.zeros(n, bool)
        if burst.any():
            w = np.where(burst, burst_wait_s(base, clients), 0.0)
            load.x = np.where(burst, burst_concurrency_x(base, clients, w), load.x)
            load.extra_wait_s = load.extra_wait_s + w
    s = mode == "slo"
    if s.any():
        xs = svp.capacity(np.where(s, sub["slo_ttft_ms"].to_numpy(float) * 1e-3, np.nan),
                          np.where(s, sub["slo_tpot_ms"].to_numpy(float) * 1e-3, np.nan), np.full(n, np.nan))
        load.x = np.where(s, xs, load.x)
        rs[s & (xs <= 0) & (rs == "")] = "slo: no load level meets the SLOs on this configuration"
    return load


def _loaded_metrics(sv: dict[float, Serving], svp: Serving, load: _Load, mode: np.ndarray) -> dict:
    """Latency percentiles, means, rate and batch of the open/closed-loop modes at the operating point;
    `svp` at the row's own percentile (or mean) beside the fixed p50/p90/p99."""
    base = sv[99.0]
    closed = (mode == "concurrency") | (mode == "max_throughput")
    res = {}
    q_pct = svp.point(load.x, queue_slots=True, others=load.others)
    q_pct_closed = svp.point(load.x, closed_extra_wait=load.extra_wait_s, queue_slots=False, others=load.others)
    res["ttft_at_percentile_ms"] = np.where(closed, q_pct_closed.ttft_p, q_pct.ttft_p) * 1e3
    res["tpot_at_percentile_ms"] = q_pct.tpot_p * 1e3
    for p, svx in sv.items():
        q_open = svx.point(load.x, queue_slots=True, others=load.others)
        q_closed = svx.point(load.x, closed_extra_wait=load.extra_wait_s, queue_slots=False, others=load.others)
        res[f"ttft_p{p:.0f}_ms"] = np.where(closed, q_closed.ttft_p, q_open.ttft_p) * 1e3
        res[f"tpot_p{p:.0f}_ms"] = q_open.tpot_p * 1e3
    # q_open/q_closed are now those of p99 (the last), whose means the mean metrics use.
    ttft = np.where(closed, q_closed.ttft_mean, q_open.ttft_mean)
    ttft_parts = {k: np.where(closed, q_closed.ttft_parts[k], v) for k, v in q_open.ttft_parts.items()}
    # An open loop below saturation serves exactly the offered rate (the bisection only brackets it).
    lam = np.where(mode == "rate", np.where(load.saturated, base.lam_sat, load.rate_rps), q_open.lam)
    lam = np.where((mode == "concurrency") & load.saturated, base.lam_sat, lam)
    lam = np.where(mode == "max_throughput", base.lam_sat, lam)
    return {"res": res, "ttft": ttft, "ttft_parts": ttft_parts, "tpot": q_open.tpot_mean, "lam": lam,
            "batch": q_open.n_dec,
            "e2e": ttft + base.O1 * q_open.tpot_mean, "rho": np.minimum(lam / base.lam_sat, 1.0)}


def _static_batch(base: Serving, met: dict, st: np.ndarray, n_s, b_max) -> None:
    """Overwrite the static_batch rows of `met` with one batch of n_s requests per replica."""
    s_ttft, s_tau, s_e2e = base.static_batch(n_s)
    over = base.rows.runtime.ttft_overhead_s
    static_parts = {"engine_overhead_s": over, "running_iteration_s": 0.0, "prefill_s": s_ttft - over,
                    "queueing_s": 0.0}
    met["ttft_parts"] = {k: np.where(st, static_parts[k], v) for k, v in met["ttft_parts"].items()}
    met["ttft"] = np.where(st, s_ttft, met["ttft"])
    met["tpot"] = np.where(st, s_tau, met["tpot"])
    met["e2e"] = np.where(st, s_e2e, met["e2e"])
    met["lam"] = np.where(st, n_s / s_e2e, met["lam"])
    met["batch"] = np.where(st, np.minimum(n_s, b_max), met["batch"])
    met["rho"] = np.where(st, 1.0, met["rho"])
    for p in ("p50", "p90", "p99", "at_percentile"):
        met["res"][f"ttft_{p}_ms"] = np.where(st, s_ttft * 1e3, met["res"][f"ttft_{p}_ms"])
        met["res"][f"tpot_{p}_ms"] = np.where(st, s_tau * 1e3, met["res"][f"tpot_{p}_ms"])


def _replicas(sub: pd.DataFrame) -> np.ndarray:
    """Whole replicas of tp·dp·pp GPUs in each row's `gpus_total`."""
    return np.floor(sub["gpus_total"].to_numpy(float) / (sub["tp"] * sub["dp"] * sub["pp"]).to_numpy(float))


def _system_metrics(prep: Prepared, sub: pd.DataFrame, rs: np.ndarray, plan: mem.MemoryPlan,
                    with_breakdown: bool) -> dict:
    """Whole-system metrics of the usable rows `sub` (values for `_FIELDS`, plus breakdown columns)."""
    rows = prep.rows
    replicas = _replicas(sub)
    S, osl = sub["isl"].to_numpy(float), sub["osl"].to_numpy(float)
    b_max = np.maximum(plan.batch_max, 1.0)
    mode = sub["mode"].to_numpy()
    val = sub["mode_value"].to_numpy(float)
    sv = {p: Serving(rows, S, osl, b_max, np.full(len(sub), p)) for p in (50.0, 90.0, 99.0)}
    base = sv[99.0]
    svp = Serving(rows, S, osl, b_max, sub["percentile"].to_numpy(float))
    load = _operating_load(base, svp, sub, replicas, rs)
    met = _loaded_metrics(sv, svp, load, mode)
    st = mode == "static_batch"
    n_s = np.where(st, np.ceil(val / replicas), 1.0)
    if st.any():
        _static_batch(base, met, st, n_s, b_max)
    tok = met["lam"] * osl * replicas
    vals = {
        "replicas": replicas, "batch": met["batch"], "max_batch_effective": b_max,
        "memory_gb_per_gpu": plan.gb_per_gpu_at(met["batch"], rows.dp),
        "kv_cache_tokens": np.floor(plan.kv_cache_tokens),
        "ttft_ms": met["ttft"] * 1e3, "tpot_ms": met["tpot"] * 1e3, "e2e_ms": met["e2e"] * 1e3,
        "e2e_p99_ms": (met["res"]["ttft_p99_ms"] + base.O1 * met["res"]["tpot_p99_ms"]),
        "requests_per_s": met["lam"] * replicas, "output_tokens_per_s": tok,
        "output_tokens_per_s_per_gpu": tok / sub["gpus_total"].to_numpy(float),
        "utilisation": met["rho"], "saturated": load.saturated.astype(float), **met["res"],
    }
    if with_breakdown:
        vals.update(breakdown_columns(base, load.x, load.others, st, n_s, met["ttft_parts"], met["ttft"], plan,
                                      met["batch"]))
    return vals


def _prepare(cand: pd.DataFrame, catalog, kernels: KernelLibrary | None = None):
    """(rows, Prepared, memory plan of the usable rows `prep.idx`, their reasons: "" where usable)."""
    df = cand.assign(slo_e2e_ms=np.nan).astype({"slo_ttft_ms": float, "slo_tpot_ms": float, "max_batch": float})
    prep = Prepared(df, catalog, kernels)
    idx = prep.idx
    plan = prep.memory(prep.df["max_batch"].to_numpy()[idx]) if len(idx) else None
    rs = prep.reason[idx].copy()
    if plan is not None:
        rs[rs == ""] = plan.verdict()[rs == ""]
    return df, prep, plan, rs


def running_batch_at_rate(rows: list[dict], catalog) -> list[float | None]:
    """Mean decoding requests per replica of each request row in rate mode (`mode_value` req/s over the
    row's replicas): the `batch` `estimate_many` reports, n_dec = x·(O − 1) at the load x that serves the
    rate (x_max when the rate saturates the replica), without the latency percentiles it computes beside it.
    None where the request has an error or does not fit; the first fitting candidate of a request that
    leaves a choice (parallelism, quantization) open."""
    cand, _ = expand(rows, catalog)
    out: list[float | None] = [None] * len(rows)
    if not len(cand):
        return out
    df, prep, plan, rs = _prepare(cand, catalog)
    if plan is None:
        return out
    sub = df.iloc[prep.idx]
    replicas = _replicas(sub)
    n = len(sub)
    base = Serving(prep.rows, sub["isl"].to_numpy(float), sub["osl"].to_numpy(float),
                   np.maximum(plan.batch_max, 1.0), np.full(n, 99.0))
    pt, _ = base.at_rate(sub["mode_value"].to_numpy(float) / replicas)
    for req, fits, batch in zip(sub["req"].to_numpy(), rs == "", pt.x * base.O1, strict=True):
        if fits and out[req] is None and math.isfinite(batch):
            out[req] = float(batch)
    return out


def evaluate_modes(cand: pd.DataFrame, catalog, kernels: KernelLibrary | None = None,
                   with_breakdown: bool = False) -> pd.DataFrame:
    """Whole-system metrics per candidate row (columns documented in `_FIELDS`; with `with_breakdown`,
    also the `breakdown.BREAKDOWN_COLUMNS`)."""
    out = cand.copy()
    for f in _FIELDS:
        out[f] = np.nan
    out["reason"] = ""
    if len(cand) == 0:
        return out
    df, prep, plan, rs = _prepare(cand, catalog, kernels)
    out["kv_quant"] = prep.df["kv_quant"].to_numpy()
    idx = prep.idx
    reason = prep.reason.copy()
    if len(idx):
        vals = _system_metrics(prep, df.iloc[idx], rs, plan, with_breakdown)
        live = rs == ""
        for k, v in vals.items():
            arr = out[k].to_numpy(float).copy() if k in out else np.full(len(out), np.nan)
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
OUTPUT_KEYS = ("fits", "reason", "model", "accelerator", "engine", "quant", "kv_quant", "gpus", "tp", "dp", "pp", "ep",
               "mode", "mode_value", "percentile", *_FIELDS)


TIE_REL = 1e-3
"""Candidates whose output throughput is within this fraction of the best are ties, settled by fewer GPUs
per replica, then smaller tp."""


def _pick(group: pd.DataFrame) -> pd.Series:
    ok = group[group["fits"]]
    if len(ok):
        per = ok["tp"] * ok["dp"] * ok["pp"]
        # Throughputs within TIE_REL of each other are ties (they come from bisections).
        thr = ok["output_tokens_per_s"].to_numpy(float)
        best = np.nanmax(thr) if len(thr) else 0.0
        tied = thr >= best * (1.0 - TIE_REL)
        key = ok.assign(_per=per, _neg=np.where(tied, -best, -thr))
        return key.sort_values(["_neg", "_per", "tp"]).iloc[0]
    # None fits: report the most informative reason. Parallelism mismatches are artefacts of the
    # search, so prefer any other reason, and among those the largest replica (e.g. its memory need).
    per = group["tp"] * group["dp"] * group["pp"]
    search = group["reason"].str.startswith("parallelism:").astype(int)
    return group.assign(_per=per, _search=search).sort_values(["_search", "_per"], ascending=[True, False]).iloc[0]


def estimate_many(rows: list[dict], catalog, kernels: KernelLibrary | None = None,
                  breakdown: bool = False) -> list[dict]:
    """One result dict per input row, in input order (errors become fits=False with `error`); with
    `breakdown`, a fitting row also carries `breakdown` (see `solver.perf.breakdown`)."""
    cand, errors = expand(rows, catalog)
    res = evaluate_modes(cand, catalog, kernels, with_breakdown=breakdown) if len(cand) else cand
    out: list[dict] = []
    groups = dict(tuple(res.groupby("req"))) if len(res) else {}
    for i, row in enumerate(rows):
        if errors[i] is not None:
            out.append({"fits": False, "reason": errors[i], "error": errors[i], **_echo(row)})
            continue
        best = _pick(groups[i])
        d = {k: _clean(best.get(k)) for k in OUTPUT_KEYS if k in best.index}
        d["gpus"] = int(best["gpus_total"])
        for k in ("tp", "dp", "pp", "ep"):
            d[k] = int(best[k])
        d["moe_tp"] = int(best["tp"] * best["dp"] // best["ep"])
        d["fits"] = bool(best["fits"])
        d["replicas"] = int(best["replicas"]) if d["fits"] else 0
        d["saturated"] = bool(best.get("saturated") == 1.0)
        d["engine_requested"] = str(row.get("engine") or "vllm").strip().lower()
        d["engine"] = catalog.lookup("engines", d["engine_requested"]).id
        for k in ("case_id",):
            if k in row and not _blank(row[k]):
                d[k] = row[k]
        if breakdown and d["fits"]:
            d["breakdown"] = nest({k: _clean(v) for k, v in best.items()})
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
             pp: int | None = None, ep: int | None = None, dp: int | None = None, quant: str | None = None,
             kv_quant: str | None = None,
             engine: str = "vllm", slo_ttft_ms: float | None = None, slo_tpot_ms: float | None = None,
             percentile: float = 99.0, max_batch: int | None = None, closed_loop: str = "steady",
             catalog=None) -> dict:
    """Predict one deployment under a load mode; see the module docstring. Raises EstimateError."""
    if catalog is None:
        from solver.catalog.loader import load_catalog

        catalog = load_catalog()
    row = {"model": model, "accelerator": accelerator, "gpus": gpus, "isl": isl, "osl": osl, "mode": mode,
           "mode_value": mode_value, "tp": tp, "dp": dp, "pp": pp, "ep": ep, "quant": quant, "kv_quant": kv_quant,
           "engine": engine, "slo_ttft_ms": slo_ttft_ms, "slo_tpot_ms": slo_tpot_ms, "percentile": percentile,
           "max_batch": max_batch, "closed_loop": closed_loop}
    res = estimate_many([row], catalog, breakdown=True)[0]
    if res.get("error"):
        raise EstimateError(res["error"])
    return res
