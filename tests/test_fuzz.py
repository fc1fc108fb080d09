"""Fuzzing the whole path from file to result: every generated problem or catalog file either solves
(a checked plan) or exits non-zero with `file: location: message` lines, never a traceback.

Four generators, all derandomized so CI is reproducible:
- structural mutations of a valid problem file (`trilemma solve`), 1-3 per example: a key deleted,
  an unknown key added, a value replaced by a wrong type, negative, zero, NaN/inf, huge number,
  unknown id, empty list/string, unit-suffixed string ("80GB", "50ms") or random text, a list item
  duplicated (duplicate names);
- the same mutations of a valid user catalog given with `--catalog` to the same solve;
- text-level damage of the YAML (truncation, YAML-special characters inserted, lines deleted or
  swapped, bytes replaced by binary garbage) and pure random bytes, through both commands;
- sweep grid specs (text, start:stop:step with any floats, lists) through `parse_grid`.

Cases that stay valid reach the solver on the tiny catalog in tests/fixtures/tiny with a 2 s limit.
Run with `--hypothesis-show-statistics` to see how many examples of each mutation class ran.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]

def fuzz(max_examples: int) -> settings:
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


BASE_PROBLEM: dict[str, Any] = {
    "name": "fuzz",
    "workloads": [
        {"name": "chat", "model": "llama-3.1-8b", "traffic": {"requests_per_s": 4},
         "input_tokens": 1000, "output_tokens": 200,
         "slo": {"ttft_ms": 2000, "tpot_ms": 60, "percentile": 95},
         "quantizations": ["bf16", "fp8"], "kv_quantizations": ["bf16"], "engines": ["vllm"],
         "min_replicas": 1, "headroom": 0.1, "spot_max_share": 0.5},
        {"name": "batch", "model": "llama-3.1-8b",
         "traffic": {"profile": [{"hours": 12, "requests_per_s": 2}, {"hours": 12, "requests_per_s": 0.5}]},
         "input_tokens": {"buckets": [{"tokens": 500, "weight": 3}, {"tokens": 3000, "weight": 1}]},
         "output_tokens": {"mean": 300}, "slo": {"e2e_ms": 60000}, "max_scale_step": 4},
    ],
    "fleet": {"accelerators": ["h100-sxm", "a100-80gb-sxm"], "providers": ["testcloud"],
              "regions": ["us-east-1", "eu-west-1"], "pricing_tiers": ["on_demand", "spot"],
              "inventory": [{"offer": "cloud-h100-x1", "max_instances": 50},
                            {"accelerator": "a100-80gb-sxm", "max_gpus": 64}],
              "budget_usd_per_hour": 500, "config_fixed_usd_per_hour": 0.5},
    "objective": "min_cost",
    "solver": {"time_limit_s": 2, "workers": 1, "seed": 0, "max_configs_per_workload": 2,
               "max_batch_options": [8, 64]},
    "sweep": {"tpot_ms": "20:60:20", "ttft_ms": [500, 1000], "percentile": 99},
}

BASE_CATALOG: dict[str, Any] = {
    "accelerators": [
        {"id": "fuzz-gpu", "name": "Fuzz GPU", "vendor": "nvidia", "family": "hopper", "memory_gb": 96,
         "hbm_bandwidth_tb_s": 4.0, "peak_tflops": {"bf16": 1000, "fp16": 1000, "fp8": 2000},
         "gpus_per_node": 8, "scale_up_domain_gpus": 8, "intra_node_bandwidth_gb_s": 450,
         "inter_node_bandwidth_gb_s": 50, "tdp_w": 700, "source": "fuzz", "as_of": "2025-01-15"},
    ],
    "models": [
        {"id": "fuzz-model", "name": "Fuzz 8B", "hf_id": "fuzz/fuzz-8b", "architecture": "dense",
         "num_layers": 32, "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
         "num_kv_heads": 8, "head_dim": 128, "vocab_size": 128256, "max_context_tokens": 32768,
         "native_dtype": "bf16", "published_total_params_b": 8.03, "source": "fuzz", "as_of": "2025-01-15"},
    ],
    "offers": [
        {"id": "fuzz-offer", "kind": "cloud", "provider": "fuzzcloud", "instance_type": "f.8x",
         "accelerator": "fuzz-gpu", "gpus_per_instance": 8, "region": "us-east-1",
         "usd_per_hour_on_demand": 30.0, "usd_per_hour_spot": 12.0, "source": "fuzz", "as_of": "2025-01-15"},
        {"id": "fuzz-owned", "kind": "owned", "provider": "fuzzcloud", "instance_type": "own.8x",
         "accelerator": "fuzz-gpu", "gpus_per_instance": 8, "purchase_usd": 300000, "amortization_years": 4,
         "power_kw_full": 10, "power_kw_idle": 3, "pue": 1.3, "usd_per_kwh": 0.1,
         "source": "fuzz", "as_of": "2025-01-15"},
    ],
    "engines": [
        {"id": "fuzz-engine", "name": "Fuzz engine",
         "support": [{"families": ["hopper"], "weight_quants": ["bf16", "fp8"], "kv_quants": ["bf16", "fp8"]}],
         "settings": {"max_batch_default": 256, "max_num_tokens": 8192, "memory_utilisation": 0.9,
                      "runtime_reserve_gb": 2.0, "kv_admission_output_fraction": 0.5,
                      "kv_memory_fraction_of_free": False, "kv_quant_default": "auto", "source": "fuzz",
                      "as_of": "2025-01-15"},
         "profiles": [{"families": ["hopper"], "compute_efficiency": 0.8, "memory_efficiency": 0.9,
                       "step_overhead_ms": 1.0, "collective_latency_us": 5.0, "fitted_to": "fuzz"}],
         "launch_template": "serve {hf_id} --tp {tp}", "source": "fuzz", "as_of": "2025-01-15"},
    ],
}

CATALOG_PROBLEM: dict[str, Any] = {
    "workloads": [{"name": "w", "model": "fuzz-model", "traffic": {"requests_per_s": 3}, "input_tokens": 800,
                   "output_tokens": 150, "slo": {"ttft_ms": 3000, "tpot_ms": 80}, "engines": ["fuzz-engine"]}],
    "fleet": {"accelerators": ["fuzz-gpu"], "pricing_tiers": ["on_demand", "spot", "owned"]},
    "solver": {"time_limit_s": 2, "workers": 1, "max_batch_options": [16]},
}

# Replacement values, by class (the class name is recorded as a hypothesis event).
BAD_VALUES: dict[str, list[Any]] = {
    "wrong_type": ["abc", [1, 2], {"a": 1}, True, None, "", [], {}],
    "negative": [-1, -0.5, -1e9],
    "zero": [0, 0.0],
    "nan_inf": [math.nan, math.inf, -math.inf, "nan", "inf", "-Infinity", "1e400"],
    "huge": [1e300, 10**30, 2**63, 2**64 + 1, 9.9e15, 1e7, 123456789012],
    "tiny": [1e-300, 5e-324, 1e-9],
    "unknown_id": ["no-such-thing", "H100", "llama-3.1-8", "vlm", "aws-p5"],
    "empty_list": [[]],
    "wrong_units": ["80GB", "50ms", "5 req/s", "2 s", "1,000", "10k", "$3.00", "3.0 USD/h"],
    "date_like": ["2025-13-45", "last week", "2025-01-15T00:00:00", 20250115],
}


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location in a nested dict/list structure (the root excluded)."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _parent(doc: Any, path: tuple) -> Any | None:
    node = doc
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node if isinstance(node, (dict, list)) else None


@st.composite
def mutation(draw, base: dict) -> tuple[str, tuple, Any]:
    path = draw(st.sampled_from(_paths(base)))
    kind = draw(st.sampled_from(["delete", "unknown_key", "duplicate", "random_text", "random_number",
                                 *BAD_VALUES]))
    if kind in BAD_VALUES:
        value = draw(st.sampled_from(BAD_VALUES[kind]))
    elif kind == "random_text":
        value = draw(st.text(max_size=20))
    elif kind == "random_number":
        value = draw(st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                               st.floats(allow_nan=True, allow_infinity=True)))
    elif kind == "unknown_key":
        value = draw(st.sampled_from(["colour", "ttft", "memory_gib", "usd_per_hour_ondemand", "Name", "x y"]))
    else:
        value = None
    return kind, path, value


def apply(doc: dict, kind: str, path: tuple, value: Any) -> bool:
    parent = _parent(doc, path)
    key = path[-1]
    if parent is None:
        return False
    try:
        if kind == "delete":
            del parent[key]
        elif kind == "unknown_key":
            target = parent[key] if isinstance(parent[key], dict) else parent
            if not isinstance(target, dict):
                return False
            target[value] = 1
        elif kind == "duplicate":
            if not isinstance(parent, list):
                return False
            parent.insert(key, copy.deepcopy(parent[key]))
        else:
            parent[key] = value
    except (KeyError, IndexError, TypeError):
        return False
    return True


def mutated(draw, base: dict) -> dict:
    doc = copy.deepcopy(base)
    for kind, path, value in draw(st.lists(mutation(base), min_size=1, max_size=3)):
        if apply(doc, kind, path, value):
            event(f"mutation: {kind}")
    return doc


@st.composite
def mutated_problem(draw) -> dict:
    return mutated(draw, BASE_PROBLEM)


@st.composite
def mutated_catalog(draw) -> dict:
    return mutated(draw, BASE_CATALOG)


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


@st.composite
def damaged_text(draw) -> bytes:
    """Text-level damage of a valid problem or catalog file, or random bytes."""
    kind = draw(st.sampled_from(["truncate", "insert_special", "delete_line", "swap_lines", "binary_splice",
                                 "random_bytes", "random_text", "indent"]))
    event(f"text damage: {kind}")
    text = dump(draw(st.sampled_from([BASE_PROBLEM, BASE_CATALOG])))
    data = text.encode()
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "insert_special":
        pos = draw(st.integers(0, len(text)))
        junk = draw(st.text(alphabet=":{}[]&*!|>'\"%@`#,-?\t\n ", min_size=1, max_size=6))
        return (text[:pos] + junk + text[pos:]).encode()
    lines = text.splitlines(keepends=True)
    if kind == "delete_line":
        i = draw(st.integers(0, len(lines) - 1))
        return "".join(lines[:i] + lines[i + 1:]).encode()
    if kind == "swap_lines":
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
        return "".join(lines).encode()
    if kind == "indent":
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(st.sampled_from(["   ", "\t", " "])) + lines[i]
        return "".join(lines).encode()
    if kind == "binary_splice":
        pos = draw(st.integers(0, len(data)))
        return data[:pos] + draw(st.binary(min_size=1, max_size=16)) + data[pos:]
    if kind == "random_text":
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    return draw(st.binary(max_size=300))


def assert_clean_outcome(result, path: Path) -> None:
    """Solved (checked), or a documented non-zero exit with located messages; never a traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    assert result.exit_code in (0, 1, 2, 3), (result.exit_code, result.stderr)
    if result.exit_code == 0:
        out = json.loads(result.stdout)
        assert out["status"] in ("optimal", "feasible")
        assert out["violations"] == []
        event("outcome: solved")
    elif result.exit_code == 1:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines, "exit 1 without a message"
        for line in lines:
            # `file: location: message` (or `file: message` for whole-file problems), never a bare message.
            assert line.startswith(f"{path}: ") or ".yaml: " in line, line
            assert len(line.split(": ", 1)[1].strip()) > 3, line
        event("outcome: bad input (exit 1)")
    elif result.exit_code == 2:
        assert result.stderr.startswith("infeasible:"), result.stderr
        assert len(result.stderr.splitlines()) >= 2, result.stderr
        event("outcome: infeasible (exit 2)")
    else:
        assert "time limit" in result.stderr, result.stderr
        event("outcome: time limit (exit 3)")


SOLVE = ("--json", "--time-limit", "2", "--workers", "1")


@fuzz(200)
@given(doc=mutated_problem())
def test_fuzz_problem_file(cli, tiny, tmp_path_factory, doc):
    path = tmp_path_factory.getbasetemp() / "fuzz_problem.yaml"
    path.write_text(dump(doc))
    assert_clean_outcome(cli("solve", path, *SOLVE), path)


@fuzz(150)
@given(doc=mutated_catalog())
def test_fuzz_catalog_file(cli, tiny, tmp_path_factory, doc):
    base = tmp_path_factory.getbasetemp()
    path, problem = base / "fuzz_catalog.yaml", base / "fuzz_catalog_problem.yaml"
    path.write_text(dump(doc))
    problem.write_text(dump(CATALOG_PROBLEM))
    result = cli("solve", problem, "--catalog", path, *SOLVE)
    if result.exit_code == 1 and not result.stderr.startswith(str(problem)):
        assert result.stderr.startswith(f"{path}: "), result.stderr
    assert_clean_outcome(result, path if result.stderr.startswith(str(path)) else problem)


@fuzz(120)
@given(data=damaged_text())
def test_fuzz_damaged_text(cli, tiny, tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "fuzz_damaged.yaml"
    path.write_bytes(data)
    for args in (("solve", path, *SOLVE), ("catalog", "validate", path)):
        result = cli(*args)
        if args[0] == "catalog" and result.exit_code == 0:
            continue  # a damaged catalog can still be a valid (smaller) catalog
        assert_clean_outcome(result, path)


def test_base_files_are_valid_and_solve(cli, tiny, tmp_path):
    """The mutation bases themselves solve, so every failure above is caused by the mutation."""
    problem = tmp_path / "p.yaml"
    problem.write_text(dump(BASE_PROBLEM))
    result = cli("solve", problem, *SOLVE)
    assert result.exit_code == 0, result.stderr
    catalog, cat_problem = tmp_path / "c.yaml", tmp_path / "cp.yaml"
    catalog.write_text(dump(BASE_CATALOG))
    cat_problem.write_text(dump(CATALOG_PROBLEM))
    result = cli("solve", cat_problem, "--catalog", catalog, *SOLVE)
    assert result.exit_code == 0, result.stderr


@fuzz(300)
@given(spec=st.one_of(
    st.text(alphabet="0123456789.:,-+eEinfa ", max_size=24),
    st.builds(lambda a, b, c: f"{a}:{b}:{c}", *[st.floats(allow_nan=True, allow_infinity=True)] * 3),
    st.lists(st.one_of(st.floats(), st.integers(-(10**30), 10**30)), max_size=5),
))
def test_fuzz_sweep_grid(spec):
    """Any grid text either parses to at most 2,000 finite positive values or is a located ProblemError,
    quickly (a huge range is refused before it is built)."""
    from solver.errors import ProblemError
    from solver.problem import parse_grid
    from solver.sweep import MAX_POINTS

    event("grid: list" if isinstance(spec, list) else "grid: text")
    try:
        values = parse_grid(spec, "tpot_ms")
    except ProblemError as exc:
        assert all(i.location == "tpot_ms" and i.message for i in exc.issues)
        event("outcome: bad grid")
        return
    assert values is not None and 0 < len(values) <= MAX_POINTS
    assert all(math.isfinite(v) and v > 0 for v in values)
    event("outcome: grid parsed")
