"""`solve(problem, catalog)`: candidates → CP-SAT → plan, checked, with a typed result. Never prints."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from solver.catalog.loader import Catalog
from solver.errors import InfeasibleError, NoSolutionError
from solver.optimize import by_config, hints
from solver.optimize.bounds import greedy_solution, greedy_upper_bound, prunable_rows, row_lower_bounds
from solver.optimize.candidates import CandidateSet, build_candidates, candidate_counts
from solver.optimize.checker import check_plan
from solver.optimize.cpsat import RawSolution, solve_model
from solver.optimize.data import ModelInput
from solver.optimize.explain import explain_model_infeasible, explain_no_candidates
from solver.optimize.hints import PlanHint
from solver.optimize.inputs import allowed_offers, join_offers, model_input, without_dominated_offers
from solver.optimize.plan import HOURS_PER_MONTH, Plan, extract_plan
from solver.optimize.runner_up import layout_runner_ups, naive_usd_per_hour, runner_ups, standalone_usd_per_hour
from solver.optimize.summary import WorkloadReport, workload_summaries
from solver.problem import Problem

MIN_SOLVER_S = 1.0
"""CP-SAT always gets at least this long, even when preparing the model used up the time limit."""


@dataclass
class SolveResult:
    status: str
    """optimal (proven) or feasible (time limit reached; best plan found, not proven)."""
    objective: str
    total_usd: float
    """Cost over the horizon (the slots' hours)."""
    horizon_hours: float
    best_bound_usd: float
    gap: float
    solve_time_s: float
    """CP-SAT wall time."""
    total_time_s: float
    """Candidates + model + solve + report."""
    num_variables: int
    num_constraints: int
    candidate_counts: dict[str, dict[str, int]]
    model_rows: int
    plan: Plan
    workloads: list[WorkloadReport]
    runner_ups: pd.DataFrame
    layouts: pd.DataFrame = field(default_factory=pd.DataFrame)
    """MoE workloads: the best stand-alone plan per layout class (TP, TP+EP, DP-attention+EP, wide EP)."""
    violations: list[str] = field(default_factory=list)
    raw: RawSolution | None = None
    routing: list | None = None
    """Routing by size (`routing.RoutingReport` per routed workload); None when no workload routes."""
    margin: dict | None = None
    """With a safety margin (`solver.optimize.margin`): the margin and its premium over the margin-free optimum."""

    @property
    def usd_per_hour(self) -> float:
        return self.total_usd / self.horizon_hours

    @property
    def models(self) -> int:
        """CP-SAT models behind the answer (more than one when searched configuration by configuration)."""
        return self.raw.models if self.raw is not None else 1

    @property
    def usd_per_month(self) -> float:
        return self.usd_per_hour * HOURS_PER_MONTH


def prepare(problem: Problem, catalog: Catalog, cache: dict | None = None, keep_fitting: bool = False,
            ) -> tuple[CandidateSet, pd.DataFrame, ModelInput]:
    """Candidates and the CP-SAT input; raises InfeasibleError when a workload has no candidate."""
    offers = without_dominated_offers(allowed_offers(problem, catalog))
    cands = build_candidates(problem, catalog, sorted(offers), cache, keep_fitting)
    rows = join_offers(cands.usable, offers, catalog)
    lines, details = [], []
    for w, _wl in enumerate(problem.workloads):
        if rows.empty or not (rows["workload"] == w).any():
            more, detail = explain_no_candidates(problem, catalog, cands.evaluated_for(w), w, len(offers))
            lines += more
            details.append(detail)
    if lines:
        raise InfeasibleError(lines, details)
    return cands, rows, model_input(problem, catalog, rows, offers)


def plan_hint(result: SolveResult) -> PlanHint:
    """The placements of a result, keyed so that another solve can use them as a hint."""
    return hints.plan_hint(result.plan)


def _solve_with_bound_pruning(rows: pd.DataFrame, data: ModelInput, run, hint: PlanHint | None,
                              time_left=None):
    """When a feasible plan can be built greedily (solver/optimize/bounds.py), rows whose lower
    bound exceeds its cost are dropped before CP-SAT runs; the optimum is unchanged. A single
    workload on one configuration is then solved configuration by configuration (`by_config`).
    Returns (solution, rows and input of the model it solves, rows given to CP-SAT)."""
    greedy = greedy_upper_bound(data)
    lb = row_lower_bounds(data) if by_config.applies(data) or greedy is not None else None
    if greedy is None:
        keep = np.ones(len(rows), dtype=bool)
    else:
        upper, plan = greedy
        keep = ~prunable_rows(data, upper, lb)
        keep[list(plan)] = True
        keys = hints.row_keys(rows)
        if hint:
            keep |= np.array([key in hint for key in keys])
        if hint is None:
            hint = {keys[k]: (reps, [0] * len(reps)) for k, reps in plan.items()}
    pruned_rows = rows[keep].reset_index(drop=True)
    pruned_data = data.subset(keep) if greedy is not None else data
    if by_config.applies(pruned_data) and pruned_rows["config_key"].nunique() > 1:
        found = by_config.solve_by_config(
            pruned_data, lambda d, k: run(d, hints.raw_hint(pruned_rows[k], hint) if hint else None), lb[keep],
            time_left=time_left)
        if found is not None:
            solved = np.zeros(len(rows), dtype=bool)
            solved[np.flatnonzero(keep)[found.solved]] = True
            return found.raw, pruned_rows[found.keep].reset_index(drop=True), found.data, solved
    raw = run(pruned_data, hints.raw_hint(pruned_rows, hint) if hint else None)
    if raw.status == "unknown" and greedy is not None:  # CP-SAT found nothing in time: the greedy plan stands
        return greedy_solution(data, greedy[1]), rows, data, np.ones(len(rows), dtype=bool)
    return raw, pruned_rows, pruned_data, keep


def solve(problem: Problem, catalog: Catalog, *, time_limit_s: float | None = None,
          workers: int | None = None, hint: PlanHint | None = None, cache: dict | None = None) -> SolveResult:
    if any(w.routing == "by_size" for w in problem.workloads):
        from solver.optimize.routing import solve_routed

        return solve_routed(problem, catalog, time_limit_s=time_limit_s, workers=workers, cache=cache)
    start = time.perf_counter()
    settings = problem.solver
    time_limit_s = settings.time_limit_s if time_limit_s is None else time_limit_s
    workers = settings.workers if workers is None else workers
    cands, rows, data = prepare(problem, catalog, cache)

    def time_left() -> float:
        return time_limit_s - (time.perf_counter() - start)

    def run(d: ModelInput, h: RawSolution | None = None) -> RawSolution:
        # The time limit counts the whole run; CP-SAT gets what is left (at least MIN_SOLVER_S).
        return solve_model(d, time_limit_s=max(MIN_SOLVER_S, time_left()), workers=workers, seed=settings.seed,
                           hint=h)

    counts = candidate_counts(problem, cands, rows)
    all_rows, all_data = rows, data
    raw, rows, data, given = _solve_with_bound_pruning(rows, data, run, hint, time_left)
    workload_of_given = all_rows["workload"].to_numpy()[given]
    for w, wl in enumerate(problem.workloads):
        counts[wl.name]["bound_pruned"] = counts[wl.name]["offer_rows"] - int((workload_of_given == w).sum())
    if raw.status == "infeasible":
        # Diagnosis re-solves relaxed copies (budget, caps, steps): they share the time limit.
        def diagnose(d: ModelInput) -> RawSolution:
            return solve_model(d, time_limit_s=max(0.5, time_limit_s / 3), workers=workers, seed=settings.seed)

        lines, detail = explain_model_infeasible(data, diagnose)
        raise InfeasibleError(lines, [detail])
    if not raw.has_solution:
        raise NoSolutionError(f"no feasible plan found within the {time_limit_s:g} s time limit "
                              f"({len(rows)} candidate rows); raise --time-limit")
    plan = extract_plan(data, raw, rows)
    violations = check_plan(data, plan, plan.total_usd)
    standalone = standalone_usd_per_hour(all_data, all_rows)  # once, for both runner-up tables
    result = SolveResult(
        status=raw.status, objective=problem.objective, total_usd=plan.total_usd,
        horizon_hours=data.horizon_hours,
        best_bound_usd=raw.best_bound if problem.objective == "min_cost" else math.nan,
        gap=raw.gap, solve_time_s=raw.wall_time_s, total_time_s=0.0,
        num_variables=raw.num_variables, num_constraints=raw.num_constraints,
        candidate_counts=counts, model_rows=int(given.sum()), plan=plan,
        workloads=[], runner_ups=runner_ups(problem, all_data, all_rows, plan, standalone),
        violations=violations, raw=raw, layouts=layout_runner_ups(problem, all_data, all_rows, plan, standalone),
    )
    result.workloads = workload_summaries(problem, catalog, data, plan, raw)
    for w, summary in enumerate(result.workloads):
        summary["naive_usd_per_hour"] = naive_usd_per_hour(all_data, all_rows, w)
    result.total_time_s = time.perf_counter() - start
    return result
