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


CANONICAL_BUDGET_S = 2.0
"""Seconds the canonical pass may always use, even when the first solve used up the time limit."""


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
    """Per placement (row): 1 when it is part of the plan (its configuration chosen, replicas on it)."""
    config: dict[int, int] = field(default_factory=dict)
    """Per configuration index: x[c]."""
    r: dict[tuple[int, int], int] = field(default_factory=dict)
    s: dict[tuple[int, int], int] = field(default_factory=dict)
    y: dict[tuple[int, int], int] = field(default_factory=dict)
    held: dict[tuple[str, str], int] = field(default_factory=dict)
    buy: dict[tuple[str, str, int], int] = field(default_factory=dict)
    served: dict[tuple[int, int], int] = field(default_factory=dict)
    served_rps: dict[tuple[int, int], float] = field(default_factory=dict)
    canonical: bool = False
    """The plan is the canonical one among equally cheap plans (same input, same plan, whatever the
    worker count); False when the canonical pass could not prove its choice in time."""
    models: int = 1
    """CP-SAT models solved for this answer (one per configuration searched by `by_config`); the
    variable and constraint counts are their sums."""

    @property
    def has_solution(self) -> bool:
        return self.status in ("optimal", "feasible")


def solve_model(
    data: ModelInput, time_limit_s: float = 30.0, workers: int = 8, seed: int = 0,
    hint: RawSolution | None = None,
) -> RawSolution:
    """Build and solve. Deterministic for a given input, seed and worker count; when the first
    solve is proven optimal, a canonical pass (`_canonical`) fixes the optimal cost and picks one plan
    among the equally cheap ones, so the answer does not depend on `workers` either; it has a budget
    of its own (at least CANONICAL_BUDGET_S) and the result says whether it was applied.
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
        solver = _solver(max(remaining, CANONICAL_BUDGET_S), workers, seed)
        if interruptible_solve(solver, b.model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return raw
        remaining = time_limit_s - (time.perf_counter() - start)
    if raw.status == "optimal":
        canonical = _canonical(b, solver, max(remaining, CANONICAL_BUDGET_S), seed, workers)
        if canonical is not None:
            canonical.wall_time_s = time.perf_counter() - start
            canonical.best_bound, canonical.gap = raw.best_bound, raw.gap
            if data.objective == "max_throughput":
                canonical.objective = raw.objective
            canonical.canonical = True
            return canonical
    return raw


def _solver(time_limit_s: float, workers: int, seed: int) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    return solver


def _canonical(b: BuiltModel, first: cp_model.CpSolver, time_limit_s: float, seed: int,
               workers: int = 1) -> RawSolution | None:
    """Among plans at the proven optimal cost, always the same one, with one worker and two
    lexicographic stages: (1) the configurations, minimising Σ rank_c·x[c]; (2) with those fixed,
    where they run, minimising Σ rank_k·(r + s) + Σ instances. None when a stage cannot prove its
    optimum within `time_limit_s` (the caller keeps the first plan and says it is not canonical)."""
    start = time.perf_counter()
    best = int(round(first.value(b.cost)))
    b.model.add(b.cost <= best)
    b.model.clear_hints()
    for var_dict in (b.x, b.r, b.s, b.held, b.buy):
        for v in var_dict.values():
            b.model.add_hint(v, first.value(v))
    ranks = sum((c + 1) * v for c, v in b.x.items())
    b.model.minimize(ranks)
    solver = _solver(time_limit_s, workers, seed)
    if interruptible_solve(solver, b.model) != cp_model.OPTIMAL:
        return None
    for v in b.x.values():
        b.model.add(v == solver.value(v))
    placement_ranks = sum((k + 1) * (v + b.s.get((k, t), 0)) for (k, t), v in b.r.items())
    b.model.minimize(placement_ranks + sum(b.held.values()) + sum(b.buy.values()))
    solver = _solver(max(0.05, time_limit_s - (time.perf_counter() - start)), workers, seed)
    if interruptible_solve(solver, b.model) != cp_model.OPTIMAL:
        return None
    raw = _read(b, solver, cp_model.OPTIMAL, 0.0)
    raw.objective = raw.cost_usd
    return raw


def _apply_hint(b: BuiltModel, hint: RawSolution) -> None:
    chosen: dict[int, int] = {}
    for k, v in hint.x.items():
        if k < len(b.config_of):
            c = b.config_of[k]
            chosen[c] = max(chosen.get(c, 0), int(v))
    for c, v in chosen.items():
        b.model.add_hint(b.x[c], v)
    for name in ("r", "s", "held", "buy"):
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
    raw.config = {c: solver.value(v) for c, v in b.x.items()}
    raw.r = {k: solver.value(v) for k, v in b.r.items()}
    raw.s = {k: solver.value(v) for k, v in b.s.items()}
    raw.x = _placements_in_use(b, raw)
    raw.y = {k: solver.value(v) for k, v in b.y.items()}
    raw.held = {k: solver.value(v) for k, v in b.held.items()}
    raw.buy = {k: solver.value(v) for k, v in b.buy.items()}
    raw.served = {k: solver.value(v) for k, v in b.served.items()}
    raw.served_rps = {(w, t): b.rate_scale[w].rps(v) if w in b.rate_scale else float(v)
                      for (w, t), v in raw.served.items()}
    return raw


def _placements_in_use(b: BuiltModel, raw: RawSolution) -> dict[int, int]:
    """A placement is in the plan when its configuration is chosen and it hosts replicas in some
    slot; a chosen configuration with no replicas anywhere keeps its first placement."""
    T = b.data.num_slots
    out = {k: 0 for k in range(len(b.config_of))}
    for c, ks in b.placements.items():
        if not raw.config.get(c):
            continue
        used = [k for k in ks if any(raw.r.get((k, t), 0) + raw.s.get((k, t), 0) for t in range(T))]
        for k in used or ks[:1]:
            out[k] = 1
    return out
