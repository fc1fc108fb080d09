"""Solver-independent input of the optimisation model (already filtered and priced).

The CP-SAT model (`model.py`), the brute-force enumerator in the tests and the checker
(`checker.py`) all read this one structure, so they agree on what the problem is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd

HELD_TIERS = ("reserved_1y", "reserved_3y", "owned")
"""Tiers bought for the whole horizon."""
SLOT_TIERS = ("on_demand", "spot")
"""Tiers bought per time slot."""


@dataclass(frozen=True)
class OfferData:
    id: str
    accelerator: str
    gpus_per_instance: int
    usd_per_hour: dict[str, float]
    """Price of one instance per allowed tier. For `owned`: amortised capital + idle power."""
    busy_gpu_usd_per_hour: float = 0.0
    """Owned hardware: extra power cost of one GPU-hour at full load over idle."""
    idle_power_usd_per_hour: float = 0.0
    """Owned hardware: the part of `usd_per_hour['owned']` that is idle power (the rest is capital)."""
    max_instances: int | None = None
    provider: str = ""
    kind: str = "cloud"


@dataclass(frozen=True)
class WorkloadData:
    name: str
    demand_rps: tuple[float, ...]
    """Requests/s to provision per slot, headroom included."""
    traffic_rps: tuple[float, ...]
    """Requests/s actually arriving per slot (for reporting and max-throughput)."""
    output_tokens: float
    input_tokens: float
    min_replicas: int = 1
    max_scale_step: int | None = None
    spot_max_share: float = 0.0
    max_configs: int = 1


@dataclass
class ModelInput:
    slot_hours: tuple[float, ...]
    workloads: list[WorkloadData]
    offers: dict[str, OfferData]
    rows: pd.DataFrame
    """One row per candidate: workload (index into workloads), offer, gpus, capacity_rps, config_key."""
    accelerator_max_gpus: dict[str, int] = field(default_factory=dict)
    budget_usd_per_hour: float | None = None
    config_fixed_usd_per_hour: float = 0.0
    objective: str = "min_cost"

    def column(self, name: str):
        """One column of `rows` as a numpy array, converted once (pandas row access is slow in loops)."""
        cache = self.__dict__.setdefault("_columns", {})
        if name not in cache:
            cache[name] = self.rows[name].to_numpy()
        return cache[name]

    def subset(self, keep) -> ModelInput:
        """The same problem over the rows where `keep` is true (offers no row uses are dropped)."""
        rows = self.rows[keep].reset_index(drop=True)
        offers = {g: self.offers[g] for g in sorted(set(rows["offer"]))}
        return replace(self, rows=rows, offers=offers)

    @property
    def horizon_hours(self) -> float:
        return float(sum(self.slot_hours))

    @property
    def num_slots(self) -> int:
        return len(self.slot_hours)
