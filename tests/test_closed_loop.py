"""Closed loop: the queue for a batch slot beyond the running batch, and the start-up burst."""

from __future__ import annotations

import pytest

from solver.catalog.loader import load_catalog
from solver.perf.estimate import estimate

KW = dict(isl=2000, osl=200, tp=1, pp=1, quant="fp8", kv_quant="fp8", engine="vllm", mode="concurrency")


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _at(catalog, n, **kw):
    return estimate("llama-3.1-8b", "h100-sxm", 1, mode_value=n, catalog=catalog, **{**KW, **kw})


def test_ttft_grows_once_concurrency_exceeds_the_running_batch(catalog):
    b = 16
    below = [_at(catalog, n, max_batch=b)["ttft_ms"] for n in (b // 2, b)]
    above = [_at(catalog, n, max_batch=b)["ttft_ms"] for n in (2 * b, 4 * b)]
    # Beyond B_max the extra clients wait (N − B_max)/λ_sat for a slot: TTFT jumps and keeps growing,
    # while throughput stays at saturation.
    assert above[0] > 2 * below[1] and above[1] > above[0]
    sat = _at(catalog, 2 * b, max_batch=b)
    lam_sat = sat["requests_per_s"]
    wait_ms = (4 * b - 2 * b) / lam_sat * 1e3
    assert above[1] - above[0] == pytest.approx(wait_ms, rel=0.02)
    assert _at(catalog, 4 * b, max_batch=b)["output_tokens_per_s"] == pytest.approx(sat["output_tokens_per_s"])


def test_burst_of_one_client_is_the_steady_loop(catalog):
    one = _at(catalog, 1)
    assert _at(catalog, 1, closed_loop="burst")["ttft_ms"] == pytest.approx(one["ttft_ms"])


def test_burst_adds_half_a_wave_of_prefill(catalog):
    # N clients at t = 0: the k-th prompt waits (k − 1)/N of the wave's prefill T_N beyond its own share,
    # on average T_N·(N − 1)/(2N). T_N is the prefill of a static batch of N (its TTFT minus the overhead).
    n = 8
    wave = estimate("llama-3.1-8b", "h100-sxm", 1, mode="static_batch", mode_value=n, catalog=catalog,
                    **{k: v for k, v in KW.items() if k != "mode"})
    t_n = wave["breakdown"]["ttft_ms"]["prefill"]
    steady, burst = _at(catalog, n), _at(catalog, n, closed_loop="burst")
    expected_wait_ms = t_n * (n - 1) / (2 * n)
    # Same running batch and TPOT: the burst adds its wait to TTFT (Little's law then lowers the rate).
    assert burst["ttft_ms"] - steady["ttft_ms"] == pytest.approx(expected_wait_ms, rel=0.15)
    assert burst["requests_per_s"] < steady["requests_per_s"]


def test_burst_ttft_grows_with_concurrency(catalog):
    ttft = [_at(catalog, n, closed_loop="burst")["ttft_ms"] for n in (1, 4, 16, 64)]
    assert ttft == sorted(ttft) and ttft[-1] > 4 * ttft[1]


def test_unknown_closed_loop_is_a_clear_error(catalog):
    from solver.errors import EstimateError

    with pytest.raises(EstimateError, match="closed_loop: unknown 'bursty'; one of steady, burst"):
        _at(catalog, 4, closed_loop="bursty")
