"""Which engines run an accelerator, and why none does when none does.

An accelerator that can be bought but that no engine in the catalog supports is reported with that
reason (in `trilemma catalog accelerators`), never silently dropped.
"""

from __future__ import annotations

from solver.catalog.loader import Catalog


def engines_for(catalog: Catalog, accelerator_id: str) -> list[str]:
    """Ids of the engines with a support row for the accelerator's family (sorted)."""
    family = catalog.accelerators[accelerator_id].family
    return sorted(e.id for e in catalog.engines.values() if any(family in s.families for s in e.support))


def engine_coverage(catalog: Catalog) -> dict[str, str]:
    """Per accelerator: the engines that run it ('vllm, sglang'), or 'none: <reason>'."""
    out = {}
    for acc_id, acc in catalog.accelerators.items():
        engines = engines_for(catalog, acc_id)
        if engines:
            out[acc_id] = ", ".join(engines)
        else:
            known = sorted({f for e in catalog.engines.values() for s in e.support for f in s.families})
            out[acc_id] = (f"none: no engine in the catalog supports the {acc.family} family "
                           f"(supported: {', '.join(known) or 'none'})")
    return out


__all__ = ["engine_coverage", "engines_for"]
