"""`trilemma estimate` and `trilemma validate` as a user runs them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from solver.cli import (
    app,
    commands,  # noqa: F401  (registers the commands)
)
from solver.perf import estimate
from solver.perf.calibrate import DEFAULT_CASES

REQUIRED_KEYS = {"fits", "reason", "tp", "pp", "ep", "replicas", "batch", "memory_gb_per_gpu", "ttft_ms", "tpot_ms",
                 "e2e_ms", "ttft_p99_ms", "tpot_p99_ms", "requests_per_s", "output_tokens_per_s",
                 "output_tokens_per_s_per_gpu"}


def test_estimate_json_with_cli_runner():
    res = CliRunner().invoke(app, ["estimate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm", "--gpus", "2",
                                   "--tp", "1", "--engine", "vllm", "--isl", "1000", "--osl", "200", "--rate", "4",
                                   "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert REQUIRED_KEYS <= set(out)
    assert out["fits"] and out["replicas"] == 2 and out["tp"] == 1
    assert out["requests_per_s"] == pytest.approx(4.0, rel=0.01)
    assert out["output_tokens_per_s"] == pytest.approx(800.0, rel=0.01)
    assert out["output_tokens_per_s_per_gpu"] == pytest.approx(400.0, rel=0.01)
    assert out["quant"] == "bf16"  # the checkpoint's native dtype
    assert out["ttft_p99_ms"] >= out["ttft_ms"] > 0 and out["tpot_p99_ms"] >= out["tpot_ms"] > 0


def test_estimate_chooses_parallelism_when_omitted(cli):
    r = cli("estimate", "--model", "llama-3.1-70b", "--accelerator", "h100-sxm", "--gpus", "8", "--engine",
            "trtllm", "--quant", "fp8", "--isl", "1000", "--osl", "1000", "--max-throughput", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["fits"] and out["tp"] * out["pp"] * out["ep"] * out["replicas"] <= 8
    assert out["output_tokens_per_s"] > 1000


def test_estimate_slo_mode_meets_the_slo(cli):
    r = cli("estimate", "--model", "qwen3-32b", "--accelerator", "h200-sxm", "--gpus", "4", "--tp", "2", "--pp", "1",
            "--isl", "2000", "--osl", "300", "--slo-ttft-ms", "1500", "--slo-tpot-ms", "40", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["fits"] and out["replicas"] == 2
    assert out["ttft_p99_ms"] <= 1500 * 1.001 and out["tpot_p99_ms"] <= 40 * 1.001


def test_estimate_quant_best_and_table_output(cli):
    r = cli("estimate", "--model", "llama-3.1-70b", "--accelerator", "b200", "--gpus", "1", "--engine", "trtllm",
            "--quant", "best", "--isl", "1000", "--osl", "1000", "--max-throughput")
    assert r.exit_code == 0, r.stderr
    assert "output_tokens_per_s" in r.stdout and "fp4" in r.stdout


def test_estimate_errors_exit_1(cli):
    r = cli("estimate", "--model", "no-such-model", "--accelerator", "h100-sxm", "--isl", "10", "--osl", "10",
            "--max-throughput")
    assert r.exit_code == 1 and "no-such-model" in r.stderr
    r = cli("estimate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm", "--isl", "10", "--osl", "10")
    assert r.exit_code == 1 and "exactly one mode" in r.stderr
    r = cli("estimate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm", "--isl", "10", "--osl", "10",
            "--rate", "1", "--concurrency", "2")
    assert r.exit_code == 1


def test_estimate_batch_keeps_order_and_reports_bad_rows(cli, tmp_path: Path):
    with open(DEFAULT_CASES, newline="") as fh:
        rows = list(csv.DictReader(fh))[:3]
    bad = dict(rows[0], model="no-such-model", case_id="bad")
    fields = list(rows[0].keys())
    f = tmp_path / "rows.csv"
    with open(f, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows([rows[0], bad, rows[1], rows[2]])
    r = cli("estimate", "--batch", f, "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out) == 4
    assert [o.get("case_id") for o in out] == [rows[0]["case_id"], "bad", rows[1]["case_id"], rows[2]["case_id"]]
    assert out[1]["fits"] is False and "no-such-model" in out[1]["error"]
    assert out[0]["fits"] and out[0]["output_tokens_per_s"] > 0


def test_nim_alias_maps_to_trtllm():
    out = estimate("llama-3.3-70b", "h100-sxm", 2, tp=2, isl=500, osl=2000, mode="concurrency", mode_value=1,
                   engine="nim", quant="fp8")
    assert out["engine"] == "trtllm" and out["engine_requested"] == "nim"


def test_validate_writes_csv_and_summary(cli, tmp_path: Path):
    with open(DEFAULT_CASES, newline="") as fh:
        rows = list(csv.DictReader(fh))
    subset = [r for r in rows if r["source_id"].startswith(("trtllm-online", "amd-rocm"))]
    cases = tmp_path / "cases.csv"
    with open(cases, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(subset)
    out_csv = tmp_path / "out.csv"
    r = cli("validate", "--cases", cases, "--csv", out_csv, "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert {"output_tok_s", "ttft_ms", "tpot_ms", "e2e_ms"} <= set(summary["per_metric"])
    assert summary["per_metric"]["output_tok_s"]["predicted"] == summary["per_metric"]["output_tok_s"]["n"]
    assert out_csv.exists() and "ape_pct" in out_csv.read_text().splitlines()[0]
    r = cli("validate", "--cases", cases)
    assert r.exit_code == 0 and "per metric" in r.stdout
