"""Integer scaling for CP-SAT: the only place floats become integers.

One rule per quantity, chosen so that the integer model accepts exactly the plans the real-valued
model accepts (up to a relative tolerance `REL_TOL` on demand, far below any modelling error):

- **Replicas** a configuration needs are computed in floating point, never from rounded rates:
  R = ⌈D/μ·(1 − REL_TOL)⌉ (`replicas_for`), so a capacity of 0.0205029 req/s serves 0.0205 req/s
  with one replica whatever the magnitudes (1e-6 … 1e6 req/s).
- **Rates** in a demand constraint that mixes configurations (Σ_k μ_k·n_k ≥ D) are scaled per
  workload by S = 2^e (`RateScale`): coefficients round(μ_k·S/q_k) (q_k = units per replica) and the
  threshold ⌈D·S·(1 − MIX_TOL)⌉. With S ≥ N/(2·MIX_TOL·D_min), N the largest number of units the
  constraint can count, every truly feasible mix is accepted (rounding loses at most N/2 ≤
  MIX_TOL·D·S) and every accepted mix serves ≥ D·(1 − 2·MIX_TOL) > D·(1 − REL_TOL).
- **Money** in micro-USD: costs round up, budgets round down.
- **Shares** (spot share) in parts per million, rounded down.
- **Hours** in the throughput objective in seconds (slot lengths are whole seconds in practice;
  the rounding only weights the objective, never feasibility).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from solver.errors import Issue, ProblemError

REL_TOL = 1e-9
"""A plan whose capacity is within this relative distance below demand counts as meeting it."""
MIX_TOL = 4e-10
"""Tolerance of the scaled demand constraint (2·MIX_TOL < REL_TOL, see the module docstring)."""
USD_SCALE = 1_000_000
"""Integer unit of money: 1 = 1e-6 USD."""
SHARE_SCALE = 1_000_000
"""Integer unit of a share limit (0..1): 1 = one part per million."""
SECONDS_PER_HOUR = 3600
"""Integer weight of an hour in the throughput objective."""
MAX_COEFFICIENT = 2**53
"""Largest integer we hand to CP-SAT (it works on int64; leave room for sums)."""
NO_REPLICAS = 10**9
"""Replica need of a configuration with no capacity: more than any plan can buy."""


def _checked(value: float, what: str) -> int:
    if not math.isfinite(value) or abs(value) >= MAX_COEFFICIENT:
        raise ProblemError([Issue("problem", what,
                                  f"value {value:.3g} is too large to optimise exactly; "
                                  "use smaller units (fewer slots, lower rates) or split the problem")])
    return int(value)


def replicas_for(demand_rps: float, capacity_rps: float) -> int:
    """⌈D/μ⌉ in floating point with the relative tolerance REL_TOL; 0 for no demand."""
    if demand_rps <= 0:
        return 0
    if capacity_rps <= 0:
        return NO_REPLICAS
    need = math.ceil(demand_rps / capacity_rps * (1 - REL_TOL))
    return min(need, NO_REPLICAS)


def meets_demand(capacity_rps: float, demand_rps: float) -> bool:
    """The one float test of 'capacity serves demand' (the checker's and the enumerators')."""
    return capacity_rps >= demand_rps * (1 - REL_TOL)


@dataclass(frozen=True)
class RateScale:
    """Integer units of one workload's request rates: 1 unit = 1/S req/s, S a power of two."""

    per_rps: float

    @classmethod
    def for_demand(cls, demands_rps: list[float], max_units: int) -> RateScale:
        """The smallest S = 2^e with S ≥ N/(2·MIX_TOL·D_min): N = `max_units`, the most replica
        units the demand constraint can count; D_min the smallest positive demand."""
        positive = [d for d in demands_rps if d > 0]
        if not positive:
            return cls(1.0)
        need = max(1, max_units) / (2 * MIX_TOL * min(positive))
        return cls(float(2 ** max(0, math.ceil(math.log2(need)))))

    def capacity(self, capacity_rps: float, units_per_replica: int = 1) -> int:
        """Coefficient of one unit (1/units_per_replica of a replica): round(μ·S/q)."""
        return _checked(round(capacity_rps * self.per_rps / units_per_replica), "capacity")

    def demand(self, demand_rps: float) -> int:
        """Threshold of the demand constraint: ⌈D·S·(1 − MIX_TOL)⌉."""
        return _checked(math.ceil(demand_rps * self.per_rps * (1 - MIX_TOL)), "demand")

    def rps(self, units: float) -> float:
        return units / self.per_rps


def cost_units(usd: float) -> int:
    """Cost in micro-USD, rounded up."""
    return _checked(math.ceil(usd * USD_SCALE - 1e-6), "cost")


def budget_units(usd: float) -> int:
    """A cost limit in micro-USD, rounded down."""
    return _checked(math.floor(usd * USD_SCALE + 1e-6), "budget")


def share_units(share: float) -> int:
    """A share limit (0..1) in parts per million, rounded down."""
    return int(math.floor(share * SHARE_SCALE + 1e-9))


def hour_weight(hours: float) -> int:
    """Weight of a slot of `hours` in the throughput objective (seconds, rounded)."""
    return max(1, round(hours * SECONDS_PER_HOUR))


def usd(units: float) -> float:
    return units / USD_SCALE
