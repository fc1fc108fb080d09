"""`estimate_disagg`: one disaggregated deployment (a prefill pool and a decode pool) at its SLOs, with both
pools' figures and the KV transfer time (CLI `trilemma estimate --disagg --prefill ... --decode ...`).

A pool is given as `key=value` pairs: accelerator (required), tp, dp, pp, ep (default 1), quant, max_batch.
Without `link`, the KV cache moves over NVLink when both pools are on one accelerator type and fit one
scale-up domain together (tp·dp·pp of both ≤ the domain), else over the network.
"""

from __future__ import annotations

import math

import pandas as pd

from solver.errors import CatalogError, EstimateError
from solver.perf.disagg import LINKS, evaluate_pairs, gpus_per_worker, workers_needed

POOL_KEYS = ("accelerator", "tp", "dp", "pp", "ep", "quant", "max_batch")
INT_KEYS = ("tp", "dp", "pp", "ep", "max_batch")


def parse_pool(text: str, name: str) -> dict:
    """'accelerator=b200,tp=2' -> {'accelerator': 'b200', 'tp': 2}; EstimateError naming the bad part."""
    out: dict = {}
    for part in (p.strip() for p in (text or "").split(",") if p.strip()):
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or key not in POOL_KEYS or not value:
            raise EstimateError(f"--{name}: {part!r} is not key=value with a key among {', '.join(POOL_KEYS)}")
        if key in INT_KEYS:
            try:
                out[key] = int(value)
            except ValueError:
                raise EstimateError(f"--{name}: {key} must be a whole number, got {value!r}") from None
            if out[key] < 1:
                raise EstimateError(f"--{name}: {key} must be ≥ 1, got {value}")
        else:
            out[key] = value.lower()
    if "accelerator" not in out:
        raise EstimateError(f"--{name}: accelerator=... is required (e.g. --{name} \"accelerator=h200-sxm,tp=4\")")
    return out


def estimate_disagg(model: str, prefill: dict, decode: dict, *, isl: float, osl: float, engine: str = "sglang",
                    quant: str | None = None, kv_quant: str | None = None, slo_ttft_ms: float | None = None,
                    slo_tpot_ms: float | None = None, percentile: float = 99.0, link: str | None = None,
                    rate: float | None = None, catalog=None) -> dict:
    """Both pools' capacities at the SLOs, the latencies at capacity, the KV transfer, and with `rate` the
    workers each pool needs. Raises EstimateError."""
    if catalog is None:
        from solver.catalog.loader import load_catalog

        catalog = load_catalog()
    try:
        m = catalog.lookup("models", model.strip().lower())
        eng = catalog.lookup("engines", engine.strip().lower()).id
        accs = [catalog.lookup("accelerators", p["accelerator"]) for p in (prefill, decode)]
    except CatalogError as exc:
        raise EstimateError(str(exc).strip()) from None
    for k, v in (("isl", isl), ("osl", osl)):
        if v is None or v < 1:
            raise EstimateError(f"{k}: a positive token count is required")
    frames = []
    for pool in (prefill, decode):
        frames.append(pd.DataFrame([{
            "model": m.id, "accelerator": pool["accelerator"], "engine": eng,
            "quant": pool.get("quant") or quant or m.native_dtype, "kv_quant": kv_quant or "",
            "tp": pool.get("tp", 1), "dp": pool.get("dp", 1), "pp": pool.get("pp", 1), "ep": pool.get("ep", 1),
            "max_batch": pool.get("max_batch", math.nan), "isl": float(isl), "osl": float(osl),
            "slo_ttft_ms": math.nan if slo_ttft_ms is None else slo_ttft_ms,
            "slo_tpot_ms": math.nan if slo_tpot_ms is None else slo_tpot_ms, "slo_e2e_ms": math.nan,
            "percentile": percentile}]))
    g = [float(gpus_per_worker(*(f[c].to_numpy(float) for c in ("tp", "dp", "pp", "ep")))[0]) for f in frames]
    if link is None:
        same = accs[0].id == accs[1].id and g[0] + g[1] <= accs[0].scale_up_domain_gpus
        link = "nvlink" if same else "network"
    if link not in LINKS:
        raise EstimateError(f"link: unknown {link!r}; one of {', '.join(LINKS)}")
    res = evaluate_pairs(frames[0], frames[1], [(0, 0)], catalog, link=link).iloc[0]
    out = {"fits": res["pruned_reason"] == "", "reason": res["pruned_reason"], "model": m.id, "engine": eng,
           "isl": float(isl), "osl": float(osl), "link": link, "percentile": percentile,
           "prefill": {**prefill, "gpus_per_worker": int(g[0]), "capacity_rps": _f(res["prefill_capacity_rps"]),
                       "prefill_ms": _f(res["prefill_ms"]), "queue_ms": _f(res["prefill_queue_ms"]),
                       "utilisation": _f(res["prefill_utilisation"]),
                       "memory_gb_per_gpu": _f(res["memory_gb_per_gpu_prefill"])},
           "decode": {**decode, "gpus_per_worker": int(g[1]), "capacity_rps": _f(res["decode_capacity_rps"]),
                      "first_decode_step_ms": _f(res["first_decode_step_ms"]),
                      "slot_wait_ms": _f(res["decode_slot_wait_ms"]), "batch": _f(res["decode_batch"]),
                      "utilisation": _f(res["decode_utilisation"]),
                      "memory_gb_per_gpu": _f(res["memory_gb_per_gpu_decode"])},
           "transfer_ms": _f(res["transfer_ms"]), "ttft_ms": _f(res["ttft_ms"]), "tpot_ms": _f(res["tpot_ms"]),
           "e2e_ms": _f(res["e2e_ms"]),
           "breakdown": {"ttft_mean_ms": {k.split(".", 1)[1].removesuffix("_ms"): _f(res[k]) for k in res.index
                                          if k.startswith("ttft_mean.")} | {"total": _f(res["ttft_mean_ms"])}}}
    if rate is not None:
        p_need = int(workers_needed(rate, out["prefill"]["capacity_rps"] or 0.0))
        d_need = int(workers_needed(rate, out["decode"]["capacity_rps"] or 0.0))
        out["rate_rps"] = rate
        out["prefill_workers"], out["decode_workers"] = p_need, d_need
        out["gpus"] = p_need * int(g[0]) + d_need * int(g[1]) if min(p_need, d_need) > 0 else None
    return out


def _f(v):
    v = float(v)
    return None if math.isnan(v) else v
