"""Physical sanity checks run on every catalog load (beyond what the schema can express)."""

from __future__ import annotations

import datetime as dt
import string
from typing import TYPE_CHECKING

from solver.errors import Issue

if TYPE_CHECKING:
    from solver.catalog.loader import Catalog


ACCELERATOR_RANGES = {
    "memory_gb": (1.0, 10_000.0, "GB"),
    "hbm_bandwidth_tb_s": (0.05, 1_000.0, "TB/s"),
    "intra_node_bandwidth_gb_s": (1.0, 100_000.0, "GB/s"),
    "inter_node_bandwidth_gb_s": (0.1, 100_000.0, "GB/s"),
    "tdp_w": (1.0, 100_000.0, "W"),
    "gpus_per_node": (1, 1_024, "GPUs"),
    "scale_up_domain_gpus": (1, 1_024, "GPUs"),
}
"""Plausible ranges: values outside are unit mistakes (memory in bytes, prices per month...). They
also keep every number the optimiser sees far from CP-SAT's integer limits (solver/scaling.py)."""
MAX_TFLOPS = 1_000_000.0
MAX_USD_PER_GPU_HOUR = 1_000.0
"""On-demand H100s rent for ~2-12 USD/GPU-hour; 1,000 catches per-month or per-year prices."""
MAX_PURCHASE_USD_PER_GPU = 2_000_000.0
OFFER_RANGES = {
    "amortization_years": (0.25, 30.0, "years"),
    "pue": (1.0, 5.0, ""),
    "usd_per_kwh": (0.001, 10.0, "USD/kWh"),
}


def _offer_range_issues(offer, where) -> list[Issue]:
    issues = []
    g = offer.gpus_per_instance
    for tier in ("usd_per_hour_on_demand", "usd_per_hour_spot", "usd_per_hour_reserved_1y",
                 "usd_per_hour_reserved_3y"):
        price = getattr(offer, tier)
        if price is not None and price > MAX_USD_PER_GPU_HOUR * g:
            issues.append(Issue(*where("offers", offer.id, tier),
                                f"{price:g} USD per instance-hour is over {MAX_USD_PER_GPU_HOUR:g} USD per GPU-hour "
                                f"({g} GPUs); prices are per instance and per hour"))
    if offer.purchase_usd is not None and offer.purchase_usd > MAX_PURCHASE_USD_PER_GPU * g:
        issues.append(Issue(*where("offers", offer.id, "purchase_usd"),
                            f"{offer.purchase_usd:g} USD is over {MAX_PURCHASE_USD_PER_GPU:g} USD per GPU "
                            f"({g} GPUs); check the units"))
    if offer.power_kw_full is not None and offer.power_kw_full > 20.0 * g:
        issues.append(Issue(*where("offers", offer.id, "power_kw_full"),
                            f"{offer.power_kw_full:g} kW is over 20 kW per GPU ({g} GPUs); power is in kW"))
    if offer.power_kw_idle is not None and offer.power_kw_full is not None \
            and offer.power_kw_idle > offer.power_kw_full:
        issues.append(Issue(*where("offers", offer.id, "power_kw_idle"),
                            f"idle power {offer.power_kw_idle:g} kW is above full-load power "
                            f"{offer.power_kw_full:g} kW"))
    for name, (low, high, unit) in OFFER_RANGES.items():
        value = getattr(offer, name)
        if value is not None and not low <= value <= high:
            text = f"{value:g} {unit}".strip()
            issues.append(Issue(*where("offers", offer.id, name),
                                f"{text} is outside the plausible range {low:g}..{high:g}"))
    return issues


def sanity_issues(catalog: Catalog, origin: dict[tuple[str, str], tuple[str, int]]) -> list[Issue]:
    issues: list[Issue] = []

    def where(section: str, entry_id: str, field: str) -> tuple[str, str]:
        file, i = origin[(section, entry_id)]
        return file, f"{section}[{i}].{field}"

    for acc in catalog.accelerators.values():
        p = acc.peak_tflops
        if p.fp8 is not None and p.bf16 is not None and p.fp8 < p.bf16:
            issues.append(Issue(*where("accelerators", acc.id, "peak_tflops.fp8"),
                                f"fp8 peak {p.fp8:g} is below bf16 peak {p.bf16:g}"))
        if p.fp4 is not None and p.fp8 is not None and p.fp4 < p.fp8:
            issues.append(Issue(*where("accelerators", acc.id, "peak_tflops.fp4"),
                                f"fp4 peak {p.fp4:g} is below fp8 peak {p.fp8:g}"))
        if p.bf16 is None:
            issues.append(Issue(*where("accelerators", acc.id, "peak_tflops.bf16"),
                                "bf16 peak is required to model compute"))
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    for section in ("accelerators", "models", "offers", "engines"):
        for entry in catalog.section(section).values():
            if entry.as_of > tomorrow:  # values are dated when read; a future date is a typo
                issues.append(Issue(*where(section, entry.id, "as_of"),
                                    f"{entry.as_of} is in the future; as_of is the date the values were "
                                    "published or read"))
    for acc in catalog.accelerators.values():
        for name, (low, high, unit) in ACCELERATOR_RANGES.items():
            value = getattr(acc, name)
            if value is not None and not low <= value <= high:
                issues.append(Issue(*where("accelerators", acc.id, name),
                                    f"{value:g} {unit} is outside the plausible range {low:g}..{high:g}; "
                                    "check the units"))
        for dtype, value in acc.peak_tflops.model_dump().items():
            if value is not None and not 0.1 <= value <= MAX_TFLOPS:
                issues.append(Issue(*where("accelerators", acc.id, f"peak_tflops.{dtype}"),
                                    f"{value:g} TFLOPS is outside the plausible range 0.1..{MAX_TFLOPS:g}; "
                                    "check the units"))
    for offer in catalog.offers.values():
        issues += _offer_range_issues(offer, where)
        od, spot = offer.usd_per_hour_on_demand, offer.usd_per_hour_spot
        if od and spot and spot > od:
            issues.append(Issue(*where("offers", offer.id, "usd_per_hour_spot"),
                                f"spot price {spot:g} is above on-demand {od:g}"))
        for tier in ("usd_per_hour_reserved_1y", "usd_per_hour_reserved_3y"):
            r = getattr(offer, tier)
            if od and r and r > od:
                issues.append(Issue(*where("offers", offer.id, tier),
                                    f"reserved price {r:g} is above on-demand {od:g}"))
        acc = catalog.accelerators.get(offer.accelerator)
        if acc and offer.gpus_per_instance > max(acc.gpus_per_node, acc.scale_up_domain_gpus):
            issues.append(Issue(*where("offers", offer.id, "gpus_per_instance"),
                                f"{offer.gpus_per_instance} GPUs exceed the {acc.id} node size "
                                f"{acc.gpus_per_node}"))
    for engine in catalog.engines.values():
        if engine.launch_template is None:
            continue
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
