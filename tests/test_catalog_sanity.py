"""Catalog sanity checks run on every load (`trilemma catalog validate`, and before every solve):
memory and bandwidth positive and plausible, fp8 >= bf16 TFLOPS where both exist, prices positive,
plausible and dated, parameter counts consistent with the architecture. Each defect is reported at its
location, all at once, exit 1; the built-in catalogs pass."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

VALID: dict[str, Any] = {
    "accelerators": [
        {"id": "san-gpu", "name": "Sanity GPU", "vendor": "nvidia", "family": "hopper", "memory_gb": 80,
         "hbm_bandwidth_tb_s": 3.35, "peak_tflops": {"bf16": 989, "fp16": 989, "fp8": 1979},
         "gpus_per_node": 8, "scale_up_domain_gpus": 8, "intra_node_bandwidth_gb_s": 450,
         "inter_node_bandwidth_gb_s": 50, "tdp_w": 700, "source": "https://example.com/gpu", "as_of": "2025-01-15"},
    ],
    "models": [
        {"id": "san-8b", "name": "Sanity 8B", "hf_id": "x/san-8b", "architecture": "dense", "num_layers": 32,
         "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32, "num_kv_heads": 8,
         "head_dim": 128, "vocab_size": 128256, "max_context_tokens": 131072, "native_dtype": "bf16",
         "published_total_params_b": 8.03, "source": "https://example.com/config.json", "as_of": "2025-01-15"},
    ],
    "offers": [
        {"id": "san-cloud", "kind": "cloud", "provider": "sancloud", "instance_type": "s.8x", "accelerator": "san-gpu",
         "gpus_per_instance": 8, "region": "us-east-1", "usd_per_hour_on_demand": 98.32, "usd_per_hour_spot": 40.0,
         "usd_per_hour_reserved_1y": 60.0, "source": "https://example.com/prices", "as_of": "2025-01-15"},
        {"id": "san-owned", "kind": "owned", "provider": "vendor", "instance_type": "hgx", "accelerator": "san-gpu",
         "gpus_per_instance": 8, "purchase_usd": 300000, "amortization_years": 4, "power_kw_full": 10.2,
         "power_kw_idle": 3, "pue": 1.3, "usd_per_kwh": 0.1, "source": "quote", "as_of": "2025-01-15"},
    ],
}


def write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def errors(cli, path: Path) -> dict[str, str]:
    result = cli("catalog", "validate", path)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    found = {}
    for line in result.stderr.strip().splitlines():
        assert line.startswith(f"{path}: "), line
        location, message = line.removeprefix(f"{path}: ").split(": ", 1)
        found[location] = message
    return found


def edit(section: str, index: int, **fields: Any) -> dict:
    doc = copy.deepcopy(VALID)
    for key, value in fields.items():
        target = doc[section][index]
        *parents, last = key.split(".")
        for p in parents:
            target = target[p]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return doc


DELETE = object()


def test_the_valid_catalog_passes(cli, fixture_catalog, tmp_path):
    result = cli("catalog", "validate", write(tmp_path, VALID))
    assert result.exit_code == 0, result.stderr


def test_builtin_catalogs_pass_every_sanity_check():
    from solver.catalog import load_catalog

    catalog = load_catalog()
    assert catalog.accelerators and catalog.offers and catalog.models


CASES = [
    # memory and bandwidth positive, and plausible (units)
    (edit("accelerators", 0, memory_gb=0), "accelerators[0].memory_gb", "greater than 0"),
    (edit("accelerators", 0, memory_gb=-80), "accelerators[0].memory_gb", "greater than 0"),
    (edit("accelerators", 0, memory_gb=80e9), "accelerators[0].memory_gb", "outside the plausible range"),
    (edit("accelerators", 0, hbm_bandwidth_tb_s=0), "accelerators[0].hbm_bandwidth_tb_s", "greater than 0"),
    (edit("accelerators", 0, hbm_bandwidth_tb_s=3350), "accelerators[0].hbm_bandwidth_tb_s",
     "3350 TB/s is outside the plausible range"),
    (edit("accelerators", 0, intra_node_bandwidth_gb_s=-1), "accelerators[0].intra_node_bandwidth_gb_s",
     "greater than 0"),
    (edit("accelerators", 0, inter_node_bandwidth_gb_s=4e11), "accelerators[0].inter_node_bandwidth_gb_s",
     "outside the plausible range"),
    # TFLOPS ordering and plausibility
    (edit("accelerators", 0, **{"peak_tflops.fp8": 500}), "accelerators[0].peak_tflops.fp8",
     "fp8 peak 500 is below bf16 peak 989"),
    (edit("accelerators", 0, **{"peak_tflops.fp4": 1000}), "accelerators[0].peak_tflops.fp4",
     "fp4 peak 1000 is below fp8 peak 1979"),
    (edit("accelerators", 0, **{"peak_tflops.bf16": DELETE, "peak_tflops.fp16": DELETE}),
     "accelerators[0].peak_tflops.bf16", "bf16 peak is required"),
    (edit("accelerators", 0, **{"peak_tflops.bf16": 9.89e14, "peak_tflops.fp8": 1.9e15}),
     "accelerators[0].peak_tflops.bf16", "outside the plausible range"),
    # prices positive, ordered, plausible and dated
    (edit("offers", 0, usd_per_hour_on_demand=0), "offers[0].usd_per_hour_on_demand", "greater than 0"),
    (edit("offers", 0, usd_per_hour_spot=-4), "offers[0].usd_per_hour_spot", "greater than 0"),
    (edit("offers", 0, usd_per_hour_spot=120), "offers[0].usd_per_hour_spot", "spot price 120 is above on-demand"),
    (edit("offers", 0, usd_per_hour_reserved_1y=150), "offers[0].usd_per_hour_reserved_1y",
     "reserved price 150 is above on-demand"),
    (edit("offers", 0, usd_per_hour_on_demand=71770, usd_per_hour_spot=DELETE, usd_per_hour_reserved_1y=DELETE),
     "offers[0].usd_per_hour_on_demand", "over 1000 USD per GPU-hour"),
    (edit("offers", 0, as_of=DELETE), "offers[0].as_of", "required field is missing"),
    (edit("offers", 0, as_of="someday"), "offers[0].as_of", "YYYY-MM-DD"),
    (edit("offers", 0, as_of=str(dt.date.today() + dt.timedelta(days=400))), "offers[0].as_of", "in the future"),
    (edit("offers", 0, source=DELETE), "offers[0].source", "required field is missing"),
    (edit("offers", 1, purchase_usd=-1), "offers[1].purchase_usd", "greater than 0"),
    (edit("offers", 1, purchase_usd=3e11), "offers[1].purchase_usd", "over 2e+06 USD per GPU"),
    (edit("offers", 1, amortization_years=0.001), "offers[1].amortization_years", "outside the plausible range"),
    (edit("offers", 1, power_kw_full=10200), "offers[1].power_kw_full", "over 20 kW per GPU"),
    (edit("offers", 1, power_kw_idle=12), "offers[1].power_kw_idle", "above full-load power"),
    (edit("offers", 1, pue=0.5), "offers[1].pue", "greater than or equal to 1"),
    (edit("offers", 1, pue=50), "offers[1].pue", "outside the plausible range"),
    (edit("offers", 1, usd_per_kwh=120), "offers[1].usd_per_kwh", "outside the plausible range"),
    (edit("offers", 0, gpus_per_instance=16), "offers[0].gpus_per_instance", "exceed the san-gpu node size 8"),
    # parameter counts consistent with the architecture
    (edit("models", 0, published_total_params_b=80.3), "models[0].published_total_params_b",
     "architecture gives 8.0B parameters, published 80.3B"),
    (edit("models", 0, num_layers=320), "models[0].published_total_params_b", "published 8.03B"),
    (edit("models", 0, num_kv_heads=0), "models[0].num_kv_heads", "greater than or equal to 1"),
    (edit("models", 0, num_kv_heads=5), "models[0]", "multiple of num_kv_heads"),
]


@pytest.mark.parametrize(("doc", "location", "words"), CASES, ids=[f"{c[1]}:{c[2][:30]}" for c in CASES])
def test_sanity_defect_is_reported_at_its_location(cli, fixture_catalog, tmp_path, doc, location, words):
    found = errors(cli, write(tmp_path, doc))
    assert location in found, found
    assert words in found[location], found[location]


def test_all_sanity_defects_are_reported_at_once(cli, fixture_catalog, tmp_path):
    doc = edit("accelerators", 0, **{"peak_tflops.fp8": 500})
    doc["offers"][0]["usd_per_hour_spot"] = 120
    doc["offers"][1]["pue"] = 50
    doc["models"][0]["published_total_params_b"] = 80.3
    found = errors(cli, write(tmp_path, doc))
    assert set(found) >= {"accelerators[0].peak_tflops.fp8", "offers[0].usd_per_hour_spot", "offers[1].pue",
                          "models[0].published_total_params_b"}, found


def test_sanity_checks_run_before_a_solve_too(cli, fixture_catalog, tmp_path, fixtures):
    path = write(tmp_path, edit("accelerators", 0, **{"peak_tflops.fp8": 500}))
    result = cli("solve", fixtures / "problem_valid.yaml", "--catalog", path)
    assert result.exit_code == 1
    assert f"{path}: accelerators[0].peak_tflops.fp8: fp8 peak 500 is below bf16 peak 989" in result.stderr
