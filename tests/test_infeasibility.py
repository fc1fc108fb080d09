"""Every way a problem can be infeasible: exit 2, the explanation names the cause AND the nearest
feasible value, and that value really is feasible (the test re-solves with it).

Classes: no accelerator has the memory; TTFT, TPOT and end-to-end SLOs below the physical floor;
budget too small; inventory too small (per accelerator and per offer); a quantization no allowed
engine runs; fleet filters that leave no offer; several workloads at once.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def chat(**extra) -> dict:
    body = {"name": "chat", "model": "llama-3.1-8b", "traffic": {"requests_per_s": 5}, "input_tokens": 4000,
            "output_tokens": 200, "slo": {"ttft_ms": 2000, "tpot_ms": 50}}
    for key, value in extra.items():
        body[key] = {**body[key], **value} if isinstance(value, dict) and isinstance(body.get(key), dict) else value
    return body


SOLVER = {"max_batch_options": [16, 64], "workers": 1, "time_limit_s": 10}


@pytest.fixture
def solve(cli, tiny, tmp_path):
    counter = iter(range(1000))

    def run(body: dict):
        path = tmp_path / f"problem{next(counter)}.yaml"
        path.write_text(yaml.safe_dump({"solver": SOLVER, **body}))
        return cli("solve", path)

    return run


def infeasible(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "infeasible: no deployment meets the problem's requirements"
    return "\n".join(lines[1:])


def number_after(text: str, words: str) -> float:
    match = re.search(re.escape(words) + r" ([0-9][0-9.,]*)", text)
    assert match, f"no number after {words!r} in:\n{text}"
    return float(match.group(1).replace(",", "").rstrip("."))


@pytest.mark.parametrize(("slo", "words"), [
    ({"ttft_ms": 1}, "TTFT SLO blocks it: no configuration serves at p99 TTFT <= 1 ms"),
    ({"tpot_ms": 0.5}, "TPOT SLO blocks it: no configuration serves at p99 TPOT <= 0.5 ms"),
    ({"e2e_ms": 100}, "end-to-end SLO blocks it: no configuration serves at p99 end-to-end <= 100 ms"),
])
def test_slo_below_the_physical_floor_names_the_nearest_feasible_slo(solve, slo, words):
    key = next(iter(slo))
    body = {"workloads": [chat(slo={"ttft_ms": None, "tpot_ms": None, **slo})]}
    body["workloads"][0]["slo"] = {k: v for k, v in body["workloads"][0]["slo"].items() if v is not None}
    text = infeasible(solve(body))
    assert "workload 'chat' (llama-3.1-8b)" in text
    assert words in text, text
    nearest = number_after(text, f"loosen slo.{key} to at least")
    assert nearest > slo[key]
    assert f"the nearest feasible value is {nearest:g} ms" in text
    # The value named is feasible: the same problem with it solves ...
    body["workloads"][0]["slo"][key] = nearest
    result = solve(body)
    assert result.exit_code == 0, result.stderr
    # ... and it is the nearest: 15 % tighter is still infeasible.
    body["workloads"][0]["slo"][key] = round(nearest * 0.85, 2)
    assert solve(body).exit_code == 2


def test_slo_floor_with_the_other_slos_untouched(solve):
    """TTFT too tight while TPOT is fine: only TTFT is named."""
    text = infeasible(solve({"workloads": [chat(slo={"ttft_ms": 2})]}))
    assert "TTFT SLO blocks it" in text and "TPOT SLO" not in text


def test_no_accelerator_has_the_memory_names_the_footprint(solve):
    body = {"workloads": [chat(model="llama-3.1-405b", quantizations=["bf16"], slo={})],
            "fleet": {"accelerators": ["small-24gb"]}}
    text = infeasible(solve(body))
    assert "memory blocks it" in text, text
    need = number_after(text, "the smallest footprint is")
    assert need > 24
    assert "the largest allowed accelerator has 24 GB" in text
    assert "Allow larger accelerators" in text
    # The nearest feasible fleet: an accelerator with that much memory across a replica (H100, 80 GB).
    body["fleet"] = {"accelerators": ["small-24gb", "h100-sxm"]}
    result = solve(body)
    assert result.exit_code == 0, result.stderr


def test_budget_too_small_names_the_minimum_budget(solve):
    body = {"workloads": [chat()], "fleet": {"budget_usd_per_hour": 0.5}}
    text = infeasible(solve(body))
    assert "budget blocks it" in text
    need = number_after(text, "raise fleet.budget_usd_per_hour to at least")
    assert need > 0.5
    body["fleet"]["budget_usd_per_hour"] = need
    result = solve(body)
    assert result.exit_code == 0, result.stderr
    body["fleet"]["budget_usd_per_hour"] = round(need * 0.97, 2)
    assert solve(body).exit_code == 2  # and it is the nearest: a few percent less is infeasible


@pytest.mark.parametrize(("fleet", "unit"), [
    ({"accelerators": ["h100-sxm"], "inventory": [{"accelerator": "h100-sxm", "max_gpus": 2}]}, "GPUs"),
    ({"offers": ["cloud-h100-x1"], "inventory": [{"offer": "cloud-h100-x1", "max_instances": 2}]}, "instances"),
])
def test_inventory_too_small_names_the_needed_count(solve, fleet, unit):
    body = {"workloads": [chat(traffic={"requests_per_s": 200}, input_tokens=1000)], "fleet": copy.deepcopy(fleet)}
    text = infeasible(solve(body))
    assert "inventory blocks it" in text
    needed = int(number_after(text, "needs"))
    assert f"needs {needed} {unit}, cap 2" in text
    assert "Without caps it would cost" in text
    cap = body["fleet"]["inventory"][0]
    cap["max_gpus" if "max_gpus" in cap else "max_instances"] = needed
    result = solve(body)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(("quant", "fleet", "runs"), [
    ("fp4", {}, "vllm on hopper: bf16, fp8, int4"),
    ("fp8", {"accelerators": ["a100-80gb-sxm"]}, "vllm on ampere: bf16, int4"),
])
def test_quantization_no_allowed_engine_runs_names_what_they_do_run(solve, quant, fleet, runs):
    body = {"workloads": [chat(quantizations=[quant], engines=["vllm"])], "fleet": fleet}
    text = infeasible(solve(body))
    assert "engine support blocks it" in text
    assert f"vllm does not run {quant} weights" in text
    assert runs in text, text
    body["workloads"][0]["quantizations"] = ["int4"]  # one the message lists
    result = solve(body)
    assert result.exit_code == 0, result.stderr


def test_fleet_filters_that_leave_no_offer_name_the_filter(solve):
    body = {"workloads": [chat()], "fleet": {"pricing_tiers": ["owned"]}}
    text = infeasible(solve(body))
    assert "no offer passes the fleet filters" in text
    assert "without fleet.pricing_tiers 4 offers would pass" in text, text
    body = {"workloads": [chat()], "fleet": {"providers": ["othercloud"], "regions": ["us-east-1"]}}
    text = infeasible(solve(body))
    assert "without fleet.providers" in text and "without fleet.regions" in text, text


def test_every_infeasible_workload_is_explained(solve):
    body = {"workloads": [chat(name="fast", slo={"ttft_ms": 1}), chat(name="ok"),
                          chat(name="huge", model="llama-3.1-405b", quantizations=["bf16"])],
            "fleet": {"accelerators": ["small-24gb", "a100-80gb-sxm"]}}
    text = infeasible(solve(body))
    assert "workload 'fast'" in text and "TTFT SLO blocks it" in text
    assert "workload 'ok'" not in text
    assert "workload 'huge'" in text


def test_infeasible_with_json_still_exits_2_and_explains_on_stderr(cli, tiny, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"workloads": [chat(slo={"tpot_ms": 0.5})], "solver": SOLVER}))
    result = cli("solve", path, "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "TPOT SLO blocks it" in result.stderr


@pytest.mark.parametrize("key", ["ttft_ms", "tpot_ms"])
def test_the_nearest_feasible_slo_is_stable_and_exact_on_its_grid(solve, key):
    """Bisection on the real model: two different infeasible limits get the same suggestion, the
    suggestion solves and one grid step tighter (1 ms TTFT, 0.1 ms TPOT) does not."""
    step = {"ttft_ms": 1.0, "tpot_ms": 0.1}[key]
    suggestions = []
    for limit in ({"ttft_ms": 1, "tpot_ms": 0.5}[key], {"ttft_ms": 3, "tpot_ms": 0.9}[key]):
        body = {"workloads": [chat(slo={"ttft_ms": None, "tpot_ms": None})]}
        body["workloads"][0]["slo"] = {key: limit}
        suggestions.append(number_after(infeasible(solve(body)), f"loosen slo.{key} to at least"))
    assert suggestions[0] == suggestions[1]
    body["workloads"][0]["slo"] = {key: suggestions[0]}
    assert solve(body).exit_code == 0
    body["workloads"][0]["slo"] = {key: round(suggestions[0] - step, 6)}
    assert solve(body).exit_code == 2
