"""`trilemma catalog ...`: listing, show, validate, user catalogs merged over the built-ins, import-hf.

Runs against the stand-in catalog in tests/fixtures/builtin so it does not depend on catalogs/; one
test also lists the real built-in catalogs when they are present.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from solver import __version__
from solver.catalog.loader import builtin_catalog_dir
from solver.catalog.params import parameter_counts
from solver.catalog.schema import CatalogFile, Model

CONFIGS = sorted(Path("/work/shared/reference/model_configs").glob("*.json"))
REPO_CATALOGS = Path(__file__).resolve().parents[1] / "catalogs"

# Published total parameters (billions), from the model cards.
PUBLISHED_TOTAL_B = {
    "meta-llama--Meta-Llama-3.1-8B": 8.03, "meta-llama--Meta-Llama-3.1-70B": 70.6,
    "meta-llama--Meta-Llama-3.1-405B": 405, "deepseek-ai--DeepSeek-V3": 671, "deepseek-ai--DeepSeek-R1": 671,
    "mistralai--Mixtral-8x7B-v0.1": 46.7, "mistralai--Mixtral-8x22B-v0.1": 141, "openai--gpt-oss-120b": 117,
    "openai--gpt-oss-20b": 21, "Qwen--Qwen3-235B-A22B": 235, "Qwen--Qwen3-30B-A3B": 30.5, "Qwen--Qwen3-32B": 32.8,
    "Qwen--Qwen3-8B": 8.2, "meta-llama--Llama-4-Scout-17B-16E-Instruct": 109,
    "meta-llama--Llama-4-Maverick-17B-128E-Instruct": 400,
}


@pytest.fixture(autouse=True)
def _stand_in_catalog(fixture_catalog):
    return fixture_catalog


def test_version_and_help(cli):
    assert cli("--version").stdout.strip() == f"trilemma {__version__}"
    for flag in ("-h", "--help"):
        result = cli(flag)
        assert result.exit_code == 0 and "catalog" in result.stdout
    result = cli("catalog", "-h")
    assert result.exit_code == 0
    for command in ("accelerators", "models", "offers", "engines", "show", "validate", "import-hf"):
        assert command in result.stdout


def test_no_arguments_prints_help_and_exits_0(cli):
    for args in ([], ["catalog"]):
        result = cli(*args)
        assert result.exit_code == 0
        assert "Usage: trilemma" in result.stdout


def test_python_dash_m_solver_help():
    for args in (["--help"], ["-h"], ["--version"], ["catalog", "--help"]):
        proc = subprocess.run([sys.executable, "-m", "solver", *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout


@pytest.mark.parametrize(
    ("section", "ids", "header"),
    [
        ("accelerators", ["h100-sxm", "a100-sxm-80gb"], "bf16_tflops"),
        ("models", ["llama-3.1-8b", "deepseek-v3"], "active_b"),
        ("offers", ["aws-p5-48xlarge", "owned-hgx-h100"], "spot_$/h"),
        ("engines", ["vllm"], "weight_quants"),
    ],
)
def test_list_section_table(cli, section, ids, header):
    result = cli("catalog", section)
    assert result.exit_code == 0, result.stderr
    for entry_id in ids:
        assert entry_id in result.stdout
    assert header in result.stdout


def test_models_table_shows_computed_parameters(cli):
    out = cli("catalog", "models").stdout
    row = next(line for line in out.splitlines() if "deepseek-v3" in line)
    assert "671.0" in row and "37.6" in row and "8/256" in row


def test_engine_table_is_not_eaten_as_markup(cli):
    out = cli("catalog", "show", "vllm").stdout
    assert "[ampere, hopper]" in out


@pytest.mark.parametrize("section", ["accelerators", "models", "offers", "engines"])
def test_list_section_json_has_every_field(cli, section):
    result = cli("catalog", section, "--json")
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)
    assert records
    for record in records:
        assert record["source"]
        dt.date.fromisoformat(record["as_of"])
    if section == "models":
        by_id = {r["id"]: r for r in records}
        assert by_id["deepseek-v3"]["kv_lora_rank"] == 512
        assert by_id["deepseek-v3"]["computed"]["total_params_b"] == pytest.approx(671, rel=0.01)
        assert by_id["llama-3.1-8b"]["computed"]["kv_cache_bytes_per_token_bf16"] == 2 * 32 * 8 * 128 * 2
    if section == "accelerators":
        assert records[0]["peak_tflops"]["bf16"] > 0


def test_list_section_csv(cli, tmp_path):
    path = tmp_path / "acc.csv"
    result = cli("catalog", "accelerators", "--csv", path)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(path.open()))
    assert {r["id"] for r in rows} == {"h100-sxm", "a100-sxm-80gb"}
    h100 = next(r for r in rows if r["id"] == "h100-sxm")
    assert float(h100["peak_tflops.fp8"]) == 1979 and h100["as_of"] == "2025-01-15" and h100["source"]
    assert "h100-sxm" in result.stdout  # the table is still printed


def test_csv_to_unwritable_path_is_a_clear_error(cli, tmp_path):
    result = cli("catalog", "engines", "--csv", tmp_path / "no-such-dir" / "e.csv")
    assert result.exit_code == 1
    assert "e.csv: cannot write CSV" in result.stderr


def test_show_model_json(cli):
    result = cli("catalog", "show", "deepseek-v3", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["section"] == "models" and record["num_experts"] == 256
    assert record["computed"]["kv_cache_bytes_per_token_bf16"] == (512 + 64) * 61 * 2
    assert record["computed"]["active_params_b"] == pytest.approx(37.5, rel=0.02)


@pytest.mark.parametrize("entry_id", ["h100-sxm", "llama-3.1-70b", "aws-p5-48xlarge", "vllm", "vllm-openai"])
def test_show_any_section_table(cli, entry_id):
    result = cli("catalog", "show", entry_id)
    assert result.exit_code == 0, result.stderr
    assert "source" in result.stdout and "as_of" in result.stdout


def test_show_unknown_id_suggests(cli):
    result = cli("catalog", "show", "h100")
    assert result.exit_code == 1
    assert "no entry 'h100' (did you mean: h100-sxm" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_ok(cli, tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text(yaml.safe_dump({"offers": [{
        "id": "my-h100", "kind": "cloud", "provider": "mycloud", "instance_type": "8x", "accelerator": "h100-sxm",
        "gpus_per_instance": 8, "usd_per_hour_on_demand": 16.0, "source": "quote", "as_of": "2025-06-01",
    }]}))
    result = cli("catalog", "validate", user)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"ok: 0 accelerators, 0 models, 1 offers, 0 engines, 0 families in {user}")
    assert "merged catalog: 2 accelerators, 3 models, 3 offers, 1 engines" in result.stdout
    # alone, the offer's accelerator is unknown
    alone = cli("catalog", "validate", "--no-builtin", user)
    assert alone.exit_code == 1
    assert "offers[0].accelerator: unknown accelerator 'h100-sxm'" in alone.stderr


def test_user_catalog_overrides_builtin_entry(cli, tmp_path, fixtures):
    models = yaml.safe_load((fixtures / "builtin" / "models.yaml").read_text())["models"]
    mine = dict(models[0], name="My tuned Llama", max_context_tokens=8192)
    user = tmp_path / "override.yaml"
    user.write_text(yaml.safe_dump({"models": [mine]}))
    result = cli("catalog", "show", mine["id"], "--json", "--catalog", user)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["name"] == "My tuned Llama" and record["max_context_tokens"] == 8192
    validated = cli("catalog", "validate", user)
    assert f"overrides built-in models {mine['id']}" in validated.stderr
    listed = json.loads(cli("catalog", "models", "--json", "--catalog", user, "--catalog", user).stdout)
    assert len(listed) == 3


@pytest.mark.skipif(not (REPO_CATALOGS / "models.yaml").exists(), reason="built-in catalogs not written yet")
def test_real_builtin_catalogs_list(cli, monkeypatch):
    monkeypatch.delenv("TRILEMMA_CATALOG_DIR")
    assert builtin_catalog_dir() == REPO_CATALOGS
    for section in ("accelerators", "models", "offers", "engines"):
        result = cli("catalog", section, "--json")
        assert result.exit_code == 0, result.stderr
        json.loads(result.stdout)


# --------------------------------------------------------------------------------------------
# import-hf


def _import(cli, config: Path, *extra: object) -> dict:
    result = cli("catalog", "import-hf", config, "--id", "imported-model", *extra)
    assert result.exit_code == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert list(data) == ["models"] and len(data["models"]) == 1
    return data["models"][0]


@pytest.mark.skipif(not CONFIGS, reason="reference configs not available")
@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_import_hf_reference_configs(cli, config):
    entry = _import(cli, config)
    model = Model.model_validate(entry)
    CatalogFile.model_validate({"models": [entry]})
    assert model.id == "imported-model"
    assert model.hf_id == config.stem.replace("--", "/", 1)
    assert model.as_of == dt.date.today()
    assert model.source == str(config)
    total_b = parameter_counts(model).total / 1e9
    assert total_b == pytest.approx(PUBLISHED_TOTAL_B[config.stem], rel=0.05)


def test_import_hf_output_validates_as_a_user_catalog(cli, tmp_path):
    config = Path("/work/shared/reference/model_configs/deepseek-ai--DeepSeek-V3.json")
    if not config.exists():
        pytest.skip("reference configs not available")
    out = tmp_path / "dsv3.yaml"
    out.write_text(cli("catalog", "import-hf", config, "--id", "my-deepseek").stdout)
    result = cli("catalog", "validate", out)
    assert result.exit_code == 0, result.stderr
    assert "1 models" in result.stdout


def _ref(name: str) -> Path:
    path = Path("/work/shared/reference/model_configs") / f"{name}.json"
    if not path.exists():
        pytest.skip("reference configs not available")
    return path


def test_import_hf_deepseek_v3(cli):
    e = _import(cli, _ref("deepseek-ai--DeepSeek-V3"))
    assert e["architecture"] == "mla-moe"
    assert e["num_experts"] == 256 and e["experts_per_token"] == 8 and e["shared_experts"] == 1
    assert e["kv_lora_rank"] == 512 and e["q_lora_rank"] == 1536 and e["qk_rope_head_dim"] == 64
    assert e["first_dense_layers"] == 3 and e["moe_intermediate_size"] == 2048
    assert e["native_dtype"] == "fp8" and "head_dim" not in e


def test_import_hf_llama4_maverick_nested_text_config(cli):
    e = _import(cli, _ref("meta-llama--Llama-4-Maverick-17B-128E-Instruct"))
    assert e["architecture"] == "moe" and e["num_layers"] == 48 and e["hidden_size"] == 5120
    assert e["num_experts"] == 128 and e["experts_per_token"] == 1 and e["moe_layer_interval"] == 2
    assert e["moe_intermediate_size"] == 8192 and e["intermediate_size"] == 16384
    assert e["sliding_window_tokens"] == 8192 and e["sliding_window_layers"] == 36
    assert "shared expert" in e["notes"]


def test_import_hf_gpt_oss_sliding_layers_and_mxfp4(cli):
    e = _import(cli, _ref("openai--gpt-oss-120b"))
    assert e["native_dtype"] == "mxfp4" and e["attention_bias"] is True
    assert e["sliding_window_tokens"] == 128 and e["sliding_window_layers"] == 18
    assert e["moe_intermediate_size"] == 2880 and "intermediate_size" not in e


def test_import_hf_dense_defaults(cli):
    e = _import(cli, _ref("meta-llama--Meta-Llama-3.1-70B"), "--name", "Llama 3.1 70B",
                "--source", "https://huggingface.co/meta-llama/Llama-3.1-70B/blob/main/config.json")
    assert e["architecture"] == "dense" and e["head_dim"] == 128 and e["num_kv_heads"] == 8
    assert e["name"] == "Llama 3.1 70B" and e["source"].startswith("https://huggingface.co/")
    assert "num_experts" not in e and "sliding_window_tokens" not in e


def test_import_hf_minimal_config_defaults(cli, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "_name_or_path": "someone/tiny-model", "num_hidden_layers": 4, "hidden_size": 512,
        "intermediate_size": 1024, "num_attention_heads": 8, "vocab_size": 1000, "max_position_embeddings": 2048,
        "torch_dtype": "float16", "sliding_window": 256,
    }))
    e = _import(cli, tmp_path)  # the model directory works too
    assert e["num_kv_heads"] == 8 and e["head_dim"] == 64 and e["native_dtype"] == "fp16"
    assert e["hf_id"] == "someone/tiny-model" and e["source"] == "https://huggingface.co/someone/tiny-model"
    assert e["sliding_window_tokens"] == 256 and e["sliding_window_layers"] == 4


def test_import_hf_gemma_style_pattern(cli, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_type": "gemma3", "text_config": {
        "model_type": "gemma3_text", "num_hidden_layers": 62, "hidden_size": 5376, "intermediate_size": 21504,
        "num_attention_heads": 32, "num_key_value_heads": 16, "head_dim": 128, "vocab_size": 262208,
        "max_position_embeddings": 131072, "sliding_window": 1024, "sliding_window_pattern": 6,
    }, "torch_dtype": "bfloat16"}))
    e = _import(cli, config, "--hf-id", "google/gemma-3-27b-it")
    assert e["sliding_window_layers"] == 62 - 62 // 6 and e["tie_word_embeddings"] is True
    assert e["hf_id"] == "google/gemma-3-27b-it"


@pytest.mark.parametrize(
    ("content", "args", "expected"),
    [
        ("{not json", [], "config.json: line 1, column 2: malformed JSON"),
        ("[1, 2]", [], "config.json: top level must be a JSON object"),
        (json.dumps({"hidden_size": 8, "num_attention_heads": 2, "vocab_size": 10}), [],
         "config.json: num_hidden_layers: required key is missing"),
        (json.dumps({"num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2, "vocab_size": 10,
                     "max_position_embeddings": 64, "quantization_config": {"quant_method": "awq"}}), [],
         "quantization_config.quant_method: 'awq' checkpoints are not supported; allowed: fp8, mxfp4"),
        (json.dumps({"num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2, "vocab_size": 10,
                     "max_position_embeddings": 64}), ["--hf-id", "a/b", "--id", "Bad Id"],
         "config.json: id: ids are lowercase-kebab"),
        (json.dumps({"num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2, "vocab_size": 10,
                     "max_position_embeddings": 64}), [], "pass --hf-id owner/name"),
    ],
    ids=["malformed", "not-object", "missing-layers", "awq", "bad-id", "no-hf-id"],
)
def test_import_hf_bad_config(cli, tmp_path, content, args, expected):
    config = tmp_path / "config.json"
    config.write_text(content)
    result = cli("catalog", "import-hf", config, "--id", "x", *args)
    assert result.exit_code == 1
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_import_hf_missing_file(cli, tmp_path):
    result = cli("catalog", "import-hf", tmp_path / "nope.json", "--id", "x")
    assert result.exit_code == 1
    assert "nope.json: cannot read file" in result.stderr
