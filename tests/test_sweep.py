"""Sweeps: each point equals a plain solve; cost never rises as an SLO loosens; CLI outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.catalog import load_catalog
from solver.optimize.solve import solve
from solver.problem import Problem
from solver.sweep import point_problem, sweep

CATALOG = load_catalog()
MODELS = ["llama-3.1-8b", "qwen3-32b", "llama-3.3-70b", "qwen3-30b-a3b"]


def small_problem(model="llama-3.1-8b", rate=4.0, isl=1000, osl=200, ttft=2000.0, tpot=50.0, pct=99.0) -> Problem:
    return Problem.model_validate({
        "workloads": [{"name": "w", "model": model, "traffic": {"requests_per_s": rate}, "input_tokens": isl,
                       "output_tokens": osl, "slo": {"ttft_ms": ttft, "tpot_ms": tpot, "percentile": pct}}],
        "fleet": {"accelerators": ["h100-sxm", "l40s", "a100-80gb-sxm", "mi300x"]},
        "solver": {"time_limit_s": 20, "workers": 2},
    })


def test_a_sweep_point_equals_a_plain_solve():
    problem = small_problem()
    result = sweep(problem, CATALOG, {"tpot_ms": [15.0, 30.0, 60.0]})
    for _, point in result.points.iterrows():
        plain = solve(point_problem(problem, {"tpot_ms": point["tpot_ms"]}, None), CATALOG)
        assert point["usd_per_hour"] == pytest.approx(plain.usd_per_hour, rel=1e-9)


@settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from(MODELS), rate=st.floats(0.5, 20), isl=st.sampled_from([200, 1000, 4000]),
       osl=st.sampled_from([50, 200, 800]), pct=st.sampled_from([50.0, 90.0, 99.0]))
def test_cost_never_rises_as_the_tpot_slo_loosens(model, rate, isl, osl, pct):
    problem = small_problem(model, rate, isl, osl, ttft=5000.0, pct=pct)
    result = sweep(problem, CATALOG, {"tpot_ms": [12.0, 20.0, 35.0, 60.0, 120.0]})
    costs = result.points.sort_values("tpot_ms")["usd_per_hour"].to_list()
    feasible = [c for c in costs if not math.isnan(c)]
    # Once feasible, stays feasible as the SLO loosens, and never costs more.
    first = next((i for i, c in enumerate(costs) if not math.isnan(c)), len(costs))
    assert all(not math.isnan(c) for c in costs[first:])
    assert all(b <= a + 1e-9 for a, b in zip(feasible, feasible[1:], strict=False))


def test_sweep_cli_writes_plot_html_and_json(cli, tmp_path):
    path = tmp_path / "p.yaml"
    body = small_problem().model_dump(mode="json", exclude_none=True)
    path.write_text(yaml.safe_dump(body))
    out = cli("sweep", path, "--tpot-ms", "10:40:10", "--plot", tmp_path / "f.png", "--html", tmp_path / "f.html",
              "--csv", tmp_path / "f.csv", "--json")
    assert out.exit_code == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["dimensions"] == ["tpot_ms"]
    assert [p["tpot_ms"] for p in data["points"]] == [10, 20, 30, 40]
    assert (tmp_path / "f.png").stat().st_size > 1000
    html = (tmp_path / "f.html").read_text()
    # Self-contained: Plotly's JavaScript is inline, nothing is loaded from the network.
    assert "plotly.js v" in html and 'src="http' not in html and "<title>" in html
    assert Path(tmp_path / "f.csv").read_text().startswith("tpot_ms")


def test_two_dimensional_sweep_and_jobs(cli, tmp_path):
    problem = small_problem()
    one = sweep(problem, CATALOG, {"tpot_ms": [20.0, 40.0], "ttft_ms": [300.0, 3000.0]}, jobs=1)
    two = sweep(problem, CATALOG, {"tpot_ms": [20.0, 40.0], "ttft_ms": [300.0, 3000.0]}, jobs=2)
    assert len(one.points) == 4
    assert one.points["usd_per_hour"].fillna(-1).tolist() == two.points["usd_per_hour"].fillna(-1).tolist()
