"""Pareto frontier of cost against latency targets, and cost curves against load: pure functions on
DataFrames.

A point (SLO values s, cost c) dominates another (s', c') when s ≤ s' in every SLO dimension and
c ≤ c', one of them strictly: it is at least as tight and at least as cheap. The frontier keeps
the non-dominated feasible points.

A request rate is not a target: serving more is more work, so no rate dominates another. A rate
sweep is a cost curve c(λ); between neighbouring rates λ_i < λ_{i+1} its marginal cost is
(c_{i+1} − c_i) / (λ_{i+1} − λ_i) USD/h per request/s, and its average cost c_i / λ_i.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def pareto_mask(points: pd.DataFrame, slo_columns: list[str], cost_column: str) -> pd.Series:
    """True for feasible rows (finite cost) that no other feasible row dominates. O(n²), n ≤ thousands."""
    ok = points[cost_column].notna() & np.isfinite(points[cost_column].astype(float))
    values = points.loc[ok, slo_columns].to_numpy(dtype=float)
    cost = points.loc[ok, cost_column].to_numpy(dtype=float)
    keep = np.ones(len(cost), dtype=bool)
    for i in range(len(cost)):
        no_worse = np.all(values <= values[i], axis=1) & (cost <= cost[i])
        strictly = np.any(values < values[i], axis=1) | (cost < cost[i])
        if np.any(no_worse & strictly):
            keep[i] = False
    # Exact duplicates (same SLOs and cost) keep only their first occurrence.
    sub = points.loc[ok].assign(_keep=keep)
    dup = sub.duplicated(subset=[*slo_columns, cost_column], keep="first")
    mask = pd.Series(False, index=points.index)
    mask.loc[sub.index] = sub["_keep"] & ~dup
    return mask


def marginal_costs(frontier: pd.DataFrame, slo_column: str, cost_column: str) -> pd.Series:
    """USD/h saved per ms of loosening, between each frontier point and the next looser one:
    (c_i − c_{i+1}) / (s_{i+1} − s_i); the loosest point gets NaN. `frontier` is sorted by SLO."""
    s = frontier[slo_column].to_numpy(dtype=float)
    c = frontier[cost_column].to_numpy(dtype=float)
    out = np.full(len(s), np.nan)
    if len(s) > 1:
        out[:-1] = (c[:-1] - c[1:]) / (s[1:] - s[:-1])
    return pd.Series(out, index=frontier.index)


def knee_index(frontier: pd.DataFrame, slo_column: str, cost_column: str):
    """The knee: the frontier point farthest from the chord joining the two ends, with both axes
    scaled to [0, 1] (the Kneedle idea). None with fewer than 3 points."""
    if len(frontier) < 3:
        return None
    s = frontier[slo_column].to_numpy(dtype=float)
    c = frontier[cost_column].to_numpy(dtype=float)
    span_s, span_c = s.max() - s.min(), c.max() - c.min()
    if span_s <= 0 or span_c <= 0:
        return None
    xs, ys = (s - s.min()) / span_s, (c - c.min()) / span_c
    x0, y0, x1, y1 = xs[0], ys[0], xs[-1], ys[-1]
    dist = np.abs((y1 - y0) * xs - (x1 - x0) * ys + x1 * y0 - y1 * x0) / np.hypot(x1 - x0, y1 - y0)
    return frontier.index[int(np.argmax(dist))]


def frontier_table(points: pd.DataFrame, slo_columns: list[str], cost_column: str = "usd_per_hour") -> pd.DataFrame:
    """Points with `on_frontier`, and for a 1-D sweep `marginal_usd_per_hour_per_ms` and `knee`."""
    out = points.copy()
    out["on_frontier"] = pareto_mask(points, slo_columns, cost_column)
    out["marginal_usd_per_hour_per_ms"] = np.nan
    out["knee"] = False
    if len(slo_columns) == 1:
        front = out[out["on_frontier"]].sort_values(slo_columns[0], kind="mergesort")
        out.loc[front.index, "marginal_usd_per_hour_per_ms"] = marginal_costs(front, slo_columns[0], cost_column)
        knee = knee_index(front, slo_columns[0], cost_column)
        if knee is not None:
            out.loc[knee, "knee"] = True
    return out


def cost_curve_table(points: pd.DataFrame, rate_column: str = "rate",
                     cost_column: str = "usd_per_hour") -> pd.DataFrame:
    """Points of a rate sweep with `on_frontier` true for every feasible point (nothing is dominated),
    `usd_per_hour_per_rps` (average) and `marginal_usd_per_hour_per_rps` (to the next feasible rate;
    NaN for the last)."""
    out = points.copy()
    cost = out[cost_column].astype(float)
    feasible = cost.notna() & np.isfinite(cost)
    out["on_frontier"] = feasible
    out["knee"] = False
    out["usd_per_hour_per_rps"] = np.where(feasible, cost / out[rate_column].astype(float), np.nan)
    out["marginal_usd_per_hour_per_rps"] = np.nan
    curve = out[feasible].sort_values(rate_column, kind="mergesort")
    r = curve[rate_column].to_numpy(dtype=float)
    c = curve[cost_column].to_numpy(dtype=float)
    if len(r) > 1:
        marginal = np.full(len(r), np.nan)
        marginal[:-1] = (c[1:] - c[:-1]) / (r[1:] - r[:-1])
        out.loc[curve.index, "marginal_usd_per_hour_per_rps"] = marginal
    return out
