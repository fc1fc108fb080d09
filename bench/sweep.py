"""Sweep benchmark: a 50-point TPOT sweep of the chat example with 1 and 2 jobs, against the same
50 points solved as separate `trilemma solve` processes.

    python bench/sweep.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from solver.catalog import load_catalog
from solver.problem import load_problem, parse_grid
from solver.sweep import sweep

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = ROOT / "problems" / "chat-70b.yaml"
GRID = "10:255:5"  # 50 points


def main() -> None:
    catalog = load_catalog()
    problem = load_problem(PROBLEM, catalog)
    values = parse_grid(GRID, "--tpot-ms")
    print(f"{len(values)}-point TPOT sweep of {PROBLEM.name}")
    for jobs in (1, 2):
        start = time.perf_counter()
        result = sweep(problem, catalog, {"tpot_ms": values}, jobs=jobs)
        wall = time.perf_counter() - start
        feasible = int(result.points["usd_per_hour"].notna().sum())
        print(f"  trilemma sweep --jobs {jobs}: {wall:7.2f} s  ({feasible} feasible, "
              f"{int(result.points['on_frontier'].sum())} on the frontier)")
    raw = yaml.safe_load(PROBLEM.read_text())
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for v in values:
            for w in raw["workloads"]:
                w["slo"]["tpot_ms"] = v
            path = Path(tmp) / "p.yaml"
            path.write_text(yaml.safe_dump(raw))
            subprocess.run([sys.executable, "-m", "solver", "solve", str(path), "--json"],
                           capture_output=True, check=False)
    separate = time.perf_counter() - start
    print(f"  {len(values)} separate `trilemma solve` calls: {separate:7.2f} s")


if __name__ == "__main__":
    main()
