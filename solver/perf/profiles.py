"""Which calibrated efficiency profile applies to an (engine, accelerator family).

Lookup order: the engine's profile listing the family; otherwise none, and the row is reported
("engine X has no efficiency profile for family Y") rather than guessed. Families without kernel data
get their profile values from a documented prior (see each profile's `fitted_to` in engines.yaml).
"""

from __future__ import annotations

from solver.catalog.schema import Accelerator, EfficiencyProfile, Engine, Model


def resolve_profile(engine: Engine, family: str) -> EfficiencyProfile | None:
    for prof in engine.profiles:
        if family in prof.families:
            return prof
    return None


def support_reason(engine: Engine, family: str, model: Model, quant: str, kv_quant: str) -> str:
    """'' when the engine runs this (family, architecture, quant, kv_quant); else a short reason."""
    fam = [s for s in engine.support if family in s.families]
    if not fam:
        return f"engine: {engine.id} does not support the {family} family"
    arch = [s for s in fam if model.architecture in s.architectures]
    if not arch:
        return f"engine: {engine.id} does not run {model.architecture} models on {family}"
    if not any(quant in s.weight_quants for s in arch):
        return f"engine: {engine.id} does not run {quant} weights on {family}"
    if not any(quant in s.weight_quants and kv_quant in s.kv_quants for s in arch):
        return f"engine: {engine.id} does not run a {kv_quant} KV cache with {quant} weights on {family}"
    return ""


def default_kv_quant(prof: EfficiencyProfile, engine: Engine, acc: Accelerator, model: Model, quant: str) -> str:
    """KV dtype when none is given (EfficiencyProfile.kv_quant_default)."""
    act = "fp16" if quant == "fp16" else "bf16"
    if prof.kv_quant_default != "auto":
        return prof.kv_quant_default
    if quant in ("fp8", "fp4", "mxfp4") and "fp8" in acc.native_dtypes \
            and not support_reason(engine, acc.family, model, quant, "fp8"):
        return "fp8"
    return act
