"""The problem file: workloads, fleet limits, objective and solver settings.

A strict pydantic model (unknown keys are errors); `trilemma schema problem` exports its JSON Schema
for editor completion. Semantic checks against the catalog (unknown ids, impossible limits) live in
`check_problem`, which collects every issue before raising.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from solver.catalog.loader import Catalog, suggest
from solver.catalog.schema import KV_QUANTS, WEIGHT_QUANTS, KvQuant, Strict, WeightQuant
from solver.errors import Issue, ProblemError
from solver.units import HOURS_PER_YEAR
from solver.yamlio import read_yaml_mapping, validation_issues

PricingTier = Literal["on_demand", "spot", "reserved_1y", "reserved_3y", "owned"]
PRICING_TIERS: tuple[str, ...] = ("on_demand", "spot", "reserved_1y", "reserved_3y", "owned")

# Named daily shapes: the fraction of the peak rate in each hour 0..23 (local time of the users).
DAILY_SHAPES: dict[str, tuple[float, ...]] = {
    # Business-hours service: low at night, ramps 7-9h, plateau 9-17h, evening tail.
    "business-hours": (0.15, 0.12, 0.1, 0.1, 0.1, 0.12, 0.2, 0.4, 0.7, 0.9, 1.0, 1.0,
                       0.95, 1.0, 1.0, 0.95, 0.85, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2, 0.18),
    # Consumer chat: evening peak, shallow night trough.
    "consumer": (0.45, 0.35, 0.28, 0.25, 0.25, 0.28, 0.35, 0.45, 0.55, 0.62, 0.68, 0.72,
                 0.75, 0.75, 0.75, 0.78, 0.82, 0.88, 0.95, 1.0, 1.0, 0.92, 0.78, 0.6),
    "flat": (1.0,) * 24,
}


MAX_HORIZON_HOURS = HOURS_PER_YEAR
"""Longest traffic profile (one year); with the fleet's money limits below it keeps every cost the
optimiser handles within CP-SAT's exact integer range (solver/scaling.py)."""


class TimeSlot(Strict):
    hours: float = Field(gt=0, le=HOURS_PER_YEAR)
    """Duration of the slot in hours; slots repeat to fill the horizon."""
    requests_per_s: float = Field(ge=0, le=1e7)
    """Mean arrival rate during the slot."""
    name: str | None = None


class Traffic(Strict):
    """Either a flat rate, an explicit list of slots, or a peak rate with a named daily shape."""

    requests_per_s: float | None = Field(default=None, ge=0, le=1e7)
    """Flat arrival rate (requests/s)."""
    profile: list[TimeSlot] | None = Field(default=None, min_length=1, max_length=168)
    """Explicit slots (for example 24 hourly values)."""
    peak_requests_per_s: float | None = Field(default=None, ge=0, le=1e7)
    daily_shape: Literal["business-hours", "consumer", "flat"] | None = None
    """Named daily shape scaled by `peak_requests_per_s` (24 one-hour slots)."""

    @model_validator(mode="after")
    def _one_form(self) -> Traffic:
        forms = [self.requests_per_s is not None, self.profile is not None,
                 self.peak_requests_per_s is not None or self.daily_shape is not None]
        if sum(forms) != 1:
            raise ValueError("give exactly one of requests_per_s, profile, or peak_requests_per_s "
                             "with daily_shape")
        if forms[2] and (self.peak_requests_per_s is None or self.daily_shape is None):
            raise ValueError("peak_requests_per_s and daily_shape go together")
        if self.profile is not None and sum(s.hours for s in self.profile) > MAX_HORIZON_HOURS:
            raise ValueError(f"profile covers {sum(s.hours for s in self.profile):g} h; at most "
                             f"{MAX_HORIZON_HOURS:g} (one year): describe a typical day or week, it repeats")
        return self

    def slots(self) -> list[TimeSlot]:
        """The traffic as slots (a flat rate is one 24-hour slot)."""
        if self.profile is not None:
            return list(self.profile)
        if self.requests_per_s is not None:
            return [TimeSlot(hours=24, requests_per_s=self.requests_per_s, name="all day")]
        shape = DAILY_SHAPES[self.daily_shape]
        return [TimeSlot(hours=1, requests_per_s=self.peak_requests_per_s * f, name=f"{h:02d}h")
                for h, f in enumerate(shape)]


TokenCount = Annotated[int, Field(ge=1, le=10_000_000, strict=True)]
"""A token count written as a plain integer (strict: `true` or `1000.5` are not token counts)."""


class LengthBucket(Strict):
    tokens: int = Field(ge=1, le=10_000_000)
    weight: float = Field(gt=0, le=1e9)
    """Relative frequency; weights are normalised."""


class Lengths(Strict):
    """Tokens per request: a mean, or a distribution of buckets."""

    mean: int | None = Field(default=None, ge=1, le=10_000_000)
    buckets: list[LengthBucket] | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_form(self) -> Lengths:
        if (self.mean is None) == (self.buckets is None):
            raise ValueError("give exactly one of mean or buckets")
        return self

    def mean_tokens(self) -> float:
        if self.mean is not None:
            return float(self.mean)
        total = sum(b.weight for b in self.buckets)
        return sum(b.tokens * b.weight for b in self.buckets) / total

    def max_tokens(self) -> int:
        return self.mean if self.mean is not None else max(b.tokens for b in self.buckets)


class Slo(Strict):
    ttft_ms: float | None = Field(default=None, gt=0, le=3.6e6)
    """Time to first token, arrival to first output token, including queueing."""
    tpot_ms: float | None = Field(default=None, gt=0, le=1e5)
    """Time per output token after the first."""
    e2e_ms: float | None = Field(default=None, gt=0, le=3.6e7)
    """Arrival to last token."""
    percentile: float = Field(default=99, ge=50, le=99.9)
    """The percentile every SLO above refers to."""


class Workload(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    model: str
    """Model id from models.yaml."""
    traffic: Traffic
    input_tokens: TokenCount | Lengths
    """Prompt length: a mean (int) or {buckets: [...]}."""
    output_tokens: TokenCount | Lengths
    slo: Slo = Slo()
    quantizations: list[WeightQuant] | None = None
    """Allowed weight quantizations (default: the model's native dtype and any lossless-enough
    alternative the engine supports: bf16, fp8)."""
    kv_quantizations: list[KvQuant] | None = None
    engines: list[str] | None = None
    """Allowed engines (default: all)."""
    min_replicas: int = Field(default=1, ge=0, le=10_000)
    """Replicas kept up in every slot for availability."""
    headroom: float = Field(default=0.0, ge=0, le=10)
    """Capacity margin over demand: serve rate·(1 + headroom)."""
    max_scale_step: int | None = Field(default=None, ge=1, le=100_000)
    """At most this many replicas added or removed between consecutive slots."""
    spot_max_share: float = Field(default=0.0, ge=0, le=1)
    """Largest share of the workload's capacity that may run on spot instances."""

    def isl(self) -> float:
        return float(self.input_tokens) if isinstance(self.input_tokens, int) else self.input_tokens.mean_tokens()

    def osl(self) -> float:
        return float(self.output_tokens) if isinstance(self.output_tokens, int) else self.output_tokens.mean_tokens()

    def max_context(self) -> int:
        i = self.input_tokens if isinstance(self.input_tokens, int) else self.input_tokens.max_tokens()
        o = self.output_tokens if isinstance(self.output_tokens, int) else self.output_tokens.max_tokens()
        return int(i + o)


class InventoryCap(Strict):
    """At most `max_instances` of an offer, or `max_gpus` of an accelerator type."""

    offer: str | None = None
    accelerator: str | None = None
    max_instances: int | None = Field(default=None, ge=0, le=100_000)
    max_gpus: int | None = Field(default=None, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _target(self) -> InventoryCap:
        if (self.offer is None) == (self.accelerator is None):
            raise ValueError("give exactly one of offer or accelerator")
        if (self.max_instances is None) == (self.max_gpus is None):
            raise ValueError("give exactly one of max_instances or max_gpus")
        return self


class Fleet(Strict):
    accelerators: list[str] | None = None
    """Allowed accelerator ids (default: all)."""
    providers: list[str] | None = None
    """Allowed providers (default: all); matched case-insensitively."""
    regions: list[str] | None = None
    offers: list[str] | None = None
    """Allowed offer ids (default: all that pass the other filters)."""
    pricing_tiers: list[PricingTier] = ["on_demand"]
    """Which ways of paying are allowed."""
    inventory: list[InventoryCap] = []
    budget_usd_per_hour: float | None = Field(default=None, gt=0, le=1e6)
    """Upper limit on the average hourly cost (the objective `max_throughput` needs it)."""
    config_fixed_usd_per_hour: float = Field(default=0.0, ge=0, le=1e5)
    """Engineering/operations cost of each distinct configuration in use."""


class SolverSettings(Strict):
    time_limit_s: float = Field(default=30.0, gt=0, le=86_400)
    workers: int = Field(default=8, ge=1, le=64)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    max_configs_per_workload: int = Field(default=1, ge=1, le=8)
    """Distinct configurations one workload may mix."""
    max_batch_options: list[Annotated[int, Field(ge=1, le=65536)]] | None = Field(
        default=None, min_length=1, max_length=16)
    """Caps on concurrently decoding requests (the engine's max-num-seqs) to choose from. Unset:
    every power of two from 1 to 4096 below what the KV cache admits, and that limit itself; a
    small cap can serve more at a tight TPOT (fewer requests decode together). A list restricts the
    choice to those values."""
    margin: Literal["auto"] | Annotated[float, Field(ge=0, le=500)] | None = None
    """Safety margin on latency, percent: plan so that every SLO still holds if latency is worse than
    predicted by this much (candidates are evaluated at SLO/(1 + margin/100)). "auto": per engine and
    accelerator family, the held-out p90 error of catalogs/accuracy.yaml. The report states what it
    costs (the optimum with and without it)."""


class SweepSpec(Strict):
    tpot_ms: str | list[float] | None = None
    """'start:stop:step' or a list."""
    ttft_ms: str | list[float] | None = None
    rate: str | list[float] | None = None
    percentile: float | None = Field(default=None, ge=50, le=99.9)

    @field_validator("tpot_ms", "ttft_ms", "rate")
    @classmethod
    def _grid(cls, value: str | list[float] | None, info: ValidationInfo) -> str | list[float] | None:
        """Read the grid now, so a bad one is reported at `sweep.tpot_ms` in the problem file."""
        from solver.sweep import parse_grid  # local: solver.sweep imports this module

        try:
            parse_grid(value, info.field_name)
        except ProblemError as exc:
            raise ValueError("; ".join(i.message for i in exc.issues)) from None
        return value


class Problem(Strict):
    name: str | None = None
    description: str | None = None
    workloads: list[Workload] = Field(min_length=1, max_length=2000)
    fleet: Fleet = Fleet()
    objective: Literal["min_cost", "max_throughput"] = "min_cost"
    solver: SolverSettings = SolverSettings()
    sweep: SweepSpec | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> Problem:
        names = [w.name for w in self.workloads]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"workload names must be unique; repeated: {', '.join(dupes)}")
        if self.objective == "max_throughput" and self.fleet.budget_usd_per_hour is None:
            raise ValueError("objective max_throughput needs fleet.budget_usd_per_hour")
        return self


def parse_problem(path: Path | str) -> Problem:
    """Read and validate a problem file's shape (no catalog lookups); raises ProblemError."""
    data, issues = read_yaml_mapping(Path(path))
    if issues:
        raise ProblemError(issues)
    try:
        return Problem.model_validate(data)
    except ValidationError as exc:
        issues = validation_issues(str(path), exc, Problem)
        duplicates = _duplicate_name_issues(str(path), data)
        if duplicates:  # located per workload instead of the model validator's file-level message
            issues = [i for i in issues if "workload names must be unique" not in i.message] + duplicates
        raise ProblemError(issues) from None


def _duplicate_name_issues(file: str, data: dict) -> list[Issue]:
    workloads = data.get("workloads")
    if not isinstance(workloads, list):
        return []
    first: dict[str, int] = {}
    issues = []
    for i, w in enumerate(workloads):
        name = w.get("name") if isinstance(w, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            issues.append(Issue(file, f"workloads[{i}].name",
                                f"workload name {name!r} is already used by workloads[{first[name]}]; "
                                "names must be unique"))
        first.setdefault(name, i)
    return issues


def check_problem(problem: Problem, catalog: Catalog, file: str = "problem") -> None:
    """Every reference to the catalog must resolve; collects all issues, then raises ProblemError."""
    issues: list[Issue] = []

    def unknown(loc: str, kind: str, value: str, known: list[str]) -> None:
        issues.append(Issue(file, loc, f"unknown {kind} {value!r}{suggest(value, known)}"))

    engines = sorted(catalog.engines) + [a for e in catalog.engines.values() for a in e.aliases]
    for i, w in enumerate(problem.workloads):
        if w.model not in catalog.models:
            unknown(f"workloads[{i}].model", "model", w.model, sorted(catalog.models))
        for j, e in enumerate(w.engines or []):
            if e not in engines:
                unknown(f"workloads[{i}].engines[{j}]", "engine", e, engines)
        if w.model in catalog.models and w.max_context() > catalog.models[w.model].max_context_tokens:
            issues.append(Issue(file, f"workloads[{i}].input_tokens",
                                f"input + output = {w.max_context()} tokens exceeds {w.model}'s "
                                f"context window of {catalog.models[w.model].max_context_tokens}"))
        if w.slo.ttft_ms is None and w.slo.tpot_ms is None and w.slo.e2e_ms is None:
            pass  # throughput-only workloads are allowed
    f = problem.fleet
    for j, a in enumerate(f.accelerators or []):
        if a not in catalog.accelerators:
            unknown(f"fleet.accelerators[{j}]", "accelerator", a, sorted(catalog.accelerators))
    for j, o in enumerate(f.offers or []):
        if o not in catalog.offers:
            unknown(f"fleet.offers[{j}]", "offer", o, sorted(catalog.offers))
    providers = sorted({o.provider.lower() for o in catalog.offers.values()})
    for j, p in enumerate(f.providers or []):
        if p.lower() not in providers:
            unknown(f"fleet.providers[{j}]", "provider", p, providers)
    regions = sorted({o.region for o in catalog.offers.values() if o.region})
    for j, r in enumerate(f.regions or []):
        if regions and r not in regions:  # matched exactly, as the offer filter does
            unknown(f"fleet.regions[{j}]", "region", r, regions)
    for j, cap in enumerate(f.inventory):
        if cap.offer is not None and cap.offer not in catalog.offers:
            unknown(f"fleet.inventory[{j}].offer", "offer", cap.offer, sorted(catalog.offers))
        if cap.accelerator is not None and cap.accelerator not in catalog.accelerators:
            unknown(f"fleet.inventory[{j}].accelerator", "accelerator", cap.accelerator,
                    sorted(catalog.accelerators))
    if issues:
        raise ProblemError(issues)


def load_problem(path: Path | str, catalog: Catalog) -> Problem:
    problem = parse_problem(path)
    check_problem(problem, catalog, str(path))
    return problem


__all__ = [
    "KV_QUANTS", "PRICING_TIERS", "WEIGHT_QUANTS", "Problem", "Workload", "check_problem",
    "load_problem", "parse_problem",
]
