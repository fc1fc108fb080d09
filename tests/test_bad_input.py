"""Every user mistake gets a clear message: the file, the location, what is wrong and what is allowed,
all problems at once, exit code 1 and no traceback. One fixture per defect, named for it.

Catalog files go through the CLI (`trilemma catalog validate`); problem files through
`solver.problem.load_problem` (the `solve` command lives elsewhere) against the stand-in catalog in
tests/fixtures/builtin.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from solver.catalog import load_catalog
from solver.errors import ProblemError
from solver.problem import load_problem, parse_problem

pytestmark = pytest.mark.usefixtures("fixture_catalog")

# (fixture, location in the message, words saying what is wrong or what is allowed)
CATALOG_CASES = [
    ("catalog_negative_memory.yaml", "accelerators[0].memory_gb", "greater than 0 (got -80)"),
    ("catalog_unknown_key.yaml", "accelerators[0].memory_gib", "unknown key (did you mean: memory_gb?)"),
    ("catalog_missing_source.yaml", "accelerators[0].source", "required field is missing (URL or document"),
    ("catalog_duplicate_id.yaml", "models[1].id", "duplicate id 'my-model' (first at models[0])"),
    ("catalog_offer_unknown_accelerator.yaml", "offers[0].accelerator", "did you mean: h100-sxm"),
    ("catalog_malformed_yaml.yaml", "line 6, column 4", "malformed YAML"),
    ("catalog_fp8_below_bf16.yaml", "accelerators[0].peak_tflops.fp8", "below bf16 peak"),
    ("catalog_wrong_type.yaml", "accelerators[0].memory_gb",
     "valid number, unable to parse string as a number (got 'eighty')"),
    ("catalog_nan_value.yaml", "accelerators[0].hbm_bandwidth_tb_s", "not a finite number"),
    ("catalog_binary_garbage.bin", "catalog_binary_garbage.bin: not a UTF-8", "is it binary?"),
    ("catalog_wrong_enum.yaml", "accelerators[0].vendor", "allowed: 'nvidia', 'amd'"),
    ("catalog_bad_id.yaml", "accelerators[0].id", "lowercase-kebab"),
    ("catalog_bad_date.yaml", "accelerators[0].as_of", "YYYY-MM-DD (got 'last week')"),
    ("catalog_duplicate_key.yaml", "line 10, column 5", "'memory_gb' appears twice (first on line 6)"),
    ("catalog_unknown_section.yaml", "gpus", "allowed: accelerators, models, offers, engines"),
    ("catalog_empty.yaml", "catalog_empty.yaml", "file is empty"),
    ("catalog_top_level_list.yaml", "catalog_top_level_list.yaml", "top level must be a mapping"),
    ("catalog_moe_without_experts.yaml", "models[0]", "architecture 'moe' needs num_experts"),
    ("catalog_zero_kv_heads.yaml", "models[0].num_kv_heads", "greater than or equal to 1 (got 0)"),
    ("catalog_spot_above_on_demand.yaml", "offers[0].usd_per_hour_spot", "above on-demand"),
    ("catalog_owned_offer_missing_power.yaml", "offers[0]", "owned offer needs power_kw_full, pue, usd_per_kwh"),
    ("catalog_engine_template_unbalanced_brace.yaml", "engines[0].launch_template",
     "not a valid str.format template"),
    ("catalog_recursive_alias.yaml", "catalog_recursive_alias.yaml", "anchor refers to itself"),
    ("catalog_impossible_date.yaml", "line 12, column 12", "invalid date '2025-13-45' (month must be in 1..12)"),
    ("catalog_infinite_value.yaml", "accelerators[0].memory_gb", "'inf' is not a finite number"),
]

PROBLEM_CASES = [
    ("problem_unknown_model.yaml", "workloads[0].model", "unknown model 'llama-3-8b' (did you mean: llama-3.1-8b"),
    ("problem_unknown_key.yaml", "workloads[0].slo.ttft", "unknown key (did you mean: ttft_ms?)"),
    ("problem_negative_rate.yaml", "workloads[0].traffic.requests_per_s", "greater than or equal to 0 (got -5)"),
    ("problem_tiny_rate.yaml", "workloads[0].traffic.requests_per_s", "below the smallest non-zero rate 1e-06"),
    ("problem_sub_minute_slot.yaml", "workloads[0].traffic.profile[0].hours", "shorter than one minute"),
    ("problem_profiles_differ.yaml", "workloads[1].traffic", "profile covers 12 h but other workloads cover 24 h"),
    ("problem_empty_workloads.yaml", "workloads", "at least 1 item"),
    ("problem_two_traffic_forms.yaml", "workloads[0].traffic", "give exactly one of requests_per_s, profile"),
    ("problem_duplicate_workload_names.yaml", "workloads[1].name", "'chat' is already used by workloads[0]"),
    ("problem_context_too_long.yaml", "workloads[0].input_tokens", "exceeds llama-3.1-8b's context window of 131072"),
    ("problem_wrong_quant.yaml", "workloads[0].quantizations[1]", "got 'fp6'; allowed: 'bf16', 'fp16', 'fp8'"),
    ("problem_unknown_accelerator.yaml", "fleet.accelerators[0]", "did you mean: h100-sxm?"),
    ("problem_unknown_engine.yaml", "workloads[0].engines[0]", "did you mean: vllm?"),
    ("problem_unknown_region.yaml", "fleet.regions[0]", "unknown region 'us-east' (did you mean: us-east-1?)"),
    ("problem_wrong_pricing_tier.yaml", "fleet.pricing_tiers[0]", "allowed: 'on_demand', 'spot'"),
    ("problem_wrong_type_tokens.yaml", "workloads[0].input_tokens",
     "valid integer (got 'lots')"),
    ("problem_zero_slo.yaml", "workloads[0].slo.tpot_ms", "greater than 0 (got 0)"),
    ("problem_malformed_yaml.yaml", "line 6, column 4", "malformed YAML"),
    ("problem_negative_output_tokens.yaml", "workloads[0].output_tokens", "greater than or equal to 1 (got -1)"),
    ("problem_two_length_forms.yaml", "workloads[0].output_tokens",
     "give exactly one of mean, buckets, lognormal, quantiles or csv"),
    ("problem_max_throughput_without_budget.yaml", "", "objective max_throughput needs fleet.budget_usd_per_hour"),
]


def _problem_error(path) -> ProblemError:
    with pytest.raises(ProblemError) as info:
        load_problem(path, load_catalog())
    return info.value


@pytest.mark.parametrize(("fixture", "location", "hint"), CATALOG_CASES, ids=[c[0] for c in CATALOG_CASES])
def test_bad_catalog_file(cli, fixtures, fixture, location, hint):
    path = fixtures / fixture
    result = cli("catalog", "validate", path)
    assert result.exit_code == 1, result
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    line = result.stderr.strip().splitlines()[0]
    assert line.startswith(f"{path}: "), line
    assert location in line and hint in line, line
    assert result.stdout == ""


def test_bad_catalog_given_as_extra_catalog_to_a_listing(cli, fixtures):
    result = cli("catalog", "models", "--catalog", fixtures / "catalog_duplicate_id.yaml")
    assert result.exit_code == 1
    assert "catalog_duplicate_id.yaml: models[1].id: duplicate id" in result.stderr


def test_catalog_several_errors_all_reported_at_once(cli, fixtures):
    path = fixtures / "catalog_several_errors.yaml"
    result = cli("catalog", "validate", path)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 4, lines
    assert all(line.startswith(f"{path}: ") for line in lines)
    text = result.stderr
    assert "accelerators[0].source: required field is missing" in text
    assert "accelerators[0].family: got 'hoper'; allowed: 'hopper'" in text
    assert "accelerators[0].memory_gb: Input should be greater than 0 (got -1)" in text
    assert "offers[0].usd_per_hour_ondemand: unknown key (did you mean: usd_per_hour_on_demand" in text


def test_missing_catalog_file(cli, tmp_path):
    path = tmp_path / "nope.yaml"
    result = cli("catalog", "validate", path)
    assert result.exit_code == 1
    assert f"{path}: cannot read file: No such file or directory" in result.stderr


def test_catalog_problems_in_two_files_are_all_reported(cli, fixtures):
    result = cli("catalog", "validate", fixtures / "catalog_negative_memory.yaml", fixtures / "catalog_bad_id.yaml")
    assert result.exit_code == 1
    assert "catalog_negative_memory.yaml: accelerators[0].memory_gb" in result.stderr
    assert "catalog_bad_id.yaml: accelerators[0].id" in result.stderr


@pytest.mark.parametrize(("fixture", "location", "hint"), PROBLEM_CASES, ids=[c[0] for c in PROBLEM_CASES])
def test_bad_problem_file(fixtures, fixture, location, hint):
    path = fixtures / fixture
    err = _problem_error(path)
    assert err.exit_code == 1
    assert len(err.issues) == 1, str(err)
    issue = err.issues[0]
    assert issue.file == str(path)
    assert issue.location == location, str(err)
    assert hint in issue.message, str(err)
    assert str(issue).startswith(f"{path}: {location}: " if location else f"{path}: ")


def test_problem_several_errors_all_reported_at_once(fixtures):
    path = fixtures / "problem_several_errors.yaml"
    err = _problem_error(path)
    found = {i.location: i.message for i in err.issues}
    expected = {
        "workloads[0].traffic.requests_per_s": "greater than or equal to 0",
        "workloads[0].slo.tpot_ms": "greater than 0",
        "workloads[0].slo.percentile": "got 100; allowed: a number from 50 to 99.9, or mean",
        "workloads[0].quantizations[0]": "allowed: 'bf16'",
        "workloads[0].colour": "unknown key; allowed: name, model, traffic",
        "workloads[1].traffic": "give exactly one of",
        "workloads[1].input_tokens": "give exactly one of mean, buckets, lognormal, quantiles or csv",
        "workloads[1].output_tokens": "required field is missing",
        "fleet.pricing_tiers[0]": "allowed: 'on_demand'",
        "objective": "allowed: 'min_cost' or 'max_throughput'",
    }
    for loc, words in expected.items():
        assert loc in found, (loc, str(err))
        assert words in found[loc], (loc, found[loc])
    assert len(err.issues) == len(expected), str(err)


def test_problem_unknown_ids_all_reported_with_suggestions(fixtures):
    err = _problem_error(fixtures / "problem_several_unknown_ids.yaml")
    found = {i.location: i.message for i in err.issues}
    assert found == {
        "workloads[0].model": "unknown model 'llama-3.1-8' (did you mean: llama-3.1-8b, llama-3.1-70b?); a model "
                              "not in the built-in catalog can be added with --catalog FILE (`trilemma catalog "
                              "import-hf config.json --id NAME` writes the entry)",
        "workloads[0].engines[0]": "unknown engine 'vlm' (did you mean: vllm?)",
        "fleet.accelerators[0]": "unknown accelerator 'h100' (did you mean: h100-sxm?)",
        "fleet.accelerators[1]": "unknown accelerator 'a100-sxm' (did you mean: h100-sxm, a100-sxm-80gb?)",
        "fleet.offers[0]": "unknown offer 'aws-p5' (did you mean: aws-p5-48xlarge?)",
        "fleet.providers[0]": "unknown provider 'amazon' (known: aws, supermicro)",
        "fleet.inventory[0].offer": "unknown offer 'aws-p5-48xl' (did you mean: aws-p5-48xlarge?)",
    }


def test_valid_problem_fixture_loads(fixtures):
    problem = load_problem(fixtures / "problem_valid.yaml", load_catalog())
    assert problem.workloads[0].model == "llama-3.1-8b"


@pytest.mark.parametrize("fixture", ["catalog_binary_garbage.bin", "catalog_duplicate_key.yaml", "catalog_empty.yaml"])
def test_problem_parser_handles_garbage_too(fixtures, fixture):
    with pytest.raises(ProblemError) as info:
        parse_problem(fixtures / fixture)
    assert str(info.value).startswith(str(fixtures / fixture))


def test_real_process_prints_no_traceback(fixtures, fixture_catalog):
    """End to end through `python -m solver`: the console entry point, not just `run`."""
    for fixture in ("catalog_binary_garbage.bin", "catalog_several_errors.yaml"):
        proc = subprocess.run(
            [sys.executable, "-m", "solver", "catalog", "validate", str(fixtures / fixture)],
            capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        assert fixture in proc.stderr


def test_debug_flag_shows_the_traceback(fixtures):
    from solver.cli import run
    from solver.errors import CatalogError

    with pytest.raises(CatalogError):
        run(["--debug", "catalog", "validate", str(fixtures / "catalog_negative_memory.yaml")])


@pytest.mark.parametrize(
    "args",
    [["no-such-command"], ["catalog", "models", "--no-such-option"], ["catalog", "show"], ["catalog", "validate"]],
)
def test_bad_command_line_exits_1_without_traceback(cli, args):
    result = cli(*args)
    assert result.exit_code == 1
    assert "Error:" in result.stderr
    assert "Traceback" not in result.stderr


def _has_solve_command() -> bool:
    import solver.cli.commands  # noqa: F401
    from solver.cli import app

    return any(c.name == "solve" or (c.name is None and c.callback and c.callback.__name__ == "solve")
               for c in app.registered_commands)


@pytest.mark.skipif(not _has_solve_command(), reason="`trilemma solve` not registered")
@pytest.mark.parametrize(("fixture", "location", "hint"), PROBLEM_CASES, ids=[c[0] for c in PROBLEM_CASES])
def test_bad_problem_file_through_solve(cli, fixtures, fixture, location, hint):
    path = fixtures / fixture
    result = cli("solve", path)
    assert result.exit_code == 1, result
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    line = result.stderr.strip().splitlines()[0]
    assert line.startswith(f"{path}: {location}: " if location else f"{path}: "), line
    assert hint in line, line
    assert result.stdout == ""


def test_limit_found_while_solving_names_the_problem_file(cli, fixtures, monkeypatch):
    """A limit only the solve meets (a coefficient beyond what CP-SAT takes exactly) is reported at the
    problem file the user gave, like every other problem-file error."""
    import solver.scaling

    monkeypatch.delenv("TRILEMMA_CATALOG_DIR")  # the real catalogs: the stand-in one cannot solve
    monkeypatch.setattr(solver.scaling, "MAX_COEFFICIENT", 10)
    path = fixtures / "problem_valid.yaml"
    result = cli("solve", path, "--time-limit", "5")
    assert result.exit_code == 1, result
    line = result.stderr.strip().splitlines()[0]
    assert line.startswith(f"{path}: "), line
    assert "too large to optimise exactly" in line, line
