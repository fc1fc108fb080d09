"""Physical sanity checks run on every catalog load (beyond what the schema can express)."""

from __future__ import annotations

import string
from typing import TYPE_CHECKING

from solver.errors import Issue

if TYPE_CHECKING:
    from solver.catalog.loader import Catalog


def sanity_issues(catalog: Catalog, origin: dict[tuple[str, str], tuple[str, int]]) -> list[Issue]:
    issues: list[Issue] = []

    def where(section: str, entry_id: str, field: str) -> tuple[str, str]:
        file, i = origin[(section, entry_id)]
        return file, f"{section}[{i}].{field}"

    for acc in catalog.accelerators.values():
        p = acc.peak_tflops
        if p.fp8 is not None and p.bf16 is not None and p.fp8 < p.bf16:
            issues.append(Issue(*where("accelerators", acc.id, "peak_tflops.fp8"),
                                f"fp8 peak {p.fp8} is below bf16 peak {p.bf16}"))
        if p.fp4 is not None and p.fp8 is not None and p.fp4 < p.fp8:
            issues.append(Issue(*where("accelerators", acc.id, "peak_tflops.fp4"),
                                f"fp4 peak {p.fp4} is below fp8 peak {p.fp8}"))
        if p.bf16 is None:
            issues.append(Issue(*where("accelerators", acc.id, "peak_tflops.bf16"),
                                "bf16 peak is required to model compute"))
    for offer in catalog.offers.values():
        od, spot = offer.usd_per_hour_on_demand, offer.usd_per_hour_spot
        if od and spot and spot > od:
            issues.append(Issue(*where("offers", offer.id, "usd_per_hour_spot"),
                                f"spot price {spot} is above on-demand {od}"))
        for tier in ("usd_per_hour_reserved_1y", "usd_per_hour_reserved_3y"):
            r = getattr(offer, tier)
            if od and r and r > od:
                issues.append(Issue(*where("offers", offer.id, tier),
                                    f"reserved price {r} is above on-demand {od}"))
        acc = catalog.accelerators.get(offer.accelerator)
        if acc and offer.gpus_per_instance > max(acc.gpus_per_node, acc.scale_up_domain_gpus):
            issues.append(Issue(*where("offers", offer.id, "gpus_per_instance"),
                                f"{offer.gpus_per_instance} GPUs exceed the {acc.id} node size "
                                f"{acc.gpus_per_node}"))
    for engine in catalog.engines.values():
        try:
            list(string.Formatter().parse(engine.launch_template))
        except ValueError as exc:  # `{hf_id` or a stray `}` would crash every launch command later
            issues.append(Issue(*where("engines", engine.id, "launch_template"),
                                f"not a valid str.format template ({exc}); fields look like {{hf_id}} and "
                                "literal braces are written {{ and }}"))
    from solver.catalog.params import parameter_counts  # local: params imports schema only

    for model in catalog.models.values():
        if model.published_total_params_b:
            total_b = parameter_counts(model).total / 1e9
            ratio = total_b / model.published_total_params_b
            if not 0.8 <= ratio <= 1.25:
                issues.append(Issue(*where("models", model.id, "published_total_params_b"),
                                    f"architecture gives {total_b:.1f}B parameters, "
                                    f"published {model.published_total_params_b}B: check the fields"))
    return issues
