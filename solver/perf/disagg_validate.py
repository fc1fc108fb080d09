"""Predicted against published disaggregated measurements (`validation/cases_disagg.csv`, see
`validation/SOURCES.md`); `python -m solver.perf.disagg_validate` prints the table and writes it to
`validation/validate_disagg.txt`. Nothing is fitted to these rows: the pools run on the calibrated profiles of
the aggregated modes, so this is an out-of-sample check.

Modes (as transcribed):
- prefill_only: the prefill pool alone, every prompt queued: requests/s = workers · C/(S·τ_C) (a worker runs
  full-budget iterations back to back, C the token budget of all its attention ranks) against the measured
  requests/s.
- decode_only: the decode pool alone with `mode_value` requests running in the whole pool (n = mode_value /
  workers per worker, else the batch the KV cache admits): output tokens/s = workers · n/τ_D(n), TPOT = τ_D(n).
- max_throughput: both pools saturated; the sources fix the decode side (saturated by design), so output
  tokens/s = decode workers · B_max/τ_D(B_max).

A layout the source leaves out is read as attention data-parallel over the worker (tp 1, ep = the worker's
GPUs), the large-EP deployment these posts describe; each row's notes say what was stated.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from solver.perf.disagg import attention_groups
from solver.perf.kernels import KernelLibrary
from solver.perf.latency import step_time
from solver.perf.prepare import Prepared

CASES = Path(__file__).resolve().parents[2] / "validation" / "cases_disagg.csv"


def _num(v, default=None):
    return default if v is None or (isinstance(v, float) and math.isnan(v)) or v == "" else float(v)


def _pool_row(case: pd.Series, side: str) -> dict:
    gpus = int(_num(case[f"{side}_gpus_per_worker"]))
    tp = int(_num(case[f"{side}_tp"], 1))
    ep = int(_num(case[f"{side}_ep"], gpus // tp))
    return {"model": case["model"], "accelerator": case[f"{side}_accelerator"], "engine": case["engine"],
            "quant": case["quant"], "kv_quant": "" if pd.isna(case["kv_quant"]) else case["kv_quant"], "tp": tp,
            "pp": 1, "ep": ep, "max_batch": math.nan, "isl": float(case["isl"]),
            "osl": _num(case["osl"], 1.0) or 1.0}


def predict(case: pd.Series, catalog, kernels: KernelLibrary) -> dict:
    """Predicted figure(s) of one case (keys as the measured columns)."""
    mode = case["mode"]
    side = "prefill" if mode == "prefill_only" else "decode"
    prep = Prepared(pd.DataFrame([_pool_row(case, side)]), catalog, kernels)
    if prep.rows is None or prep.reason[0]:
        return {"reason": prep.reason[0]}
    rows = prep.rows
    workers = _num(case[f"{side}_workers"], 1.0)
    S = float(case["isl"])
    if mode == "prefill_only":
        chunk = rows.runtime.max_num_tokens * attention_groups(prep)
        tau_c = step_time(rows, 0.0, 0.0, chunk, (S + 1.0) / 2.0, S).total_s
        return {"measured_output_tok_s": float(workers * chunk[0] / (S * tau_c[0]))}
    plan = prep.memory(np.array([math.nan]))
    b_max = float(max(plan.batch_max[0], 1.0))
    running = _num(case["mode_value"])
    n = min(running / workers, b_max) if running else b_max
    osl = _num(case["osl"])
    ctx = S + (osl / 2.0 if osl else 0.0)
    tau = float(step_time(rows, n, ctx, 0.0, 0.0).total_s[0])
    out = {"measured_output_tok_s": workers * n / tau}
    if running:
        out["measured_tpot_ms"] = tau * 1e3
    return out


def validate(catalog, cases: Path = CASES) -> pd.DataFrame:
    """One row per (case, metric) the source measured: measured, predicted, absolute percentage error."""
    kernels = KernelLibrary.for_catalog(catalog)
    df = pd.read_csv(cases)
    out = []
    for _, case in df.iterrows():
        pred = predict(case, catalog, kernels)
        for metric in ("measured_output_tok_s", "measured_tpot_ms"):
            measured = _num(case[metric])
            if measured is None:
                continue
            p = pred.get(metric)
            out.append({"case_id": case["case_id"], "mode": case["mode"], "metric": metric.removeprefix("measured_"),
                        "measured": measured, "predicted": p,
                        "ape_pct": None if p is None else abs(p - measured) / measured * 100,
                        "reason": pred.get("reason", "")})
    return pd.DataFrame(out)


def main() -> int:
    from solver.catalog.loader import load_catalog

    res = validate(load_catalog())
    text = res.to_string(index=False, float_format=lambda v: f"{v:,.3f}")
    ape = res["ape_pct"].dropna()
    text += (f"\n\n{len(ape)} measurements, mean APE {ape.mean():.1f} %, median {ape.median():.1f} %, "
             f"max {ape.max():.1f} %  (no parameter fitted to these rows)\n")
    sys.stdout.write(text)
    (CASES.parent / "validate_disagg.txt").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
