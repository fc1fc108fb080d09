"""Solver benchmark: every example problem, then generated fleets of 1, 5, 20 and 50 workloads over
the full catalog. Prints candidates, pruned rows, CP-SAT size, times and status.

    python bench/solve.py [--sizes 1,5,20,50] [--workers 8] [--time-limit 60]
    python bench/solve.py --disagg [--sizes 1]   # generated fleets with disaggregated candidates allowed
    python bench/solve.py --memory [--sizes 100,500,2000]   # peak RSS per fleet size, one process each
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

from solver.catalog import load_catalog
from solver.errors import InfeasibleError
from solver.optimize.solve import solve
from solver.problem import Problem, load_problem

ROOT = Path(__file__).resolve().parents[1]
FLEET_MODELS = ["llama-3.1-8b", "llama-3.3-70b", "qwen3-32b", "qwen3-30b-a3b", "gpt-oss-120b", "mistral-7b",
                "gemma-3-27b", "phi-4", "qwen2.5-72b", "mixtral-8x7b"]


def generated_fleet(n: int, seed: int = 0, time_limit_s: float = 60, workers: int = 8) -> Problem:
    rng = random.Random(seed)
    workloads = []
    for i in range(n):
        workloads.append({
            "name": f"w{i:02d}", "model": rng.choice(FLEET_MODELS),
            "traffic": {"requests_per_s": round(rng.uniform(0.5, 20), 2)},
            "input_tokens": rng.choice([500, 1000, 2000, 4000]),
            "output_tokens": rng.choice([100, 250, 500]),
            "slo": {"ttft_ms": rng.choice([1000, 2000, 4000]), "tpot_ms": rng.choice([40, 60, 100]),
                    "percentile": rng.choice([90, 99])},
        })
    return Problem.model_validate({"name": f"fleet-{n}", "workloads": workloads,
                                   "solver": {"time_limit_s": time_limit_s, "workers": workers}})


def report(label: str, problem: Problem, catalog) -> None:
    start = time.perf_counter()
    try:
        r = solve(problem, catalog)
    except InfeasibleError as exc:
        print(f"{label:28s} infeasible: {exc.explanation[0][:80]}")
        return
    wall = time.perf_counter() - start
    c = r.candidate_counts
    considered = sum(v["considered"] for v in c.values())
    pruned = sum(v["infeasible"] + v["dominated"] for v in c.values())
    print(f"{label:28s} {considered:>9,} {pruned:>9,} {r.model_rows:>7,} {r.num_variables:>9,} "
          f"{r.solve_time_s:>8.2f} {wall:>8.2f}  {r.status:9s} gap {r.gap:.2%}  {r.usd_per_hour:>10,.2f} USD/h")


def report_disagg(label: str, problem: Problem, catalog) -> None:
    from solver.optimize.disagg import solve_disagg

    start = time.perf_counter()
    r = solve_disagg(problem, catalog)
    wall = time.perf_counter() - start
    pairs = sum(r.candidate_pairs.values())
    print(f"{label:28s} pairs {pairs:>6,} {wall:>8.2f} s  {r.status:9s} {r.usd_per_hour:>10,.2f} USD/h "
          f"(aggregated {r.aggregated.usd_per_hour:,.2f}; {'disaggregated' if r.disaggregated else 'aggregated'})")


def report_memory(n: int, time_limit_s: float, workers: int) -> None:
    """Solve a generated fleet of n workloads in a fresh process; print its wall time, status and peak
    resident memory (the child's ru_maxrss, KiB on Linux)."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); from solve import generated_fleet; "
            "from solver.catalog import load_catalog; from solver.optimize.solve import solve; "
            f"r = solve(generated_fleet({n}, time_limit_s={time_limit_s!r}, workers={workers}), load_catalog()); "
            "print(r.status, f'{r.usd_per_hour:.2f} USD/h')")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    status = out.stdout.strip() or f"exit {out.returncode}: {out.stderr.strip().splitlines()[-1:]}"
    note = "" if peak_kib > before else " (peak not above an earlier size's)"
    print(f"fleet of {n:>5,} workloads  {wall:>8.1f} s  peak RSS {peak_kib / 1024 ** 2:6.2f} GiB{note}  {status}",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,5,20,50")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--time-limit", type=float, default=60)
    ap.add_argument("--disagg", action="store_true", help="Generated fleets with disaggregation allowed.")
    ap.add_argument("--memory", action="store_true", help="Peak RSS per fleet size (a fresh process each).")
    args = ap.parse_args()
    if args.memory:
        for n in sorted(int(s) for s in args.sizes.split(",")):  # ascending: RUSAGE_CHILDREN keeps the max
            report_memory(n, args.time_limit, args.workers)
        return
    catalog = load_catalog()
    if args.disagg:
        for n in (int(s) for s in args.sizes.split(",")):
            problem = generated_fleet(n, time_limit_s=args.time_limit, workers=args.workers)
            problem = problem.model_copy(update={"solver": problem.solver.model_copy(update={"disaggregation": True})})
            report_disagg(f"generated fleet of {n}", problem, catalog)
        return
    print(f"{'problem':28s} {'candidates':>9s} {'pruned':>9s} {'rows':>7s} {'variables':>9s} "
          f"{'solve s':>8s} {'total s':>8s}  status")
    for path in sorted((ROOT / "problems").glob("*.yaml")):
        report(path.stem, load_problem(path, catalog), catalog)
    for n in (int(s) for s in args.sizes.split(",")):
        report(f"generated fleet of {n}", generated_fleet(n, time_limit_s=args.time_limit, workers=args.workers),
               catalog)


if __name__ == "__main__":
    main()
