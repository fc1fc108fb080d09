"""One workload limited to one configuration (the default): solve configuration by configuration.

With a single workload and `max_configs_per_workload: 1`, every plan runs one configuration c on its
placements, so the optimum is OPT = min_c OPT_c, OPT_c the optimum of the model restricted to c's
placements (the same slots, caps, budget, floors and scale steps, all of which involve only this
workload). The small models are solved in order of their lower bounds LB_c
(`bounds.row_lower_bounds`, LB_c ≤ OPT_c) and the search stops at the first c with LB_c > best: every
configuration left has OPT_c ≥ LB_c > best, so the best found is proven optimal without one large
model whose proof mixes every configuration's placements.

Ties go where the full model's canonical pass sends them: among configurations of equal cost, the one
whose first placement comes first (its lowest index c). Each small model keeps its own canonical pass
over placements, so the answer still does not depend on the worker count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from solver.optimize.bounds import row_lower_bounds
from solver.optimize.cpsat import RawSolution
from solver.optimize.data import ModelInput

BOUND_SLACK = 1e-9
"""Relative slack on LB_c > best (the same test `bounds.prunable_rows` uses)."""


@dataclass
class ByConfig:
    raw: RawSolution
    """The winning configuration's solution, with the proof of the whole search (gap 0)."""
    data: ModelInput
    """The winning configuration's model input (its placements only)."""
    keep: np.ndarray
    """Rows of the winner within the input rows."""
    solved: np.ndarray
    """Rows of every configuration whose model was solved (the rest were bounded out)."""
    models: int


def applies(data: ModelInput) -> bool:
    """Single workload, one configuration, minimum cost, and no disaggregated pools."""
    if data.objective != "min_cost" or len(data.workloads) != 1 or data.workloads[0].max_configs != 1:
        return False
    roles = data.rows["role"] if "role" in data.rows else None
    return roles is None or bool((roles.fillna("") == "").all())


def solve_by_config(data: ModelInput, run: Callable[[ModelInput, np.ndarray], RawSolution],
                    lb: np.ndarray | None = None, time_left: Callable[[], float] | None = None) -> ByConfig | None:
    """`run(sub_data, keep)` solves the model of the rows `keep`; `lb`: the rows' lower bounds when
    already computed; `time_left()`: seconds of the run's time limit left. None when the search cannot
    prove its answer (the time limit ran out, a small model ran out of time, or no configuration is
    feasible: the full model then explains why)."""
    keys = data.rows["config_key"].to_numpy()
    first: dict[str, int] = {}
    for k, key in enumerate(keys):
        first.setdefault(key, k)
    lb = row_lower_bounds(data) if lb is None else lb
    order = sorted(first, key=lambda key: (lb[first[key]], first[key]))
    best: tuple[float, int, RawSolution, ModelInput, np.ndarray] | None = None
    solved = np.zeros(len(keys), dtype=bool)
    models = variables = constraints = 0
    wall = 0.0
    for key in order:
        if best is not None and lb[first[key]] > best[0] * (1 + BOUND_SLACK) + 1e-6:
            break
        if time_left is not None and time_left() <= 0:
            return None
        keep = keys == key
        sub = data.subset(keep)
        raw = run(sub, keep)
        solved |= keep
        models += 1
        variables += raw.num_variables
        constraints += raw.num_constraints
        wall += raw.wall_time_s
        if raw.status == "infeasible":
            continue
        if raw.status != "optimal":
            return None
        candidate = (raw.objective, first[key], raw, sub, keep)
        if best is None or candidate[:2] < best[:2]:
            best = candidate
    if best is None:
        return None
    _, _, raw, sub, keep = best
    raw.best_bound, raw.gap = raw.objective, 0.0
    raw.num_variables, raw.num_constraints, raw.wall_time_s = variables, constraints, wall
    raw.models = models
    return ByConfig(raw=raw, data=sub, keep=keep, solved=solved, models=models)
