"""The same problem gives byte-identical output: across runs, CP-SAT worker counts, processes with
different string-hash seeds, and sweep job counts; errors and infeasibility explanations too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def fleet_problem() -> dict:
    """Several workloads sharing offers, an hourly profile, spot and reserved tiers, two configurations
    allowed per workload: many plans cost the same, so tie-breaking must be deterministic."""
    day = [{"hours": 6, "requests_per_s": r} for r in (2, 9, 12, 5)]
    return {
        "workloads": [
            {"name": "chat", "model": "llama-3.1-8b", "traffic": {"profile": day}, "input_tokens": 1000,
             "output_tokens": 200, "slo": {"ttft_ms": 2000, "tpot_ms": 50}, "spot_max_share": 0.5},
            {"name": "rag", "model": "llama-3.1-8b", "traffic": {"requests_per_s": 3}, "input_tokens": 6000,
             "output_tokens": 300, "slo": {"ttft_ms": 3000, "tpot_ms": 60}},
            {"name": "batch", "model": "llama-3.1-8b", "traffic": {"requests_per_s": 1}, "input_tokens": 500,
             "output_tokens": 500, "slo": {"e2e_ms": 60000}, "min_replicas": 2},
        ],
        "fleet": {"pricing_tiers": ["on_demand", "spot", "reserved_1y"], "config_fixed_usd_per_hour": 0.5},
        "solver": {"max_batch_options": [16, 64], "max_configs_per_workload": 2},
    }


@pytest.fixture
def problem(tmp_path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet_problem()))
    return path


def test_solve_json_is_byte_identical_across_runs_and_worker_counts(cli, tiny, problem):
    outputs = []
    for workers in (1, 2, 4, 8, 1, 8):
        result = cli("solve", problem, "--json", "--workers", workers, "--time-limit", "30")
        assert result.exit_code == 0, result.stderr
        outputs.append(result.stdout)
    assert '"status": "optimal"' in outputs[0]
    assert len(set(outputs)) == 1, "JSON differs between runs or worker counts"


def test_csv_is_byte_identical_across_worker_counts(cli, tiny, problem, tmp_path):
    texts = set()
    for workers in (1, 4):
        out = tmp_path / f"plan{workers}.csv"
        assert cli("solve", problem, "--csv", out, "--workers", workers).exit_code == 0
        texts.add(out.read_bytes())
    assert len(texts) == 1


def test_solve_json_is_identical_across_processes_with_different_hash_seeds(tiny, problem):
    """Set and dict iteration over strings depends on PYTHONHASHSEED; the output must not."""
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "TRILEMMA_CATALOG_DIR": str(tiny), "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-m", "solver", "solve", str(problem), "--json", "--workers", "2"],
                              capture_output=True, text=True, env=env, timeout=180)
        assert proc.returncode == 0, proc.stderr
        outputs.add(proc.stdout)
    assert len(outputs) == 1


def test_infeasibility_explanation_is_identical_across_runs_and_workers(cli, tiny, tmp_path):
    body = fleet_problem()
    body["fleet"]["budget_usd_per_hour"] = 1.0
    body["workloads"][1]["slo"]["ttft_ms"] = 2
    path = tmp_path / "infeasible.yaml"
    path.write_text(yaml.safe_dump(body))
    results = [cli("solve", path, "--workers", w) for w in (1, 4, 1)]
    assert {r.exit_code for r in results} == {2}
    assert len({r.stderr for r in results}) == 1


def test_bad_input_messages_are_identical_and_in_file_order(cli, tiny, tmp_path):
    body = fleet_problem()
    body["workloads"][0]["slo"]["tpot_ms"] = -1
    body["workloads"][2]["traffic"] = {"requests_per_s": "lots"}
    body["fleet"]["pricing_tiers"] = ["cheap"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    results = [cli("solve", path) for _ in range(3)]
    assert {r.exit_code for r in results} == {1}
    assert len({r.stderr for r in results}) == 1
    locations = [line.split(": ")[1] for line in results[0].stderr.splitlines()]
    assert locations == ["workloads[0].slo.tpot_ms", "workloads[2].traffic.requests_per_s",
                         "fleet.pricing_tiers[0]"], locations


def test_sweep_json_is_identical_across_job_counts(cli, tiny, tmp_path):
    body = fleet_problem()
    body["workloads"] = body["workloads"][1:2]
    body["fleet"] = {"pricing_tiers": ["on_demand"]}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(body))
    outputs = []
    for jobs in (1, 2, 1):
        result = cli("sweep", path, "--tpot-ms", "20,40,60", "--json", "--jobs", jobs)
        assert result.exit_code == 0, result.stderr
        outputs.append(result.stdout)
    assert len(set(outputs)) == 1
