"""Serving under load with continuous batching (vectorised).

Steady state with Poisson arrivals λ per replica, prompt S, output O tokens. Let x be the arrivals per
iteration. Then n_dec = x·(O−1) requests are decoding (Little's law), every iteration prefills x·S
prompt tokens, its duration is τ(x) = step_time(n_dec, x·S) and λ = x/τ(x), which increases with x.
The batch is bounded by `B_max = min(max_batch, KV-cache capacity in requests, max_num_tokens)`, so
x ≤ x_max = B_max/(O−1) and the saturation rate is λ_sat = x_max/τ(x_max).

- Prefill service: waiting prompts are admitted up to the iteration's token budget,
  chunk = max(dp·max_num_tokens − n_dec, 256) tokens (`MIN_PREFILL_CHUNK_TOKENS`; each dp rank has its
  own budget), so a backlog is worked
  off in full-budget iterations next to the n_dec decoding requests, each lasting τ_C = τ(n_dec, chunk).
  A prompt's service time is its share of them, D = S/chunk·τ_C, and the prefill queue's utilisation
  is ρ_p = λ·D. Both grow with the load: τ_C/chunk, the time per budget token, grows as more requests
  decode beside a smaller chunk (a property test checks it). One prompt's marginal cost
  τ(n_dec, S) − τ(n_dec, 0) does not: for MoE it falls once the decode batch already reads most
  experts, which made TTFT dip as the rate rose.
- TPOT: the mean is τ (prefill interference included). A request sees N ~ Poisson(x·(O−1)) prompt
  prefills during its decode, each occupying D, so TPOT_p = τ + z_p·D·√(x(O−1))/(O−1).
- TTFT = engine overhead + residual of the running iteration when the engine is busy (probability
  1 − e^(−n_dec), mean τ/2, p-quantile p·τ) + the prompt's own prefill next to the n_dec decoding
  requests (⌈S/chunk⌉ iterations of decode work plus the prompt's marginal prefill work) + queueing:
  an M/D/1 queue for the prefill work (W = ρ_p·D / (2(1−ρ_p))) plus waiting for a batch
  slot, an M/D/c queue with c = B_max (Allen–Cunneen with Sakasegawa's M/M/c approximation:
  W = ½·ρ^(√(2(c+1))−1) / (λ_sat·(1−ρ)), ρ = λ/λ_sat). Waits are exponential beyond their probability
  of waiting, so each queue's W_p = (W/P_wait)·ln(P_wait/(1−p)); the two are added.
- Closed loop with N clients: λ = N / (TTFT + (O−1)·TPOT); when N > B_max the extra clients wait
  (N − B_max)/λ_sat for a slot and throughput is λ_sat.
- `percentile = MEAN_PERCENTILE` asks for the means instead: TTFT_p = mean TTFT, TPOT_p = τ.
- Static batch of N: one prefill of N·S tokens, then O−1 decode steps at batch N (in ⌈N/B_max⌉ waves).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from solver.perf.latency import StepTime, step_time
from solver.perf.lengths import MixArrays, bucket_prefill_steps, mix_point
from solver.perf.rows import Rows

MEAN_PERCENTILE = 0.0
"""The `percentile` value that asks for each latency distribution's mean instead of a percentile."""
RHO_CAP = 0.99
"""Queues are evaluated at ρ ≤ 0.99 so that saturated operating points report finite latencies."""
BISECTION_STEPS = 16
CAPACITY_DOUBLINGS = 48
CAPACITY_STEPS = 22
"""Capacity searches bisect ln x over [x_max·2^−48, x_max]: after 22 steps the bracket is 48·ln 2/2^22 ≈
8e-6 wide in ln x, a relative 2^−17 at any capacity down to 2^−48 of x_max (a linear bisection's
x_max·2^−16 would miss capacities far below saturation, e.g. under a tight TTFT limit)."""
MIN_PREFILL_CHUNK_TOKENS = 256.0
"""Smallest prefill chunk next to a full decode batch: the engine always makes some prefill progress."""


def z_score(percentile) -> np.ndarray:
    p = np.asarray(percentile, dtype=float)
    out = np.zeros_like(p)
    for v in np.unique(p):
        q = min(max(v / 100.0, 0.5), 0.9999)
        out[p == v] = NormalDist().inv_cdf(q)
    return out


class DeferredPercentile:
    """A length mixture's percentile per row (`lengths.MixtureQuantile`) plus `shift` seconds, the rows in
    `mean` reporting `mean_value` instead. It is solved only when read; `within(limit)` checks a limit
    directly, which is all a capacity search asks."""

    def __init__(self, quantile, shift=0.0, mean=False, mean_value=0.0):
        self.quantile, self.shift, self.mean, self.mean_value = quantile, shift, mean, mean_value

    def value(self) -> np.ndarray:
        return np.where(self.mean, self.mean_value, self.quantile.value() + self.shift)

    def within(self, limit) -> np.ndarray:
        return np.where(self.mean, self.mean_value <= limit, self.quantile.within(limit - self.shift))


@dataclass
class Point:
    x: np.ndarray
    lam: np.ndarray
    n_dec: np.ndarray
    tau: np.ndarray
    ttft_mean: np.ndarray
    ttft_quantile: np.ndarray | DeferredPercentile
    """The TTFT percentile (`ttft_p`), or a length mixture's, solved when first read."""
    tpot_mean: np.ndarray
    tpot_p: np.ndarray
    rho: np.ndarray
    ttft_parts: dict | None = None
    """The mean TTFT's parts (seconds): engine overhead, the running iteration, the prompt's prefill and
    queueing (with a closed loop's wait for a slot); they sum to `ttft_mean`."""
    mix_e2e_p: DeferredPercentile | None = None
    """E2E percentile of a length distribution (`lengths.mix_point`); None: one length."""

    @property
    def ttft_p(self) -> np.ndarray:
        if isinstance(self.ttft_quantile, DeferredPercentile):
            self.ttft_quantile = self.ttft_quantile.value()
        return self.ttft_quantile

    @property
    def e2e_mean(self):
        return self.ttft_mean + self._osl1 * self.tpot_mean

    @property
    def e2e_p(self):
        if isinstance(self.mix_e2e_p, DeferredPercentile):
            self.mix_e2e_p = self.mix_e2e_p.value()
        if self.mix_e2e_p is not None:
            return self.mix_e2e_p
        return self.ttft_p + self._osl1 * self.tpot_p

    def ttft_within(self, limit) -> np.ndarray:
        """ttft_p ≤ limit, per row."""
        if isinstance(self.ttft_quantile, DeferredPercentile):
            return self.ttft_quantile.within(limit)
        return self.ttft_quantile <= limit

    def e2e_within(self, limit) -> np.ndarray:
        """e2e_p ≤ limit, per row."""
        if isinstance(self.mix_e2e_p, DeferredPercentile):
            return self.mix_e2e_p.within(limit)
        return self.e2e_p <= limit


class Serving:
    """Workload-bound view of one replica per row."""

    def __init__(self, rows: Rows, isl, osl, b_max, percentile, mix: MixArrays | None = None):
        """`mix`: a length distribution and prefix cache per row (`lengths.MixArrays`); then isl and
        osl are its means, prefill work and contexts are its expectations, and percentiles cover its spread."""
        self.rows = rows
        self.mix = mix
        self.S = np.asarray(isl, float)
        self.O = np.asarray(osl, float)
        self.O1 = np.maximum(self.O - 1.0, 1.0)
        self.ctx = self.S + self.O / 2.0
        self.pf_ctx = (self.S + 1.0) / 2.0
        if mix is not None:
            self.S, self.ctx, self.pf_ctx = mix.prefill_tokens(), mix.decode_ctx(), mix.prefill_ctx()
        self.b_max = np.maximum(np.asarray(b_max, float), 1.0)
        self.p = np.asarray(percentile, float) / 100.0
        self.z = z_score(percentile)
        self.mean = np.asarray(percentile, float) == MEAN_PERCENTILE
        self.x_max = self.b_max / self.O1
        # Saturated: every dp rank has prompts queued and fills its own budget (see decode_step).
        self.tau_max = step_time(rows, self.b_max, self.ctx, self.x_max * self.S, self.pf_ctx,
                                 self.S / rows.dp, ranks_queued=True).total_s
        self.lam_sat = self.x_max / self.tau_max

    def decode_step(self, x, others=1.0) -> StepTime:
        """The mean iteration a decoding request sees at x arrivals per iteration (its TPOT's mean)."""
        return step_time(self.rows, *self._decode_step_args(np.maximum(np.asarray(x, float), 1e-12), others))

    def prefill_step(self, x, others=1.0) -> StepTime:
        """The iteration that prefills one prompt next to the requests already decoding (others · n_dec)."""
        return step_time(self.rows, *self._prefill_step_args(np.maximum(np.asarray(x, float), 1e-12), others))

    def _decode_step_args(self, x, others) -> tuple:
        """`step_time` arguments (n_dec, ctx_dec, n_pf, pf_ctx, prompt) of `decode_step` (x ≥ 1e-12)."""
        # A decoding request always shares its iterations with itself: below one request on average
        # the iterations it sees still carry one decode (the TPOT floor is the batch-1 step).
        n_seen = np.maximum(x * self.O1, 1.0)
        # Other requests' prompts: with attention data parallelism each dp rank schedules its own
        # queue and chunks its prompts, so over iterations the prefill work spreads over the ranks
        # (indivisible in pieces of S/dp: one group takes all of it only below one prompt per dp
        # iterations). dp = 1: whole prompts, as before.
        return n_seen, self.ctx, others * x * self.S, self.pf_ctx, self.S / self.rows.dp

    def _prefill_step_args(self, x, others) -> tuple:
        """`step_time` arguments of `prefill_step` (x ≥ 1e-12): one whole prompt next to the batch."""
        return others * (x * self.O1), self.ctx, self.S, self.pf_ctx, self.S

    def _slot_queue(self, lam, queue_slots):
        """(mean wait, probability of waiting) for a batch slot: M/D/c, c = B_max (module docstring)."""
        rho = np.minimum(lam / self.lam_sat, RHO_CAP)
        c = self.b_max
        p_slot = rho ** (np.sqrt(2.0 * (c + 1.0)) - 1.0)
        w_slot = np.where(queue_slots, 0.5 * p_slot / (self.lam_sat * (1.0 - rho)), 0.0)
        return w_slot, np.where(queue_slots, p_slot, 0.0)

    def _queues(self, lam, delta_s, others, queue_slots):
        """(mean wait, p-quantile wait): prefill queue (M/D/1) plus slot queue (M/D/c)."""
        rho_p = np.minimum(others * lam * delta_s, RHO_CAP)
        w_pf = rho_p * delta_s / (2.0 * (1.0 - rho_p))
        w_slot, p_slot = self._slot_queue(lam, queue_slots)
        tail = 1.0 - np.minimum(self.p, 0.9999)
        p_pf = np.maximum(rho_p, 1e-12)
        p_sl = np.maximum(p_slot, 1e-12)
        # Sum of the two queues' quantiles (conservative, and monotone in the load).
        w_p = np.where(p_pf > tail, w_pf / p_pf * np.log(p_pf / tail), 0.0) \
            + np.where(p_sl > tail, w_slot / p_sl * np.log(p_sl / tail), 0.0)
        return w_pf + w_slot, w_p

    def point(self, x, closed_extra_wait=None, queue_slots=True, others=1.0) -> Point:
        """Steady state at x arrivals per iteration. `others`: share of the prefill work a request sees
        from other requests (1 for Poisson arrivals; (N−1)/N in a closed loop of N, which does not
        interfere with itself)."""
        rows, S = self.rows, self.S
        x = np.maximum(np.asarray(x, float), 1e-12)
        n_dec = x * self.O1
        # A new prompt is prefilled next to the requests already decoding (others · n_dec of them).
        n_other = others * n_dec
        chunk = np.maximum(rows.iteration_token_budget - n_other, MIN_PREFILL_CHUNK_TOKENS)
        # Prefill service D: the prompt's share S/chunk of a full-budget iteration next to the decoding
        # batch (module docstring); non-decreasing in the load, unlike one prompt's marginal cost for MoE.
        buckets = [] if self.mix is None else bucket_prefill_steps(self, self.mix, n_other)
        tau, tau_d, tau_s, tau_c, *tau_buckets = self._step_times(
            self._decode_step_args(x, others),
            (n_other, self.ctx, 0.0, 0.0, 1.0),  # the decoding batch alone
            self._prefill_step_args(x, others),
            (n_other, self.ctx, chunk, self.pf_ctx, S),  # a full-budget chunk next to it
            *buckets)  # a prompt of each length bucket next to it
        service = (np.ceil(S / chunk) - 1.0) * tau_d + tau_s
        delta_s = S / chunk * tau_c
        # It waits for the running iteration only if the engine is busy (P = 1 − e^(−others·n_dec)).
        busy = 1.0 - np.exp(-n_other)
        lam = x / tau
        wait, w_p = self._queues(lam, delta_s, others, queue_slots)
        over = rows.runtime.ttft_overhead_s
        running = 0.5 * busy * tau
        ttft_mean = over + running + service + wait
        ttft_p = over + busy * np.minimum(self.p, 1.0) * tau + service + w_p
        # Each prompt prefilled during a request's decode occupies D of its iterations.
        tpot_p = tau + self.z * delta_s * np.sqrt(others * n_dec) / self.O1
        e2e_p = None
        if self.mix is not None:
            m = mix_point(self, self.mix, x=x, tau=tau, tau_d=tau_d, tau_s=np.stack(tau_buckets, axis=1), chunk=chunk,
                          tau_c=tau_c, busy=busy, lam=lam, others=others, queue_slots=queue_slots)
            ttft_mean, ttft_p, tpot_p, e2e_p = m.ttft_mean, m.ttft_p, m.tpot_p, m.e2e_p
            wait, service = m.queueing_s, m.service_mean
        extra = 0.0 if closed_extra_wait is None else closed_extra_wait
        ttft_mean, wait = ttft_mean + extra, wait + extra
        if self.mix is None:
            ttft_p = np.where(self.mean, ttft_mean, ttft_p + extra)
        else:
            ttft_p = DeferredPercentile(ttft_p, extra, self.mean, ttft_mean)
            e2e_p = DeferredPercentile(e2e_p, extra)
        tpot_p = np.where(self.mean, tau, tpot_p)
        pt = Point(x, lam, n_dec, tau, ttft_mean, ttft_p, tau, tpot_p, lam / self.lam_sat,
                   {"engine_overhead_s": np.broadcast_to(over, np.shape(ttft_mean)), "running_iteration_s": running,
                    "prefill_s": service, "queueing_s": wait}, e2e_p)
        pt._osl1 = self.O1
        return pt

    def _step_times(self, *calls) -> tuple[np.ndarray, ...]:
        """`step_time(...).total_s` of each call (n_dec, ctx_dec, n_pf, pf_ctx, prompt), every row of
        each, as one call on the rows repeated per call (the same per-row arithmetic, fewer passes)."""
        n, k = len(self.x_max), len(calls)
        if ("tiled", k) not in self.rows.cache:
            self.rows.cache[("tiled", k)] = self.rows.take(np.tile(np.arange(n), k))
        args = [np.concatenate([np.broadcast_to(np.asarray(call[i], float), (n,)) for call in calls])
                for i in range(5)]
        return tuple(step_time(self.rows.cache[("tiled", k)], *args).total_s.reshape(k, n))

    def take(self, sel) -> Serving:
        """The rows `sel` of every per-row array (a view on fewer replicas, for pruned searches)."""
        out = object.__new__(Serving)
        for name, value in vars(self).items():
            if name == "rows" or (name == "mix" and value is not None):
                value = value.take(sel)
            elif isinstance(value, np.ndarray) and value.ndim == 1:
                value = value[sel]
            setattr(out, name, value)
        return out

    # ---- modes -------------------------------------------------------------------------------
    def bisect(self, ok_fn, steps: int = BISECTION_STEPS, **kw) -> np.ndarray:
        """Largest x in (0, x_max] with ok_fn(point) true (ok_fn must be monotone: true then false), to
        x_max·2^−steps."""
        lo = np.zeros_like(self.x_max)
        hi = self.x_max.copy()
        top = self.point(hi, **kw)
        at_top = ok_fn(top)
        for _ in range(steps):
            mid = 0.5 * (lo + hi)
            ok = ok_fn(self.point(mid, **kw))
            lo = np.where(ok, mid, lo)
            hi = np.where(ok, hi, mid)
        return np.where(at_top, self.x_max, lo)

    def capacity(self, slo_ttft_s, slo_tpot_s, slo_e2e_s, group=None, beat_rps=None):
        """x at the highest rate meeting every given SLO at the percentile (0 when none).

        The search bisects log x: x_max when the SLOs hold there, else the largest x found in
        [x_max·2^−CAPACITY_DOUBLINGS, x_max), to a relative 2^−17 (`CAPACITY_STEPS`) however small the
        capacity is next to saturation; 0 when they hold nowhere in that range.

        With `group` (an integer per row, 0 … G−1) and `beat_rps` (per row: a capacity some other
        configuration of its group already reaches), also returns which rows are *beaten*: their
        capacity is certainly below their group's best. Then the search stops early for them: after
        each step a row's capacity lies in [λ(lo), λ(hi)] (λ = x/τ(x) increases with x), so a row whose
        λ(hi) is below the largest λ(lo) of its group, or below its `beat_rps`, can never be its group's
        best. The other rows follow exactly the search without groups; beaten rows' x is meaningless."""
        ok = slo_check(slo_ttft_s, slo_tpot_s, slo_e2e_s)
        if group is None:
            return self._capacity_search(ok)
        return self._capacity_search(ok, np.asarray(group), np.asarray(beat_rps, float))

    def _capacity_search(self, ok_fn, group=None, beat_rps=None):
        """See `capacity`: x, or (x, beaten) with `group`."""
        n = len(self.x_max)
        prune = group is not None
        if prune:
            beat = np.zeros(int(group.max()) + 1 if n else 0)
            np.maximum.at(beat, group, np.nan_to_num(beat_rps, nan=0.0))
        lo, hi = self.x_max * 2.0 ** -CAPACITY_DOUBLINGS, self.x_max.copy()
        found = np.zeros(n, bool)
        beaten = np.zeros(n, bool)
        top = self.point(hi)
        at_top = ok_fn(top)
        lam_hi = np.asarray(top.lam, float).copy()
        lam_lo = np.where(at_top, lam_hi, 0.0)
        live = np.flatnonzero(~at_top)
        sv = self.take(live)
        settled = np.zeros(n, bool)  # missing the SLOs at the bottom of the range: capacity 0, no search
        for step in range(CAPACITY_STEPS + 1):
            if prune:
                best = beat.copy()
                np.maximum.at(best, group, lam_lo)
                beaten = lam_hi < best[group]
            stay = ~(beaten | settled)[live]
            if stay.sum() < 0.8 * len(live) or settled[live].any():
                live, sv = live[stay], sv.take(stay)
            if step == CAPACITY_STEPS or not len(live):
                break
            mid = np.sqrt(lo[live] * hi[live])
            pt = sv.point(mid)
            good = ok_fn(pt, live)
            if step == 0 and not good.all():
                # Missing the SLOs at x_max·2^−24 too, a row is checked at the bottom of the range: missing
                # them there, it misses them at every load (they only tighten as the load grows).
                miss = np.flatnonzero(~good)
                floor_ok = ok_fn(sv.take(miss).point(lo[live[miss]]), live[miss])
                settled[live[miss[~floor_ok]]] = True
            lo[live] = np.where(good, mid, lo[live])
            hi[live] = np.where(good, hi[live], mid)
            found[live] |= good
            lam_lo[live] = np.where(good, pt.lam, lam_lo[live])
            lam_hi[live] = np.where(good, lam_hi[live], pt.lam)
        x = np.where(at_top, self.x_max, np.where(found, lo, 0.0))
        return (x, beaten) if prune else x

    def at_rate(self, lam):
        lam = np.asarray(lam, float)
        # λ(x) rises steeply near x = 0 when prompts dominate (λ of 12 % of saturation at x ≈ 0.1 % of
        # x_max): twice the steps put the rate within 1e-6 of the one asked for.
        x = self.bisect(lambda pt: pt.lam <= lam, steps=2 * BISECTION_STEPS)
        return self.point(x), lam >= self.lam_sat

    def concurrency_x(self, n):
        """x of a closed loop of n clients, from Little's law n = λ·(TTFT + (O−1)·TPOT), at most x_max."""
        n = np.asarray(n, float)
        return self.bisect(lambda pt: pt.lam * (pt.ttft_mean + self.O1 * pt.tpot_mean) <= n, queue_slots=False,
                           others=closed_others(n))

    def closed_extra_wait(self, n):
        """Wait for a batch slot of a closed loop of n > B_max clients: (n − B_max)/λ_sat (else 0)."""
        n = np.asarray(n, float)
        return np.where(n > self.b_max, (n - self.b_max) / self.lam_sat, 0.0)

    def at_concurrency(self, n):
        n = np.asarray(n, float)
        others = closed_others(n)
        x = self.concurrency_x(n)
        pt = self.point(x, queue_slots=False, others=others)
        saturated = n > self.b_max
        if saturated.any():
            sat = self.point(self.x_max, closed_extra_wait=self.closed_extra_wait(n), queue_slots=False, others=others)
            sat.lam = np.minimum(sat.lam, self.lam_sat)
            pt = _select(saturated, sat, pt)
        return pt, saturated

    def static_steps(self, n) -> tuple[StepTime, StepTime]:
        """(the prefill of one wave, one decode step) of a static batch of n requests."""
        b = np.minimum(np.maximum(np.asarray(n, float), 1.0), self.b_max)
        return (step_time(self.rows, 0.0, 0.0, b * self.S, self.pf_ctx, self.S, fill=True),
                step_time(self.rows, b, self.ctx, 0.0, 0.0))

    def static_batch(self, n):
        rows = self.rows
        n = np.maximum(np.asarray(n, float), 1.0)
        b = np.minimum(n, self.b_max)
        waves = np.ceil(n / b)
        prefill_step, decode_step = self.static_steps(n)
        prefill, tau = prefill_step.total_s, decode_step.total_s
        ttft = rows.runtime.ttft_overhead_s + prefill
        e2e = waves * (prefill + self.O1 * tau) + rows.runtime.ttft_overhead_s
        return ttft, tau, e2e


def slo_check(slo_ttft_s, slo_tpot_s, slo_e2e_s):
    """ok(point, rows=all) -> whether each row meets every given SLO at the percentile (NaN: no limit)."""
    t_ttft = np.where(np.isnan(slo_ttft_s), np.inf, slo_ttft_s)
    t_tpot = np.where(np.isnan(slo_tpot_s), np.inf, slo_tpot_s)
    t_e2e = np.where(np.isnan(slo_e2e_s), np.inf, slo_e2e_s)
    check_e2e = bool(np.isfinite(t_e2e).any())

    def ok(pt: Point, sel=slice(None)):
        met = pt.ttft_within(t_ttft[sel]) & (pt.tpot_p <= t_tpot[sel])
        return met & pt.e2e_within(t_e2e[sel]) if check_e2e else met

    return ok


def closed_others(n):
    """Share of prefill work from other clients in a closed loop of n: (n − 1)/n."""
    n = np.maximum(np.asarray(n, float), 1.0)
    return (n - 1.0) / n


def _select(mask, a: Point, b: Point) -> Point:
    out = Point(*(np.where(mask, getattr(a, f), getattr(b, f)) for f in
                  ("x", "lam", "n_dec", "tau", "ttft_mean", "ttft_p", "tpot_mean", "tpot_p", "rho")))
    out._osl1 = a._osl1
    return out
