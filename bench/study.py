"""Study benchmark: a SIZE × SIZE grid (default 50 × 50 = 2,500 scenarios) of the chat example,
traffic against the TPOT SLO, solved in-process (--jobs 1), in two local processes (--jobs 2) and
on a local Ray instance with 2 CPUs. Prints wall time, time per scenario, statuses, and checks that
every back-end found the same costs.

    python bench/study.py [--size 50] [--backends jobs1,jobs2,ray]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from pathlib import Path

import yaml

from solver.study import Backend, load_study, run_study

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = {
    "jobs1": Backend("inline"),
    "jobs2": Backend("processes", jobs=2),
    "ray": Backend("ray", jobs=2, ray_address="local"),
}


def study(folder: Path, size: int) -> Path:
    """Arrival rate 1..size req/s against TPOT 20, 22, ... ms: `size` values each."""
    path = folder / "chat-grid.yaml"
    path.write_text(yaml.safe_dump({
        "name": f"chat-70b {size}x{size}",
        "problem": str(ROOT / "problems" / "chat-70b.yaml"),
        "axes": [{"path": "workloads[chat].traffic.requests_per_s", "values": f"1:{size}:1", "name": "rate"},
                 {"path": "workloads[*].slo.tpot_ms", "values": f"20:{20 + 2 * (size - 1)}:2", "name": "tpot_ms"}],
    }))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=50)
    ap.add_argument("--backends", default="jobs1,jobs2,ray")
    args = ap.parse_args()
    names = args.backends.split(",")
    if "ray" in names and importlib.util.find_spec("ray") is None:
        print("ray is not installed (pip install 'trilemma[ray]'); skipping it")
        names.remove("ray")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        plan, catalog = load_study(study(folder, args.size))
        n = len(plan.scenarios)
        print(f"{plan.spec.name}: {n} scenarios, expanded and validated in {time.perf_counter() - start:.2f} s; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        tables = {}
        for name in names:
            startup = ""
            if name == "ray":  # started here so that its start-up is timed apart from the study
                import ray

                start = time.perf_counter()
                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
                startup = f", plus {time.perf_counter() - start:.1f} s to start Ray"
            start = time.perf_counter()
            table = run_study(plan, catalog, folder / f"{name}.csv", BACKENDS[name])
            wall = time.perf_counter() - start
            if name == "ray":
                ray.shutdown()
            tables[name] = table
            statuses = ", ".join(f"{v} {k}" for k, v in sorted(table["status"].value_counts().items()))
            print(f"  {name:6s} {wall:8.1f} s  {1000 * wall / n:7.1f} ms/scenario  "
                  f"(CP-SAT {1000 * table['solve_time_s'].mean():.1f} ms/scenario; {statuses}{startup})", flush=True)
        print(f"  load average at the end: {os.getloadavg()[0]:.1f}")
        first = next(iter(tables.values()))
        for name, table in tables.items():
            same = (table["usd_per_hour"].fillna(-1).round(6) == first["usd_per_hour"].fillna(-1).round(6)).all()
            print(f"  {name}: same costs as {names[0]}: {bool(same)}")


if __name__ == "__main__":
    main()
