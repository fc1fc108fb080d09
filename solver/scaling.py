"""Integer scaling for CP-SAT: the only place floats become integers.

One rounding rule per quantity, chosen so that a solution of the integer model is truly feasible
for the real-valued problem:
- capacities (what we can serve) round DOWN;
- demands (what we must serve) and costs round UP;
- budgets (limits on cost) round DOWN.

Units: requests/s are scaled to milli-requests/s, USD to micro-USD.
"""

from __future__ import annotations

import math

from solver.errors import Issue, ProblemError

RPS_SCALE = 1000
"""Integer unit of request rates: 1 = 0.001 requests/s."""
USD_SCALE = 1_000_000
"""Integer unit of money: 1 = 1e-6 USD."""
MAX_COEFFICIENT = 2**53
"""Largest integer we hand to CP-SAT (it works on int64; leave room for sums)."""


def _checked(value: float, what: str) -> int:
    if not math.isfinite(value) or abs(value) >= MAX_COEFFICIENT:
        raise ProblemError([Issue("problem", what,
                                  f"value {value:.3g} is too large to optimise exactly; "
                                  "use smaller units (fewer slots, lower rates) or split the problem")])
    return int(value)


def capacity_units(requests_per_s: float) -> int:
    """Capacity in milli-req/s, rounded down."""
    return _checked(math.floor(requests_per_s * RPS_SCALE + 1e-9), "capacity")


def demand_units(requests_per_s: float) -> int:
    """Demand in milli-req/s, rounded up."""
    return _checked(math.ceil(requests_per_s * RPS_SCALE - 1e-9), "demand")


def cost_units(usd: float) -> int:
    """Cost in micro-USD, rounded up."""
    return _checked(math.ceil(usd * USD_SCALE - 1e-6), "cost")


def budget_units(usd: float) -> int:
    """A cost limit in micro-USD, rounded down."""
    return _checked(math.floor(usd * USD_SCALE + 1e-6), "budget")


def share_permille(share: float) -> int:
    """A share limit (0..1) in per-mille, rounded down."""
    return int(math.floor(share * 1000 + 1e-9))


def usd(units: float) -> float:
    return units / USD_SCALE


def rps(units: float) -> float:
    return units / RPS_SCALE
