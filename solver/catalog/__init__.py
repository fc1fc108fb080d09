"""Catalogs of accelerators, offers, models and engines (imported lazily: the schema loads on use)."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Catalog": "solver.catalog.loader", "load_catalog": "solver.catalog.loader", "suggest": "solver.catalog.loader",
    "ParameterCounts": "solver.catalog.params", "parameter_counts": "solver.catalog.params",
    "Accelerator": "solver.catalog.schema", "Engine": "solver.catalog.schema", "Model": "solver.catalog.schema",
    "Offer": "solver.catalog.schema",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'solver.catalog' has no attribute {name!r}")
