"""`sweep`: re-solve a problem over a grid of SLO values (epsilon-constraint) and trace the
cost/latency Pareto frontier; or, over a grid of flat request rates alone, the cost curve (cost
against load, no domination: a higher rate is more work, not a looser target).

Each grid point sets the swept SLO (or flat traffic rate) on every workload and solves to proven
optimality. Points are split into contiguous chunks, one per process (`jobs`); inside a chunk each
solve is hinted with its neighbour's plan, and candidate evaluations are cached where the point
does not change them (a rate sweep never re-evaluates).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from solver.catalog.loader import Catalog
from solver.errors import InfeasibleError, Issue, NoSolutionError, ProblemError
from solver.frontier import cost_curve_table, frontier_table
from solver.optimize.solve import SolveResult, plan_hint, solve
from solver.problem import MAX_GRID_POINTS, Problem

DIMENSIONS = ("tpot_ms", "ttft_ms", "e2e_ms", "rate")
MAX_POINTS = MAX_GRID_POINTS


def point_problem(problem: Problem, point: dict[str, float], percentile: float | None) -> Problem:
    """The problem with the swept values set on every workload."""
    workloads = []
    for w in problem.workloads:
        slo = w.slo.model_copy(update={
            **{k: v for k, v in point.items() if k in ("tpot_ms", "ttft_ms", "e2e_ms")},
            **({"percentile": percentile} if percentile is not None else {}),
        })
        update: dict = {"slo": slo}
        if "rate" in point:
            update["traffic"] = w.traffic.model_copy(update={
                "requests_per_s": point["rate"], "profile": None, "peak_requests_per_s": None, "daily_shape": None})
        workloads.append(w.model_copy(update=update))
    return problem.model_copy(update={"workloads": workloads})


FRONTIER, COST_CURVE = "frontier", "cost_curve"


@dataclass
class SweepResult:
    points: pd.DataFrame
    """One row per grid point: swept values, status, cost, configuration, frontier flags."""
    dimensions: list[str]

    @property
    def kind(self) -> str:
        """`cost_curve` when only the rate is swept, else `frontier`."""
        return COST_CURVE if self.dimensions == ["rate"] else FRONTIER

    @property
    def frontier(self) -> pd.DataFrame:
        """The Pareto frontier's points; for a cost curve every feasible point."""
        return self.points[self.points["on_frontier"]].sort_values(self.dimensions, kind="mergesort")

    @property
    def feasible(self) -> pd.DataFrame:
        return self.points[self.points["usd_per_hour"].notna()]


def summarise_result(point: dict, result) -> dict:
    """The point's values, then status, cost, gap, configuration and predicted latencies of `result`."""
    rec = dict(point)
    rec.update(status=result.status, usd_per_hour=result.usd_per_hour, usd_per_month=result.usd_per_month,
               gap=result.gap, solve_time_s=result.solve_time_s)
    tokens = sum(w["usd_total"] / w["usd_per_million_output_tokens"] for w in result.workloads
                 if w["usd_per_million_output_tokens"] and math.isfinite(w["usd_per_million_output_tokens"]))
    rec["usd_per_million_output_tokens"] = result.total_usd / tokens if tokens else math.nan
    configs = [c for w in result.workloads for c in w["configs"]]
    rec["configuration"] = "; ".join(
        f"{c['accelerator']} tp{c['tp']}dp{c['dp']}pp{c['pp']}ep{c['ep']} {c['quant']}/{c['kv_quant']} "
        f"b{c['max_batch']} "
        f"x{c['replicas_peak']} ({' + '.join(c['offers'])})" for c in configs)
    rec["offers"] = ";".join(sorted({g for c in configs for g in c["offers"]}))
    rec["ttft_ms_pred"] = max((c["ttft_ms"] for c in configs), default=math.nan)
    rec["tpot_ms_pred"] = max((c["tpot_ms"] for c in configs), default=math.nan)
    return rec


def hinted_solves(problems: Iterable[tuple[Problem, Catalog]], *, time_limit_s: float | None,
                  workers: int | None, cache: dict | None = None, cache_for: Callable[[Problem], dict] | None = None,
                  catch: tuple[type[BaseException], ...] = (InfeasibleError, NoSolutionError),
                  ) -> Iterator[SolveResult | BaseException]:
    """Solve (problem, catalog) pairs in order, each hinted with the plan of the last one solved:
    neighbouring problems share most of their optimum, so CP-SAT starts from a near-optimal plan.

    Candidate evaluations are reused through `cache` (see `build_candidates`), or through the cache
    `cache_for(problem)` returns when problems differ in what the evaluation key does not cover (the
    fleet). Yields the result, or the exception of a type in `catch`, per problem."""
    hint = None
    for problem, catalog in problems:
        mine = cache if cache_for is None else cache_for(problem)
        try:
            result = solve(problem, catalog, time_limit_s=time_limit_s, workers=workers, hint=hint, cache=mine)
        except catch as exc:
            yield exc
            continue
        hint = plan_hint(result)
        yield result


class BoundedCache(dict):
    """An evaluation cache that forgets its oldest evaluations beyond `limit`: a long study visits
    thousands of SLO values, each with its own evaluated table."""

    limit = 64

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        if isinstance(key, tuple):
            keys = [k for k in self if isinstance(k, tuple)]
            for old in keys[: max(0, len(keys) - self.limit)]:
                del self[old]


def _run_points(problem, catalog, points, percentile, time_limit_s, workers, tightening=False):
    """Solve points in order, each hinted with the previous plan; yields one record per point.
    `tightening`: the points only ever tighten one SLO, so rows that failed stay out."""
    pairs = ((point_problem(problem, point, percentile), catalog) for point in points)
    outcomes = hinted_solves(pairs, time_limit_s=time_limit_s, workers=workers, cache={"tightening": tightening})
    for point, outcome in zip(points, outcomes, strict=True):
        if isinstance(outcome, InfeasibleError):
            yield {**point, "status": "infeasible", "usd_per_hour": math.nan,
                   "reason": " ".join(outcome.explanation)[:300]}
        elif isinstance(outcome, NoSolutionError):
            yield {**point, "status": "time_limit", "usd_per_hour": math.nan,
                   "reason": f"no feasible plan found within the {time_limit_s:g} s time limit"}
        else:
            yield summarise_result(point, outcome)


def _run_chunk(args) -> list[dict]:
    return list(_run_points(*args))


def sweep(problem: Problem, catalog: Catalog, grid: dict[str, list[float]], *, percentile: float | None = None,
          jobs: int = 1, time_limit_s: float | None = None, workers: int | None = None,
          progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Solve every point of the grid (the product of the given dimensions) and mark the frontier."""
    dims = [d for d in DIMENSIONS if grid.get(d)]
    if not dims:
        raise ProblemError([Issue("sweep", "", "nothing to sweep: give --tpot-ms, --ttft-ms, --e2e-ms or --rate")])
    if len([d for d in dims if d != "rate"]) > 2:
        raise ProblemError([Issue("sweep", "", "at most two SLO dimensions at once")])
    points = [dict(zip(dims, combo, strict=True)) for combo in itertools.product(*(grid[d] for d in dims))]
    if len(points) > MAX_POINTS:
        raise ProblemError([Issue("sweep", "", f"{len(points)} grid points; at most {MAX_POINTS}")])
    # Solve from loose to tight so hints carry the larger, always-feasible plans down the grid.
    points.sort(key=lambda p: tuple(-p[d] for d in dims))
    tightening = len(dims) == 1 and dims[0] != "rate"
    workers = workers if workers is not None else (1 if jobs > 1 else problem.solver.workers)
    jobs = max(1, min(jobs, len(points)))
    records: list[dict] = []
    if jobs == 1:
        for rec in _run_points(problem, catalog, points, percentile, time_limit_s, workers, tightening):
            records.append(rec)
            if progress:
                progress(len(records), len(points))
    else:
        chunks = [[points[i] for i in idx] for idx in np.array_split(np.arange(len(points)), jobs)]
        tasks = [(problem, catalog, chunk, percentile, time_limit_s, workers, tightening) for chunk in chunks]
        pool = ProcessPoolExecutor(max_workers=jobs)
        try:
            for chunk_records in pool.map(_run_chunk, tasks):
                records += chunk_records
                if progress:
                    progress(len(records), len(points))
        except KeyboardInterrupt:
            _stop(pool)
            raise
        pool.shutdown()
    table = pd.DataFrame(records)
    table = table.sort_values(dims, kind="mergesort").reset_index(drop=True)
    slo_dims = [d for d in dims if d != "rate"]
    if not slo_dims:
        table = cost_curve_table(table, "rate")
    elif "rate" in dims:
        parts = [frontier_table(part, slo_dims) for _, part in table.groupby("rate", sort=True)]
        table = pd.concat(parts).sort_values(dims, kind="mergesort")
    else:
        table = frontier_table(table, slo_dims)
    return SweepResult(points=table.reset_index(drop=True), dimensions=dims)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Ctrl-C: drop the queued chunks and end the running ones now (their results are discarded, so
    nothing partial is written); without this the pool would wait for every running chunk."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
