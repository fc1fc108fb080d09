"""Start-up benchmark: wall time of short commands end to end, as a user runs them (a new process
each time), with an empty catalog cache and with a warm one.

    python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
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


def wall(args: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "solver", *args], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print(f"median of {args.runs} runs, seconds, end to end (python -m solver ...)")
    print(f"{'command':45s} {'cold cache':>10s} {'warm cache':>10s}")
    for command in COMMANDS:
        cold, warm = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as cache:
                env = {**os.environ, "TRILEMMA_CACHE_DIR": cache}
                cold.append(wall(command, env))
                warm.append(wall(command, env))
        label = "trilemma " + " ".join(Path(a).name if "/" in a else a for a in command)
        print(f"{label:45s} {statistics.median(cold):10.2f} {statistics.median(warm):10.2f}")


if __name__ == "__main__":
    main()
