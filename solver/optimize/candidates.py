"""Candidate replica configurations per workload, evaluated by the performance model, then pruned.

For each workload: every allowed accelerator (one with an allowed offer) × engine × layout (tp, dp,
pp, ep: a replica is pp stages of tp·dp GPUs, MoE layers split them as moe_tp × ep) × weight
quantization × KV-cache quantization × max batch becomes a row. The performance model is
offer-independent, so rows are evaluated once per accelerator and joined to offers afterwards.

Pruning, in order, each counted for the report:
1. infeasible rows (the performance model's `pruned_reason`: memory, SLO, unsupported...);
2. rows that do not fit an offer's instance shape (see `solver/optimize/inputs.join_offers`);
3. dominated rows: on the same offer, a row is dropped when another needs no more GPUs per replica
   and sustains at least the same request rate (it can never be cheaper, also for owned hardware,
   whose power cost grows with GPUs per request served).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

import numpy as np
import pandas as pd

from solver.catalog.loader import Catalog
from solver.catalog.schema import Model
from solver.errors import Issue, ProblemError
from solver.optimize.margin import apply_margin
from solver.perf.candidates import BEATEN
from solver.problem import Problem, Workload, percentile_value

TP_OPTIONS = (1, 2, 4, 8)
PP_OPTIONS = (1, 2, 4)
DP_OPTIONS = (1, 2, 4, 8, 16, 32, 64, 72)
"""Attention data-parallel ranks (MoE models): up to wide expert parallelism over nodes or an NVL72 rack."""
MAX_GPUS_PER_REPLICA = 72
MAX_EVALUATED_ROWS = 25_000_000
"""Bound on candidate rows evaluated per solve (first pass, before the batch-cap grid), so that a solve
ends in hours at worst: the schema's 2,000 distinct workloads over the full catalog evaluate ~20
million. Memory does not grow with it: only rows no variant of the same layout beats are kept."""
CONFIG_COLUMNS = ["accelerator", "engine", "quant", "kv_quant", "tp", "dp", "pp", "ep", "max_batch"]
UNBOUNDED_BATCH = 65536
"""A batch cap no replica reaches: the KV cache and the token budget bound the batch first."""
DENSE_BATCH_GRID = tuple(2**i for i in range(13))
"""Caps tried below what the KV cache admits (1 … 4096; the engines' defaults 256, 1024 and 2048
are on it). A cap binds when the SLO is tight: fewer running requests, lower TPOT."""


@dataclass
class CandidateSet:
    usable: pd.DataFrame
    """Feasible rows of every workload that no row of the same accelerator and layout beats
    (`drop_beaten_within_layout`), before joining with offers and removing dominated ones."""
    considered: dict[int, int]
    """Per workload: configurations evaluated."""
    rejected: dict[int, pd.DataFrame]
    """Per workload with no feasible row: every evaluated row with its `pruned_reason` (to explain why)."""
    fitting: dict[int, pd.DataFrame] | None = None
    """With `keep_fitting`: per workload, every row that fits (feasible, or blocked only by an SLO), the
    candidates of disaggregated pools, which meet their SLOs differently."""
    feasible: dict[int, int] = field(default_factory=dict)
    """Per workload: configurations that meet every SLO (before any row is dropped as beaten)."""

    def evaluated_for(self, w: int) -> pd.DataFrame:
        """The rows that explain workload w: all of them when none was feasible, else the feasible ones."""
        if w in self.rejected:
            return self.rejected[w]
        return self.usable[self.usable["workload"] == w] if len(self.usable) else self.usable


def default_quants(model: Model) -> list[str]:
    """The checkpoint's own dtype, plus fp8 for 16-bit checkpoints (near-lossless, widely served)."""
    native = model.native_dtype
    return [native, "fp8"] if native in ("bf16", "fp16") else [native]


def allowed_accelerators(problem: Problem, catalog: Catalog, offer_ids: list[str]) -> list[str]:
    accs = sorted({catalog.offers[o].accelerator for o in offer_ids})
    if problem.fleet.accelerators is not None:
        accs = [a for a in accs if a in problem.fleet.accelerators]
    return accs


def enumerate_configs(
    workload: Workload, model: Model, catalog: Catalog, accelerators: list[str],
    instance_sizes: dict[str, set[int]], batch_options: list[int],
) -> pd.DataFrame:
    """All (accelerator, engine, tp, dp, pp, ep, quant, kv, batch) rows for one workload.

    Only structurally possible rows are produced: TP within the scale-up domain, PP at most the layer
    count, a replica size n·pp (n = tp·dp) that divides an instance of that accelerator or spans whole
    instances. Dense models: dp = ep = 1 (more data parallelism is more replicas). MoE models: every dp
    with pp = 1 when dp > 1 (wide-EP deployments do not pipeline), and ep ∈ {1, n}: the experts
    tensor-parallel over the stage, or one expert-parallel rank per GPU (the engines' documented
    layouts; each engine's own rules then prune, see `solver.perf.checks.engine_layout`).
    """
    engines = workload.engines or sorted(catalog.engines)
    engines = [catalog.lookup("engines", e).id for e in engines]
    quants = workload.quantizations or default_quants(model)
    kvs = workload.kv_quantizations or ["bf16", "fp8"]
    dps = DP_OPTIONS if model.is_moe else (1,)
    records = []
    for acc_id in accelerators:
        acc = catalog.accelerators[acc_id]
        sizes = instance_sizes.get(acc_id, set())
        for tp, dp, pp in product(TP_OPTIONS, dps, PP_OPTIONS):
            stage = tp * dp
            gpus = stage * pp
            if gpus > MAX_GPUS_PER_REPLICA or tp > acc.scale_up_domain_gpus or pp > model.num_layers:
                continue
            if dp > 1 and pp > 1:
                continue
            if not any(G % gpus == 0 or gpus % G == 0 for G in sizes):
                continue
            eps = (1, stage) if model.is_moe and stage > 1 else (1,)
            for ep in eps:
                if model.num_experts and ep > model.num_experts:
                    continue
                for engine, quant, kv in product(engines, quants, kvs):
                    records.append((acc_id, engine, quant, kv, tp, dp, pp, ep))
    base = pd.DataFrame(records, columns=CONFIG_COLUMNS[:-1])
    batches = pd.DataFrame({"max_batch": batch_options})
    rows = base.merge(batches, how="cross")
    rows.insert(0, "model", model.id)
    rows["isl"] = workload.isl()
    rows["osl"] = workload.osl()
    mix = workload.length_mix()
    if not mix.trivial:  # a distribution or a prefix cache (solver/perf/lengths.py)
        rows["lengths"] = [mix] * len(rows)
    slo = workload.slo
    rows["slo_ttft_ms"] = np.nan if slo.ttft_ms is None else slo.ttft_ms
    rows["slo_tpot_ms"] = np.nan if slo.tpot_ms is None else slo.tpot_ms
    rows["slo_e2e_ms"] = np.nan if slo.e2e_ms is None else slo.e2e_ms
    rows["percentile"] = percentile_value(slo.percentile)
    return rows


def remove_dominated(rows: pd.DataFrame, group: tuple[str, ...] = ("workload", "offer"),
                     fits: bool = False) -> pd.DataFrame:
    """Keep, per group, rows whose capacity beats every row with ≤ GPUs.

    With `fits` (rows are candidate × offer placements): a candidate is dropped from every offer when
    another of the same workload and accelerator needs no more GPUs per replica, sustains at least
    the same rate, and fits every offer it fits. Then any plan using it, on any mix of its offers,
    can use the other instead at no more cost; dropping it per offer alone would forbid plans that
    split one configuration over several offers.

    Ties go to the first row in a fixed order (fewest GPUs, highest capacity, then the config
    columns), so the result is deterministic.
    """
    if rows.empty:
        return rows
    if fits:
        return _remove_dominated_placements(rows)
    keys = list(group)
    columns = [*keys, "gpus", "capacity_rps", *CONFIG_COLUMNS]
    ascending = [True] * len(keys) + [True, False] + [True] * len(CONFIG_COLUMNS)
    order = rows.sort_values(columns, ascending=ascending, kind="mergesort")
    best_so_far = order.groupby(keys)["capacity_rps"].cummax()
    previous_best = best_so_far.groupby([order[k] for k in keys]).shift(1).fillna(-1.0)
    keep = order["capacity_rps"] > previous_best
    return order[keep].sort_index()


def _remove_dominated_placements(rows: pd.DataFrame) -> pd.DataFrame:
    # Each candidate's set of fitting offers as a bit mask (bit = offer's index on its accelerator).
    bit_of = {}
    for _acc, offers in rows.groupby("accelerator")["offer"]:
        for i, g in enumerate(sorted(offers.unique())):
            bit_of[g] = 1 << i
    bits = rows["offer"].map(bit_of).astype("int64")
    fits = bits.groupby(rows["candidate"]).sum()
    first = rows.drop_duplicates("candidate").set_index("candidate")
    cands = first[["workload", "accelerator", "gpus", "capacity_rps", *CONFIG_COLUMNS[1:]]].assign(fits=fits)
    order = cands.sort_values(["workload", "accelerator", "gpus", "capacity_rps", *CONFIG_COLUMNS[1:]],
                              ascending=[True, True, True, False] + [True] * (len(CONFIG_COLUMNS) - 1),
                              kind="mergesort")
    dominated = np.zeros(len(order), dtype=bool)
    group_ids = order.groupby(["workload", "accelerator"], sort=False).ngroup().to_numpy()
    masks = order["fits"].to_numpy()
    capacity = order["capacity_rps"].to_numpy()
    for gid in np.unique(group_ids):
        idx = np.flatnonzero(group_ids == gid)
        for signature in np.unique(masks[idx]):
            pool = idx[(masks[idx] & signature) == signature]
            previous_best = np.concatenate(([-1.0], np.maximum.accumulate(capacity[pool])[:-1]))
            dominated[pool[(masks[pool] == signature) & (capacity[pool] <= previous_best)]] = True
    return rows[~rows["candidate"].isin(order.index[dominated])]


def build_candidates(
    problem: Problem, catalog: Catalog, offer_ids: list[str], evaluated_cache: dict | None = None,
    keep_fitting: bool = False,
) -> CandidateSet:
    """Evaluate and prune every workload's rows. `evaluated_cache` (keyed by the workload's
    model, lengths, SLO and allowed options) lets a sweep reuse evaluations that do not change.

    When the cache says `tightening` (a sweep visiting SLO values from loose to tight), a row
    with no capacity at a looser SLO is not evaluated again: capacity never grows as an SLO
    tightens, so only the rows usable at the previous point are candidates at the next."""
    from solver.perf import evaluate_candidates
    from solver.perf.prepare import Prepared

    if evaluated_cache is None:
        evaluated_cache = {}  # identical workloads in one problem are evaluated once
    accelerators = allowed_accelerators(problem, catalog, offer_ids)
    sizes: dict[str, set[int]] = {}
    for o in offer_ids:
        sizes.setdefault(catalog.offers[o].accelerator, set()).add(catalog.offers[o].gpus_per_instance)
    frames, considered, feasible, rejected, fitting = [], {}, {}, {}, {}
    evaluated_rows = 0
    for w, workload in enumerate(problem.workloads):
        model = catalog.models[workload.model]
        key = (workload.model, workload.isl(), workload.osl(), workload.length_mix(), workload.slo.model_dump_json(),
               tuple(workload.quantizations or ()), tuple(workload.kv_quantizations or ()),
               tuple(workload.engines or ()), tuple(accelerators), tuple(problem.solver.max_batch_options or ()),
               problem.solver.margin)
        if key in evaluated_cache:
            kept = evaluated_cache[key]
        else:
            configs = enumerate_configs(workload, model, catalog, accelerators, sizes,
                                        problem.solver.max_batch_options or [UNBOUNDED_BATCH])
            configs = apply_margin(configs, problem.solver.margin, catalog)
            slo_free_key = key[:4] + key[5:]
            viable = evaluated_cache.setdefault("viable", {})
            if evaluated_cache.get("tightening") and slo_free_key in viable:
                # With the dense batch grid the cap is chosen after evaluation: match on the rest.
                on = CONFIG_COLUMNS if problem.solver.max_batch_options else CONFIG_COLUMNS[:-1]
                configs = configs.merge(viable[slo_free_key][on].drop_duplicates(), on=on, how="inner")
            evaluated_rows += len(configs)
            if evaluated_rows > MAX_EVALUATED_ROWS:
                raise ProblemError([Issue(problem.name or "problem", f"workloads[{w}]",
                                          f"more than {MAX_EVALUATED_ROWS:,} candidate configurations to evaluate; "
                                          "restrict fleet.accelerators, quantizations, engines or "
                                          "solver.max_batch_options, or split the problem")])
            best_of = None if keep_fitting else LAYOUT_COLUMNS
            configs = configs.reset_index(drop=True)
            prepared = Prepared(configs, catalog) if len(configs) else None
            evaluated = evaluate_candidates(configs, catalog, best_of=best_of, prepared=prepared) \
                if len(configs) else configs
            unlisted = 0
            if problem.solver.max_batch_options is None and len(evaluated):
                evaluated, unlisted = _with_dense_batch_caps(evaluated, catalog, best_of, prepared)
            kept = _Kept.of(evaluated, keep_fitting, keep_viable=bool(evaluated_cache.get("tightening")),
                            unlisted_beaten=unlisted)
            # Only the feasible rows stay in memory (and every row of a workload with none, to explain it):
            # a problem of many distinct workloads keeps what the optimizer can use, not all it evaluated.
            evaluated_cache[key] = kept
            if kept.viable is not None:
                viable[slo_free_key] = kept.viable
        considered[w] = kept.considered
        feasible[w] = kept.feasible
        if kept.rejected is not None:
            rejected[w] = kept.rejected.assign(workload=w)
        frames.append(kept.usable.assign(workload=w))
        if keep_fitting:
            fitting[w] = (kept.fitting if kept.fitting is not None else kept.usable).assign(workload=w)
    usable = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return CandidateSet(usable=usable, considered=considered, feasible=feasible, rejected=rejected,
                        fitting=fitting if keep_fitting else None)


@dataclass(frozen=True)
class _Kept:
    usable: pd.DataFrame
    considered: int
    rejected: pd.DataFrame | None
    fitting: pd.DataFrame | None = None
    feasible: int = 0
    viable: pd.DataFrame | None = None
    """Every feasible row's configuration (a tightening sweep's candidates at its next point)."""

    @classmethod
    def of(cls, evaluated: pd.DataFrame, keep_fitting: bool = False, keep_viable: bool = False,
           unlisted_beaten: int = 0) -> _Kept:
        """`unlisted_beaten`: rows considered and beaten that `evaluated` does not list (grid caps)."""
        if evaluated.empty:
            return cls(evaluated, unlisted_beaten, evaluated, evaluated)
        fine = ((evaluated["pruned_reason"] == "") & (evaluated["capacity_rps"] > 0)).to_numpy()
        # Fully evaluated but dominated by a larger cap (`_with_dense_batch_caps`): it fits, but is no candidate.
        dominated = evaluated[DOMINATED].to_numpy(bool) if DOMINATED in evaluated.columns else np.zeros_like(fine)
        ok = fine & ~dominated
        # Rows beaten during evaluation (`best_of`) are counted as dominated: some variant of their
        # layout serves more on the same GPUs. At a tighter SLO they may win, so a tightening sweep keeps them.
        beaten = starts_with(evaluated["pruned_reason"], BEATEN)
        feasible = evaluated[ok].drop(columns=[DOMINATED], errors="ignore").reset_index(drop=True)
        fits = evaluated["pruned_reason"].eq("") | starts_with(evaluated["pruned_reason"], "slo")
        return cls(drop_beaten_within_layout(feasible), len(evaluated) + unlisted_beaten,
                   None if len(feasible) else evaluated,
                   evaluated[fits].reset_index(drop=True) if keep_fitting else None,
                   len(feasible) + int(beaten.sum()) + int((fine & dominated).sum()) + unlisted_beaten,
                   evaluated.loc[fine | beaten, list(CONFIG_COLUMNS)].reset_index(drop=True)
                   if keep_viable and fine.any() else None)


def starts_with(reasons: pd.Series, prefix: str) -> np.ndarray:
    """`reasons.str.startswith(prefix)` in one numpy cast (pandas calls Python per row)."""
    return reasons.to_numpy().astype(f"U{len(prefix)}") == prefix


LAYOUT_COLUMNS = ("accelerator", "tp", "dp", "pp", "ep")
"""Rows alike in these need the same GPUs and fit the same instance shapes (`inputs.join_offers`)."""


def drop_beaten_within_layout(feasible: pd.DataFrame) -> pd.DataFrame:
    """Drop rows whose capacity is strictly below another's of the same accelerator and layout: the
    other needs the same GPUs and fits the same offers, so `remove_dominated` would drop them on every
    offer anyway; dropping them here keeps memory per workload small (most evaluated rows are such
    variants: engines, quantizations, batch caps). Ties stay, for `remove_dominated` to break."""
    if feasible.empty:
        return feasible
    best = feasible.groupby(list(LAYOUT_COLUMNS))["capacity_rps"].transform("max")
    return feasible[~(feasible["capacity_rps"] < best)].reset_index(drop=True)


def _with_dense_batch_caps(evaluated: pd.DataFrame, catalog: Catalog, best_of: tuple[str, ...] | None,
                           prepared) -> tuple[pd.DataFrame, int]:
    """The batch cap as a decision: rows evaluated with an unbounded cap learn B*, the most requests
    the KV cache and token budget admit (their cap becomes B*); every grid cap below B* is then
    considered too. Caps above B* behave as B*, so nothing is lost. A lower cap that B* dominates
    (`dominated_by_larger_cap`) has only its λ_sat computed: it is counted but not listed, and it is not
    searched. The others are
    evaluated, and dominance keeps the best. `prepared`: the preparation of `evaluated`'s input rows
    (`perf.prepare.Prepared`), reused for the grid. Returns (rows, grid rows counted as beaten, not listed)."""
    from solver.perf import evaluate_candidates
    from solver.perf.candidates import saturation_rps, slo_met_at

    bstar = evaluated["max_batch_effective"].to_numpy()
    reason = evaluated["pruned_reason"]
    fits = starts_with(reason, "slo") | starts_with(reason, BEATEN) | (reason == "").to_numpy()
    fits &= ~np.isnan(bstar) & (bstar >= 1)
    grid_caps = np.array(DENSE_BATCH_GRID, float)
    below = grid_caps[None, :] < bstar[fits][:, None]
    source = np.repeat(np.flatnonzero(fits), below.sum(1))
    caps = np.broadcast_to(grid_caps, below.shape)[below]
    top = evaluated.copy()
    top.loc[fits, "max_batch"] = bstar[fits].astype(int)
    if not len(source):
        return top, 0
    inputs = [c for c in evaluated.columns if c in _INPUT_COLUMNS]
    top_sat = evaluated["saturation_rps"].to_numpy()[source]

    def frame(sel):
        return evaluated.iloc[source[sel]][inputs].assign(max_batch=caps[sel].astype(int)).reset_index(drop=True)

    def evaluate(sel, **kw):
        return evaluate_candidates(frame(sel), catalog, prepared=prepared.with_batch_caps(source[sel], caps[sel]),
                                   **kw)

    def met_at(sel, x):
        return slo_met_at(prepared.with_batch_caps(source[sel], caps[sel]), frame(sel), x)

    top = _smallest_equivalent_cap(top, met_at, lambda sel, x: evaluate(sel, at_x=x), source, caps)
    if best_of is None:
        # Every grid row in full: disaggregated pools choose among all caps by their own figures. The rows
        # the saturation rule dominates stay out of the usable rows, exactly as when they are not evaluated.
        full = evaluate(np.ones(len(source), bool))
        full[DOMINATED] = dominated_by_larger_cap(full["saturation_rps"].to_numpy(), top_sat)
        return pd.concat([top.assign(**{DOMINATED: False}), full], ignore_index=True), 0
    # Lower caps only matter where they beat what the layout already reaches at its top cap. A cap of b
    # sustains at most b/(O−1) arrivals per step, and a step takes at least the batch-1 step (the TPOT
    # floor), so λ ≤ b / ((O−1)·TPOT floor): caps below the layout's reach by that bound are not evaluated.
    usable = top[(reason == "") & (top["capacity_rps"] > 0)]
    reached = usable.groupby(list(best_of), dropna=False)["capacity_rps"].max()
    beat_rps = evaluated[list(best_of)].join(reached.rename("_beat"), on=list(best_of))["_beat"].to_numpy()[source]
    tpot1_s = evaluated["tpot_floor_ms"].to_numpy()[source] * 1e-3
    bound = caps / (np.maximum(evaluated["osl"].to_numpy(float)[source] - 1.0, 1.0) * tpot1_s)
    wanted = ~(bound * (1.0 + 1e-9) < np.nan_to_num(beat_rps, nan=0.0))  # (NaN floor: never skipped)
    sat = np.full(len(source), np.nan)
    sat[wanted] = saturation_rps(prepared, evaluated, source[wanted], caps[wanted])
    wanted &= ~dominated_by_larger_cap(sat, top_sat)
    if not wanted.any():
        return top, len(source)
    rows = evaluate(wanted, best_of=best_of, beat_rps=beat_rps[wanted])
    return pd.concat([top, rows], ignore_index=True), int((~wanted).sum())


def dominated_by_larger_cap(saturation_rps, saturation_rps_at_larger_cap) -> np.ndarray:
    """Per row: a configuration at a batch cap whose λ_sat is no higher than its own λ_sat at a larger
    cap is dominated by that larger cap (NaN: no larger cap known, not dominated). At any load x
    (arrivals per iteration) every step time is the same under both caps; only the batch-slot queue
    differs, whose wait grows as the cap c and λ_sat fall (P(wait) = ρ^(√(2(c+1))−1), ρ = λ/λ_sat). So
    every SLO met under the smaller cap is met under the larger at the same x, and its capacity is no lower."""
    return np.asarray(saturation_rps) <= np.nan_to_num(saturation_rps_at_larger_cap, nan=-np.inf)


DOMINATED = "dominated_by_larger_cap"
"""Column of a full evaluation (`keep_fitting`): the row's λ_sat is at most its configuration's at B*."""


def _smallest_equivalent_cap(top: pd.DataFrame, met_at, evaluate_at, source: np.ndarray, grid_caps: np.ndarray
                             ) -> pd.DataFrame:
    """Each layout's best row at its smallest grid cap that meets the SLOs at B*'s operating point x: it
    serves the same rate (λ = x/τ(x) does not depend on the cap) and no lower cap serves more
    (`dominated_by_larger_cap`), and a launch should not ask for a larger batch
    than the plan needs. `met_at(mask, x)` checks, and `evaluate_at(mask, x)` evaluates, the grid rows
    in the mask (rows `source` of `top` at caps `grid_caps`) at load x, without a search."""
    capacity = top["capacity_rps"]
    usable = (top["pruned_reason"] == "") & (capacity > 0)
    # Only each layout's best can be chosen (`drop_beaten_within_layout`), and a cap below the mean batch
    # at capacity cannot reach it (it admits fewer than x arrivals per iteration).
    best = capacity.where(usable).groupby([top[c] for c in LAYOUT_COLUMNS], dropna=False).transform("max")
    wanted = (usable & (capacity >= best)).to_numpy()
    batch = top["batch"].to_numpy()
    sel = wanted[source] & (grid_caps >= batch[source])
    if not sel.any():
        return top
    x_top = batch / np.maximum(top["osl"].to_numpy(float) - 1.0, 1.0)
    met = np.zeros(len(sel), bool)
    met[sel] = met_at(sel, x_top[source[sel]])
    order = np.lexsort((grid_caps, source))
    first = order[met[order]]
    first = first[np.unique(source[first], return_index=True)[1]]  # the smallest cap met, per source row
    if not len(first):
        return top
    chosen = np.zeros(len(sel), bool)
    chosen[first] = True
    at = evaluate_at(chosen, x_top[source[chosen]]).assign(_source=source[chosen])
    at = at[at["pruned_reason"] == ""]
    if at.empty:
        return top
    rows = at.pop("_source").to_numpy()
    columns = {}
    for c, column in top.items():  # one frame built from columns: a 2-D .iloc assignment costs far more
        if c not in at.columns:
            columns[c] = column.array
        elif isinstance(column.dtype, np.dtype) and isinstance(at[c].dtype, np.dtype):
            values = column.to_numpy().astype(np.result_type(column.dtype, at[c].dtype), copy=True)
            values[rows] = at[c].to_numpy()
            columns[c] = values
        else:  # pandas extension dtypes (strings) keep their type
            column = column.copy()
            column.iloc[rows] = at[c].to_numpy()
            columns[c] = column.array
    return pd.DataFrame(columns, index=top.index)


_INPUT_COLUMNS = ("model", *CONFIG_COLUMNS, "isl", "osl", "lengths", "slo_ttft_ms", "slo_tpot_ms", "slo_e2e_ms",
                  "percentile")


def candidate_counts(problem: Problem, cands: CandidateSet, rows: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per workload: configurations considered, infeasible, without a fitting offer or dominated on
    every offer, kept (on at least one offer), and the offer rows given to CP-SAT."""
    counts = {}
    for w, workload in enumerate(problem.workloads):
        n_all = cands.considered.get(w, 0)
        n_ok = cands.feasible.get(w, 0)
        mine = rows[rows["workload"] == w] if len(rows) else rows
        n_kept = int(mine["candidate"].nunique()) if len(mine) else 0
        counts[workload.name] = {"considered": n_all, "infeasible": n_all - n_ok, "dominated": n_ok - n_kept,
                                 "kept": n_kept, "offer_rows": int(len(mine))}
    return counts
