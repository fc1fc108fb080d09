"""Property-based fuzzing of the command line itself (test_fuzz.py mutates the files): percentiles,
time limits, output paths, `estimate --batch` CSVs, `catalog import-hf` configs and objective / pricing
tier combinations. Whatever the input, the exit code is a documented one (0 solved, 1 bad input,
2 infeasible, 3 time limit) and nothing is an internal error or a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

DOCUMENTED = (0, 1, 2, 3)


def fuzz(max_examples: int) -> settings:
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def assert_documented(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    assert result.exit_code in DOCUMENTED, (result.exit_code, result.stderr)
    if result.exit_code == 1:
        assert result.stderr.strip(), "exit 1 without a message"
    event(f"exit {result.exit_code}")


PROBLEM: dict[str, Any] = {
    "workloads": [{"name": "chat", "model": "llama-3.1-8b", "traffic": {"requests_per_s": 2}, "input_tokens": 1000,
                   "output_tokens": 200, "slo": {"ttft_ms": 2000, "tpot_ms": 60}}],
    "solver": {"time_limit_s": 2, "workers": 1, "max_batch_options": [16, 64]},
}

numbers_as_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-1000, 1000).map(str),
    st.sampled_from(["mean", "MEAN", "median", "p99", "", " ", "99.9", "99.95", "50", "49.99", "1e400", "nan",
                     "-0", "0x10", "1_0", "٩٩"]),
    st.text(max_size=8),
)
extensions = st.sampled_from([".csv", ".png", ".svg", ".pdf", ".html", ".txt", "", ".CSV", ".png.csv"])


@fuzz(25)
@given(percentile=numbers_as_text, time_limit=numbers_as_text, csv_ext=extensions, plot_ext=extensions,
       folder=st.sampled_from(["", "missing/", "missing/deeper/"]), command=st.sampled_from(["solve", "sweep"]))
def test_fuzz_run_flags(cli, tiny, tmp_path_factory, percentile, time_limit, csv_ext, plot_ext, folder, command):
    base = tmp_path_factory.getbasetemp()
    problem = base / "flags.yaml"
    problem.write_text(yaml.safe_dump(PROBLEM))
    # `--opt=value`: a value starting with '-' is still the option's value.
    args = [command, problem, f"--time-limit={time_limit}", f"--csv={base}/{folder}out{csv_ext}",
            f"--plot={base}/{folder}plot{plot_ext}"]
    if command == "sweep":
        args += ["--tpot-ms", "40,80", f"--percentile={percentile}"]
    result = cli(*args)
    assert_documented(result)
    if result.exit_code == 0:
        assert folder == "" and csv_ext in (".csv", ".CSV")


@fuzz(40)
@given(percentile=numbers_as_text)
def test_fuzz_estimate_percentile(cli, percentile):
    result = cli("estimate", "--model", "llama-3.1-8b", "--accelerator", "h100-sxm", "--isl", "1000", "--osl", "200",
                 "--slo-ttft-ms", "2000", "--slo-tpot-ms", "50", f"--percentile={percentile}")
    assert_documented(result)
    if result.exit_code == 0:
        value = percentile.strip().lower()
        assert value == "mean" or 50 <= float(value) <= 99.9


CSV_COLUMNS = ["case_id", "model", "accelerator", "engine", "gpus", "tp", "pp", "ep", "quant", "kv_quant", "isl",
               "osl", "mode", "mode_value", "slo_ttft_ms", "slo_tpot_ms", "percentile", "max_batch", "extra"]
cell = st.one_of(st.sampled_from(["llama-3.1-8b", "h100-sxm", "vllm", "rate", "slo", "concurrency",
                                  "max_throughput", "static_batch", "bf16", "fp8", "best", "1", "2", "8", "0", "-1",
                                  "1000", "200", "99", "mean", "nan", "inf", "1e400", "", "abc"]),
                 st.text(max_size=6))


@st.composite
def batch_csv(draw) -> str:
    header = draw(st.lists(st.sampled_from(CSV_COLUMNS), min_size=0, max_size=12, unique=True))
    if draw(st.booleans()):
        header = list(dict.fromkeys(["model", "accelerator", "isl", "osl", *header]))
    rows = draw(st.lists(st.lists(cell, min_size=len(header), max_size=len(header) + 2), max_size=3))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    if draw(st.booleans()):
        pos = draw(st.integers(0, len(text)))
        text = text[:pos] + draw(st.sampled_from(['"', "\x00", "\r", ",,,", "\n\n"])) + text[pos:]
    return text


@fuzz(30)
@given(text=batch_csv())
def test_fuzz_estimate_batch_csv(cli, tmp_path_factory, text):
    path = tmp_path_factory.getbasetemp() / "batch.csv"
    path.write_text(text)
    result = cli("estimate", "--batch", path, "--json")
    assert_documented(result)
    assert result.exit_code in (0, 1)
    if result.exit_code == 0:
        assert isinstance(json.loads(result.stdout), list)


HF_CONFIG: dict[str, Any] = {
    "_name_or_path": "owner/model", "model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096,
    "intermediate_size": 14336, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
    "vocab_size": 128256, "max_position_embeddings": 131072, "torch_dtype": "bfloat16",
    "tie_word_embeddings": False, "sliding_window": None, "num_local_experts": None,
}
HF_VALUES = [None, True, False, 0, -1, 1, 7, 64, 2**40, 1.5, 64.0, "64", "", [], [1, 2], {}, {"a": 1}, math.inf,
             "bfloat16", "float8", "sliding_attention"]


@fuzz(80)
@given(changes=st.dictionaries(st.sampled_from([*HF_CONFIG, "kv_lora_rank", "n_routed_experts", "layer_types",
                                                "sliding_window_pattern", "attention_chunk_size", "text_config",
                                                "quantization_config", "num_experts_per_tok",
                                                "moe_intermediate_size", "first_k_dense_replace"]),
                               st.sampled_from(HF_VALUES), max_size=4),
       drop=st.lists(st.sampled_from(list(HF_CONFIG)), max_size=2))
def test_fuzz_import_hf_config(cli, tmp_path_factory, changes, drop):
    config = {k: v for k, v in HF_CONFIG.items() if k not in drop} | changes
    path = tmp_path_factory.getbasetemp() / "config.json"
    path.write_text(json.dumps(config, allow_nan=True))
    result = cli("catalog", "import-hf", path, "--id", "fuzzed")
    assert_documented(result)
    assert result.exit_code in (0, 1)
    if result.exit_code == 0:
        entry = yaml.safe_load(result.stdout)["models"][0]
        assert entry["id"] == "fuzzed" and isinstance(entry["num_layers"], int)
    else:
        assert all(line.startswith(str(path)) for line in result.stderr.splitlines() if line.strip())


@fuzz(25)
@given(objective=st.sampled_from(["min_cost", "max_throughput"]),
       tiers=st.lists(st.sampled_from(["on_demand", "spot", "reserved_1y", "reserved_3y", "owned"]), min_size=1,
                      max_size=3, unique=True),
       budget=st.sampled_from([None, 0.5, 1.0, 3.0, 50.0]),
       spot_share=st.sampled_from([None, 0.0, 0.5, 1.0]),
       min_replicas=st.sampled_from([0, 1, 3]),
       rate=st.sampled_from([0.0, 0.5, 4.0, 40.0]))
def test_fuzz_objective_and_tiers(cli, tiny, tmp_path_factory, objective, tiers, budget, spot_share, min_replicas,
                                  rate):
    body = json.loads(json.dumps(PROBLEM))
    body["objective"] = objective
    body["fleet"] = {"pricing_tiers": tiers, **({"budget_usd_per_hour": budget} if budget else {})}
    wl = body["workloads"][0]
    wl.update(min_replicas=min_replicas, traffic={"requests_per_s": rate})
    if spot_share is not None:
        wl["spot_max_share"] = spot_share
    path: Path = tmp_path_factory.getbasetemp() / "tiers.yaml"
    path.write_text(yaml.safe_dump(body))
    result = cli("solve", path, "--json")
    assert_documented(result)
    if result.exit_code == 0:
        out = json.loads(result.stdout)
        assert out["violations"] == []
        if objective == "max_throughput" and not any(w["configs"] for w in out["workloads"]):
            assert out["nothing_served"]
    table = cli("solve", path)
    assert table.exit_code == result.exit_code
