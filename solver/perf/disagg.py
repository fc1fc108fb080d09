"""Disaggregated prefill and decode: a prefill pool and a decode pool of the same model, the KV cache
moved between them (vectorised over pairs of pool configurations).

Each pool's worker has its own layout (tp, dp, pp, ep; dp = 1 when absent), batch limit and accelerator;
the KV dtype is shared. Both are evaluated through the performance core (`prepare.Prepared`,
`latency.step_time`, `memory`). Per request of S prompt and O output tokens, at percentile p:

- Prefill worker: only prompts, in iterations of the engine's token budget C = max_num_tokens per attention
  data-parallel rank (each rank schedules its own prompts).
  A prompt alone takes P = (⌈S/C⌉ − 1)·τ(0) + τ(S) (as `serving` with no decoding batch); under load a
  prompt's share of full-budget iterations is D = S/C·τ_C, τ_C = τ(C tokens of S-token prompts).
  Utilisation ρ = λ_P·D; M/D/1 queue W = ρD/(2(1 − ρ)), its p-quantile W_p = (W/ρ)·ln(ρ/(1 − p)) when
  ρ > 1 − p (W already holds the residual of the prompt in service, so no running-iteration term is
  added, unlike an aggregated engine, whose running iteration is a decode step outside the prefill queue).
- KV transfer of one request: every prefill GPU sends its shard of the prompt's KV and every decode GPU
  receives its shard, so T_kv = α + max(KV_P/B_P, KV_D/B_D), KV_x = S · KV bytes per token on one GPU
  of that pool (`memory.kv_bytes_per_request`), B the per-GPU bandwidth of the link: inside one
  scale-up domain (NVLink, NVL72) the fitted point-to-point bus bandwidth of the collective fits,
  otherwise the catalog's per-GPU network bandwidth times the sourced transfer efficiency
  (`catalogs/disaggregation.yaml`).
- Decode worker: x arrivals per iteration, n = x·(O − 1) requests decoding (Little's law), iterations
  with no prefill chunk: TPOT = τ_D(x) = step_time(n, S + O/2, 0). Its batch bound B_max comes from
  the memory plan (KV cache, max_batch, token budget), x ≤ B_max/(O − 1), λ_D = x/τ_D. A request waits
  for a batch slot as in `serving` (M/D/c, c = B_max).
- TTFT_p = overhead + P + W_p + T_kv + τ_D + W_slot,p (the first decode step emits the first
  token); TPOT_p = τ_D (no prefill chunks, so no interference spread).

Capacity of each pool at the SLOs. Let R = TTFT_SLO' − overhead − P − T_kv, TTFT_SLO' =
min(TTFT_SLO, E2E_SLO − (O − 1)·τ_D). The decode worker's x is the largest with τ_D ≤ TPOT_SLO,
τ_D ≤ R and W_slot,p ≤ s·(R − τ_D) (the decode slot queue takes a share s of the queueing room); the
prefill worker's ρ is the largest with W_p ≤ R − τ_D − W_slot,p (the rest). s is chosen per
pair from `DECODE_QUEUE_SHARES` to minimise the GPU-seconds per request g_P/λ_P + g_D/λ_D. The numbers
of prefill and decode workers are free: a rate λ needs ⌈λ/λ_P⌉ prefill and ⌈λ/λ_D⌉ decode workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from solver.perf import memory as mem
from solver.perf.disagg_catalog import DisaggCatalog, disagg_catalog
from solver.perf.kernels import KernelLibrary
from solver.perf.latency import StepTime, step_time
from solver.perf.links import inter_node_bytes_per_s
from solver.perf.prepare import Prepared
from solver.perf.serving import BISECTION_STEPS, RHO_CAP, z_score

LINKS = ("nvlink", "network", "free")
"""How the KV cache travels: inside one scale-up domain, over the scale-out network, or (what-if
comparisons only) at no cost."""
DECODE_QUEUE_SHARES = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9)
"""Shares of the queueing room (TTFT budget left after the fixed parts) the decode slot queue may take;
each pair keeps the one that needs the fewest GPU-seconds per request."""
ALONE = 1e-9
POOL_COLUMNS = ("accelerator", "engine", "quant", "kv_quant", "tp", "dp", "pp", "ep", "max_batch")
WORKLOAD_COLUMNS = ("model", "isl", "osl", "slo_ttft_ms", "slo_tpot_ms", "slo_e2e_ms", "percentile")


def gpus_per_worker(tp, dp, pp, ep):
    """GPUs of one worker, as the performance core counts a replica: tp·dp·pp (ep splits the same GPUs)."""
    tp, dp, pp = (np.nan_to_num(np.asarray(v, float), nan=1.0) for v in (tp, dp, pp))
    return tp * dp * pp


def _wait_quantile(mean_s, p_wait, tail):
    """p-quantile of a wait that is 0 with probability 1 − p_wait and exponential beyond."""
    p_wait = np.maximum(p_wait, 1e-12)
    return np.where(p_wait > tail, mean_s / p_wait * np.log(p_wait / tail), 0.0)


def _slo_s(df: pd.DataFrame, col: str) -> np.ndarray:
    v = df[col].to_numpy(float) * 1e-3 if col in df else np.full(len(df), np.nan)
    return np.where(np.isnan(v), np.inf, v)


@dataclass
class _Prefill:
    prep: Prepared
    S: np.ndarray
    chunk: np.ndarray
    overhead_s: np.ndarray
    alone_s: np.ndarray
    """P: one prompt alone."""
    prompt_step: StepTime
    unit_s: np.ndarray
    """D: a prompt's share of full-budget iterations."""
    iteration_s: np.ndarray
    """τ_C: one full-budget iteration."""
    kv_bytes_per_gpu: np.ndarray
    plan: mem.MemoryPlan


@dataclass
class _Decode:
    prep: Prepared
    b_max: np.ndarray
    x_max: np.ndarray
    ctx: np.ndarray
    O1: np.ndarray
    kv_bytes_per_gpu: np.ndarray
    plan: mem.MemoryPlan


def _with_layout(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in ("dp", "pp", "ep"):
        if c not in out:
            out[c] = 1
    if "max_batch" not in out:
        out["max_batch"] = np.nan
    for c in ("slo_ttft_ms", "slo_tpot_ms", "slo_e2e_ms"):
        if c not in out:
            out[c] = np.nan
    if "percentile" not in out:
        out["percentile"] = 99.0
    return out.reset_index(drop=True)


def attention_groups(prep: Prepared) -> np.ndarray:
    """Attention data-parallel ranks of each usable row (the core's `Rows.dp`). Each rank schedules its own
    iterations with its own token budget, so a prefill worker's iteration admits max_num_tokens per rank."""
    return prep.rows.dp


def _usable(prep: Prepared, plan: mem.MemoryPlan | None) -> np.ndarray:
    """Reason per input row: the static checks', then the memory verdict's."""
    reason = prep.reason.copy()
    if plan is not None and len(prep.idx):
        rs = reason[prep.idx]
        verdict = plan.verdict()
        rs[rs == ""] = verdict[rs == ""]
        reason[prep.idx] = rs
    return reason


def _prefill_side(df: pd.DataFrame, catalog, kernels) -> tuple[_Prefill | None, np.ndarray]:
    # A prefill worker holds a prompt's KV until it is sent: its context is the prompt (one output token).
    prep = Prepared(df.assign(osl=1.0), catalog, kernels)
    if prep.rows is None:
        return None, prep.reason
    rows = prep.rows
    S = prep.df["isl"].to_numpy(float)[prep.idx]
    pf_ctx = (S + 1.0) / 2.0
    chunk = rows.runtime.max_num_tokens * attention_groups(prep)
    empty = step_time(rows, 0.0, 0.0, 0.0, 0.0).total_s
    prompt_step = step_time(rows, 0.0, 0.0, S, pf_ctx)
    alone = (np.ceil(S / chunk) - 1.0) * empty + prompt_step.total_s
    tau_c = step_time(rows, 0.0, 0.0, chunk, pf_ctx, S).total_s
    plan = prep.memory(prep.df["max_batch"].to_numpy(float)[prep.idx])
    kv = mem.kv_bytes_per_request(rows.geometry, rows.kv_bytes_per_element, rows.tp, rows.pp, S,
                                  rows.runtime.kv_window_capped)
    side = _Prefill(prep, S, chunk, rows.runtime.ttft_overhead_s, alone, prompt_step, S / chunk * tau_c, tau_c,
                    kv, plan)
    return side, _usable(prep, plan)


def _decode_side(df: pd.DataFrame, catalog, kernels) -> tuple[_Decode | None, np.ndarray]:
    prep = Prepared(df, catalog, kernels)
    if prep.rows is None:
        return None, prep.reason
    rows = prep.rows
    S = prep.df["isl"].to_numpy(float)[prep.idx]
    osl = prep.df["osl"].to_numpy(float)[prep.idx]
    plan = prep.memory(prep.df["max_batch"].to_numpy(float)[prep.idx])
    b_max = np.maximum(plan.batch_max, 1.0)
    O1 = np.maximum(osl - 1.0, 1.0)
    kv = mem.kv_bytes_per_request(rows.geometry, rows.kv_bytes_per_element, rows.tp, rows.pp, S,
                                  rows.runtime.kv_window_capped)
    return _Decode(prep, b_max, b_max / O1, S + osl / 2.0, O1, kv, plan), _usable(prep, plan)


def _link_bytes_per_s(catalog, kernels: KernelLibrary, acc_ids, link: np.ndarray, efficiency: float) -> np.ndarray:
    """Per-GPU bandwidth of the KV link of each pair, on one side's accelerator."""
    out = np.full(len(acc_ids), np.inf)
    cache: dict[tuple[str, str], float] = {}
    for i, (a, kind) in enumerate(zip(acc_ids, link, strict=True)):
        if kind == "free":
            continue
        if (a, kind) not in cache:
            acc = catalog.accelerators[a]
            cache[a, kind] = (kernels.link(acc, "alltoall", "nccl", 2).busbw_bytes_s if kind == "nvlink"
                              else inter_node_bytes_per_s(acc, catalog) * efficiency)
        out[i] = cache[a, kind]
    return out


def _bisect(ok, hi: np.ndarray) -> np.ndarray:
    """Largest v in (0, hi] with ok(v) (ok monotone: true then false); 0 when none."""
    lo = np.zeros_like(hi)
    top = ok(hi)
    upper = hi.copy()
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + upper)
        good = ok(mid)
        lo = np.where(good, mid, lo)
        upper = np.where(good, upper, mid)
    return np.where(top, hi, lo)


class _DecodeLoad:
    """The decode worker of each pair at x arrivals per iteration."""

    def __init__(self, side: _Decode, j: np.ndarray):
        self.rows = side.prep.rows.take(j)
        self.b_max, self.x_max = side.b_max[j], side.x_max[j]
        self.ctx, self.O1 = side.ctx[j], side.O1[j]
        self.tau_max = self.step(self.x_max).total_s
        self.lam_sat = self.x_max / self.tau_max

    def step(self, x) -> StepTime:
        n = np.maximum(np.asarray(x, float) * self.O1, 1.0)
        return step_time(self.rows, n, self.ctx, 0.0, 0.0)

    def slot_wait(self, x, tau, tail):
        """(mean, p-quantile) wait for a batch slot (M/D/c, c = B_max, as `serving`)."""
        lam = x / tau
        rho = np.minimum(lam / self.lam_sat, RHO_CAP)
        p_slot = rho ** (np.sqrt(2.0 * (self.b_max + 1.0)) - 1.0)
        mean = 0.5 * p_slot / (self.lam_sat * (1.0 - rho))
        return mean, _wait_quantile(mean, p_slot, tail)


def evaluate_pairs(prefill: pd.DataFrame, decode: pd.DataFrame, pairs, catalog, link="network",
                   kernels: KernelLibrary | None = None, dcat: DisaggCatalog | None = None) -> pd.DataFrame:
    """Disaggregated deployments of (prefill row i, decode row j) for each (i, j) of `pairs`.

    prefill, decode: pool configurations (`POOL_COLUMNS`) with the workload columns (`WORKLOAD_COLUMNS`);
    link: one of `LINKS` for every pair, or an array. Returns one row per pair: prefill_row, decode_row,
    gpus_prefill, gpus_decode, prefill_capacity_rps, decode_capacity_rps (req/s of one worker at the SLOs),
    ttft_ms, tpot_ms, e2e_ms (at the percentile, both pools at capacity), transfer_ms, prefill_ms (a
    prompt alone), first_decode_step_ms, prefill_queue_ms, decode_slot_wait_ms (p-quantiles),
    ttft_mean_ms and its parts `ttft_mean.<part>_ms`, decode_batch, memory_gb_per_gpu_prefill/_decode,
    pruned_reason ('' when usable).
    """
    kernels = kernels or KernelLibrary.for_catalog(catalog)
    dcat = dcat or disagg_catalog()
    pf_df, dc_df = _with_layout(prefill), _with_layout(decode)
    i, j = (np.asarray(v, int) for v in zip(*pairs, strict=True)) if len(pairs) else (np.zeros(0, int),) * 2
    link = np.broadcast_to(np.asarray(link, dtype=object), i.shape).copy()
    out = pd.DataFrame({"prefill_row": i, "decode_row": j})
    out["gpus_prefill"] = gpus_per_worker(*(pf_df[c].to_numpy(float)[i] for c in ("tp", "dp", "pp", "ep")))
    out["gpus_decode"] = gpus_per_worker(*(dc_df[c].to_numpy(float)[j] for c in ("tp", "dp", "pp", "ep")))
    reason = _pair_reasons(pf_df, dc_df, i, j, link, catalog, dcat)
    pside, p_reason = _prefill_side(pf_df, catalog, kernels)
    dside, d_reason = _decode_side(dc_df, catalog, kernels)
    for side_reason, rows, name in ((p_reason, i, "prefill"), (d_reason, j, "decode")):
        r = side_reason[rows]
        bad = (reason == "") & (r != "")
        reason[bad] = [f"{name} pool: {t}" for t in r[bad]]
    cols = {c: np.full(len(i), np.nan) for c in _OUT}
    live = np.flatnonzero(reason == "")
    if len(live):
        vals, rs = _evaluate_live(pf_df, pside, dside, i[live], j[live], link[live], catalog, kernels, dcat)
        for k, v in vals.items():
            cols[k][live] = v
        reason[live] = rs
    for k, v in cols.items():
        out[k] = v
    for k in ("prefill_capacity_rps", "decode_capacity_rps"):
        out[k] = np.where(reason == "", out[k], 0.0)
    out["link"] = link
    out["pruned_reason"] = reason.astype(str)
    return out


_OUT = ("prefill_capacity_rps", "decode_capacity_rps", "ttft_ms", "tpot_ms", "e2e_ms", "transfer_ms", "prefill_ms",
        "first_decode_step_ms", "prefill_queue_ms", "decode_slot_wait_ms", "ttft_mean_ms",
        "ttft_mean.engine_overhead_ms", "ttft_mean.prefill_ms",
        "ttft_mean.prefill_queueing_ms", "ttft_mean.kv_transfer_ms", "ttft_mean.first_decode_step_ms",
        "ttft_mean.decode_slot_wait_ms", "decode_batch", "memory_gb_per_gpu_prefill", "memory_gb_per_gpu_decode",
        "prefill_utilisation", "decode_utilisation")


def _pair_reasons(pf, dc, i, j, link, catalog, dcat: DisaggCatalog) -> np.ndarray:
    """Why a pair cannot run as one deployment ('' when it can): same model, engine and KV dtype, an
    engine that serves this pair disaggregated, and NVLink only inside one accelerator's scale-up domain."""
    cols = ("model", "engine", "accelerator", "kv_quant", "isl")
    p_cols = {c: pf[c].to_numpy(object) for c in cols}
    d_cols = {c: dc[c].to_numpy(object) for c in cols}
    reason = np.full(len(i), "", dtype=object)
    cache: dict[tuple, str] = {}
    for n, (a, b) in enumerate(zip(i, j, strict=True)):
        key = (*(p_cols[c][a] for c in cols), *(d_cols[c][b] for c in cols), link[n])
        if key not in cache:
            cache[key] = _one_pair_reason(dict(zip(cols, key[:5], strict=True)),
                                          dict(zip(cols, key[5:10], strict=True)), link[n], catalog, dcat)
        reason[n] = cache[key]
    return reason


def _one_pair_reason(p, d, link, catalog, dcat: DisaggCatalog) -> str:
    if link not in LINKS:
        return f"link: unknown {link!r}; one of {', '.join(LINKS)}"
    if p["model"] != d["model"] or p["isl"] != d["isl"]:
        return "disaggregation: both pools must serve the same model and workload"
    if str(p["engine"]).lower() != str(d["engine"]).lower():
        return "disaggregation: both pools must run the same engine (the KV transfer is the engine's)"
    if str(p["kv_quant"] or "").lower() != str(d["kv_quant"] or "").lower():
        return "disaggregation: both pools must store the KV cache in the same dtype (it is copied as is)"
    try:
        pa = catalog.lookup("accelerators", str(p["accelerator"]).lower())
        da = catalog.lookup("accelerators", str(d["accelerator"]).lower())
        engine = catalog.lookup("engines", str(p["engine"]).lower()).id
    except Exception as exc:  # unknown ids: the pools' own checks name them
        return str(exc).strip()
    if link == "nvlink" and pa.id != da.id:
        return f"link: nvlink joins GPUs of one scale-up domain; {pa.id} and {da.id} are different accelerators"
    return dcat.pair_reason(engine, pa, da)


def _best_split(dec, room, prefill_queue, tail, slo_tpot, D, g_p, g_d, n: int):
    """(x, ρ) of each pair: the split of the queueing room between the decode slot queue and the prefill
    queue (one of DECODE_QUEUE_SHARES) that uses the fewest GPU-seconds per request, g_P/λ_P + g_D/λ_D
    (worker counts are free, so this is the deployment's GPU cost)."""

    def split(share):
        """(x, τ, ρ) when the decode slot queue may take `share` of the queueing room."""
        def decode_ok(x):
            tau = dec.step(x).total_s
            r = room(tau)
            _, w_p = dec.slot_wait(x, tau, tail)
            return (tau <= slo_tpot) & (tau <= r) & (w_p <= share * (r - tau))

        x = _bisect(decode_ok, dec.x_max)
        tau = dec.step(np.where(x > 0, x, ALONE)).total_s
        _, slot_p = dec.slot_wait(np.where(x > 0, x, ALONE), tau, tail)
        budget = room(tau) - tau - slot_p
        rho = _bisect(lambda r: prefill_queue(r)[1] <= budget, np.full(n, RHO_CAP))
        return x, tau, rho

    best = None
    for share in DECODE_QUEUE_SHARES:
        x_s, tau_s, rho_s = split(share)
        ok_s = (x_s > 0) & (rho_s > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            gpu_s = np.where(ok_s, g_p * D / np.maximum(rho_s, 1e-300) + g_d * tau_s / np.maximum(x_s, 1e-300),
                             np.inf)
        if best is None:
            best = [x_s, rho_s, gpu_s]
            continue
        better = gpu_s < best[2]
        best = [np.where(better, a, b) for a, b in zip((x_s, rho_s, gpu_s), best, strict=True)]
    return best[0], best[1]


def _no_load_reasons(failed, pct, tpot_floor, slo_tpot, *, min_ttft, floor_s, alone, transfer) -> np.ndarray:
    """Why each failed pair serves no load: its TPOT at batch 1, else its TTFT with no queue ('' elsewhere)."""
    reasons = np.full(len(failed), "", dtype=object)
    for n in np.flatnonzero(failed):
        name = f"p{pct[n]:g}"
        if tpot_floor[n] > slo_tpot[n]:
            reasons[n] = f"slo: {name} TPOT {tpot_floor[n] * 1e3:.1f} ms > {slo_tpot[n] * 1e3:g} ms at batch 1"
        else:
            reasons[n] = (f"slo: {name} TTFT {floor_s[n] * 1e3:.1f} ms (prefill {alone[n] * 1e3:.1f} + KV transfer "
                          f"{transfer[n] * 1e3:.1f} + first decode step) > {min_ttft[n] * 1e3:g} ms with no queue")
    return reasons


def _evaluate_live(pf_df, pside: _Prefill, dside: _Decode, i, j, link, catalog, kernels, dcat: DisaggCatalog):
    """Capacities and latencies of pairs whose pools are both usable (module docstring)."""
    ip = np.searchsorted(pside.prep.idx, i)
    jd = np.searchsorted(dside.prep.idx, j)
    pct = pf_df["percentile"].to_numpy(float)[i]
    p = np.minimum(pct / 100.0, 1.0)
    tail = 1.0 - np.minimum(p, 0.9999)
    slo_ttft = _slo_s(pf_df, "slo_ttft_ms")[i]
    slo_tpot = _slo_s(pf_df, "slo_tpot_ms")[i]
    slo_e2e = _slo_s(pf_df, "slo_e2e_ms")[i]
    eff = dcat.kv_transfer.network_efficiency
    bw_p = _link_bytes_per_s(catalog, kernels, pside.prep.df["accelerator"].to_numpy()[i], link, eff)
    bw_d = _link_bytes_per_s(catalog, kernels, dside.prep.df["accelerator"].to_numpy()[j], link, eff)
    transfer = np.where(link == "free", 0.0, dcat.kv_transfer.latency_us * 1e-6
                        + np.maximum(pside.kv_bytes_per_gpu[ip] / bw_p, dside.kv_bytes_per_gpu[jd] / bw_d))
    over, alone = pside.overhead_s[ip], pside.alone_s[ip]
    D = pside.unit_s[ip]
    dec = _DecodeLoad(dside, jd)
    g_p = gpus_per_worker(*(pside.prep.df[c].to_numpy(float)[i] for c in ("tp", "dp", "pp", "ep")))
    g_d = gpus_per_worker(*(dside.prep.df[c].to_numpy(float)[j] for c in ("tp", "dp", "pp", "ep")))

    def room(tau_d):
        limit = np.minimum(slo_ttft, slo_e2e - dec.O1 * tau_d)
        return limit - over - alone - transfer

    def prefill_queue(rho):
        w = rho * D / (2.0 * (1.0 - rho))
        return w, _wait_quantile(w, rho, tail)

    x, rho = _best_split(dec, room, prefill_queue, tail, slo_tpot, D, g_p, g_d, len(i))
    x_op = np.where(x > 0, x, ALONE)
    step_d = dec.step(x_op)
    tau_d = step_d.total_s
    slot_mean, slot_p = dec.slot_wait(x_op, tau_d, tail)
    rho_op = np.where(rho > 0, rho, ALONE)
    w_mean, w_p = prefill_queue(rho_op)
    ttft_p = over + alone + w_p + transfer + tau_d + slot_p
    parts = {"engine_overhead_ms": over, "prefill_ms": alone,
             "prefill_queueing_ms": w_mean, "kv_transfer_ms": transfer, "first_decode_step_ms": tau_d,
             "decode_slot_wait_ms": slot_mean}
    ttft_mean = sum(parts.values())
    tpot_floor = dec.step(np.full(len(i), ALONE)).total_s
    reasons = _no_load_reasons((x <= 0) | (rho <= 0), pct, tpot_floor, slo_tpot, min_ttft=np.minimum(slo_ttft, slo_e2e),
                            floor_s=over + alone + transfer + tpot_floor, alone=alone, transfer=transfer)
    ok = reasons == ""
    n_dec = x_op * dec.O1
    vals = {
        "prefill_capacity_rps": np.where(ok, rho / D, 0.0), "decode_capacity_rps": np.where(ok, x / tau_d, 0.0),
        "ttft_ms": ttft_p * 1e3, "tpot_ms": tau_d * 1e3, "e2e_ms": (ttft_p + dec.O1 * tau_d) * 1e3,
        "transfer_ms": transfer * 1e3, "prefill_ms": alone * 1e3, "first_decode_step_ms": tau_d * 1e3,
        "prefill_queue_ms": w_p * 1e3, "decode_slot_wait_ms": slot_p * 1e3, "ttft_mean_ms": ttft_mean * 1e3,
        **{f"ttft_mean.{k}": v * 1e3 for k, v in parts.items()},
        "decode_batch": n_dec,
        "memory_gb_per_gpu_prefill": pside.plan.take(ip).gb_per_gpu_at(1.0, pside.prep.rows.dp[ip]),
        "memory_gb_per_gpu_decode": dside.plan.take(jd).gb_per_gpu_at(n_dec, dside.prep.rows.dp[jd]),
        "prefill_utilisation": np.where(ok, rho, 0.0), "decode_utilisation": np.where(ok, (x / tau_d) / dec.lam_sat,
                                                                                      0.0),
    }
    return vals, reasons


def pool_scores(prefill: pd.DataFrame, decode: pd.DataFrame, catalog, kernels: KernelLibrary | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pair-free figures of merit of each pool configuration, for pruning before pairing.

    Prefill rows: `prefill_alone_ms` (P), `prefill_gpu_s_per_request` (g·D: GPU time per prompt at full
    load), `kv_mb_per_gpu` (what one GPU sends per request). Decode rows: `tpot_floor_ms` (batch 1) and
    `decode_gpu_s_per_request` (g·τ_D/x at the most requests meeting the TPOT SLO alone). NaN and a
    `pruned_reason` where the pool cannot run."""
    kernels = kernels or KernelLibrary.for_catalog(catalog)
    pf, dc = _with_layout(prefill), _with_layout(decode)
    pside, p_reason = _prefill_side(pf, catalog, kernels)
    dside, d_reason = _decode_side(dc, catalog, kernels)
    p_out = pd.DataFrame({"pruned_reason": p_reason.astype(str)})
    for c in ("prefill_alone_ms", "prefill_gpu_s_per_request", "kv_mb_per_gpu"):
        p_out[c] = np.nan
    if pside is not None:
        g = gpus_per_worker(*(pf[c].to_numpy(float)[pside.prep.idx] for c in ("tp", "dp", "pp", "ep")))
        p_out.loc[pside.prep.idx, "prefill_alone_ms"] = pside.alone_s * 1e3
        p_out.loc[pside.prep.idx, "prefill_gpu_s_per_request"] = g * pside.unit_s
        p_out.loc[pside.prep.idx, "kv_mb_per_gpu"] = pside.kv_bytes_per_gpu / 1e6
    d_out = pd.DataFrame({"pruned_reason": d_reason.astype(str)})
    for c in ("tpot_floor_ms", "decode_gpu_s_per_request"):
        d_out[c] = np.nan
    if dside is not None:
        jd = np.arange(len(dside.prep.idx))
        dec = _DecodeLoad(dside, jd)
        slo = _slo_s(dc, "slo_tpot_ms")[dside.prep.idx]
        x = _bisect(lambda v: dec.step(v).total_s <= slo, dec.x_max)
        tau = dec.step(np.where(x > 0, x, ALONE)).total_s
        g = gpus_per_worker(*(dc[c].to_numpy(float)[dside.prep.idx] for c in ("tp", "dp", "pp", "ep")))
        with np.errstate(divide="ignore"):
            d_out.loc[dside.prep.idx, "decode_gpu_s_per_request"] = np.where(x > 0, g * tau / x, np.inf)
        d_out.loc[dside.prep.idx, "tpot_floor_ms"] = dec.step(np.full(len(jd), ALONE)).total_s * 1e3
    return p_out, d_out


def workers_needed(rate_rps, capacity_rps) -> np.ndarray:
    """⌈λ/μ⌉ workers of one pool for a rate λ (0 capacity: none suffices, -1)."""
    rate, cap = np.asarray(rate_rps, float), np.asarray(capacity_rps, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.ceil(rate / cap * (1 - 1e-9))
    return np.where(cap > 0, np.maximum(need, 1.0), -1.0)


__all__ = ["LINKS", "evaluate_pairs", "gpus_per_worker", "pool_scores", "workers_needed", "z_score"]
