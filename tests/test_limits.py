"""Numeric limits, huge inputs and time limits: caught before the solver with a located message, or
solved with bounded time and memory; a time limit returns the best plan found, labelled, never hangs."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def chat(name: str = "chat", rate: float = 5, **extra) -> dict:
    return {"name": name, "model": "llama-3.1-8b", "traffic": {"requests_per_s": rate}, "input_tokens": 1000,
            "output_tokens": 200, "slo": {"ttft_ms": 2000, "tpot_ms": 50}, **extra}


SOLVER = {"max_batch_options": [16, 64], "workers": 1}


def write(tmp_path: Path, body: dict, name: str = "problem.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body))
    return path


def first_error(result) -> str:
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[0]


# --- Malicious or pathological YAML -------------------------------------------------------------

def alias_bomb(levels: int = 9) -> str:
    """'Billion laughs': nine nested lists of nine aliases expand to 9**9 = 387 million strings."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nworkloads: *a{levels - 1}\n"


@pytest.mark.parametrize("command", [("solve",), ("catalog", "validate")])
def test_yaml_alias_bomb_is_refused_fast(cli, tiny, tmp_path, command):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    result = cli(*command, path)
    assert result.exit_code == 1
    line = first_error(result)
    assert line.startswith(f"{path}: line 1, column 1: "), line
    assert "anchors and aliases expand to more than 200,000 values" in line


def test_modest_aliases_still_work(cli, tiny, tmp_path):
    """Anchors are useful (one SLO block shared by workloads); only explosive expansion is refused."""
    path = tmp_path / "aliases.yaml"
    path.write_text(
        "workloads:\n"
        "  - {name: a, model: llama-3.1-8b, traffic: {requests_per_s: 5}, input_tokens: 1000, output_tokens: 200,\n"
        "     slo: &slo {ttft_ms: 2000, tpot_ms: 50}}\n"
        "  - {name: b, model: llama-3.1-8b, traffic: {requests_per_s: 5}, input_tokens: 1000, output_tokens: 200,\n"
        "     slo: *slo}\n"
        "solver: {max_batch_options: [16, 64], workers: 1}\n")
    result = cli("solve", path, "--json")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("text", ["[" * 20_000 + "]" * 20_000, "a:\n" + "".join(" " * i + "- \n" for i in range(3000)),
                                  "x: " + "9" * 100_000, "workloads:\n" + "  - a\n" * 50_000])
def test_pathological_yaml_gives_a_located_error(cli, tiny, tmp_path, text):
    path = tmp_path / "weird.yaml"
    path.write_text(text)
    for command in (("solve",), ("catalog", "validate")):
        result = cli(*command, path)
        assert result.exit_code == 1, result.stderr
        assert first_error(result).startswith(f"{path}: ")


# --- Values at and beyond the schema limits -----------------------------------------------------

@pytest.mark.parametrize(("mutate", "location", "words"), [
    (lambda p: p["workloads"][0]["traffic"].update(requests_per_s=1e8), "workloads[0].traffic.requests_per_s",
     "less than or equal to 10000000"),
    (lambda p: p["workloads"][0].update(input_tokens=10**12), "workloads[0].input_tokens", "less than or equal to"),
    (lambda p: p["workloads"][0].update(min_replicas=2**63), "workloads[0].min_replicas", "less than or equal to"),
    (lambda p: p["workloads"][0]["slo"].update(ttft_ms=1e300), "workloads[0].slo.ttft_ms", "less than or equal to"),
    (lambda p: p.update(fleet={"budget_usd_per_hour": 1e12}), "fleet.budget_usd_per_hour", "less than or equal to"),
    (lambda p: p.update(fleet={"config_fixed_usd_per_hour": 1e9}), "fleet.config_fixed_usd_per_hour",
     "less than or equal to"),
    (lambda p: p.update(fleet={"inventory": [{"offer": "cloud-h100-x1", "max_instances": 10**18}]}),
     "fleet.inventory[0].max_instances", "less than or equal to"),
    (lambda p: p["workloads"][0].update(traffic={"profile": [{"hours": 8760, "requests_per_s": 1}] * 2}),
     "workloads[0].traffic", "profile covers 17520 h; at most 8760 (one year)"),
    (lambda p: p["workloads"][0].update(traffic={"profile": [{"hours": 1, "requests_per_s": 1}] * 169}),
     "workloads[0].traffic.profile", "at most 168 items"),
    (lambda p: p.update(workloads=[chat(f"w{i}") for i in range(2001)]), "workloads",
     "2,001 workloads; at most 2,000"),
    (lambda p: p.update(solver={"time_limit_s": 1e12}), "solver.time_limit_s", "less than or equal to 86400"),
    (lambda p: p.update(solver={"workers": 10**6}), "solver.workers", "less than or equal to 64"),
    (lambda p: p["workloads"][0].update(max_scale_step=10**30), "workloads[0].max_scale_step",
     "less than or equal to 100000"),
    (lambda p: p["workloads"][0].update(input_tokens={"buckets": [{"tokens": 10, "weight": 1e300}]}),
     "workloads[0].input_tokens.buckets[0].weight", "less than or equal to"),
])
def test_values_beyond_the_limits_are_located(cli, tiny, tmp_path, mutate, location, words):
    body = {"workloads": [chat()], "solver": dict(SOLVER)}
    mutate(body)
    path = write(tmp_path, body)
    result = cli("solve", path)
    assert result.exit_code == 1, result.stderr
    line = first_error(result)
    assert line.startswith(f"{path}: {location}: "), line
    assert words in line, line


def test_every_money_limit_at_its_maximum_stays_within_exact_integers(cli, tiny, tmp_path):
    """A year-long profile with the largest budget and fixed cost the schema allows: the costs CP-SAT
    sees stay below 2**53 micro-USD (no 'too large to optimise' from solver.scaling)."""
    profile = [{"hours": 4380, "requests_per_s": 5}, {"hours": 4380, "requests_per_s": 1}]
    body = {"workloads": [chat(traffic={"profile": profile})],
            "fleet": {"budget_usd_per_hour": 1e6, "config_fixed_usd_per_hour": 1e5}, "solver": SOLVER}
    result = cli("solve", write(tmp_path, body), "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["horizon_hours"] == 8760
    assert out["status"] == "optimal" and out["violations"] == []


def test_extreme_but_valid_traffic_solves_with_thousands_of_replicas(cli, tiny, tmp_path):
    path = write(tmp_path, {"workloads": [chat(rate=1e5)], "solver": SOLVER})
    result = cli("solve", path, "--json", "--time-limit", "10")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["violations"] == []
    assert out["workloads"][0]["configs"][0]["replicas_peak"] > 1000


def _run_bounded(args: list[str], env: dict, timeout: float) -> tuple[subprocess.CompletedProcess | None, float]:
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "solver", *args], capture_output=True, text=True,
                              env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - start
    return proc, time.perf_counter() - start


def test_maximum_traffic_never_hangs(tiny, tmp_path):
    """1e6 req/s needs tens of thousands of replicas; checking their packing once took minutes."""
    path = write(tmp_path, {"workloads": [chat(rate=1e6)], "solver": SOLVER})
    env = {**os.environ, "TRILEMMA_CATALOG_DIR": str(tiny)}
    proc, _ = _run_bounded(["solve", str(path), "--json", "--time-limit", "5"], env, timeout=12)
    assert proc is not None, "solve did not finish within 12 s"
    assert proc.returncode in (0, 1, 2, 3) and "Traceback" not in proc.stderr


def test_hundreds_of_workloads_solve_with_bounded_time_and_memory(tiny, tmp_path):
    """A quarter of the largest problem the schema allows (2,000 workloads: ~60-90 s and 600 MB on two
    cores, nearly all of the time in the performance model, run once per workload, so CI runs 500),
    in a child process so its peak memory can be read."""
    body = {"workloads": [chat(f"w{i}", rate=1 + i % 7) for i in range(250)], "solver": SOLVER}
    path = write(tmp_path, body)
    env = {**os.environ, "TRILEMMA_CATALOG_DIR": str(tiny)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc, wall = _run_bounded(["solve", str(path), "--json", "--time-limit", "20"], env, timeout=120)
    assert proc is not None, "250 workloads did not finish within 120 s"
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert len(out["workloads"]) == 250 and out["violations"] == []
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if peak_mb > before / 1024:  # ru_maxrss of children is the largest child so far (KB on Linux)
        assert peak_mb < 1536, f"peak memory {peak_mb:.0f} MB"
    assert wall < 120


def test_candidate_row_bound_stops_huge_problems_before_evaluating(cli, tiny, tmp_path, monkeypatch):
    """The bound on evaluated rows (memory) is checked before the performance model runs."""
    import solver.optimize.candidates as candidates

    monkeypatch.setattr(candidates, "MAX_EVALUATED_ROWS", 50)
    path = write(tmp_path, {"workloads": [chat("a"), chat("b")], "solver": SOLVER})
    result = cli("solve", path)
    assert result.exit_code == 1
    line = first_error(result)
    assert "workloads[0]" in line and "more than 50 candidate configurations" in line, line


# --- Sweep grids ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("sweep", "location", "words"), [
    ({"tpot_ms": "60:20:5"}, "sweep.tpot_ms", "cannot read '60:20:5'; use start:stop:step"),
    ({"ttft_ms": "a,b"}, "sweep.ttft_ms", "cannot read 'a,b'"),
    ({"rate": [1, -2]}, "sweep.rate", "values must be finite and > 0"),
    ({"tpot_ms": "1:1e9:0.001"}, "sweep.tpot_ms", "has more than 2000 values"),
    ({"tpot_ms": "1:1e300:1e-300"}, "sweep.tpot_ms", "has more than 2000 values"),
    ({"tpot_ms": "1:inf:1"}, "sweep.tpot_ms", "cannot read"),
])
def test_bad_sweep_grid_in_the_problem_file_is_located(cli, tiny, tmp_path, sweep, location, words):
    """Reported at `sweep.tpot_ms` of the problem file (it used to say `sweep: --tpot-ms`), at load,
    by `solve` as well as `sweep`; a grid of 1e12 points is refused before it is built."""
    path = write(tmp_path, {"workloads": [chat()], "solver": SOLVER, "sweep": sweep})
    for command in ("solve", "sweep"):
        result = cli(command, path)
        assert result.exit_code == 1, result.stderr
        line = first_error(result)
        assert line.startswith(f"{path}: {location}: "), line
        assert words in line, line


def test_huge_sweep_grid_on_the_command_line_is_refused_fast(cli, tiny, tmp_path):
    path = write(tmp_path, {"workloads": [chat()], "solver": SOLVER})
    result = cli("sweep", path, "--tpot-ms", "1:1e9:0.001")
    assert result.exit_code == 1
    assert "--tpot-ms: '1:1e9:0.001' has more than 2000 values" in first_error(result)


# --- Time limits --------------------------------------------------------------------------------

def hard_problem(tmp_path: Path) -> Path:
    """Ten workloads with hourly profiles, reserved and on-demand tiers, a per-configuration fixed
    cost and up to three configurations each: CP-SAT finds plans within a second or two but needs
    far longer to prove one optimal."""
    import random

    rnd = random.Random(1)
    workloads = []
    for i in range(10):
        profile = [{"hours": 1, "requests_per_s": round(rnd.uniform(0.5, 40), 2)} for _ in range(24)]
        workloads.append({
            "name": f"w{i}", "model": "llama-3.1-8b", "traffic": {"profile": profile},
            "input_tokens": rnd.choice([500, 2000, 8000]), "output_tokens": rnd.choice([100, 400]),
            "slo": {"ttft_ms": rnd.choice([1000, 3000]), "tpot_ms": rnd.choice([30, 60])},
            "max_scale_step": 3, "spot_max_share": 0.3})
    for w in workloads:
        w.pop("max_scale_step")
    body = {"workloads": workloads,
            "fleet": {"pricing_tiers": ["on_demand", "reserved_1y"], "config_fixed_usd_per_hour": 2,
                      "inventory": [{"offer": "cloud-h100-x1", "max_instances": 150}]},
            "solver": {"max_batch_options": [16, 64], "max_configs_per_workload": 3, "workers": 2}}
    return write(tmp_path, body, "hard.yaml")


def test_time_limit_returns_the_best_plan_with_bound_and_gap(cli, tiny, tmp_path):
    path = hard_problem(tmp_path)
    start = time.perf_counter()
    result = cli("solve", path, "--json", "--time-limit", "2")
    wall = time.perf_counter() - start
    assert wall < 2 + 20, f"--time-limit 2 took {wall:.1f} s"
    assert result.exit_code in (0, 3), result.stderr
    if result.exit_code == 3:  # a very slow machine: no plan at all within 2 s
        assert "no feasible plan found within the 2 s time limit" in result.stderr
        return
    out = json.loads(result.stdout)
    assert out["violations"] == []
    if out["status"] == "feasible":
        assert 0 < out["gap"] <= 1
        assert out["best_bound_usd_per_hour"] <= out["usd_per_hour"]
    else:  # a very fast machine proved it
        assert out["status"] == "optimal" and out["gap"] == 0


def test_time_limit_is_labelled_in_the_table(cli, tiny, tmp_path):
    result = cli("solve", hard_problem(tmp_path), "--time-limit", "2")
    assert result.exit_code in (0, 3), result.stderr
    if result.exit_code == 0:
        status = result.stdout.splitlines()[0]
        assert status.startswith("Status: ")
        if "feasible" in status.split(";")[0] and "optimal" not in status.split("(")[0]:
            assert "NOT proven optimal (time limit)" in status
            assert "bound" in status and "gap" in status


def test_a_time_limit_shorter_than_preparing_still_gives_a_plan_or_exits_3(cli, tiny, tmp_path):
    """The limit counts the whole run; CP-SAT still gets MIN_SOLVER_S, and the greedy plan stands when it
    finds nothing. Without any plan the exit is 3 with the advice to raise the limit."""
    result = cli("solve", hard_problem(tmp_path), "--time-limit", "0.000001", "--json")
    if result.exit_code == 3:
        assert "no feasible plan found within the 1e-06 s time limit" in result.stderr
        assert "raise --time-limit" in result.stderr
    else:
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["status"] in ("optimal", "feasible")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "abc"])
def test_bad_time_limit_on_the_command_line(cli, tiny, tmp_path, value):
    path = write(tmp_path, {"workloads": [chat()], "solver": SOLVER})
    result = cli("solve", path, "--time-limit", value)
    assert result.exit_code == 1, (value, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "--time-limit" in result.stderr or "time" in result.stderr.lower()


@pytest.mark.parametrize("value", ["-3", "100000"])
def test_bad_worker_count_on_the_command_line(cli, tiny, tmp_path, value):
    path = write(tmp_path, {"workloads": [chat()], "solver": SOLVER})
    result = cli("solve", path, "--workers", value)
    assert result.exit_code == 1, (value, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
