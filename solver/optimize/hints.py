"""Warm starts: a solved plan as a hint for another solve of a related problem (sweeps, studies).

Row indices differ between problems; a placement's identity (workload, offer, config_key) does not.
"""

from __future__ import annotations

import pandas as pd

from solver.optimize.cpsat import RawSolution

PlanHint = dict[tuple[int, str, str], tuple[list[int], list[int]]]
"""(workload index, offer, config_key) -> (regular replicas per slot, spot replicas per slot)."""


def row_keys(rows: pd.DataFrame) -> list[tuple[int, str, str]]:
    """(workload, offer, config_key) per row: a placement's identity across problems and prunings."""
    return list(zip(rows["workload"].astype(int), rows["offer"], rows["config_key"], strict=True))


def plan_hint(plan) -> PlanHint:
    """The placements of a plan, keyed so that another solve can use them as a hint."""
    out: PlanHint = {}
    s = plan.schedule
    for k, part in s.groupby("row"):
        row = plan.choices[plan.choices["row"] == k].iloc[0]
        part = part.sort_values("slot")
        out[int(row["workload"]), row["offer"], row["config_key"]] = (
            part["replicas"].astype(int).tolist(), part["spot_replicas"].astype(int).tolist())
    return out


def raw_hint(rows: pd.DataFrame, hint: PlanHint) -> RawSolution:
    """A hint as the solver's raw solution over `rows` (placements absent from the hint get 0)."""
    raw = RawSolution("hint", 0, 0, 0, 0, 0, 0, 0)
    for k, key in enumerate(row_keys(rows)):
        raw.x[k] = 1 if key in hint else 0
        if key in hint:
            for t, v in enumerate(hint[key][0]):
                raw.r[k, t] = v
            for t, v in enumerate(hint[key][1]):
                raw.s[k, t] = v
    return raw
