"""`catalogs/disaggregation.yaml`: which engines serve prefill and decode on separate pools, with which
KV-transfer backends, on which accelerator families, and how fast the KV cache travels between pools.

A pair of pools is allowed when the engine records disaggregation on both accelerators' families and,
when the two accelerators differ, the pair of families is one of the engine's `mixed_accelerators`.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError

from solver.catalog.loader import builtin_catalog_dir
from solver.catalog.schema import Strict
from solver.errors import CatalogError, Issue
from solver.yamlio import read_yaml_mapping, validation_issues

FILE = "disaggregation.yaml"


class KvTransfer(Strict):
    network_efficiency: float = Field(gt=0, le=1)
    """Share of the per-GPU network bandwidth a KV transfer achieves (scale-out link)."""
    network_source: str = Field(min_length=3)
    nvlink_source: str = Field(min_length=3)
    latency_us: float = Field(ge=0)
    """Fixed cost of one request's transfer (handshake), µs."""
    as_of: dt.date


class EngineDisagg(Strict):
    engine: str
    transfer_backends: list[str] = Field(min_length=1)
    families: list[str] = Field(min_length=1)
    mixed_accelerators: list[tuple[str, str]] = []
    """Pairs of families whose accelerators may serve the two pools of one deployment (either order)."""
    source: str = Field(min_length=3)
    as_of: dt.date


class DisaggCatalog(Strict):
    kv_transfer: KvTransfer
    engines: list[EngineDisagg] = Field(min_length=1)

    def engine(self, engine_id: str) -> EngineDisagg | None:
        return next((e for e in self.engines if e.engine == engine_id), None)

    def pair_reason(self, engine_id: str, prefill_acc, decode_acc) -> str:
        """'' when `engine_id` runs prefill on `prefill_acc` and decode on `decode_acc`, else why not."""
        entry = self.engine(engine_id)
        if entry is None:
            known = ", ".join(e.engine for e in self.engines)
            return f"disaggregation: {engine_id} has no disaggregated serving on record (engines with it: {known})"
        for acc in (prefill_acc, decode_acc):
            if acc.family not in entry.families:
                return (f"disaggregation: {engine_id} records disaggregated serving on {', '.join(entry.families)}, "
                        f"not on {acc.id} ({acc.family})")
        if prefill_acc.id != decode_acc.id:
            pair = {prefill_acc.family, decode_acc.family}
            if not any(set(p) == pair for p in entry.mixed_accelerators):
                return (f"disaggregation: {engine_id} documents no pools on different accelerators "
                        f"{prefill_acc.id} + {decode_acc.id}")
        return ""


@lru_cache(maxsize=4)
def _load(path: Path) -> DisaggCatalog:
    data, issues = read_yaml_mapping(path)
    if issues:
        raise CatalogError(issues)
    try:
        return DisaggCatalog.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(validation_issues(str(path), exc, DisaggCatalog)) from None


def disagg_catalog(path: Path | None = None) -> DisaggCatalog:
    """The built-in disaggregation catalog (or the one at `path`)."""
    path = path or builtin_catalog_dir() / FILE
    if not path.exists():
        raise CatalogError([Issue(str(path), "", "disaggregation catalog not found")])
    return _load(path)
