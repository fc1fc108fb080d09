"""Frontier extraction on hand-made tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from solver.errors import ProblemError
from solver.frontier import frontier_table, knee_index, marginal_costs, pareto_mask
from solver.problem import parse_grid


def test_plateau_points_are_dominated_by_the_tighter_one():
    # (15 ms, 80) dominates (20 ms, 80): as tight-or-tighter and as cheap.
    t = pd.DataFrame({"tpot_ms": [10, 15, 20, 25], "usd_per_hour": [100.0, 80.0, 80.0, 50.0]})
    assert pareto_mask(t, ["tpot_ms"], "usd_per_hour").tolist() == [True, True, False, True]


def test_infeasible_points_are_never_on_the_frontier():
    t = pd.DataFrame({"tpot_ms": [5, 10, 20], "usd_per_hour": [math.nan, 90.0, 40.0]})
    assert pareto_mask(t, ["tpot_ms"], "usd_per_hour").tolist() == [False, True, True]


def test_two_dimensions():
    # (a) 10/200 → 100; (b) 10/400 → 100 is dominated by (a); (c) 20/200 → 60; (d) 20/400 → 70 is
    # dominated by (c) (tighter TTFT, cheaper).
    t = pd.DataFrame({"tpot_ms": [10, 10, 20, 20], "ttft_ms": [200, 400, 200, 400],
                      "usd_per_hour": [100.0, 100.0, 60.0, 70.0]})
    assert pareto_mask(t, ["tpot_ms", "ttft_ms"], "usd_per_hour").tolist() == [True, False, True, False]


def test_marginal_cost_per_ms():
    # From 10 ms/100 USD to 20 ms/60 USD: loosening by 10 ms saves 40 USD/h = 4 USD/h per ms.
    f = pd.DataFrame({"tpot_ms": [10, 20, 40], "usd_per_hour": [100.0, 60.0, 50.0]})
    m = marginal_costs(f, "tpot_ms", "usd_per_hour")
    assert m.iloc[0] == pytest.approx(4.0)
    assert m.iloc[1] == pytest.approx(0.5)
    assert math.isnan(m.iloc[2])


def test_knee_is_where_the_curve_bends_most():
    # Steep from 10 to 20 ms, then flat: the bend is at 20 ms.
    f = pd.DataFrame({"tpot_ms": [10, 20, 30, 40, 50], "usd_per_hour": [200.0, 60.0, 55.0, 52.0, 50.0]})
    assert knee_index(f, "tpot_ms", "usd_per_hour") == 1
    table = frontier_table(f, ["tpot_ms"])
    assert table["knee"].tolist() == [False, True, False, False, False]


def test_grid_parsing():
    assert parse_grid("10:30:5", "x") == [10, 15, 20, 25, 30]
    assert parse_grid("200,500", "x") == [200, 500]
    for bad in ("10:5:1", "a,b", "0,5", "1:2:0"):
        with pytest.raises(ProblemError):
            parse_grid(bad, "--tpot-ms")
