"""End to end through the CLI: every example problem solves to a checked optimum; infeasible problems
are explained in domain terms; the JSON is deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = sorted((ROOT / "problems").glob("*.yaml"))


@pytest.mark.parametrize("path", PROBLEMS, ids=[p.stem for p in PROBLEMS])
def test_every_example_problem_solves_to_optimal(cli, path):
    result = cli("solve", path, "--json", "--time-limit", "60")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "optimal"
    assert out["violations"] == []
    assert out["usd_per_hour"] > 0
    assert out["gap"] == 0
    for w in out["workloads"]:
        for c in w["configs"]:
            slo = w["slo"]
            if slo["ttft_ms"] is not None:
                assert c["ttft_ms"] <= slo["ttft_ms"] * (1 + 1e-9)
            if slo["tpot_ms"] is not None:
                assert c["tpot_ms"] <= slo["tpot_ms"] * (1 + 1e-9)
            assert c["launch_command"]


def write_problem(tmp_path: Path, body: dict) -> Path:
    path = tmp_path / "problem.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def chat(**slo) -> dict:
    return {"name": "chat", "model": "llama-3.1-8b", "traffic": {"requests_per_s": 5}, "input_tokens": 1000,
            "output_tokens": 200, "slo": {"ttft_ms": 1000, "tpot_ms": 50, "percentile": 99, **slo}}


def test_json_is_identical_across_runs_and_worker_counts(cli, tmp_path):
    path = write_problem(tmp_path, {"workloads": [chat()], "fleet": {"accelerators": ["h100-sxm", "l40s", "a10g"]}})
    outputs = {cli("solve", path, "--json", "--workers", str(n)).stdout for n in (1, 8, 8, 2)}
    assert len(outputs) == 1


def test_tpot_below_the_physical_floor_is_explained(cli, tmp_path):
    path = write_problem(tmp_path, {"workloads": [chat(tpot_ms=0.5)]})
    result = cli("solve", path)
    assert result.exit_code == 2
    assert "TPOT SLO blocks it" in result.stderr
    assert "loosen slo.tpot_ms to at least" in result.stderr


def test_no_accelerator_with_enough_memory_is_explained(cli, tmp_path):
    wl = chat() | {"model": "llama-3.1-405b", "quantizations": ["bf16"]}
    path = write_problem(tmp_path, {"workloads": [wl], "fleet": {"accelerators": ["a10g"]}})
    result = cli("solve", path)
    assert result.exit_code == 2
    assert "memory" in result.stderr


def test_budget_too_small_names_the_minimum(cli, tmp_path):
    path = write_problem(tmp_path, {"workloads": [chat()], "fleet": {"budget_usd_per_hour": 0.01}})
    result = cli("solve", path)
    assert result.exit_code == 2
    assert "budget blocks it" in result.stderr
    assert "raise fleet.budget_usd_per_hour to at least" in result.stderr


def test_inventory_too_small_names_the_cap(cli, tmp_path):
    wl = chat() | {"traffic": {"requests_per_s": 200}}
    path = write_problem(tmp_path, {"workloads": [wl], "fleet": {
        "accelerators": ["h100-sxm"], "inventory": [{"accelerator": "h100-sxm", "max_gpus": 1}]}})
    result = cli("solve", path)
    assert result.exit_code == 2
    assert "inventory blocks it" in result.stderr


def test_quantization_no_allowed_engine_supports_is_explained(cli, tmp_path):
    wl = chat() | {"quantizations": ["fp4"], "engines": ["vllm"]}
    path = write_problem(tmp_path, {"workloads": [wl], "fleet": {"accelerators": ["a100-80gb-sxm"]}})
    result = cli("solve", path)
    assert result.exit_code == 2
    assert "engine" in result.stderr


def test_csv_and_plot_outputs(cli, tmp_path):
    path = ROOT / "problems" / "coding-assistant-daily.yaml"
    result = cli("solve", path, "--csv", tmp_path / "out.csv", "--plot", tmp_path / "schedule.png")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "schedule.png").stat().st_size > 1000
    assert "workload" in (tmp_path / "out.csv").read_text().splitlines()[0]
    assert "Replicas per slot" in result.stdout
