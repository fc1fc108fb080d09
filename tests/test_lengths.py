"""Length distributions: discretisation, the mixture percentile against a simulation, and the serving hook."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from solver.catalog.loader import load_catalog
from solver.errors import ProblemError
from solver.lengths import BIN_EDGES, Z99, lognormal_points, lognormal_sigma, quantile_points, sample_points
from solver.perf import evaluate_candidates
from solver.perf.lengths import LengthMix, mixture_quantile, pk_wait, wait_survival
from solver.problem import parse_problem


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


# -- discretisation --------------------------------------------------------------------------------
def test_lognormal_keeps_mean_and_p99():
    sigma = lognormal_sigma(800.0, 6000.0)
    mu = math.log(800.0) - sigma**2 / 2
    assert math.exp(mu + Z99 * sigma) == pytest.approx(6000.0)
    pts = lognormal_points(800.0, 6000.0)
    assert len(pts) == len(BIN_EDGES) - 1
    assert sum(w for _, w in pts) == pytest.approx(1.0)
    assert sum(t * w for t, w in pts) == pytest.approx(800.0, rel=1e-9)
    # The top 1 % bin sits above the p99 (its conditional mean), the bottom one below the median.
    assert pts[-2][0] > 6000.0 and pts[0][0] < 800.0


def test_lognormal_without_solution_is_a_clear_error():
    with pytest.raises(ValueError, match="at most"):
        lognormal_sigma(100.0, 5000.0)  # 50x the mean: no log-normal has it
    with pytest.raises(ValueError, match="must exceed"):
        lognormal_sigma(100.0, 90.0)


def test_quantiles_are_uniform_between_points():
    # 0..50 %: 100..300 tokens (mean 200); 50..100 %: 300..1100 (mean 700): overall 450.
    pts = quantile_points([(0, 100), (50, 300), (100, 1100)])
    assert pts == ((200.0, 0.5), (700.0, 0.5))


def test_sample_bins_keep_the_mean():
    values = np.arange(1, 1001, dtype=float)  # 1..1000, mean 500.5
    pts = sample_points(values)
    assert sum(t * w for t, w in pts) == pytest.approx(500.5)
    assert pts[0] == (pytest.approx(100.5), pytest.approx(0.2))  # the lowest 20 %: 1..200


def _problem(tmp_path, lengths: str, extra: str = "") -> str:
    p = tmp_path / "p.yaml"
    p.write_text(f"""
workloads:
  - name: w
    model: llama-3.1-8b
    traffic: {{requests_per_s: 1}}
    input_tokens: {lengths}
    output_tokens: 100
{extra}""")
    return str(p)


def test_csv_lengths_relative_to_the_problem_file(tmp_path):
    (tmp_path / "log.csv").write_text("input_tokens,output_tokens\n# exported\n100,10\n300,30\n")
    w = parse_problem(_problem(tmp_path, "{csv: log.csv}")).workloads[0]
    assert w.isl() == 200.0
    assert w.max_context() == 300 + 100


@pytest.mark.parametrize(("body", "message"), [
    ("input_tokens,output_tokens\n100,x\n", "row 2: expected two integers"),
    ("tokens\n100\n", "header 'input_tokens,output_tokens'"),
    ("input_tokens,output_tokens\n", "no requests"),
])
def test_bad_csv_is_located(tmp_path, body, message):
    (tmp_path / "log.csv").write_text(body)
    with pytest.raises(ProblemError) as err:
        parse_problem(_problem(tmp_path, "{csv: log.csv}"))
    issue = err.value.issues[0]
    assert issue.location == "workloads[0].input_tokens.csv" and message in issue.message


def test_lognormal_and_quantile_forms_validate(tmp_path):
    w = parse_problem(_problem(tmp_path, "{lognormal: {mean: 800, p99: 6000}}")).workloads[0]
    assert w.isl() == pytest.approx(800.0)
    with pytest.raises(ProblemError, match="quantiles must start at percentile 0"):
        parse_problem(_problem(tmp_path, "{quantiles: [{percentile: 10, tokens: 5}, {percentile: 100, tokens: 9}]}"))
    with pytest.raises(ProblemError, match="give exactly one of mean, buckets"):
        parse_problem(_problem(tmp_path, "{mean: 5, lognormal: {mean: 800, p99: 6000}}"))


# -- the mixture percentile against a discrete-event simulation ------------------------------------
def _fifo_sojourn(lam, service, weights, n, seed):
    """One FIFO server, Poisson arrivals, service D_k with probability π_k: time from arrival to done."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / lam, n))
    s = service[rng.choice(len(service), size=n, p=weights)]
    out = np.empty(n)
    free = 0.0
    for i in range(n):
        free = max(arrivals[i], free) + s[i]
        out[i] = free - arrivals[i]
    return out[n // 10:]  # drop the warm-up


@pytest.mark.parametrize(("lam", "service", "weights"), [
    (0.5, [0.1, 0.4, 2.0], [0.6, 0.3, 0.1]),
    (1.5, [0.05, 0.3, 1.2], [0.5, 0.35, 0.15]),
    (0.2, [0.2, 3.0], [0.8, 0.2]),
])
def test_mixture_percentiles_match_a_simulated_prefill_queue(lam, service, weights):
    """A prompt's TTFT part here is its wait in the prefill queue plus its own prefill. The mixture
    (offset d_k = D_k, a shared M/G/1 wait) is within 6 % of the simulation at p90 and p99; the
    TTFT of the mean prompt (M/D/1 at E[D]) misses the p99 by more than 2x."""
    D, pi = np.array(service), np.array(weights)
    sim = _fifo_sojourn(lam, D, pi, 200_000, seed=1)
    w, rho = pk_wait(np.array([lam]), D[None], pi[None])
    none = (np.zeros(1), np.zeros(1))
    for p in (0.9, 0.99):
        model = mixture_quantile(D[None], pi[None], [(w, rho), none], np.array([p]))[0]
        assert model == pytest.approx(np.quantile(sim, p), rel=0.06)
    d_mean = float(D @ pi)
    r = lam * d_mean
    w_mean = r * d_mean / (2 * (1 - r))
    of_mean = d_mean + w_mean / r * math.log(r / 0.01)
    assert np.quantile(sim, 0.99) > 1.4 * of_mean


def test_wait_tail_inverts_the_summed_quantiles():
    """P(W > w(u)) = u for the single-class rule w(u) = Σ (W_q/P_q)·ln(P_q/u) (serving._queues)."""
    w1, p1, w2, p2 = 0.3, 0.6, 0.05, 0.2
    for u in (0.5, 0.3, 0.1, 0.01):
        w = (w1 / p1) * math.log(p1 / u) + ((w2 / p2) * math.log(p2 / u) if p2 > u else 0.0)
        got = wait_survival(np.array([w]), [(np.array([w1]), np.array([p1])), (np.array([w2]), np.array([p2]))])
        assert float(got.ravel()[0]) == pytest.approx(u)


# -- the serving hook --------------------------------------------------------------------------------
def _row(**kw):
    base = {"model": "llama-3.1-8b", "accelerator": "h100-sxm", "engine": "vllm", "quant": "bf16",
            "kv_quant": "bf16", "tp": 1, "pp": 1, "ep": 1, "max_batch": 128, "isl": 1000.0, "osl": 200.0,
            "slo_ttft_ms": 1000.0, "slo_tpot_ms": 50.0, "slo_e2e_ms": np.nan, "percentile": 99.0}
    base.update(kw)
    return base


def test_one_point_mix_is_the_single_length_model(catalog):
    """A one-point distribution with nothing cached skips the hook: identical to no `lengths` column."""
    plain = evaluate_candidates(pd.DataFrame([_row()]), catalog)
    mixed = evaluate_candidates(pd.DataFrame([_row(lengths=LengthMix(((1000.0, 1.0),), ((200.0, 1.0),)))]), catalog)
    cols = ["capacity_rps", "ttft_ms", "tpot_ms", "e2e_ms", "kv_cache_tokens", "max_batch_effective"]
    pd.testing.assert_frame_equal(plain[cols], mixed[cols])


def test_spread_prompts_cost_capacity_at_the_same_mean(catalog):
    """Same mean prompt (1000 tokens), but 10 % of prompts are 5500 tokens: the p99 TTFT SLO binds sooner."""
    spread = LengthMix(((500.0, 0.9), (5500.0, 0.1)), ((200.0, 1.0),))
    rows = pd.DataFrame([_row(slo_tpot_ms=np.nan), _row(slo_tpot_ms=np.nan, lengths=spread)])
    out = evaluate_candidates(rows, catalog)
    assert out["fits"].all()
    assert out.loc[1, "capacity_rps"] < out.loc[0, "capacity_rps"]
    # At the same (light) load, the p99 TTFT of the mix is that of its long prompts, not of the mean.
    light = evaluate_candidates(rows.assign(slo_ttft_ms=np.nan, max_batch=1), catalog)
    assert light.loc[1, "ttft_floor_ms"] > 2 * light.loc[0, "ttft_floor_ms"]


def test_longest_request_must_fit(catalog):
    """The memory verdict uses the longest prompt with the longest output, not the means."""
    huge = LengthMix(((1000.0, 0.99), (120_000.0, 0.01)), ((200.0, 1.0),))
    # llama-3.1-8b in bf16 on a 24 GB L4 keeps a few GB of KV: a 2190-token mean fits, a 120k prompt does not.
    kw = {"accelerator": "l4", "isl": 2190.0, "slo_ttft_ms": np.nan, "slo_tpot_ms": np.nan}
    out = evaluate_candidates(pd.DataFrame([_row(lengths=huge, **kw)]), catalog)
    plain = evaluate_candidates(pd.DataFrame([_row(**kw)]), catalog)
    assert plain.loc[0, "fits"]
    assert not out.loc[0, "fits"] and out.loc[0, "pruned_reason"].startswith("memory")


# -- trilemma estimate with a distribution ------------------------------------------------------------------
def test_estimate_reports_percentiles_against_the_mean(cli):
    import json

    res = cli("estimate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm", "--isl-dist",
              "buckets:500x9,5500x1", "--osl", "200", "--rate", "5", "--json")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    spread = {(r["metric"], r["percentile"]): r for r in out["length_spread"]}
    assert set(spread) == {(m, p) for m in ("ttft", "e2e") for p in (50.0, 90.0, 99.0)}
    # The mean's column is the plain estimate at the same rate (isl = 0.9·500 + 0.1·5500 = 1000).
    assert spread[("ttft", 99.0)]["mean_ms"] == pytest.approx(out["ttft_p99_ms"], rel=1e-6)
    # The median prompt is short (faster than the mean's), the p99 one is a 5500-token prompt (slower).
    assert spread[("ttft", 50.0)]["ratio"] < 1 < spread[("ttft", 99.0)]["ratio"]


def test_estimate_bad_distribution_is_a_clear_error(cli):
    res = cli("estimate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm", "--isl-dist", "gamma:3",
              "--osl", "200", "--rate", "5")
    assert res.exit_code == 1
    assert "unknown form 'gamma'" in res.stderr and "lognormal:MEAN:P99" in res.stderr
