"""The problem file: workloads, fleet limits, objective and solver settings.

A strict pydantic model (unknown keys are errors); `trilemma schema problem` exports its JSON Schema
for editor completion. Semantic checks against the catalog (unknown ids, impossible limits) live in
`check_problem`, which collects every issue before raising.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from solver.catalog.loader import Catalog, suggest
from solver.catalog.schema import KvQuant, Strict, WeightQuant
from solver.errors import Issue, ProblemError
from solver.lengths import lognormal_points, lognormal_sigma, moments, quantile_points, read_lengths_csv, sample_points
from solver.percentiles import MEAN, PERCENTILE_MAX, PERCENTILE_MIN
from solver.quants import KV_QUANTS, WEIGHT_QUANTS
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


def _check_percentile(value: object) -> float | str:
    if value == MEAN:
        return MEAN
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not (ok and PERCENTILE_MIN <= value <= PERCENTILE_MAX):
        raise ValueError(f"got {value!r}; allowed: a number from {PERCENTILE_MIN:g} to {PERCENTILE_MAX:g}, or {MEAN}")
    return float(value)


Percentile = Annotated[float | str, PlainValidator(_check_percentile), WithJsonSchema({"anyOf": [
    {"type": "number", "minimum": PERCENTILE_MIN, "maximum": PERCENTILE_MAX}, {"const": MEAN}]})]
"""An SLO percentile (50 to 99.9) or `mean`; one message for both forms."""


def percentile_value(percentile: float | str) -> float:
    """The number the performance model takes: the percentile itself, or `serving.MEAN_PERCENTILE`
    (imported lazily: the problem module stays free of the performance model) for `mean`."""
    if percentile == MEAN:
        from solver.perf.serving import MEAN_PERCENTILE

        return MEAN_PERCENTILE
    return float(percentile)


MIN_POSITIVE_RATE = 1e-6
"""Smallest non-zero rate (one request in 11.6 days): below it the exact integer scaling of demand
(`solver.scaling.RateScale`) would need coefficients beyond 64 bits."""


def _check_rate(value: float) -> float:
    if 0 < value < MIN_POSITIVE_RATE:
        raise ValueError(f"{value:g} req/s is below the smallest non-zero rate {MIN_POSITIVE_RATE:g}; "
                         "write 0 for no traffic")
    return value


MIN_SLOT_HOURS = 1 / 60


def _check_slot_hours(value: float) -> float:
    if value < MIN_SLOT_HOURS:
        raise ValueError(f"{value:g} h is shorter than one minute; slots are at least 1/60 h")
    return value


Rate = Annotated[float, Field(ge=0, le=1e7, strict=True), AfterValidator(_check_rate)]
"""Requests per second, written as a number (strict: `true` is not a rate); 0 or at least 1e-6."""

MAX_HORIZON_HOURS = HOURS_PER_YEAR
"""Longest traffic profile (one year); with the fleet's money limits below it keeps every cost the
optimiser handles within CP-SAT's exact integer range (solver/scaling.py)."""


class TimeSlot(Strict):
    hours: Annotated[float, Field(gt=0, le=HOURS_PER_YEAR), AfterValidator(_check_slot_hours)]
    """Duration of the slot in hours (at least one minute); slots repeat to fill the horizon."""
    requests_per_s: Rate
    """Mean arrival rate during the slot."""
    name: str | None = None


class Traffic(Strict):
    """Either a flat rate, an explicit list of slots, or a peak rate with a named daily shape."""

    requests_per_s: Rate | None = None
    """Flat arrival rate (requests/s)."""
    profile: list[TimeSlot] | None = Field(default=None, min_length=1, max_length=168)
    """Explicit slots (for example 24 hourly values)."""
    peak_requests_per_s: Rate | None = None
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


class LogNormal(Strict):
    mean: float = Field(ge=1, le=10_000_000)
    """Mean tokens per request."""
    p99: float = Field(ge=1, le=10_000_000)
    """99th percentile of tokens per request (more than the mean, at most ≈15× it)."""

    @model_validator(mode="after")
    def _exists(self) -> LogNormal:
        lognormal_sigma(self.mean, self.p99)  # ValueError names the limit
        return self


class Quantile(Strict):
    percentile: float = Field(ge=0, le=100)
    tokens: int = Field(ge=1, le=10_000_000)


class Lengths(Strict):
    """Tokens per request: a mean, buckets, a log-normal, quantiles, or a histogram CSV (solver/lengths.py)."""

    mean: int | None = Field(default=None, ge=1, le=10_000_000)
    buckets: list[LengthBucket] | None = Field(default=None, min_length=1, max_length=64)
    lognormal: LogNormal | None = None
    """Log-normal with this mean and 99th percentile."""
    quantiles: list[Quantile] | None = Field(default=None, min_length=2, max_length=32)
    """Points of the CDF from percentile 0 (shortest) to 100 (longest); linear between them."""
    csv: str | None = Field(default=None, min_length=1)
    """A CSV of requests, `input_tokens,output_tokens` per line (path relative to the problem file)."""

    @model_validator(mode="after")
    def _one_form(self) -> Lengths:
        given = [f for f in ("mean", "buckets", "lognormal", "quantiles", "csv") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of mean, buckets, lognormal, quantiles or csv")
        if self.quantiles is not None:
            pct = [q.percentile for q in self.quantiles]
            tok = [q.tokens for q in self.quantiles]
            if pct[0] != 0 or pct[-1] != 100:
                raise ValueError("quantiles must start at percentile 0 (the shortest request) and end at 100")
            if any(b <= a for a, b in zip(pct, pct[1:], strict=False)) or \
                    any(b < a for a, b in zip(tok, tok[1:], strict=False)):
                raise ValueError("quantiles: percentiles must increase and tokens must not decrease")
        return self

    @field_validator("csv")
    @classmethod
    def _read_csv(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Resolve the path against the problem file's folder and read it now, so errors point here."""
        if value is None:
            return value
        base = (info.context or {}).get("base_dir")
        path = Path(value)
        if base is not None and not path.is_absolute():
            path = Path(base) / path
        read_lengths_csv(str(path))
        return str(path)

    def points(self, column: int = 0) -> tuple[tuple[float, float], ...]:
        """(tokens, probability) pairs; `column` picks the CSV's input (0) or output (1) side."""
        if self.mean is not None:
            return ((float(self.mean), 1.0),)
        if self.buckets is not None:
            total = sum(b.weight for b in self.buckets)
            merged: dict[float, float] = {}
            for b in self.buckets:
                merged[float(b.tokens)] = merged.get(float(b.tokens), 0.0) + b.weight / total
            return tuple(sorted(merged.items()))
        if self.lognormal is not None:
            return lognormal_points(self.lognormal.mean, self.lognormal.p99)
        if self.quantiles is not None:
            return quantile_points([(q.percentile, q.tokens) for q in self.quantiles])
        return sample_points(read_lengths_csv(self.csv)[column])

    def mean_tokens(self, column: int = 0) -> float:
        if self.mean is not None:
            return float(self.mean)
        if self.buckets is not None:
            total = sum(b.weight for b in self.buckets)
            return sum(b.tokens * b.weight for b in self.buckets) / total
        return moments(self.points(column))[0]

    def max_tokens(self, column: int = 0) -> int:
        if self.mean is not None:
            return self.mean
        return int(math.ceil(max(t for t, _ in self.points(column))))


class Slo(Strict):
    ttft_ms: float | None = Field(default=None, gt=0, le=3.6e6)
    """Time to first token, arrival to first output token, including queueing."""
    tpot_ms: float | None = Field(default=None, gt=0, le=1e5)
    """Time per output token after the first."""
    e2e_ms: float | None = Field(default=None, gt=0, le=3.6e7)
    """Arrival to last token."""
    percentile: Percentile = 99.0
    """The percentile (50 to 99.9) every SLO above refers to, or `mean` for the distribution's mean."""


class PrefixCache(Strict):
    """Prompt tokens served from the engine's prefix cache: a shared prefix, or a hit rate."""

    shared_prefix_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    """Tokens of a prefix (system prompt, tool definitions) that requests share."""
    share: float | None = Field(default=None, ge=0, le=1)
    """Share of requests that start with the shared prefix (default 1)."""
    hit_rate: float | None = Field(default=None, ge=0, le=1)
    """Share of prompt tokens found in the cache (measured, e.g. from engine metrics); the cached blocks
    live in the free KV pool, so no memory is set aside for them."""

    @model_validator(mode="after")
    def _one_form(self) -> PrefixCache:
        if (self.shared_prefix_tokens is None) == (self.hit_rate is None):
            raise ValueError("give exactly one of shared_prefix_tokens (with share) or hit_rate")
        if self.share is not None and self.shared_prefix_tokens is None:
            raise ValueError("share goes with shared_prefix_tokens")
        return self


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
    prefix_cache: PrefixCache | None = None
    """Prompt tokens the engine serves from its prefix cache (engines whose catalog entry has it)."""
    routing: Literal["single", "by_size"] = "single"
    """`by_size`: requests may be split by prompt length into size classes (from the input buckets or
    distribution points), each served by its own configuration; the cheaper of that and one pool is kept."""
    max_size_classes: int = Field(default=2, ge=2, le=3)
    """With `routing: by_size`: at most this many size classes."""

    @model_validator(mode="after")
    def _routing_needs_sizes(self) -> Workload:
        if self.routing == "by_size" and len(self.input_points()) < 2:
            raise ValueError("routing: by_size needs input_tokens with at least two sizes (buckets, lognormal, "
                             "quantiles or csv)")
        return self

    def length_mix(self):
        """The lengths and prefix cache as one `perf.lengths.LengthMix`."""
        from solver.perf.lengths import LengthMix

        pc = self.prefix_cache
        tokens = float(pc.shared_prefix_tokens) if pc is not None and pc.shared_prefix_tokens else 0.0
        share = (1.0 if pc.share is None else pc.share) if tokens else 0.0
        hit = pc.hit_rate if pc is not None and pc.hit_rate is not None else 0.0
        return LengthMix(self.input_points(), self.output_points(), tokens, share, hit)

    def isl(self) -> float:
        return float(self.input_tokens) if isinstance(self.input_tokens, int) else self.input_tokens.mean_tokens(0)

    def osl(self) -> float:
        return float(self.output_tokens) if isinstance(self.output_tokens, int) else self.output_tokens.mean_tokens(1)

    def max_context(self) -> int:
        i = self.input_tokens if isinstance(self.input_tokens, int) else self.input_tokens.max_tokens(0)
        o = self.output_tokens if isinstance(self.output_tokens, int) else self.output_tokens.max_tokens(1)
        return int(i + o)

    def input_points(self) -> tuple[tuple[float, float], ...]:
        """Prompt lengths as (tokens, probability) points (one point for a plain mean)."""
        return ((float(self.input_tokens), 1.0),) if isinstance(self.input_tokens, int) else self.input_tokens.points(0)

    def output_points(self) -> tuple[tuple[float, float], ...]:
        return ((float(self.output_tokens), 1.0),) if isinstance(self.output_tokens, int) \
            else self.output_tokens.points(1)


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
    disaggregation: bool = False
    """Also consider separate prefill and decode pools (engines that serve them, the KV cache moved between
    pools in one provider and region); the report compares the best plan with the aggregated optimum."""

    margin: Literal["auto"] | Annotated[float, Field(ge=0, le=500)] | None = None
    """Safety margin on latency, percent: plan so that every SLO still holds if latency is worse than
    predicted by this much (candidates are evaluated at SLO/(1 + margin/100)). "auto": per engine and
    accelerator family, the held-out p90 error of catalogs/accuracy.yaml. The report states what it
    costs (the optimum with and without it)."""


MAX_WORKLOADS = 2000
"""Most workloads in one problem."""
MAX_GRID_POINTS = 2000
"""Most values of one sweep grid, and most points of a whole sweep."""


def parse_grid(spec: str | list[float] | None, name: str) -> list[float] | None:
    """'10:100:5' (inclusive start:stop:step), '200,500,1000', or a list."""
    if spec is None:
        return None
    if isinstance(spec, list):
        values = [float(v) for v in spec]
    else:
        text = spec.strip()
        try:
            if ":" in text:
                start, stop, step = (float(p) for p in text.split(":"))
                if step <= 0 or stop < start:
                    raise ValueError
                if not all(math.isfinite(v) for v in (start, stop, step)):
                    raise ValueError
                span = (stop - start) / step  # a float: '1:1e300:1e-300' is not an integer overflow
                if span + 1 > MAX_GRID_POINTS:  # before building the list: '1:1e9:0.001' is 1e12 values
                    raise ProblemError([Issue("sweep", name, f"{spec!r} has more than {MAX_GRID_POINTS} values; "
                                                              "use a larger step")])
                count = int(math.floor(span + 1e-9)) + 1
                values = [round(start + i * step, 9) for i in range(count)]
            else:
                values = [float(p) for p in text.split(",") if p.strip()]
        except ValueError:
            raise ProblemError([Issue("sweep", name, f"cannot read {spec!r}; use start:stop:step "
                                                      "(step > 0, stop ≥ start) or a comma list")]) from None
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise ProblemError([Issue("sweep", name, "values must be finite and > 0")])
    if len(values) > MAX_GRID_POINTS:
        raise ProblemError([Issue("sweep", name, f"{len(values)} values; at most {MAX_GRID_POINTS}")])
    return values


class SweepSpec(Strict):
    tpot_ms: str | list[float] | None = None
    """'start:stop:step' or a list."""
    ttft_ms: str | list[float] | None = None
    rate: str | list[float] | None = None
    percentile: Percentile | None = None

    @field_validator("tpot_ms", "ttft_ms", "rate")
    @classmethod
    def _grid(cls, value: str | list[float] | None, info: ValidationInfo) -> str | list[float] | None:
        """Read the grid now, so a bad one is reported at `sweep.tpot_ms` in the problem file."""
        try:
            parse_grid(value, info.field_name)
        except ProblemError as exc:
            raise ValueError("; ".join(i.message for i in exc.issues)) from None
        return value


class Problem(Strict):
    name: str | None = None
    description: str | None = None
    workloads: list[Workload] = Field(min_length=1, max_length=MAX_WORKLOADS)
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
    data, issues = read_yaml_mapping(Path(path), max_items=("workloads", MAX_WORKLOADS))
    if issues:
        raise ProblemError(issues)
    workloads = data.get("workloads")
    if isinstance(workloads, list) and len(workloads) > MAX_WORKLOADS:  # before validating each of them
        raise ProblemError([Issue(str(path), "workloads", f"{len(workloads):,} workloads; at most {MAX_WORKLOADS:,}")])
    try:
        return Problem.model_validate(data, context={"base_dir": str(Path(path).parent)})
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


UNKNOWN_MODEL_HINT = ("; a model not in the built-in catalog can be added with --catalog FILE "
                      "(`trilemma catalog import-hf config.json --id NAME` writes the entry)")


def profile_cover_issues(problem: Problem, file: str = "problem") -> list[Issue]:
    """Multi-slot traffic profiles must all cover the same hours (a single rate stretches to fit)."""
    totals = [sum(s.hours for s in w.traffic.slots()) for w in problem.workloads]
    shaped = [i for i, w in enumerate(problem.workloads) if len(w.traffic.slots()) > 1]
    longest = max(totals)
    if all(abs(totals[i] - longest) <= 1e-6 for i in shaped):
        return []
    return [Issue(file, f"workloads[{i}].traffic",
                  f"profile covers {totals[i]:g} h but other workloads cover {longest:g} h; "
                  "all profiles must cover the same hours")
            for i in range(len(totals)) if abs(totals[i] - longest) > 1e-6]


def check_problem(problem: Problem, catalog: Catalog, file: str = "problem") -> None:
    """Every reference to the catalog must resolve; collects all issues, then raises ProblemError."""
    issues: list[Issue] = profile_cover_issues(problem, file)

    def unknown(loc: str, kind: str, value: str, known: list[str]) -> None:
        issues.append(Issue(file, loc, f"unknown {kind} {value!r}{suggest(value, known)}"))

    engines = sorted(catalog.engines) + [a for e in catalog.engines.values() for a in e.aliases]
    for i, w in enumerate(problem.workloads):
        if w.model not in catalog.models:
            unknown(f"workloads[{i}].model", "model", w.model, sorted(catalog.models))
            issues[-1] = Issue(file, issues[-1].location, issues[-1].message + UNKNOWN_MODEL_HINT)
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
    "KV_QUANTS", "MEAN", "PRICING_TIERS", "WEIGHT_QUANTS", "Problem", "Workload", "check_problem",
    "load_problem", "parse_grid", "parse_problem", "percentile_value",
]
