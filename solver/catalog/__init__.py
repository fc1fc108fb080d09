"""Catalogs of accelerators, offers, models and engines."""

from solver.catalog.loader import Catalog, load_catalog, suggest
from solver.catalog.params import ParameterCounts, parameter_counts
from solver.catalog.schema import Accelerator, Engine, Model, Offer

__all__ = [
    "Accelerator", "Catalog", "Engine", "Model", "Offer", "ParameterCounts",
    "load_catalog", "parameter_counts", "suggest",
]
