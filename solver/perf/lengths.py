"""Length distributions and prefix caching in the serving model (hooks used by `serving` and `candidates`).

A workload's requests have prompt lengths S_k with probabilities π_k and output lengths O_j with
probabilities ω_j (independent of each other; a CSV's joint pairs are reduced to their two marginals).
A shared prefix of P tokens carried by a share s of requests, or a cache hit rate h, makes c_k tokens
of a prompt cached: c_k = s·min(P, S_k) or h·S_k (zero on engines without prefix caching).

Work, as expectations over the distribution (each reduces to today's formula for one point, no cache):
- prefilled tokens per request S̄_p = E[S − c];
- the mean attention context of a prefilled token E[(S − c)(S + c + 1)/2] / E[S − c] (new tokens attend
  to the cached prefix too);
- the mean context of a decoding request, length-biased by its output: E[S] + E[O²] / (2·E[O]);
- KV: a request is admitted with E[S] − s·P̄ + f·E[O²]/E[O] tokens (f the engine's admission output
  fraction, P̄ = E[min(P, S)]) and a shared prefix takes P tokens once per attention group, unless
  holding the prefix per request admits more (few carriers; `memory_plan`); a hit rate sets no memory
  aside (its blocks live in the free pool). The request that must fit alone is the longest prompt with
  the longest output.

Latency percentiles of the mix (the p99 TTFT of a mix is not the TTFT of the mean). At the load state
of the mean (arrivals per iteration x, iteration τ, chunk budget), a prompt of class k has a fixed part
d_k = engine overhead + p·τ·P(busy) + its own prefill service(S_k − c_k), and all classes share one
random wait W: the prefill queue is M/G/1 with service D_k = (S_k − c_k)/chunk·τ_C, so its mean wait is
Pollaczek–Khinchine's λ·E[D²]/(2(1 − ρ)) (the spread of prompt lengths lengthens it), plus the batch-slot
queue. Each queue's wait is 0 with probability 1 − P_q and exponential beyond, as in `serving`; their
quantiles add, so P(W > w) is the inverse of w(u) = Σ_{q: P_q > u} (W_q/P_q)·ln(P_q/u). The p-quantile
of the mix is the t solving Σ_k π_k·P(W > t − d_k) = 1 − p, found by bisection.
Approximations: classes see the same queue (no priority by length), TTFT and E2E tails add quantiles
as the single-class model does, and a request with output O_j meets N ~ Poisson(x·(O_j − 1)) prefills
while it decodes, so its decode time is (O_j − 1)·τ + z·√(x·(O_j − 1)·E[D²]). The tests compare the
TTFT mixture against a discrete-event simulation of the prefill queue.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from solver.perf import memory as mem

MIX_BISECTION_STEPS = 30
"""Bisection steps of a mixture quantile: 2^-30 of the bracket (a wait's p99.99 bound), sub-µs."""


@dataclass(frozen=True)
class LengthMix:
    """One workload's lengths and prefix cache (hashable: one object per workload, shared by its rows)."""

    inputs: tuple[tuple[float, float], ...]
    """(prompt tokens, probability) points."""
    outputs: tuple[tuple[float, float], ...]
    prefix_tokens: float = 0.0
    """A shared prefix pinned in the cache (tokens)."""
    prefix_share: float = 0.0
    """Share of requests that carry the shared prefix."""
    hit_rate: float = 0.0
    """Share of prompt tokens found in the cache (the prefix-free form)."""

    @property
    def caches(self) -> bool:
        return self.prefix_share * self.prefix_tokens > 0 or self.hit_rate > 0

    @property
    def trivial(self) -> bool:
        """One prompt length, one output length, nothing cached: today's single-point model."""
        return len(self.inputs) == 1 and len(self.outputs) == 1 and not self.caches


@dataclass
class MixArrays:
    """Per-row arrays of a LengthMix column: K prompt points, J output points (padded with π = 0)."""

    S: np.ndarray
    pi: np.ndarray
    c: np.ndarray
    """Cached tokens per prompt point."""
    O: np.ndarray  # noqa: E741 (output lengths, named as in the docstrings)
    omega: np.ndarray
    pinned: np.ndarray
    """Prefix tokens pinned once per attention group."""

    @classmethod
    def build(cls, mixes, prefix_ok) -> MixArrays:
        """From one LengthMix per row; `prefix_ok[i]`: the row's engine serves cached prefixes."""
        # Rows share few distinct mixes (one per workload): build each once, then index.
        distinct: dict = {}
        codes = np.array([distinct.setdefault((m, bool(ok)), len(distinct)) for m, ok in zip(mixes, prefix_ok,
                                                                                            strict=True)])
        if len(distinct) < len(mixes):
            one = cls.build([m for m, _ in distinct], [ok for _, ok in distinct])
            return cls(*(getattr(one, f)[codes] for f in ("S", "pi", "c", "O", "omega", "pinned")))
        n = len(mixes)
        K = max(len(m.inputs) for m in mixes)
        J = max(len(m.outputs) for m in mixes)
        S, pi, c = np.ones((n, K)), np.zeros((n, K)), np.zeros((n, K))
        O, om, pinned = np.ones((n, J)), np.zeros((n, J)), np.zeros(n)  # noqa: E741
        for i, m in enumerate(mixes):
            s = np.array([t for t, _ in m.inputs])
            S[i, :len(s)] = s
            S[i, len(s):] = s[-1]
            pi[i, :len(s)] = [w for _, w in m.inputs]
            o = np.array([t for t, _ in m.outputs])
            O[i, :len(o)] = o
            O[i, len(o):] = o[-1]
            om[i, :len(o)] = [w for _, w in m.outputs]
            if prefix_ok[i]:
                c[i, :len(s)] = m.prefix_share * np.minimum(m.prefix_tokens, s) + m.hit_rate * s
                pinned[i] = m.prefix_tokens if m.prefix_share > 0 else 0.0
        pi /= pi.sum(axis=1, keepdims=True)
        om /= om.sum(axis=1, keepdims=True)
        return cls(S, pi, c, O, om, pinned)

    def take(self, sel) -> MixArrays:
        return MixArrays(*(getattr(self, f)[sel] for f in ("S", "pi", "c", "O", "omega", "pinned")))

    # -- expectations -----------------------------------------------------------------------------
    def mean_input(self):
        return (self.S * self.pi).sum(1)

    def mean_output(self):
        return (self.O * self.omega).sum(1)

    def prefill_tokens(self):
        """E[S − c]: tokens each request prefills."""
        return ((self.S - self.c) * self.pi).sum(1)

    def prefill_ctx(self):
        """E[(S − c)(S + c + 1)/2] / E[S − c]: mean context a prefilled token attends over."""
        new = self.S - self.c
        return ((new * (self.S + self.c + 1.0) / 2.0) * self.pi).sum(1) / np.maximum(self.prefill_tokens(), 1e-9)

    def output_ratio(self):
        """E[O²]/E[O]: the output length a resident request has, length-biased."""
        return (self.O * self.O * self.omega).sum(1) / self.mean_output()

    def decode_ctx(self):
        return self.mean_input() + self.output_ratio() / 2.0

    def shared_cached(self):
        """Cached tokens held in the pinned prefix rather than in each request (E[min(P, S)]·s)."""
        return np.where(self.pinned > 0, (self.c * self.pi).sum(1), 0.0)


def memory_plan(rows, plan: mem.MemoryPlan, arrays: MixArrays, max_batch) -> mem.MemoryPlan:
    """`plan` (of the means) with KV admission, residency and the longest request taken from the mix.

    A shared prefix is held once (P tokens out of the pool) and each request holds the rest of its
    prompt; engines reference-count cached blocks, so a prefix whose carriers are too few to repay its
    copy costs no more than holding it per request: of the two accountings, the one admitting more
    requests is used (so more sharing never admits fewer)."""
    g, rt = rows.geometry, rows.runtime
    tp, pp, ep, beta_kv = rows.tp, rows.pp, rows.ep, rows.kv_bytes_per_element

    def kv(tokens):
        return mem.kv_bytes_per_request(g, beta_kv, tp, pp, tokens, rt.kv_window_capped)

    ratio = arrays.output_ratio()
    mb = np.where(np.isnan(max_batch), rt.max_batch_default, max_batch)

    def admitted(own, free):
        return ep * np.floor(np.maximum(free, 0) / kv(own + rt.kv_admission_output_fraction * ratio))

    own_plain = arrays.mean_input()
    own_shared = own_plain - arrays.shared_cached()
    free_shared = plan.kv_free_bytes - kv(arrays.pinned)
    shared = admitted(own_shared, free_shared) > admitted(own_plain, plan.kv_free_bytes)
    own = np.where(shared, own_shared, own_plain)
    free = np.where(shared, free_shared, plan.kv_free_bytes)
    longest = np.where(arrays.pi > 0, arrays.S, 0).max(1) + np.where(arrays.omega > 0, arrays.O, 0).max(1)
    return replace(
        plan, kv_free_bytes=free, kv_bytes_per_request_full=kv(longest),
        kv_bytes_per_request_mean=kv(own + ratio / 2.0),
        kv_cache_tokens=ep * np.maximum(free, 0) / kv(1.0),
        batch_max=np.minimum(np.minimum(mb, admitted(own, free)), rt.max_num_tokens))


# -- the wait's tail and the mixture quantile -----------------------------------------------------
class WaitTail:
    """P(W > w) for the summed wait of queues [(mean W_q, P_q)], each 0 w.p. 1 − P_q, else exponential,
    their quantiles added: the inverse of w(u) = Σ_{P_q > u} (W_q/P_q)·ln(P_q/u); 1 for w < 0.
    Parameters per row are prepared once; `survival(w)` takes w of shape (n, K)."""

    def __init__(self, queues):
        (w1, p1), (w2, p2) = ((np.asarray(w, float), np.asarray(p, float)) for w, p in queues)
        swap = p2 > p1
        self.hi_p = np.where(swap, p2, p1)[:, None]
        self.lo_p = np.where(swap, p1, p2)[:, None]
        a_hi = np.where(swap, w2, w1)[:, None] / np.maximum(self.hi_p, 1e-300)
        a_lo = np.where(swap, w1, w2)[:, None] / np.maximum(self.lo_p, 1e-300)
        self.inv_a_hi = 1.0 / np.maximum(a_hi, 1e-300)
        self.inv_a_sum = 1.0 / np.maximum(a_hi + a_lo, 1e-300)
        self.c = (a_hi * np.log(np.maximum(self.hi_p, 1e-300)) + a_lo * np.log(np.maximum(self.lo_p, 1e-300)))
        self.none = self.hi_p <= 1e-12
        self.span = (a_hi + a_lo)[:, 0]
        """Σ W_q/P_q: the wait's p-quantile is at most span·ln(1/(1−p)) ≤ 9.3·span for p ≤ 0.9999."""

    def survival(self, w) -> np.ndarray:
        with np.errstate(over="ignore", under="ignore"):
            one = self.hi_p * np.exp(-w * self.inv_a_hi)
            both = np.exp((self.c - w) * self.inv_a_sum)
        u = np.where(one >= self.lo_p, one, both)
        u = np.where(self.none, 0.0, u)
        return np.where(w < 0, 1.0, np.minimum(u, 1.0))


def wait_survival(w, queues) -> np.ndarray:
    """`WaitTail(queues).survival(w)` for one w per row (w of shape (n,) or (n, K))."""
    w = np.asarray(w, float)
    return WaitTail(queues).survival(w if w.ndim == 2 else w[:, None])


class MixtureQuantile:
    """The smallest t with Σ_k π_k·P(W > t − d_k) ≤ 1 − p, per row (offsets d, weights π: (n, K)).

    `value()` finds it by bisection between min d (where the sum is 1) and max d + the wait's own
    p-quantile bound (where it is ≤ 1 − p), to (that span)·2^−30, on first use; `within(limit)` tells
    whether it is at most `limit` from one evaluation of the sum at the limit (the sum falls as t grows),
    which is all an SLO check needs."""

    def __init__(self, offsets, weights, queues, p):
        self.tail = 1.0 - np.minimum(np.asarray(p, float), 0.9999)
        self.wt = WaitTail(queues)
        self.d = np.asarray(offsets, float)
        self.weights = weights
        self._value = None

    def _mass_above(self, t) -> np.ndarray:
        return (self.weights * self.wt.survival(t[:, None] - self.d)).sum(1)

    def within(self, limit) -> np.ndarray:
        limit = np.broadcast_to(np.asarray(limit, float), self.d.shape[:1])
        finite = np.isfinite(limit)
        return ~finite | (self._mass_above(np.where(finite, limit, 0.0)) <= self.tail)

    def value(self) -> np.ndarray:
        if self._value is None:
            lo = self.d.min(1)
            hi = self.d.max(1) + 12.0 * np.maximum(self.wt.span, 1e-9) + 1e-9
            for _ in range(MIX_BISECTION_STEPS):
                mid = 0.5 * (lo + hi)
                ok = self._mass_above(mid) <= self.tail
                hi = np.where(ok, mid, hi)
                lo = np.where(ok, lo, mid)
            self._value = hi
        return self._value


def mixture_quantile(offsets, weights, queues, p) -> np.ndarray:
    """`MixtureQuantile(...).value()`."""
    return MixtureQuantile(offsets, weights, queues, p).value()


def pk_wait(lam, service, weights, others=1.0):
    """M/G/1 prefill queue: (mean wait λE[D²]/(2(1−ρ)), P(wait) = ρ), ρ = λE[D] capped as in `serving`."""
    from solver.perf.serving import RHO_CAP

    e1 = (service * weights).sum(1)
    e2 = (service * service * weights).sum(1)
    rho = np.minimum(others * lam * e1, RHO_CAP)
    return others * lam * e2 / (2.0 * (1.0 - rho)), rho


@dataclass
class MixPoint:
    ttft_mean: np.ndarray
    ttft_p: MixtureQuantile
    tpot_p: np.ndarray
    e2e_p: MixtureQuantile
    queueing_s: np.ndarray
    service_mean: np.ndarray


def bucket_prefill_steps(sv, arrays: MixArrays, n_other) -> list[tuple]:
    """`step_time` arguments (n_dec, ctx_dec, n_pf, pf_ctx, prompt) of one prompt of each bucket k,
    prefilled next to the n_other requests decoding (for `Serving._step_times`)."""
    new = arrays.S - arrays.c
    ctx_k = (new + 2 * arrays.c + 1.0) / 2.0
    return [(n_other, sv.ctx, new[:, k], ctx_k[:, k], new[:, k]) for k in range(new.shape[1])]


def mix_point(sv, arrays: MixArrays, *, x, tau, tau_d, tau_s, chunk, tau_c, busy, lam, others,
              queue_slots) -> MixPoint:
    """TTFT (mean, p), TPOT p and E2E p of the mix at the load state of `Serving.point` (module docstring);
    tau_s: (n, K), the step prefilling one prompt of each bucket (`bucket_prefill_steps`)."""
    rows = sv.rows
    new = arrays.S - arrays.c
    service = (np.ceil(new / chunk[:, None]) - 1.0) * tau_d[:, None] + tau_s
    D = new / chunk[:, None] * tau_c[:, None]
    w_pf, p_pf = pk_wait(lam, D, arrays.pi, others)
    w_slot, p_slot = sv._slot_queue(lam, queue_slots)
    queues = [(w_pf, p_pf), (w_slot, p_slot)]
    over = rows.runtime.ttft_overhead_s
    fixed = over + busy * np.minimum(sv.p, 1.0) * tau
    d = fixed[:, None] + service
    ttft_p = MixtureQuantile(d, arrays.pi, queues, sv.p)
    ed2 = (D * D * arrays.pi).sum(1)
    ttft_mean = over + 0.5 * busy * tau + (service * arrays.pi).sum(1) + w_pf + w_slot
    o1 = np.maximum(arrays.O - 1.0, 1.0)
    decode = o1 * tau[:, None] + sv.z[:, None] * np.sqrt(others * x[:, None] * o1 * ed2[:, None])
    e2e_off = (d[:, :, None] + decode[:, None, :]).reshape(len(x), -1)
    e2e_w = (arrays.pi[:, :, None] * arrays.omega[:, None, :]).reshape(len(x), -1)
    e2e_p = MixtureQuantile(e2e_off, e2e_w, queues, sv.p)  # K·J points: solved only when an E2E figure is read
    mean_o1 = np.maximum((arrays.O * arrays.omega).sum(1) - 1.0, 1.0)
    tpot_p = tau + sv.z * np.sqrt(others * x * mean_o1 * ed2) / mean_o1
    return MixPoint(ttft_mean, ttft_p, tpot_p, e2e_p, w_pf + w_slot, (service * arrays.pi).sum(1))
