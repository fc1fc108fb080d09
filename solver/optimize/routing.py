"""Routing by size: a workload's requests split by prompt length into classes served by their own pools.

A workload with `routing: by_size` has prompt-length points s_1 < … < s_K with probabilities π_k (its
buckets or distribution points, merged to at most `MAX_ROUTING_POINTS`). A split into C ≤
`max_size_classes` contiguous classes I_1, …, I_C routes a request of length s_k to the pool of its
class; class c is a workload of its own with rate λ·Σ_{k∈I_c} π_k, the class's lengths renormalised,
the same outputs, SLOs, prefix cache, headroom and min_replicas (each pool must stay available on
its own), so every class meets the SLO on the configuration that serves it.

The optimizer solves the problem for every combination of splits of the routed workloads (the
single-class split included), each one exactly (CP-SAT, proven optimal), and keeps the cheapest:
min over splits of min over plans = the optimum over plans that route by size. Candidate evaluations
are shared through the evaluation cache (a class with the same lengths is evaluated once). The report
names the routing rule (token range → configuration) and the saving against the best single pool.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from solver.catalog.loader import Catalog
from solver.errors import Issue, ProblemError
from solver.problem import LengthBucket, Lengths, Problem, TimeSlot, Traffic, Workload

MAX_ROUTING_POINTS = 6
"""Prompt-length points a routed workload is split on (more are merged into neighbours)."""
MAX_SPLIT_COMBINATIONS = 64
"""Most problem variants (products of the routed workloads' splits) solved for one problem."""


@dataclass
class SizeClass:
    name: str
    tokens_min: float
    tokens_max: float
    share: float
    """Share of the workload's requests in the class."""


@dataclass
class RoutingReport:
    workload: str
    classes: list[SizeClass]
    single_usd_per_hour: float
    """Cost of the best plan that serves every size from one pool (for all routed workloads at once)."""
    routed_usd_per_hour: float
    configs: dict[str, list[str]] = field(default_factory=dict)
    """Class name -> the configurations (config keys) that serve it."""

    @property
    def saving_usd_per_hour(self) -> float:
        return self.single_usd_per_hour - self.routed_usd_per_hour

    @property
    def rule(self) -> str:
        """'≤ 2000 tokens -> …; > 2000 tokens -> …' (one class: 'one pool')."""
        if len(self.classes) == 1:
            return "one pool for every size"
        parts = []
        for i, c in enumerate(self.classes):
            if i == 0:
                rng = f"prompt ≤ {c.tokens_max:,.0f} tokens"
            elif i == len(self.classes) - 1:
                rng = f"prompt > {self.classes[i - 1].tokens_max:,.0f} tokens"
            else:
                rng = f"{self.classes[i - 1].tokens_max:,.0f} < prompt ≤ {c.tokens_max:,.0f} tokens"
            parts.append(f"{rng} ({c.share:.0%}) -> {', '.join(self.configs.get(c.name, [])) or '?'}")
        return "; ".join(parts)

    def as_dict(self) -> dict:
        """JSON form; the single-pool figures are null when no single pool serves every size."""
        single = math.isfinite(self.single_usd_per_hour) and self.single_usd_per_hour > 0
        return {"workload": self.workload, "rule": self.rule,
                "classes": [{"name": c.name, "tokens_min": c.tokens_min, "tokens_max": c.tokens_max,
                             "share": c.share, "configs": self.configs.get(c.name, [])} for c in self.classes],
                "single_usd_per_hour": self.single_usd_per_hour if single else None,
                "routed_usd_per_hour": self.routed_usd_per_hour,
                "saving_usd_per_hour": self.saving_usd_per_hour if single else None,
                "saving_share": self.saving_usd_per_hour / self.single_usd_per_hour if single else None}


def routing_points(workload: Workload) -> list[tuple[float, float]]:
    """The prompt-length points routing splits on: neighbours with the least probability merged
    (probability-weighted mean length) until at most MAX_ROUTING_POINTS remain."""
    pts = [list(p) for p in sorted(workload.input_points())]
    while len(pts) > MAX_ROUTING_POINTS:
        i = min(range(len(pts) - 1), key=lambda j: pts[j][1] + pts[j + 1][1])
        (t0, w0), (t1, w1) = pts[i], pts[i + 1]
        pts[i:i + 2] = [[(t0 * w0 + t1 * w1) / (w0 + w1), w0 + w1]]
    return [(t, w) for t, w in pts]


def splits(n_points: int, max_classes: int) -> list[tuple[int, ...]]:
    """Every split of n ordered points into at most max_classes contiguous classes, as the indices
    where a new class starts (() = one class)."""
    out: list[tuple[int, ...]] = []
    for c in range(1, max_classes + 1):
        out += list(itertools.combinations(range(1, n_points), c - 1))
    return out


def class_workloads(workload: Workload, cut: tuple[int, ...]) -> tuple[list[Workload], list[SizeClass]]:
    """The workload as one workload per class of the split `cut` (module docstring)."""
    pts = routing_points(workload)
    bounds = [0, *cut, len(pts)]
    total = sum(w for _, w in pts)
    out, classes = [], []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        group = pts[a:b]
        share = sum(w for _, w in group) / total
        lo, hi = group[0][0], group[-1][0]
        name = workload.name if len(bounds) == 2 else f"{workload.name}.{math.floor(lo)}-{math.ceil(hi)}tok"
        lengths = Lengths(buckets=[LengthBucket(tokens=max(1, round(t)), weight=w / total) for t, w in group])
        slots = [TimeSlot(hours=s.hours, requests_per_s=s.requests_per_s * share, name=s.name)
                 for s in workload.traffic.slots()]
        traffic = Traffic(requests_per_s=slots[0].requests_per_s) if workload.traffic.requests_per_s is not None \
            else Traffic(profile=slots)
        out.append(workload.model_copy(update={"name": name, "traffic": traffic, "input_tokens": lengths,
                                               "routing": "single"}))
        classes.append(SizeClass(name, lo, hi, share))
    return out, classes


def variants(problem: Problem) -> list[tuple[Problem, dict[str, list[SizeClass]]]]:
    """Every problem with the routed workloads split (one variant per combination of splits); the
    first is the single-pool problem."""
    routed = [i for i, w in enumerate(problem.workloads) if w.routing == "by_size"]
    per = [splits(len(routing_points(problem.workloads[i])), problem.workloads[i].max_size_classes) for i in routed]
    combos = list(itertools.product(*per))
    if len(combos) > MAX_SPLIT_COMBINATIONS:
        raise ProblemError([Issue(problem.name or "problem", "workloads",
                                  f"routing by size would solve {len(combos)} variants (at most "
                                  f"{MAX_SPLIT_COMBINATIONS}); route fewer workloads or lower max_size_classes")])
    out = []
    for combo in combos:
        cuts = dict(zip(routed, combo, strict=True))
        workloads, classes = [], {}
        for i, w in enumerate(problem.workloads):
            if i in cuts:
                ws, cs = class_workloads(w, cuts[i])
                workloads += ws
                classes[w.name] = cs
            else:
                workloads.append(w)
        out.append((problem.model_copy(update={"workloads": workloads}), classes))
    return out


def cheapest(costs: list[float | None]) -> int | None:
    """Index of the cheapest variant (None = infeasible); ties keep the earlier one (one pool first,
    then fewer classes), so routing is chosen only when it is strictly cheaper."""
    best = None
    for k, c in enumerate(costs):
        if c is not None and (best is None or c < costs[best] - 1e-9 * max(1.0, abs(costs[best]))):
            best = k
    return best


def solve_routed(problem: Problem, catalog: Catalog, *, time_limit_s: float | None = None,
                 workers: int | None = None, cache: dict | None = None):
    """The cheapest of the problem's routing variants, solved exactly; the result carries `routing`
    (one RoutingReport per routed workload). Raises what `solve` raises when no variant is feasible."""
    from solver.errors import InfeasibleError
    from solver.optimize.solve import solve

    cache = {} if cache is None else cache
    results = []
    first_error: Exception | None = None
    for variant, classes in variants(problem):
        try:
            res = solve(variant, catalog, time_limit_s=time_limit_s, workers=workers, cache=cache)
        except InfeasibleError as exc:  # a class no configuration serves: the other variants may still work
            first_error = first_error or exc
            res = None
        results.append((res, variant, classes))
    k = cheapest([None if r is None else r.total_usd for r, _, _ in results])
    if k is None:
        raise first_error
    best, best_problem, best_classes = results[k]
    single = results[0][0].usd_per_hour if results[0][0] is not None else math.inf
    choices = best.plan.choices
    names = [w.name for w in best_problem.workloads]
    by_name = choices.assign(_name=[names[int(i)] for i in choices["workload"]])
    best.routing = []
    for w in problem.workloads:
        if w.routing != "by_size":
            continue
        classes = best_classes[w.name]
        configs = {c.name: sorted(set(by_name.loc[by_name["_name"] == c.name, "config_key"])) for c in classes}
        best.routing.append(RoutingReport(w.name, classes, single, best.usd_per_hour, configs))
    return best
