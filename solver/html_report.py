"""A self-contained interactive HTML page of a sweep: a Plotly chart (zoom, pan, series toggled from
the legend, PNG export from the toolbar) whose points show their configuration on hover, and a table
of every point with formatted numbers. Plotly's JavaScript is embedded, so the page works offline.

A frontier is drawn as steps: the cost at an SLO between two grid values s_i < s < s_{i+1} is at most
c_i (a looser SLO never costs more), so the line holds c_i until s_{i+1}. A rate sweep (cost curve)
holds c_{i+1} over (λ_i, λ_{i+1}]: serving less never costs more.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

HIDDEN_COLUMNS = ("solve_time_s",)
AXIS_TITLES = {"tpot_ms": "TPOT SLO (ms)", "ttft_ms": "TTFT SLO (ms)", "e2e_ms": "end-to-end SLO (ms)",
               "rate": "requests/s (every workload)"}


def format_cell(value) -> str:
    """Table text: yes/no, blank for missing, thousands separators, at most 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
        return "yes" if value else "no"
    if isinstance(value, (int, float)) or hasattr(value, "dtype"):
        v = float(value)
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:,.2f}" if abs(v) >= 100 else f"{v:.4g}"
    return str(value)


def _hover(r: pd.Series, dims: list[str]) -> str:
    parts = [f"{AXIS_TITLES.get(d, d)}: {r[d]:,.4g}" for d in dims]
    parts.append(f"cost: {r['usd_per_hour']:,.2f} USD/h ({r['usd_per_hour'] * 730:,.0f} USD/month)")
    per_mtok = r.get("usd_per_million_output_tokens")
    if per_mtok is not None and math.isfinite(per_mtok):
        parts.append(f"{per_mtok:,.3f} USD per million output tokens")
    for key, label in (("marginal_usd_per_hour_per_ms", "tightening by 1 ms costs {:,.2f} USD/h"),
                       ("marginal_usd_per_hour_per_rps", "one more request/s costs {:,.2f} USD/h")):
        v = r.get(key)
        if v is not None and isinstance(v, float) and math.isfinite(v):
            parts.append(label.format(v))
    parts.append(f"status: {r['status']}")
    parts += [html.escape(c.strip()) for c in str(r.get("configuration", "")).split(";") if c.strip()]
    return "<br>".join(parts)


def sweep_figure(sweep_result) -> go.Figure:
    pts = sweep_result.points
    dims = sweep_result.dimensions
    x = dims[0]
    curve = sweep_result.kind == "cost_curve"
    series = [(None, pts)] if len(dims) == 1 else list(pts.groupby(dims[1]))
    fig = go.Figure()
    for value, part in series:
        feasible = part[part["usd_per_hour"].notna()].sort_values(x)
        front = feasible[feasible["on_frontier"]]
        name = ("optimal cost" if curve else "frontier") if value is None else f"{dims[1]} = {value:g}"
        fig.add_trace(go.Scatter(
            x=front[x], y=front["usd_per_hour"], mode="lines+markers", name=name,
            line={"shape": "vh" if curve else "hv"},
            hovertext=[_hover(r, dims) for _, r in front.iterrows()], hoverinfo="text"))
        dominated = feasible[~feasible["on_frontier"]]
        if len(dominated):
            fig.add_trace(go.Scatter(
                x=dominated[x], y=dominated["usd_per_hour"], mode="markers", name=f"{name}: dominated",
                marker={"color": "lightgray", "size": 7},
                hovertext=[_hover(r, dims) for _, r in dominated.iterrows()], hoverinfo="text"))
        knee = front[front["knee"].astype(bool)] if "knee" in front else front.iloc[0:0]
        if len(knee):
            fig.add_trace(go.Scatter(
                x=knee[x], y=knee["usd_per_hour"], mode="markers", name="knee",
                marker={"symbol": "circle-open", "size": 18, "color": "red", "line": {"width": 2}},
                hovertext=[_hover(r, dims) for _, r in knee.iterrows()], hoverinfo="text"))
    title = ("Cost against load: each point proven optimal" if curve
             else "Cost of latency: each point proven optimal")
    fig.update_layout(
        title=title, template="plotly_white", hoverlabel={"align": "left"}, height=560,
        xaxis={"title": AXIS_TITLES.get(x, x), "tickformat": ",~g"},
        yaxis={"title": "optimal cost (USD/h)", "tickformat": ",.2~f", "rangemode": "tozero"},
        legend={"title": "click to show or hide"})
    return fig


def points_table_html(points: pd.DataFrame) -> str:
    cols = [c for c in points.columns if c not in HIDDEN_COLUMNS]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(format_cell(r[c]))}</td>" for c in cols) + "</tr>"
                   for _, r in points.iterrows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_sweep_html(sweep_result, path: Path, title: str = "Trilemma sweep") -> None:
    feasible = sweep_result.points["usd_per_hour"].notna().any()
    chart = (sweep_figure(sweep_result).to_html(full_html=False, include_plotlyjs=True, div_id="chart",
                                                config={"displaylogo": False, "responsive": True})
             if feasible else "<p>No feasible point in the sweep.</p>")
    what = ("Hover a point for its configuration; drag to zoom, double-click to reset; click a legend entry to "
            "show or hide it; the camera icon saves a PNG.")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
            "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f4f4f4}</style>"
            f"</head><body><h1>{html.escape(title)}</h1><p>{what}</p>{chart}"
            f"<h2>All points</h2>{points_table_html(sweep_result.points)}</body></html>")
    Path(path).write_text(page, encoding="utf-8")
