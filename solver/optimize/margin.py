"""Plans with a safety margin: SLOs that still hold if the model's latency is too low by P %.

A candidate row with SLO limits T_ttft, T_tpot (and T_e2e) is evaluated at

    T'_ttft = T_ttft / (1 + P_ttft),   T'_tpot = T_tpot / (1 + P_tpot),   T'_e2e = T_e2e / (1 + max(P_ttft, P_tpot))

where P is a fraction (25 % → 0.25). Its capacity μ' is then the highest rate whose predicted latency
ℓ(λ) at the SLO percentile stays within T'. For any load λ ≤ μ' a replica serves, ℓ(λ) ≤ T' because ℓ
grows with load, so (1 + P)·ℓ(λ) ≤ T: if the true latency is the prediction inflated by at most P, the
SLO still holds. The plan buys capacity μ' ≤ μ per replica; what that costs is the premium, reported as
the optimum with and without the margin.

`margin = P` (a number, percent) uses the same P for every row and metric; `margin = "auto"` uses, per
row, the held-out p90 error of its (engine, accelerator family) from catalogs/accuracy.yaml: the TTFT
band for TTFT, the TPOT band for TPOT, each at mode `rate` (the open-loop serving the solver plans for)
with the labelled fallbacks of `solver.perf.accuracy.band_for`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from solver.errors import Issue, ProblemError

AUTO = "auto"
PLANNING_MODE = "rate"
"""The load mode whose error band `auto` reads: the solver plans open-loop arrivals at the SLO."""


@dataclass(frozen=True)
class MarginPct:
    """Percent margins of one candidate row."""

    ttft: float
    tpot: float
    why: str


def row_margins(configs: pd.DataFrame, margin: float | str, catalog, doc: dict | None = None
                ) -> tuple[np.ndarray, np.ndarray, dict[tuple[str, str], MarginPct]]:
    """(P_ttft %, P_tpot %) per row of `configs` (columns accelerator, engine), and the margin per
    (engine, family) used, for the report."""
    from solver.perf.accuracy import band_for, load_accuracy

    n = len(configs)
    if margin != AUTO:
        p = float(margin)
        return np.full(n, p), np.full(n, p), {}
    doc = load_accuracy() if doc is None else doc
    if doc is None:
        raise ProblemError([Issue("solver", "margin", "auto needs catalogs/accuracy.yaml (the error bands); "
                                  "generate it with `trilemma validate --write-accuracy` or give a percentage")])
    used: dict[tuple[str, str], MarginPct] = {}
    pt, pp = np.zeros(n), np.zeros(n)
    keys = [(catalog.lookup("engines", e).id, catalog.accelerators[a].family)
            for e, a in zip(configs["engine"], configs["accelerator"], strict=True)]
    for key in set(keys):
        b = band_for(doc, key[0], key[1], PLANNING_MODE)
        t, d = b["ttft_ms_band"], b["tpot_ms_band"]
        used[key] = MarginPct(float(t["p90_pct"] or 0.0), float(d["p90_pct"] or 0.0),
                              f"TTFT: {t['group']} (n={t['n']}); TPOT: {d['group']} (n={d['n']})")
    for i, key in enumerate(keys):
        pt[i], pp[i] = used[key].ttft, used[key].tpot
    return pt, pp, used


def apply_margin(configs: pd.DataFrame, margin: float | str | None, catalog) -> pd.DataFrame:
    """`configs` with every SLO limit divided by (1 + P/100) (see the module docstring)."""
    if margin is None or len(configs) == 0 or (margin != AUTO and float(margin) == 0.0):
        return configs
    pt, pp, _ = row_margins(configs, margin, catalog)
    out = configs.copy()
    out["slo_ttft_ms"] = out["slo_ttft_ms"] / (1.0 + pt / 100.0)
    out["slo_tpot_ms"] = out["slo_tpot_ms"] / (1.0 + pp / 100.0)
    out["slo_e2e_ms"] = out["slo_e2e_ms"] / (1.0 + np.maximum(pt, pp) / 100.0)
    return out


def margin_report(problem, catalog, with_margin_usd_h: float, without_margin_usd_h: float) -> dict:
    """What the margin is and what it costs: the optimum with and without it, USD/h and %."""
    margin = problem.solver.margin
    out: dict = {"margin": margin, "usd_per_hour_with_margin": with_margin_usd_h,
                 "usd_per_hour_without_margin": without_margin_usd_h,
                 "premium_usd_per_hour": with_margin_usd_h - without_margin_usd_h,
                 "premium_pct": (100.0 * (with_margin_usd_h / without_margin_usd_h - 1.0)
                                 if without_margin_usd_h > 0 else None)}
    if margin == AUTO:
        from solver.optimize.candidates import allowed_accelerators
        from solver.optimize.inputs import allowed_offers

        accs = allowed_accelerators(problem, catalog, sorted(allowed_offers(problem, catalog)))
        engines = sorted({catalog.lookup("engines", e).id for w in problem.workloads
                          for e in (w.engines or sorted(catalog.engines))})
        grid = pd.DataFrame([(a, e) for a in accs for e in engines], columns=["accelerator", "engine"])
        _, _, used = row_margins(grid, margin, catalog)
        out["auto_pct"] = [{"engine": k[0], "family": k[1], "ttft_pct": v.ttft, "tpot_pct": v.tpot, "from": v.why}
                           for k, v in sorted(used.items())]
    return out


def solve_with_margin(problem, catalog, **kw):
    """`solve` at the problem's margin, plus (when there is one) the margin-free optimum it is compared
    with; the result's `margin` carries `margin_report`."""
    from solver.optimize.solve import solve

    result = solve(problem, catalog, **kw)
    margin = problem.solver.margin
    if margin is None or (margin != AUTO and float(margin) == 0.0):
        return result
    plain = problem.model_copy(update={"solver": problem.solver.model_copy(update={"margin": None})})
    base = solve(plain, catalog, **kw)
    result.margin = margin_report(problem, catalog, result.usd_per_hour, base.usd_per_hour)
    return result
