"""Start-up benchmark: wall time of short commands end to end, as a user runs them (a new process
each time), with an empty catalog cache and with a warm one. The CPU time (user + system) of the
process is printed too: on a shared machine it is the figure that other load does not inflate.

    python bench/startup.py [--runs 5]

The package's bytecode is compiled first, as `pip install` does for a wheel: a machine that sets
PYTHONDONTWRITEBYTECODE (this one does) would otherwise recompile every module of a source checkout on
every run (~0.25 s), a cost no installed user pays.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [
    ["--version"],
    ["--help"],
    ["catalog", "show", "h100-sxm"],
    ["solve", str(ROOT / "problems" / "chat-70b.yaml")],
]


def timed(args: list[str], env: dict) -> tuple[float, float]:
    """(wall, CPU) seconds of one `python -m solver ARGS` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "solver", *args], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    compileall.compile_dir(ROOT / "solver", quiet=1)
    print(f"median of {args.runs} runs, seconds, end to end (python -m solver ...)")
    print(f"{'':36s} {'cold cache':>21s} {'warm cache':>21s}")
    print(f"{'command':36s} {'wall':>10s} {'cpu':>10s} {'wall':>10s} {'cpu':>10s}")
    for command in COMMANDS:
        cold, warm = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as cache:
                env = {**os.environ, "TRILEMMA_CACHE_DIR": cache}
                cold.append(timed(command, env))
                warm.append(timed(command, env))
        label = "trilemma " + " ".join(Path(a).name if "/" in a else a for a in command)
        figures = [statistics.median(t[i] for t in runs) for runs in (cold, warm) for i in (0, 1)]
        print(f"{label:36s} " + " ".join(f"{f:10.2f}" for f in figures))


if __name__ == "__main__":
    main()
