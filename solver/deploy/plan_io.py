"""A solved plan as deployment needs it, read from what `trilemma solve --json` prints.

The JSON shape is read with pydantic (unknown keys are ignored: the result carries far more than a
deployment needs) and turned into `DeployPlan` by ONE adapter, `plan_from_result`, so that a change of
the result's shape is a change of that function only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from solver.errors import Issue, ProblemError
from solver.yamlio import validation_issues


@dataclass(frozen=True)
class DeployConfig:
    """One configuration of a workload on one offer: what every replica runs and how many run per slot."""

    workload: str
    index: int
    """Position among the workload's configurations (names: `<workload>-<index>`)."""
    model: str
    engine: str
    offer: str
    provider: str
    instance_type: str
    accelerator: str
    quant: str
    kv_quant: str
    tp: int
    dp: int
    pp: int
    ep: int
    gpus_per_replica: int
    max_batch: int
    replica_capacity_rps: float
    replicas_by_slot: tuple[int, ...]
    """All replicas per slot (regular + spot)."""
    spot_replicas_by_slot: tuple[int, ...]
    ttft_ms: float | None
    tpot_ms: float | None

    @property
    def regular_by_slot(self) -> tuple[int, ...]:
        return tuple(a - s for a, s in zip(self.replicas_by_slot, self.spot_replicas_by_slot, strict=True))

    @property
    def has_spot(self) -> bool:
        return any(self.spot_replicas_by_slot)


@dataclass(frozen=True)
class DeployWorkload:
    name: str
    model: str
    slo_ttft_ms: float | None
    slo_tpot_ms: float | None
    slo_e2e_ms: float | None
    percentile: float
    input_tokens: float
    output_tokens: float
    max_context_tokens: int
    served_rps_by_slot: tuple[float, ...]
    configs: tuple[DeployConfig, ...]


@dataclass(frozen=True)
class DeployPlan:
    status: str
    usd_per_hour: float
    usd_per_month: float
    horizon_hours: float
    slot_hours: tuple[float, ...]
    workloads: tuple[DeployWorkload, ...]
    instances: tuple[dict, ...]
    """{offer, tier, slot, instances} rows as the result lists them."""


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Slo(_Loose):
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None
    percentile: float = Field(ge=50, le=99.9)


class _Placement(_Loose):
    offer: str
    provider: str
    instance_type: str
    replicas_by_slot: list[int]
    spot_replicas_by_slot: list[int]


class _Config(_Loose):
    accelerator: str
    engine: str
    quant: str
    kv_quant: str
    tp: int = Field(ge=1)
    dp: int = Field(default=1, ge=1)
    pp: int = Field(ge=1)
    ep: int = Field(ge=1)
    gpus_per_replica: int = Field(ge=1)
    max_batch: int = Field(ge=1)
    replica_capacity_rps: float = Field(ge=0)
    replicas_by_slot: list[int]
    spot_replicas_by_slot: list[int]
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    placements: list[_Placement] = Field(min_length=1)


class _Workload(_Loose):
    workload: str
    model: str
    slo: _Slo
    input_tokens_mean: float = Field(gt=0)
    output_tokens_mean: float = Field(gt=0)
    max_context_tokens: int = Field(ge=1)
    slot_hours: list[float] = Field(min_length=1)
    served_rps_by_slot: list[float | None]
    configs: list[_Config]


class _Instance(_Loose):
    offer: str
    tier: str
    slot: int
    instances: int


class _Result(_Loose):
    status: str
    usd_per_hour: float
    usd_per_month: float
    horizon_hours: float = Field(gt=0)
    workloads: list[_Workload] = Field(min_length=1)
    instances: list[_Instance] = []


def plan_from_result(result: _Result) -> DeployPlan:
    """The adapter: the `solve --json` shape (workloads -> configurations -> placements, each with its
    replicas per slot) to DeployPlan, one deployment per placement (a configuration on one offer)."""
    workloads = []
    for w in result.workloads:
        placed = [(c, p) for c in w.configs for p in c.placements]
        configs = tuple(
            DeployConfig(
                workload=w.workload, index=i, model=w.model, engine=c.engine, offer=p.offer, provider=p.provider,
                instance_type=p.instance_type, accelerator=c.accelerator, quant=c.quant, kv_quant=c.kv_quant,
                tp=c.tp, dp=c.dp, pp=c.pp, ep=c.ep, gpus_per_replica=c.gpus_per_replica, max_batch=c.max_batch,
                replica_capacity_rps=c.replica_capacity_rps, replicas_by_slot=tuple(p.replicas_by_slot),
                spot_replicas_by_slot=tuple(p.spot_replicas_by_slot), ttft_ms=c.ttft_ms, tpot_ms=c.tpot_ms)
            for i, (c, p) in enumerate(placed, start=1))
        workloads.append(DeployWorkload(
            name=w.workload, model=w.model, slo_ttft_ms=w.slo.ttft_ms, slo_tpot_ms=w.slo.tpot_ms,
            slo_e2e_ms=w.slo.e2e_ms, percentile=w.slo.percentile, input_tokens=w.input_tokens_mean,
            output_tokens=w.output_tokens_mean, max_context_tokens=w.max_context_tokens,
            served_rps_by_slot=tuple(float(v or 0.0) for v in w.served_rps_by_slot), configs=configs))
    slot_hours = tuple(result.workloads[0].slot_hours)
    return DeployPlan(status=result.status, usd_per_hour=result.usd_per_hour, usd_per_month=result.usd_per_month,
                      horizon_hours=result.horizon_hours, slot_hours=slot_hours, workloads=tuple(workloads),
                      instances=tuple(i.model_dump() for i in result.instances))


def _check_lengths(file: str, result: _Result) -> list[Issue]:
    issues = []
    for w_i, w in enumerate(result.workloads):
        slots = len(w.slot_hours)
        if len(w.served_rps_by_slot) != slots:
            issues.append(Issue(file, f"workloads[{w_i}].served_rps_by_slot",
                                f"{len(w.served_rps_by_slot)} values for {slots} slots"))
        for c_i, c in enumerate(w.configs):
            for p_i, p in enumerate(c.placements):
                for name in ("replicas_by_slot", "spot_replicas_by_slot"):
                    if len(getattr(p, name)) != slots:
                        issues.append(Issue(file, f"workloads[{w_i}].configs[{c_i}].placements[{p_i}].{name}",
                                            f"{len(getattr(p, name))} values for {slots} slots"))
    return issues


def plan_from_data(data: Any, file: str = "result") -> DeployPlan:
    """Validate a parsed `solve --json` result and adapt it; every problem is reported at once."""
    if not isinstance(data, dict):
        raise ProblemError([Issue(file, "", "expected the JSON object that `trilemma solve --json` prints")])
    if "disaggregated" in data and "aggregated_usd_per_hour" in data:
        raise ProblemError([Issue(file, "", "a result solved with disaggregation allowed: write its deployment "
                                            "folder with `trilemma solve PROBLEM.yaml --emit DIR` (it carries "
                                            "both pools' layouts, which this file does not)")])
    try:
        result = _Result.model_validate(data)
    except ValidationError as exc:
        issues = validation_issues(file, exc, _Result)
        if any("input_tokens_mean" in i.location or "slot_hours" in i.location for i in issues):
            issues.append(Issue(file, "", "this result lacks what deployment needs (request lengths, slot hours): "
                                          "solve the problem again with this version of trilemma"))
        raise ProblemError(issues) from None
    issues = _check_lengths(file, result)
    if issues:
        raise ProblemError(issues)
    return plan_from_result(result)


def read_result(path: Path | str) -> DeployPlan:
    """Read RESULT.json (what `trilemma solve --json` prints)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProblemError([Issue(str(path), "", f"cannot read: {exc.strerror or exc}")]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProblemError([Issue(str(path), f"line {exc.lineno}, column {exc.colno}",
                                  f"not JSON: {exc.msg}")]) from None
    return plan_from_data(data, str(path))
