"""Vectorised evaluation of replica configurations: `evaluate_candidates(df, catalog)`.

Input columns (one row per replica configuration): model, accelerator, engine, quant, kv_quant, tp, dp
(optional, default 1), pp, ep, max_batch, isl, osl, slo_ttft_ms, slo_tpot_ms, slo_e2e_ms (NaN = no limit), percentile.
Output: the same rows, same order, plus
  gpus (per replica), fits (bool), pruned_reason (str, "" when usable),
  memory_gb_per_gpu (GB at the operating batch), kv_cache_tokens (replica KV capacity, tokens),
  capacity_rps (highest Poisson rate one replica sustains meeting every SLO at the percentile, req/s),
  ttft_ms, tpot_ms, e2e_ms (at that percentile at capacity), output_tokens_per_s (at capacity),
  ttft_floor_ms, tpot_floor_ms (one request alone), utilisation (busy fraction λ/λ_sat at capacity),
  batch (mean requests decoding at capacity), max_batch_effective (the batch bound actually used),
  saturation_rps (λ_sat: the rate with the batch full and prompts always queued, no SLO),
  kv_quant_effective (the KV dtype used, after the profile default for an empty kv_quant).

Conventions (the engines' vocabulary): a replica is pp pipeline stages of n = tp·dp GPUs, so GPUs per
replica = tp·dp·pp. Attention splits a stage as tp × dp (dp attention data-parallel ranks, each with its
own requests and KV cache); MoE layers split the same n GPUs as moe_tp × ep (moe_tp = n/ep), and tokens
reach their experts by all-to-all when ep > 1.
max_batch is the most requests decoding at once in the replica (the engine's max_num_seqs); the batch
actually used is also bounded by the KV cache and the iteration token budget (`max_batch_effective`).
NaN max_batch means the engine's default. An empty kv_quant means the profile's default KV dtype.
An optional `lengths` column holds a `lengths.LengthMix` per row (None: one length): then isl and osl
must be its means, and memory, work and percentiles follow the distribution and prefix cache.

The rows are prepared in named stages by `prepare.py` (catalog look-ups once per distinct key, never
once per row); all per-row arithmetic is numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from solver.perf import lengths
from solver.perf import memory as mem
from solver.perf.kernels import KernelLibrary
from solver.perf.latency import step_time
from solver.perf.lengths import LengthMix, MixArrays
from solver.perf.prepare import Prepared
from solver.perf.serving import Point, Serving, slo_check

COLUMNS = ("memory_gb_per_gpu", "kv_cache_tokens", "capacity_rps", "ttft_ms", "tpot_ms", "e2e_ms",
           "output_tokens_per_s", "ttft_floor_ms", "tpot_floor_ms", "utilisation", "batch", "max_batch_effective",
           "saturation_rps")
ALONE = 1e-9
"""Arrivals per iteration of a request alone (the floors)."""


def _ms(x):
    return x * 1e3


def _slo_reason(pct: float, slo_ttft, slo_tpot, slo_e2e, floor: Point, tpot_floor, i: int) -> str:
    """Why no load level meets the SLOs: the first SLO the configuration misses even alone."""
    p = f"p{pct:g}"
    if floor.ttft_p[i] > (slo_ttft[i] if not np.isnan(slo_ttft[i]) else np.inf):
        return f"slo: {p} TTFT {floor.ttft_p[i] * 1e3:.1f} ms > {slo_ttft[i] * 1e3:g} ms at batch 1"
    # The batch-1 step, or the percentile TPOT at the lightest load (a prompt's prefill may interrupt).
    tpot = max(tpot_floor[i], floor.tpot_p[i])
    if tpot > (slo_tpot[i] if not np.isnan(slo_tpot[i]) else np.inf):
        return f"slo: {p} TPOT {tpot * 1e3:.4g} ms > {slo_tpot[i] * 1e3:g} ms at batch 1"
    if not np.isnan(slo_e2e[i]):
        return f"slo: {p} E2E {floor.e2e_p[i] * 1e3:.0f} ms > {slo_e2e[i] * 1e3:g} ms at batch 1"
    return (f"slo: no load level meets the {p} TTFT and TPOT limits together ({floor.ttft_p[i] * 1e3:.1f} ms "
            f"and {tpot * 1e3:.1f} ms at batch 1)")


AT_X_MISSED = "slo: not met at the load asked (at_x)"
BEATEN = "beaten"
"""`pruned_reason` prefix of a row whose capacity is certainly below another of its group's (`best_of`)."""


def _at_capacity(prep: Prepared, live: np.ndarray, b_max: np.ndarray, plan: mem.MemoryPlan,
                 mix: MixArrays | None = None, group: np.ndarray | None = None,
                 beat_rps: np.ndarray | None = None, at_x: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """Output columns of the live usable rows at the highest rate meeting their SLOs, and their reasons.
    With `group`/`beat_rps` (per live row) rows beaten within their group get reason `BEATEN` and no values.
    With `at_x` (per live row), the rows are evaluated at that load, with no search."""
    df = prep.df
    rows = prep.idx[live]
    sv = _serving(prep, live, b_max, mix)
    sub = sv.rows
    pctl = df["percentile"].to_numpy()[rows]
    slo_ttft, slo_tpot, slo_e2e = _slo_limits_s(df, rows)
    has_slo = ~(np.isnan(slo_ttft) & np.isnan(slo_tpot) & np.isnan(slo_e2e))
    x = sv.x_max.copy()
    beaten = np.zeros(len(rows), bool)
    best = None
    if group is not None:
        # What each group already reaches: `beat_rps`, and rows without SLOs, which sit at saturation.
        reached = np.zeros(int(group.max()) + 1)
        np.maximum.at(reached, group, np.nan_to_num(np.asarray(beat_rps, float), nan=0.0))
        np.maximum.at(reached, group[~has_slo], sv.lam_sat[~has_slo])
        best = reached[group]
        # λ_sat bounds every capacity (λ(x_max) may differ from it in the last digit).
        beaten = has_slo & (sv.lam_sat * (1.0 + 1e-9) < best)
    alive = np.flatnonzero(~beaten)
    # One request alone decodes at the batch-1 step; every TPOT under load is at least that (more
    # requests, prefill interference, z ≥ 0), so rows already over the TPOT limit need no search.
    tpot_floor = np.full(len(rows), np.nan)
    tpot_floor[alive] = step_time(sub.take(alive), 1.0, sv.ctx[alive], 0.0, 0.0).total_s
    hopeless = has_slo & (tpot_floor > np.where(np.isnan(slo_tpot), np.inf, slo_tpot))
    x[hopeless] = 0.0
    s = np.flatnonzero(has_slo & ~beaten & ~hopeless)
    if at_x is not None:
        s = s[:0]
        x = np.where(hopeless, 0.0, np.asarray(at_x, float))
    if len(s):
        sv_s = sv.take(s)
        if best is None:
            x[s] = sv_s.capacity(slo_ttft[s], slo_tpot[s], slo_e2e[s])
        else:
            x[s], beaten[s] = sv_s.capacity(slo_ttft[s], slo_tpot[s], slo_e2e[s], group[s], best[s])
    keep = np.flatnonzero(~beaten)
    reasons = np.full(len(rows), BEATEN, dtype=object)
    vals = {k: np.full(len(rows), np.nan) for k in ("ttft_ms", "tpot_ms", "e2e_ms", "ttft_floor_ms",
                                                   "tpot_floor_ms", "memory_gb_per_gpu")}
    vals.update({k: np.zeros(len(rows)) for k in ("capacity_rps", "output_tokens_per_s", "utilisation", "batch")})
    vals["saturation_rps"] = sv.lam_sat.copy()
    if not len(keep):
        return vals, reasons
    if len(keep) < len(rows):
        sv, sub, x, pctl, tpot_floor = sv.take(keep), sub.take(keep), x[keep], pctl[keep], tpot_floor[keep]
        slo_ttft, slo_tpot, slo_e2e = slo_ttft[keep], slo_tpot[keep], slo_e2e[keep]
    pt = sv.point(np.minimum(x, sv.x_max))
    floor = sv.point(np.full_like(x, ALONE))
    mine = np.full(len(keep), "", dtype=object)
    for i in np.flatnonzero(x <= 0):
        mine[i] = _slo_reason(pctl[i], slo_ttft, slo_tpot, slo_e2e, floor, tpot_floor, i)
    if at_x is not None:
        missed = (mine == "") & ~(slo_check(slo_ttft, slo_tpot, slo_e2e)(pt) & (x <= sv.x_max))
        mine[missed] = AT_X_MISSED
    floor_ttft_s = floor.ttft_p
    cap = np.where(x > 0, pt.lam, 0.0)
    ok = mine == ""
    reasons[keep] = mine
    plan_live = plan.take(np.flatnonzero(live)[keep])
    got = {
        "capacity_rps": np.where(ok, cap, 0.0), "ttft_ms": _ms(pt.ttft_p), "tpot_ms": _ms(pt.tpot_p),
        "e2e_ms": _ms(pt.e2e_p), "output_tokens_per_s": np.where(ok, cap * sv.O, 0.0),
        "ttft_floor_ms": _ms(floor_ttft_s), "tpot_floor_ms": _ms(tpot_floor),
        "utilisation": np.where(ok, pt.rho, 0.0), "batch": np.where(ok, pt.n_dec, 0.0),
        "memory_gb_per_gpu": plan_live.gb_per_gpu_at(pt.n_dec, sub.dp),
    }
    for k, v in got.items():
        vals[k][keep] = v
    return vals, reasons


def _serving(prep: Prepared, live: np.ndarray, b_max: np.ndarray, mix: MixArrays | None) -> Serving:
    """The live usable rows (a mask or positions over `prep.idx`) as a `Serving` at batch bound `b_max` (per row)."""
    rows = prep.idx[live]
    df = prep.df
    return Serving(prep.rows.take(live), df["isl"].to_numpy()[rows], df["osl"].to_numpy()[rows], b_max,
                   df["percentile"].to_numpy()[rows], None if mix is None else mix.take(live))


def _slo_limits_s(df: pd.DataFrame, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(df[c].to_numpy()[rows] * 1e-3 for c in ("slo_ttft_ms", "slo_tpot_ms", "slo_e2e_ms"))


def _memory(prep: Prepared, df_in: pd.DataFrame, catalog) -> tuple[mem.MemoryPlan, MixArrays | None, np.ndarray]:
    """(memory plan, length mixes, reason) of the usable rows `prep.idx`; reason '' where they fit."""
    max_batch = prep.df["max_batch"].to_numpy()[prep.idx]
    plan = prep.memory(max_batch)
    mix = length_mix(df_in, prep, catalog)
    if mix is not None:
        plan = lengths.memory_plan(prep.rows, plan, mix, max_batch)
    rs = prep.reason[prep.idx].copy()
    rs[rs == ""] = plan.verdict()[rs == ""]
    return plan, mix, rs


def slo_met_at(prep: Prepared, df_in: pd.DataFrame, x: np.ndarray) -> np.ndarray:
    """Per input row of `prep` (each usable and fitting in memory at its max_batch): whether it meets all
    its SLOs at x arrivals per iteration (per row), with its batch bound admitting that many (one
    operating point, no search, no reported values)."""
    plan, mix, _ = _memory(prep, df_in, prep.catalog)
    live = np.ones(len(prep.idx), bool)
    sv = _serving(prep, live, np.maximum(plan.batch_max, 1.0), mix)
    x = np.asarray(x, float)[prep.idx]
    slack_ok = slo_check(*_slo_limits_s(prep.df, prep.idx))(sv.point(np.minimum(x, sv.x_max)))
    met = np.zeros(len(prep.df), bool)
    met[prep.idx] = slack_ok & (x <= sv.x_max)
    return met


def saturation_rps(prep: Prepared, df_in: pd.DataFrame, source: np.ndarray, b_max: np.ndarray) -> np.ndarray:
    """λ_sat (req/s) of the input rows `source` of `prep` (each usable) at batch bound `b_max` each: the
    `saturation_rps` that `evaluate_candidates` reports for them at a cap of b_max, when b_max is below
    what their KV cache and token budget admit (then it is the effective bound)."""
    pos = np.searchsorted(prep.idx, source)
    mix = length_mix(df_in, prep, prep.catalog)
    return _serving(prep, pos, np.asarray(b_max, float), mix).lam_sat


def length_mix(df_in: pd.DataFrame, prep: Prepared, catalog) -> MixArrays | None:
    """The usable rows' length distributions (optional `lengths` column of `lengths.LengthMix`), or None
    when every row has one length and no prefix cache (then the model is exactly the single-point one)."""
    if "lengths" not in df_in.columns or not len(prep.idx):
        return None
    mixes = [m if isinstance(m, LengthMix) else None for m in df_in["lengths"].to_numpy()[prep.idx]]
    if all(m is None or m.trivial for m in mixes):
        return None
    isl, osl = (prep.df[c].to_numpy()[prep.idx] for c in ("isl", "osl"))
    mixes = [m if m is not None else LengthMix(((s, 1.0),), ((o, 1.0),))
             for m, s, o in zip(mixes, isl, osl, strict=True)]
    engines = prep.df["engine"].to_numpy()[prep.idx]
    ok = {e: prefix_caching(catalog, e) for e in set(engines)}
    return MixArrays.build(mixes, [ok[e] for e in engines])


def prefix_caching(catalog, engine: str) -> bool:
    """The engine reuses cached prefixes as launched (catalog `prefix_caching.enabled_by_default`)."""
    entry = catalog.engines.get(engine)
    return bool(entry is not None and entry.prefix_caching is not None and entry.prefix_caching.enabled_by_default)


def evaluate_candidates(df_in: pd.DataFrame, catalog, kernels: KernelLibrary | None = None,
                        best_of: tuple[str, ...] | None = None, beat_rps=None,
                        prepared: Prepared | None = None, at_x=None) -> pd.DataFrame:
    """Vectorised performance model over replica configurations (see module docstring for columns).

    `best_of` (column names): only each group's highest capacity is wanted (rows alike in these columns
    are interchangeable but for capacity); rows certainly below their group's best, or below their
    `beat_rps` (per row, a capacity reached elsewhere), come back with reason `BEATEN` and capacity 0.
    Every row that could be its group's best gets exactly the values it gets without `best_of`.

    `prepared`: `df_in` already prepared (`Prepared(df_in, catalog)` or `Prepared.with_batch_caps`).
    `at_x` (per row, arrivals per iteration): the values at that load instead of at capacity (no search;
    capacity_rps is its rate); rows missing an SLO there, or admitting fewer, get reason `AT_X_MISSED`."""
    prep = prepared if prepared is not None else Prepared(df_in, catalog, kernels)
    df = prep.df
    out = df_in.copy()
    cols = {c: np.full(len(df), np.nan) for c in COLUMNS}
    tp, dp, pp = (np.nan_to_num(df[c].to_numpy(), nan=1.0) for c in ("tp", "dp", "pp"))
    out["gpus"] = (tp * dp * pp).astype(int)
    idx, reason = prep.idx, prep.reason.copy()
    if len(idx):
        plan, mix, rs = _memory(prep, df_in, catalog)
        live = rs == ""
        b_max_all = np.maximum(plan.batch_max, 1.0)
        if live.any():
            group = beat = None
            if best_of is not None:
                group = df.groupby(list(best_of), sort=False, dropna=False).ngroup().to_numpy()[idx[live]]
                beat = np.zeros(len(df_in)) if beat_rps is None else np.nan_to_num(np.asarray(beat_rps, float))
                beat = beat[idx[live]]
            x_live = None if at_x is None else np.asarray(at_x, float)[idx[live]]
            vals, rs_live = _at_capacity(prep, live, b_max_all[live], plan, mix, group, beat, x_live)
            rs[live] = rs_live
            for k, v in vals.items():
                cols[k][idx[live]] = v
        cols["kv_cache_tokens"][idx] = np.floor(plan.kv_cache_tokens)
        cols["max_batch_effective"][idx] = b_max_all
        cols["memory_gb_per_gpu"][idx[~live]] = plan.need_bytes[~live] / mem.GB
        reason[idx] = rs
    out["fits"] = reason == ""
    out["pruned_reason"] = reason.astype(str)
    out["kv_quant_effective"] = prep.df["kv_quant"].to_numpy()
    for k, v in cols.items():
        out[k] = v
    out["capacity_rps"] = out["capacity_rps"].fillna(0.0)
    out["output_tokens_per_s"] = out["output_tokens_per_s"].fillna(0.0)
    return out
