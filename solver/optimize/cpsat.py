"""Run CP-SAT on a built model and read the solution back as plain numbers (no printing)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from solver.interrupt import interruptible_solve
from solver.optimize.data import ModelInput
from solver.optimize.model import BuiltModel, build_model, throughput_objective
from solver.scaling import usd

STATUS_NAMES = {
    cp_model.OPTIMAL: "optimal",
    cp_model.FEASIBLE: "feasible",
    cp_model.INFEASIBLE: "infeasible",
    cp_model.MODEL_INVALID: "model_invalid",
    cp_model.UNKNOWN: "unknown",
}


@dataclass
class RawSolution:
    status: str
    """optimal | feasible (time limit hit, not proven) | infeasible | unknown (no solution in time)."""
    objective: float
    """USD over the horizon (min_cost) or served output tokens weight (max_throughput)."""
    best_bound: float
    gap: float
    wall_time_s: float
    cost_usd: float
    num_variables: int
    num_constraints: int
    x: dict[int, int] = field(default_factory=dict)
    r: dict[tuple[int, int], int] = field(default_factory=dict)
    s: dict[tuple[int, int], int] = field(default_factory=dict)
    y: dict[tuple[int, int], int] = field(default_factory=dict)
    held: dict[tuple[str, str], int] = field(default_factory=dict)
    buy: dict[tuple[str, str, int], int] = field(default_factory=dict)
    served: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def has_solution(self) -> bool:
        return self.status in ("optimal", "feasible")


def solve_model(
    data: ModelInput, time_limit_s: float = 30.0, workers: int = 8, seed: int = 0,
    hint: RawSolution | None = None,
) -> RawSolution:
    """Build and solve. Deterministic for a given input, seed and worker count; when the first
    solve is proven optimal, a second single-worker pass fixes the optimal cost and picks the
    lexicographically smallest configuration so the answer does not depend on `workers` either.
    Maximising throughput, the served tokens are fixed first and the cost minimised."""
    start = time.perf_counter()
    b = build_model(data)
    if hint is not None:
        _apply_hint(b, hint)
    solver = _solver(time_limit_s, workers, seed)
    status = interruptible_solve(solver, b.model)
    raw = _read(b, solver, status, time.perf_counter() - start)
    remaining = time_limit_s - (time.perf_counter() - start)
    if raw.status == "optimal" and data.objective == "max_throughput" and remaining > 0.05:
        # Among plans serving the most, the cheapest: fix the served tokens, minimise cost.
        b.model.add(throughput_objective(b) >= int(round(solver.objective_value)))
        b.model.minimize(b.cost)
        solver = _solver(remaining, 1, seed)
        if interruptible_solve(solver, b.model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return raw
        remaining = time_limit_s - (time.perf_counter() - start)
    if raw.status == "optimal" and remaining > 0.05:
        canonical = _canonical(b, solver, remaining, seed)
        if canonical is not None:
            canonical.wall_time_s = time.perf_counter() - start
            canonical.best_bound, canonical.gap = raw.best_bound, raw.gap
            if data.objective == "max_throughput":
                canonical.objective = raw.objective
            return canonical
    return raw


def _solver(time_limit_s: float, workers: int, seed: int) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    return solver


def _canonical(b: BuiltModel, first: cp_model.CpSolver, time_limit_s: float, seed: int) -> RawSolution | None:
    """Fix cost at the proven optimum, then minimise Σ rank·x and the replica and instance counts
    with one worker: among equally cheap plans, always the same one."""
    best = int(round(first.value(b.cost)))
    b.model.add(b.cost <= best)
    tiebreak = sum((k + 1) * v for k, v in b.x.items()) * 1_000_000
    tiebreak += sum(b.r.values()) + sum(b.s.values())
    tiebreak += sum(b.held.values()) + sum(b.buy.values())
    b.model.minimize(tiebreak)
    b.model.clear_hints()
    for var_dict in (b.x, b.r, b.s, b.held, b.buy):
        for v in var_dict.values():
            b.model.add_hint(v, first.value(v))
    solver = _solver(time_limit_s, 1, seed)
    status = interruptible_solve(solver, b.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    raw = _read(b, solver, cp_model.OPTIMAL, 0.0)
    raw.objective = raw.cost_usd
    return raw


def _apply_hint(b: BuiltModel, hint: RawSolution) -> None:
    for name in ("x", "r", "s", "held", "buy"):
        own, theirs = getattr(b, name), getattr(hint, name)
        for key, var in own.items():
            if key in theirs:
                b.model.add_hint(var, theirs[key])


def _read(b: BuiltModel, solver: cp_model.CpSolver, status: int, wall: float) -> RawSolution:
    proto = b.model.proto
    raw = RawSolution(
        status=STATUS_NAMES.get(status, "unknown"),
        objective=float("nan"), best_bound=float("nan"), gap=float("nan"), wall_time_s=wall,
        cost_usd=float("nan"), num_variables=len(proto.variables), num_constraints=len(proto.constraints),
    )
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return raw
    if b.data.objective == "min_cost":
        raw.objective = usd(solver.objective_value)
        raw.best_bound = usd(solver.best_objective_bound)
    else:
        raw.objective = solver.objective_value
        raw.best_bound = solver.best_objective_bound
    denom = max(abs(raw.objective), 1e-12)
    raw.gap = abs(raw.objective - raw.best_bound) / denom if status != cp_model.OPTIMAL else 0.0
    raw.cost_usd = usd(solver.value(b.cost)) if b.cost is not None and not isinstance(b.cost, int) else 0.0
    raw.x = {k: solver.value(v) for k, v in b.x.items()}
    raw.r = {k: solver.value(v) for k, v in b.r.items()}
    raw.s = {k: solver.value(v) for k, v in b.s.items()}
    raw.y = {k: solver.value(v) for k, v in b.y.items()}
    raw.held = {k: solver.value(v) for k, v in b.held.items()}
    raw.buy = {k: solver.value(v) for k, v in b.buy.items()}
    raw.served = {k: solver.value(v) for k, v in b.served.items()}
    return raw
