"""A self-contained interactive HTML page of a sweep: an inline SVG chart whose points show their
configuration on hover (SVG <title> tooltips; no scripts, no network)."""

from __future__ import annotations

import html
import math
from pathlib import Path

WIDTH, HEIGHT, PAD = 900, 500, 70


def write_sweep_html(sweep_result, path: Path, title: str = "Trilemma sweep") -> None:
    pts = sweep_result.points
    x = sweep_result.dimensions[0]
    feasible = pts[pts["usd_per_hour"].notna()]
    if feasible.empty:
        body = "<p>No feasible point in the sweep.</p>"
    else:
        x0, x1 = float(feasible[x].min()), float(feasible[x].max())
        y0, y1 = 0.0, float(feasible["usd_per_hour"].max()) * 1.1
        x1 = x1 if x1 > x0 else x0 + 1

        def sx(v: float) -> float:
            return PAD + (v - x0) / (x1 - x0) * (WIDTH - 2 * PAD)

        def sy(v: float) -> float:
            return HEIGHT - PAD - (v - y0) / (y1 - y0) * (HEIGHT - 2 * PAD)

        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
                 f'font-family="sans-serif" font-size="12">',
                 f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="black"/>',
                 f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="black"/>']
        for i in range(6):
            xv = x0 + (x1 - x0) * i / 5
            yv = y0 + (y1 - y0) * i / 5
            parts.append(f'<text x="{sx(xv):.1f}" y="{HEIGHT - PAD + 18}" text-anchor="middle">{xv:g}</text>')
            parts.append(f'<text x="{PAD - 8}" y="{sy(yv) + 4:.1f}" text-anchor="end">{yv:,.0f}</text>')
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 20}" text-anchor="middle">{html.escape(x)}</text>')
        parts.append(f'<text x="18" y="{HEIGHT / 2}" transform="rotate(-90 18 {HEIGHT / 2})" '
                     f'text-anchor="middle">optimal cost (USD/h)</text>')
        front = feasible[feasible["on_frontier"]].sort_values(x)
        if len(front) > 1:
            path_d = " ".join(f"{'M' if i == 0 else 'L'}{sx(r[x]):.1f},{sy(r['usd_per_hour']):.1f}"
                              for i, (_, r) in enumerate(front.iterrows()))
            parts.append(f'<path d="{path_d}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
        for _, r in feasible.iterrows():
            tip = [f"{d} = {r[d]:g}" for d in sweep_result.dimensions]
            tip += [f"cost {r['usd_per_hour']:,.2f} USD/h", f"status {r['status']}",
                    f"{r.get('configuration', '')}"]
            mt = r.get("marginal_usd_per_hour_per_ms")
            if mt is not None and isinstance(mt, float) and math.isfinite(mt):
                tip.append(f"tightening costs {mt:,.2f} USD/h per ms")
            color = "#d62728" if r.get("knee") else ("#1f77b4" if r["on_frontier"] else "#bbbbbb")
            radius = 7 if r.get("knee") else 5
            parts.append(f'<circle cx="{sx(r[x]):.1f}" cy="{sy(r["usd_per_hour"]):.1f}" r="{radius}" '
                         f'fill="{color}"><title>{html.escape(chr(10).join(tip))}</title></circle>')
        parts.append("</svg>")
        body = "\n".join(parts)
    table = pts.drop(columns=[c for c in ("solve_time_s",) if c in pts]).to_html(index=False, float_format="%.4g")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
            "td,th{border:1px solid #ccc;padding:3px 6px}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>Hover a point to see its configuration. Blue: Pareto frontier; "
            f"red: knee; grey: dominated.</p>{body}<h2>All points</h2>{table}</body></html>")
    Path(path).write_text(page, encoding="utf-8")
