"""Facts live in catalogs, not code: families (kernel system, priors, network default) and engine settings
are read from the catalog, and calibration writes only fitted numbers into its generated block."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from solver.catalog.loader import load_catalog, parse_catalog_file
from solver.catalog.schema import EfficiencyProfile
from solver.perf.calibrate import BEGIN, END, FIT_PARAMS, _prior, family_groups, write_profiles
from solver.perf.kernels import KernelLibrary

ROOT = Path(__file__).resolve().parents[1]
CATALOG = load_catalog()
GENERATED_KEYS = {"families", *FIT_PARAMS, "collective_latency_us", "fitted_to", "fit_error"}


def _generated_blocks(text: str) -> list[str]:
    blocks, current = [], None
    for line in text.splitlines(keepends=True):
        if line.rstrip("\n") == BEGIN:
            current = []
        elif line.rstrip("\n") == END:
            blocks.append("".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_generated_profiles_hold_only_fitted_numbers():
    blocks = _generated_blocks((ROOT / "catalogs" / "engines.yaml").read_text())
    assert len(blocks) == 3
    for block in blocks:
        for entry in yaml.safe_load(block)["profiles"]:
            assert set(entry) <= GENERATED_KEYS, set(entry) - GENERATED_KEYS


def test_engine_settings_are_one_place_and_every_profile_takes_them():
    assert EfficiencyProfile.model_fields["max_batch_default"].is_required()  # no code default
    vllm = CATALOG.engines["vllm"]
    assert vllm.settings.max_batch_default == 256  # vLLM --max-num-seqs default
    assert {p.max_batch_default for p in vllm.profiles} == {256}
    assert {p.max_batch_default for p in CATALOG.engines["trtllm"].profiles} == {2048}


def test_writing_profiles_keeps_every_hand_kept_line(tmp_path):
    path = tmp_path / "engines.yaml"
    shutil.copy(ROOT / "catalogs" / "engines.yaml", path)
    before = path.read_text()
    profiles = {eid: [{"families": p.families, **{k: getattr(p, k) for k in FIT_PARAMS},
                       "collective_latency_us": p.collective_latency_us, "fitted_to": "refit"}
                      for p in eng.profiles] for eid, eng in CATALOG.engines.items()}
    profiles["vllm"][0]["compute_efficiency"] = 0.5
    write_profiles(path, profiles)
    after = path.read_text()
    outside = [b.split(BEGIN)[0] for b in before.split(END)]
    assert outside == [b.split(BEGIN)[0] for b in after.split(END)]  # every line outside the blocks as before
    parsed, issues = parse_catalog_file(path)
    assert not issues
    vllm = next(e for e in parsed.engines if e.id == "vllm")
    assert vllm.profiles[0].compute_efficiency == 0.5
    assert vllm.profiles[0].max_batch_default == 256 and vllm.settings == CATALOG.engines["vllm"].settings


def test_calibration_groups_and_priors_come_from_the_families():
    assert family_groups(CATALOG, "trtllm") == [["hopper"], ["blackwell"], ["blackwell-ultra"], ["ampere"], ["ada"]]
    assert family_groups(CATALOG, "vllm")[-2:] == [["cdna3"], ["cdna4"]]
    assert _prior(CATALOG, ("trtllm", "blackwell-ultra"))[:2] == ("trtllm", "blackwell")
    assert _prior(CATALOG, ("sglang", "cdna4"))[:2] == ("vllm", "cdna4")
    assert _prior(CATALOG, ("trtllm", "hopper")) is None  # fitted to cases


def test_a_new_family_is_one_catalog_entry(tmp_path, cli):
    user = tmp_path / "mine.yaml"
    user.write_text(yaml.safe_dump({
        "families": [{"id": "newarch", "name": "New", "kernel_system": "b200_sxm", "kernel_tables_measured": False,
                      "default_inter_node_bandwidth_gb_s": 50, "source": "https://example.com", "as_of": "2026-01-01"}],
        "accelerators": [{**CATALOG.accelerators["b200"].model_dump(mode="json", exclude_none=True),
                          "id": "new-gpu", "family": "newarch"}],
    }))
    assert cli("catalog", "validate", user).exit_code == 0
    catalog = load_catalog([user])
    assert KernelLibrary.for_catalog(catalog).system_for(catalog.accelerators["new-gpu"]) == ("b200_sxm", False)


def test_an_engine_profile_without_settings_is_one_clear_error(tmp_path, cli):
    user = tmp_path / "engine.yaml"
    user.write_text(yaml.safe_dump({"engines": [{
        "id": "my-engine", "name": "Mine", "launch_template": "serve {hf_id}", "source": "quote",
        "as_of": "2026-01-01", "support": [{"families": ["hopper"], "weight_quants": ["bf16"], "kv_quants": ["bf16"]}],
        "profiles": [{"families": ["hopper"], "compute_efficiency": 0.8, "memory_efficiency": 0.9,
                      "step_overhead_ms": 1.0, "collective_latency_us": 5.0, "fitted_to": "mine"}]}]}))
    result = cli("catalog", "validate", user)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "engines[0]: profiles[0] has no max_batch_default, max_num_tokens" in result.stderr
    assert "give the engine `settings:`" in result.stderr


def test_build_profiles_writes_fitted_numbers_for_every_supported_family():
    from solver.perf.calibrate import DEFAULT_CASES, MIN_FIT_CASES, build_profiles, read_cases

    # MIN_FIT_CASES (5) TensorRT-LLM cases on H100 and 4 vLLM ones on MI300X, too few to be fitted.
    rows = read_cases(DEFAULT_CASES)
    cases = ([c for c in rows if c["engine"] == "trtllm" and c["accelerator"] == "h100-sxm"][:MIN_FIT_CASES]
             + [c for c in rows if c["engine"] == "vllm" and c["accelerator"] == "mi300x"][:MIN_FIT_CASES - 1])
    out, fits = build_profiles(cases, CATALOG, "cases.csv")
    assert {(f.engine, f.family) for f in fits} == {("trtllm", "hopper")}
    assert [e["families"] for e in out["trtllm"]] == family_groups(CATALOG, "trtllm")
    for entries in out.values():
        for entry in entries:
            assert set(entry) <= GENERATED_KEYS
    trtllm_hopper = next(e for e in out["trtllm"] if e["families"] == ["hopper"])
    assert trtllm_hopper["fitted_to"].startswith("fitted to 5 cases")
    vllm_cdna3 = next(e for e in out["vllm"] if e["families"] == ["cdna3"])
    assert vllm_cdna3["fitted_to"].startswith("prior: kernel-table speed")
    sglang_cdna3 = next(e for e in out["sglang"] if e["families"] == ["cdna3"])
    assert sglang_cdna3["fitted_to"].startswith("prior, not fitted: copied from the (vllm, cdna3) profile")
    assert sglang_cdna3["compute_efficiency"] == vllm_cdna3["compute_efficiency"]
