"""The `trilemma` console entry point. It imports nothing heavy itself, so that Ctrl-C while the
libraries load (the first second) prints `aborted` and exits 1 like any other interruption.

The process's garbage collector is tuned for a short command that allocates ~1 million objects while
its libraries load (pandas, numpy, OR-Tools, pydantic schemas) and frees few of them:
- collections of the youngest generation every 200,000 allocations instead of 700: imports otherwise
  trigger hundreds of collections, and the older generations' collections that follow walk every
  surviving object (~0.1 s of `solve`; at 20,000 a `solve` still spent ~0.05 s in 9 collections, at
  200,000 it spends under 1 ms in 2). Cyclic garbage then waits for at most 200,000 allocations;
  long runs (`study`, `sweep`) keep collecting, less often;
- `gc.freeze()` before exit: the interpreter's final collection would walk every object once more
  (~0.06 s) only to find what process exit frees anyway. Exit handlers still run.
"""

from __future__ import annotations

import gc
import sys

ABORTED_EXIT_CODE = 1
GC_YOUNGEST_THRESHOLD = 200_000


def main() -> None:
    gc.set_threshold(GC_YOUNGEST_THRESHOLD, 10, 10)
    try:
        from solver.cli import run

        code = run()
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        code = ABORTED_EXIT_CODE
    gc.freeze()
    sys.exit(code)
