"""Closed loop started as a burst: every client sends at t = 0.

A closed-loop benchmark (`--max-concurrency N` with every request issued at once, as vLLM's and SGLang's
`bench_serving.py` do) starts with N prompts arriving together. The steady closed loop of
`solver.perf.serving` spreads arrivals over the cycle; the burst does not.

Wave: n_w = min(N, B_max) prompts are admitted together and prefilled as n_w·S tokens in T_w (the
static batch's prefill, `Serving.static_steps`). With the prefill rate constant over the wave, the k-th
prompt gets its first token at k/n_w·T_w, so beyond its own share T_w/n_w it waits on average

    W_burst = (1/n_w)·Σ_k (k − 1)/n_w·T_w = T_w·(n_w − 1)/(2·n_w).

Lockstep: with a scheduler that prefills waiting prompts before it decodes (vLLM's V0 scheduler by
default, SGLang's prefill batches), no request decodes during the wave, so all N requests of a
fixed-length workload finish on the same iteration and send their next prompts together: every round is
a burst and every request waits W_burst. The cycle of a client becomes TTFT + W_burst + (O − 1)·TPOT,
and the operating point solves Little's law N = λ·(TTFT + W_burst + (O − 1)·TPOT).

`burst` applies this lockstep model; `steady` (the default) the spread-out closed loop.
"""

from __future__ import annotations

import numpy as np

from solver.perf.serving import Serving, closed_others

CLOSED_LOOP_STARTS = ("steady", "burst")


def burst_wait_s(base: Serving, n) -> np.ndarray:
    """W_burst (seconds) per row for N = n clients (module docstring)."""
    n = np.maximum(np.asarray(n, float), 1.0)
    n_w = np.minimum(n, base.b_max)
    prefill, _ = base.static_steps(n_w)
    return prefill.total_s * (n_w - 1.0) / (2.0 * n_w)


def burst_concurrency_x(base: Serving, n, wait_s) -> np.ndarray:
    """x of a lockstep closed loop of n clients: N = λ·(TTFT + W_burst + (O − 1)·TPOT), at most x_max."""
    n = np.asarray(n, float)
    wait_s = np.asarray(wait_s, float)
    return base.bisect(lambda pt: pt.lam * (pt.ttft_mean + wait_s + base.O1 * pt.tpot_mean) <= n,
                       queue_slots=False, others=closed_others(n))
