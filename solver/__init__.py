"""Trilemma: the cheapest LLM serving deployment that meets latency SLOs, proven optimal with CP-SAT.

Python API (imported lazily, so `import solver` stays cheap):

    from solver import load_catalog, load_problem, solve, estimate
    from solver.sweep import sweep
    catalog = load_catalog()
    result = solve(load_problem("problems/chat-70b.yaml", catalog), catalog)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_catalog": "solver.catalog.loader",
    "load_problem": "solver.problem",
    "solve": "solver.optimize.solve",
    "estimate": "solver.perf",
    "estimate_many": "solver.perf",
    "evaluate_candidates": "solver.perf",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'solver' has no attribute {name!r}")
