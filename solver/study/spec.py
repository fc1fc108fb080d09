"""The study file: a base problem, the axes to vary and named scenarios, expanded into one problem
per scenario.

A study is the product of its axes (a grid), the list of its named scenarios, or both (each named
scenario × each grid point). An axis sets one place of the problem file by path:

- a problem field: `workloads[*].slo.tpot_ms`, `workloads[chat].traffic.requests_per_s`,
  `workloads[0].output_tokens`, `workloads[*].model`, `fleet.accelerators`, `solver.max_batch_options`
  (`[*]` every workload, `[i]` by position, `[name]` by workload name);
- a multiplier: `traffic.scale` multiplies every arrival rate of every workload (flat rate, profile
  slots or peak); `prices.provider.<provider>`, `prices.accelerator.<id>`, `prices.offer.<id>`
  multiply every price of the matching offers (cloud hourly prices; an owned server's purchase and
  electricity prices), so the offer's hourly cost scales by the factor. Factors that match the same
  offer multiply.

Grid points are visited in boustrophedon ("snake") order, so consecutive scenarios differ in one
axis by one step and each solve is hinted with its neighbour's plan; traffic and price axes vary
fastest, since they leave the evaluated candidates unchanged.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from solver.catalog.loader import Catalog, suggest
from solver.catalog.schema import Strict
from solver.errors import Issue, ProblemError
from solver.problem import Problem, check_problem
from solver.yamlio import read_yaml_mapping, validation_issues

MAX_SCENARIOS = 50_000
"""Every scenario's validated problem is kept in memory (about 20 kB each)."""
PRICE_KINDS = ("provider", "accelerator", "offer")
PROBLEM_ROOTS = tuple(Problem.model_fields)
PRICE_FIELDS = ("usd_per_hour_on_demand", "usd_per_hour_spot", "usd_per_hour_reserved_1y",
                "usd_per_hour_reserved_3y", "purchase_usd", "usd_per_kwh")


class Axis(Strict):
    path: str = Field(min_length=1)
    """Where the values go: a problem field path, `traffic.scale` or `prices.<provider|accelerator|offer>.<id>`."""
    values: list[Any] | str
    """The values, or a numeric range 'start:stop:step' (inclusive)."""
    name: str | None = Field(default=None, min_length=1, max_length=64)
    """Column name in the results (default: the path)."""

    @field_validator("values")
    @classmethod
    def _values(cls, value: list[Any] | str) -> list[Any] | str:
        if isinstance(value, str):
            from solver.problem import parse_grid

            try:
                parse_grid(value, "values")
            except ProblemError as exc:
                raise ValueError("; ".join(i.message for i in exc.issues)) from None
        elif not value:
            raise ValueError("give at least one value")
        return value

    @property
    def label(self) -> str:
        return self.name or self.path

    def value_list(self) -> list[Any]:
        if isinstance(self.values, str):
            from solver.problem import parse_grid

            return parse_grid(self.values, self.label) or []
        return list(self.values)


class NamedScenario(Strict):
    name: str = Field(min_length=1, max_length=128)
    set: dict[str, Any] = {}
    """Path -> value, with the same paths as axes."""


class StudySpec(Strict):
    name: str | None = None
    description: str | None = None
    problem: str
    """The base problem file, relative to the study file."""
    catalogs: list[str] = []
    """Extra catalog files merged over the built-ins, relative to the study file."""
    axes: list[Axis] = []
    """Varied together as a grid (the product of their values)."""
    scenarios: list[NamedScenario] = []
    """Named scenarios; with axes, every scenario is combined with every grid point."""
    time_limit_s: float | None = Field(default=None, gt=0, le=86_400)
    """Time limit of each scenario's solve (default: the problem's solver.time_limit_s)."""


@dataclass(frozen=True)
class Scenario:
    """One problem of a study, ready to ship to a worker."""

    id: int
    """Position in the study's natural order (named scenario, then row-major grid index): stable
    across runs, so a resumed run recognises what is done."""
    name: str
    values: dict[str, Any]
    """Axis label -> value (the results' columns)."""
    problem: Problem
    prices: tuple[tuple[str, str, float], ...]
    """(kind, id, factor) price multipliers."""


@dataclass
class StudyPlan:
    spec: StudySpec
    file: Path
    problem_file: Path
    catalog_files: list[Path]
    scenarios: list[Scenario]
    """In solving order (named scenarios in turn, the grid in snake order within each)."""
    fingerprint: str
    """Digest of the study, problem and catalog files: a partial results file belongs to one study."""

    @property
    def labels(self) -> list[str]:
        return [a.label for a in self.spec.axes] + sorted(
            {p for s in self.spec.scenarios for p in s.set} - {a.label for a in self.spec.axes})


# ------------------------------------------------------------------------------------------------
# Paths


def split_path(path: str) -> list[tuple[str, str | None]]:
    """'workloads[chat].slo.tpot_ms' -> [('workloads', 'chat'), ('slo', None), ('tpot_ms', None)].
    Dots inside brackets belong to the selector (workload names may contain dots)."""
    parts, depth, current = [], 0, ""
    for ch in path:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "." and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    out = []
    for part in parts:
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\[\]]+)\])?", part)
        if not m or depth != 0:
            raise ValueError(f"cannot read {path!r}: use field names separated by dots, with [*], [i] or "
                             "[workload name] after a list (workloads[*].slo.tpot_ms)")
        out.append((m.group(1), m.group(2)))
    return out


def _select(items: list, selector: str, where: str) -> list[int]:
    if selector == "*":
        return list(range(len(items)))
    if re.fullmatch(r"-?\d+", selector):
        i = int(selector)
        if not -len(items) <= i < len(items):
            raise ValueError(f"{where}[{selector}]: index out of range (the list has {len(items)} items)")
        return [i % len(items)]
    names = [it.get("name") for it in items if isinstance(it, dict)]
    if selector not in names:
        raise ValueError(f"{where}[{selector}]: no item named {selector!r}{suggest(selector, [str(n) for n in names])}")
    return [names.index(selector)]


def set_path(data: dict, path: str, value: Any) -> None:
    """Set `value` at `path` in the problem's raw data (creating missing mappings)."""
    parts = split_path(path)
    targets: list[Any] = [data]
    where = ""
    for n, (name, selector) in enumerate(parts):
        last = n == len(parts) - 1
        where = f"{where}.{name}" if where else name
        next_targets = []
        for node in targets:
            if not isinstance(node, dict):
                raise ValueError(f"{where}: the parent is not a mapping")
            if selector is None:
                if last:
                    node[name] = copy.deepcopy(value)
                else:
                    child = node.setdefault(name, {})
                    next_targets.append(child)
                continue
            items = node.get(name)
            if not isinstance(items, list):
                raise ValueError(f"{where}: not a list in the base problem, so [{selector}] cannot select from it")
            for i in _select(items, selector, where):
                if last:
                    items[i] = copy.deepcopy(value)
                else:
                    next_targets.append(items[i])
        targets = next_targets


def _scale_traffic(data: dict, factor: float) -> None:
    """Multiply every arrival rate of every workload (flat, profile slots, peak) by `factor`."""
    for w in data.get("workloads", []) if isinstance(data.get("workloads"), list) else []:
        traffic = w.get("traffic") if isinstance(w, dict) else None
        if not isinstance(traffic, dict):
            continue
        for key in ("requests_per_s", "peak_requests_per_s"):
            if isinstance(traffic.get(key), int | float):
                traffic[key] = traffic[key] * factor
        for slot in traffic.get("profile") or []:
            if isinstance(slot, dict) and isinstance(slot.get("requests_per_s"), int | float):
                slot["requests_per_s"] = slot["requests_per_s"] * factor


def _check_path(path: str, base: dict, catalog: Catalog) -> str | None:
    """Why `path` cannot be used, or None."""
    if path == "traffic.scale":
        return None
    if path.split(".")[0] == "prices":
        parts = path.split(".", 2)
        if len(parts) < 3 or parts[1] not in PRICE_KINDS or not parts[2]:
            return "price multipliers are prices.provider.<name>, prices.accelerator.<id> or prices.offer.<id>"
        kind, ident = parts[1], parts[2]
        known = {"provider": sorted({o.provider.lower() for o in catalog.offers.values()}),
                 "accelerator": sorted(catalog.accelerators), "offer": sorted(catalog.offers)}[kind]
        if (ident.lower() if kind == "provider" else ident) not in known:
            return f"unknown {kind} {ident!r}{suggest(ident, known)}"
        return None
    try:
        root = split_path(path)[0][0]
    except ValueError as exc:
        return str(exc)
    if root not in PROBLEM_ROOTS:
        return (f"unknown field {root!r}{suggest(root, list(PROBLEM_ROOTS))}; a path starts with a problem field "
                f"({', '.join(PROBLEM_ROOTS)}), traffic.scale or prices.")
    try:
        set_path(copy.deepcopy(base), path, 0)
    except ValueError as exc:
        return str(exc)
    return None


def _multiplier_issue(path: str, value: Any) -> str | None:
    if path != "traffic.scale" and not path.startswith("prices."):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        return f"a multiplier must be a number > 0 (got {value!r})"
    return None


def _price_multiplier(path: str) -> tuple[str, str] | None:
    if not path.startswith("prices."):
        return None
    _, kind, ident = path.split(".", 2)
    return kind, ident


# ------------------------------------------------------------------------------------------------
# Expansion


def snake_order(sizes: list[int]) -> list[tuple[int, ...]]:
    """Every index tuple of a grid, consecutive tuples differing by one step in one axis."""
    if not sizes:
        return [()]
    rest = snake_order(sizes[1:])
    out = []
    for i in range(sizes[0]):
        out += [(i, *r) for r in (rest if i % 2 == 0 else rest[::-1])]
    return out


def _display(value: Any) -> Any:
    """A results cell: numbers and strings as they are, anything else as compact JSON."""
    if isinstance(value, bool) or value is None or isinstance(value, int | float | str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def load_study(path: Path | str) -> tuple[StudyPlan, Catalog]:
    """Read, validate and expand a study file; raises ProblemError listing every problem found
    (file shape, paths, and every scenario whose problem is invalid)."""
    from solver.catalog.loader import load_catalog

    file = Path(path)
    data, issues = read_yaml_mapping(file)
    if issues:
        raise ProblemError(issues)
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as exc:
        raise ProblemError(validation_issues(str(file), exc, StudySpec)) from None
    problem_file = (file.parent / spec.problem)
    catalog_files = [file.parent / c for c in spec.catalogs]
    catalog = load_catalog(catalog_files)
    base, issues = read_yaml_mapping(problem_file)
    if issues:
        raise ProblemError(issues)
    from solver.problem import load_problem

    load_problem(problem_file, catalog)  # the base itself must be valid: its errors are located in its file
    issues = []
    labels = [a.label for a in spec.axes]
    for dup in sorted({lbl for lbl in labels if labels.count(lbl) > 1}):
        issues.append(Issue(str(file), "axes", f"two axes are named {dup!r}; give one a different `name`"))
    from solver.study.run import RESULT_COLUMNS

    for i, lbl in enumerate(labels):
        if lbl in ("scenario", "name", *RESULT_COLUMNS):
            issues.append(Issue(str(file), f"axes[{i}].name", f"{lbl!r} is a results column; choose another name"))
    for i, axis in enumerate(spec.axes):
        why = _check_path(axis.path, base, catalog)
        if why:
            issues.append(Issue(str(file), f"axes[{i}].path", why))
        else:
            issues += [Issue(str(file), f"axes[{i}].values[{j}]", why) for j, v in enumerate(axis.value_list())
                       if (why := _multiplier_issue(axis.path, v))]
    names = [s.name for s in spec.scenarios]
    for i, sc in enumerate(spec.scenarios):
        if names.count(sc.name) > 1 and names.index(sc.name) != i:
            issues.append(Issue(str(file), f"scenarios[{i}].name", f"name {sc.name!r} is used twice"))
        for p, v in sc.set.items():
            why = _check_path(p, base, catalog)
            if why:
                issues.append(Issue(str(file), f"scenarios[{i}].set.{p}", why))
            elif why := _multiplier_issue(p, v):
                issues.append(Issue(str(file), f"scenarios[{i}].set.{p}", why))
    if not spec.axes and not spec.scenarios:
        issues.append(Issue(str(file), "", "nothing to study: give axes (a grid), scenarios, or both"))
    if issues:
        raise ProblemError(issues)
    values = [a.value_list() for a in spec.axes]
    count = math.prod(len(v) for v in values) * max(1, len(spec.scenarios))
    if count > MAX_SCENARIOS:
        raise ProblemError([Issue(str(file), "axes", f"{count:,} scenarios; at most {MAX_SCENARIOS:,}")])
    scenarios = _expand(spec, base, values, catalog, str(file), str(problem_file))
    fingerprint = _fingerprint([file, problem_file, *[Path(f) for f in catalog.files]])
    plan = StudyPlan(spec=spec, file=file, problem_file=problem_file, catalog_files=catalog_files,
                     scenarios=scenarios, fingerprint=fingerprint)
    return plan, catalog


def _expand(spec: StudySpec, base: dict, values: list[list[Any]], catalog: Catalog, file: str,
            problem_file: str) -> list[Scenario]:
    named: list[NamedScenario | None] = list(spec.scenarios) or [None]
    grid_size = math.prod(len(v) for v in values)
    sizes = [len(v) for v in values]
    strides = [math.prod(sizes[k + 1:]) for k in range(len(sizes))]
    # Axes that leave candidate evaluations unchanged (traffic, prices) vary fastest, so consecutive
    # scenarios reuse the evaluated candidates as well as the plan.
    nesting = sorted(range(len(sizes)), key=lambda k: _reuses_evaluations(spec.axes[k].path))
    out, issues = [], []
    for s, sc in enumerate(named):
        for nested in snake_order([sizes[k] for k in nesting]):
            index = tuple(nested[nesting.index(k)] for k in range(len(sizes)))
            settings = dict(sc.set) if sc else {}
            point = {a.label: values[k][i] for k, (a, i) in enumerate(zip(spec.axes, index, strict=True))}
            settings.update({a.path: values[k][i] for k, (a, i) in enumerate(zip(spec.axes, index, strict=True))})
            sid = s * grid_size + sum(i * st for i, st in zip(index, strides, strict=True))
            label = sc.name if sc else ", ".join(f"{k}={_display(v)}" for k, v in point.items())
            shown = {p: _display(v) for p, v in {**(sc.set if sc else {}), **point}.items()}
            try:
                problem, prices = scenario_problem(base, settings, catalog, problem_file)
            except ProblemError as exc:
                for issue in exc.issues[:3]:
                    issues.append(Issue(file, f"scenario {label}", f"{issue.location}: {issue.message}"))
                if len(issues) >= 20:
                    break
                continue
            out.append(Scenario(id=sid, name=label, values=shown, problem=problem, prices=prices))
    if issues:
        raise ProblemError(issues[:20])
    return out


def _reuses_evaluations(path: str) -> bool:
    """Whether changing this path keeps the evaluated candidates (their key: model, lengths, SLO,
    allowed options; see solver/optimize/candidates.py)."""
    return path == "traffic.scale" or path.startswith("prices.") or ".traffic." in path


def scenario_problem(base: dict, settings: dict[str, Any], catalog: Catalog, file: str = "problem"
                     ) -> tuple[Problem, tuple[tuple[str, str, float], ...]]:
    """The base problem with `settings` (path -> value) applied, validated against the catalog,
    and the price multipliers the settings name."""
    data = copy.deepcopy(base)
    prices = []
    scale = 1.0
    for path, value in settings.items():
        if path == "traffic.scale":
            scale *= float(value)
        elif (pm := _price_multiplier(path)) is not None:
            prices.append((*pm, float(value)))
        else:
            try:
                set_path(data, path, value)
            except ValueError as exc:
                raise ProblemError([Issue(file, path, str(exc))]) from None
    if scale != 1.0:
        _scale_traffic(data, scale)
    try:
        problem = Problem.model_validate(data)
    except ValidationError as exc:
        raise ProblemError(validation_issues(file, exc, Problem)) from None
    check_problem(problem, catalog, file)
    return problem, tuple(sorted(prices))


def priced_catalog(catalog: Catalog, prices: tuple[tuple[str, str, float], ...]) -> Catalog:
    """The catalog with every matching offer's prices multiplied (factors on one offer multiply)."""
    if not prices:
        return catalog
    offers = {}
    for oid, offer in catalog.offers.items():
        factor = 1.0
        for kind, ident, f in prices:
            if (kind == "provider" and offer.provider.lower() == ident.lower()) or \
                    (kind == "accelerator" and offer.accelerator == ident) or (kind == "offer" and oid == ident):
                factor *= f
        if factor != 1.0:
            offer = offer.model_copy(update={k: getattr(offer, k) * factor for k in PRICE_FIELDS
                                             if getattr(offer, k) is not None})
        offers[oid] = offer
    return dataclasses.replace(catalog, offers=offers)


def _fingerprint(files: list[Path]) -> str:
    """Digest of the files' contents (not their paths: a study resumed from another folder is the same)."""
    h = hashlib.sha256()
    for f in files:
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:32]
