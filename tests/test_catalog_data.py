"""Checks on the built-in catalog DATA (catalogs/*.yaml), not on the loader code.

Every required id is present and sourced, published parameter counts match the architecture, a few values are
checked by hand, and offers / engines are internally consistent.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest

from solver.catalog import load_catalog, parameter_counts

CATALOG = load_catalog()

REQUIRED = {
    "accelerators": [
        "a10g", "l4", "l40s", "a100-40gb-sxm", "a100-80gb-sxm", "a100-80gb-pcie", "h100-sxm", "h100-pcie",
        "h100-nvl", "h200-sxm", "h200-nvl", "gh200", "b200", "b300", "gb200", "gb300", "rtx-pro-6000", "mi300x",
        "mi325x", "mi355x", "gaudi3", "tpu-v5e", "tpu-v6e",
    ],
    "models": [
        "llama-2-70b", "llama-3-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.3-70b", "llama-3.1-405b",
        "llama-4-scout", "llama-4-maverick", "mistral-7b", "mixtral-8x7b", "mixtral-8x22b", "qwen2.5-7b",
        "qwen2.5-32b", "qwen2.5-72b", "qwen3-8b", "qwen3-32b", "qwen3-30b-a3b", "qwen3-235b-a22b", "deepseek-v3",
        "deepseek-r1", "gpt-oss-20b", "gpt-oss-120b", "gemma-3-27b", "phi-4",
    ],
    "engines": ["vllm", "sglang", "trtllm"],
}

TOLERANCE = 0.03  # computed counts must be within 3% of the published ones


def _entries(section: str) -> list:
    return list(CATALOG.section(section).values())


@pytest.mark.parametrize(
    ("section", "entry_id"), [(s, i) for s, ids in REQUIRED.items() for i in ids]
)
def test_required_id_present_and_sourced(section: str, entry_id: str) -> None:
    entry = CATALOG.section(section).get(entry_id)
    assert entry is not None, f"{section}: {entry_id} missing"
    assert len(entry.source) >= 10
    assert isinstance(entry.as_of, dt.date)
    assert dt.date(2020, 1, 1) <= entry.as_of <= dt.date(2026, 12, 31)


@pytest.mark.parametrize("section", ["accelerators", "models", "offers", "engines"])
def test_every_entry_sourced(section: str) -> None:
    for entry in _entries(section):
        assert entry.source.strip(), entry.id
        assert entry.as_of is not None, entry.id


# ---------------------------------------------------------------- parameter counts
_PUBLISHED_TOTAL = [m.id for m in _entries("models") if m.published_total_params_b]
_PUBLISHED_ACTIVE = [m.id for m in _entries("models") if m.published_active_params_b]


@pytest.mark.parametrize("model_id", _PUBLISHED_TOTAL)
def test_total_params_match_published(model_id: str) -> None:
    model = CATALOG.models[model_id]
    computed_b = parameter_counts(model).total / 1e9
    published_b = model.published_total_params_b
    assert model.params_source, "a published count needs params_source"
    assert abs(computed_b / published_b - 1) <= TOLERANCE, (
        f"{model_id}: architecture gives {computed_b:.3f}B, published {published_b}B"
    )


@pytest.mark.parametrize("model_id", _PUBLISHED_ACTIVE)
def test_active_params_match_published(model_id: str) -> None:
    model = CATALOG.models[model_id]
    computed_b = parameter_counts(model).active / 1e9
    published_b = model.published_active_params_b
    assert abs(computed_b / published_b - 1) <= TOLERANCE, (
        f"{model_id}: architecture gives {computed_b:.3f}B active, published {published_b}B"
    )


def test_most_models_carry_a_published_count() -> None:
    # Counts that could not be sourced are listed in docs/catalog-gaps.md; keep that list short.
    assert len(_PUBLISHED_TOTAL) >= 20


def test_llama_3_1_70b_by_hand() -> None:
    # d=8192, 80 layers, 64 heads x 128, 8 KV heads, FFN 28672, vocab 128256, untied embeddings.
    #   attention  = 2*8192*(64*128) + 2*8192*(8*128)  = 134,217,728 + 16,777,216 = 150,994,944
    #   FFN        = 3*8192*28672                      = 704,643,072
    #   norms      = 2*8192                            = 16,384
    #   per layer  = 855,654,400;  x 80                = 68,452,352,000
    #   embed+head = 2*128256*8192                     = 2,101,346,304
    #   final norm = 8192
    #   total                                          = 70,553,706,496  (~70.55B; HF shows 70.6B)
    counts = parameter_counts(CATALOG.models["llama-3.1-70b"])
    assert counts.attention_per_layer == 150_994_944
    assert counts.dense_ffn_per_layer == 704_643_072
    assert counts.total == 70_553_706_496


def test_mixtral_8x7b_active_by_hand() -> None:
    # Per layer: attention 2*4096*4096 + 2*4096*1024 = 41,943,040; one expert 3*4096*14336 = 176,160,768;
    # router 4096*8 = 32,768; norms 8,192. Active = 32*(41,943,040 + 2*176,160,768 + 32,768 + 8,192)
    # + 2*32000*4096 + 4096 = 12,879,925,248  (Mistral: 12.9B active).
    counts = parameter_counts(CATALOG.models["mixtral-8x7b"])
    assert counts.expert == 176_160_768
    assert counts.active == 12_879_925_248


def test_maverick_interleaves_moe_layers() -> None:
    counts = parameter_counts(CATALOG.models["llama-4-maverick"])
    assert (counts.num_moe_layers, counts.num_dense_layers) == (24, 24)


def test_deepseek_has_three_dense_layers() -> None:
    counts = parameter_counts(CATALOG.models["deepseek-v3"])
    assert (counts.num_dense_layers, counts.num_moe_layers) == (3, 58)


@pytest.mark.parametrize(
    ("model_id", "window", "layers"),
    [
        ("mistral-7b", 4096, 32),
        ("gemma-3-27b", 1024, 52),  # 62 = 10 x [5 local + 1 global] + 2 local
        ("gpt-oss-20b", 128, 12),
        ("gpt-oss-120b", 128, 18),
        ("llama-4-scout", 8192, 36),  # chunked attention on 3 of every 4 layers
        ("llama-4-maverick", 8192, 36),
    ],
)
def test_sliding_windows(model_id: str, window: int, layers: int) -> None:
    model = CATALOG.models[model_id]
    assert (model.sliding_window_tokens, model.sliding_window_layers) == (window, layers)


def test_native_dtypes() -> None:
    native = {m.id: m.native_dtype for m in _entries("models")}
    assert native["deepseek-v3"] == native["deepseek-r1"] == "fp8"
    assert native["gpt-oss-20b"] == native["gpt-oss-120b"] == "mxfp4"
    assert native["llama-3.1-70b"] == "bf16"


# ---------------------------------------------------------------- accelerators
def test_link_bandwidths_are_per_direction() -> None:
    acc = CATALOG.accelerators
    assert acc["h100-sxm"].intra_node_bandwidth_gb_s == 450  # NVLink4 900 GB/s bidirectional
    assert acc["b200"].intra_node_bandwidth_gb_s == 900  # NVLink5 1.8 TB/s bidirectional
    assert acc["h100-sxm"].inter_node_bandwidth_gb_s == 50  # one 400 Gb/s NIC per GPU


def test_dense_tflops() -> None:
    acc = CATALOG.accelerators
    assert acc["h100-sxm"].peak_tflops.bf16 == pytest.approx(989.4)  # 1,979 sparse / 2
    assert acc["h100-nvl"].peak_tflops.bf16 == pytest.approx(835.5)  # 1,671 sparse / 2
    assert acc["a100-80gb-sxm"].peak_tflops.fp8 is None  # no FP8 on Ampere
    assert acc["b200"].peak_tflops.fp4 is not None
    assert acc["h100-sxm"].peak_tflops.fp4 is None


def test_rack_scale_domains() -> None:
    for acc_id in ("gb200", "gb300"):
        acc = CATALOG.accelerators[acc_id]
        assert (acc.gpus_per_node, acc.scale_up_domain_gpus) == (4, 72)


# ---------------------------------------------------------------- offers
def test_offer_accelerators_exist() -> None:
    for offer in _entries("offers"):
        assert offer.accelerator in CATALOG.accelerators, offer.id


def test_owned_offers_carry_all_tco_fields() -> None:
    owned = [o for o in _entries("offers") if o.kind == "owned"]
    assert len(owned) >= 3
    for offer in owned:
        for field in ("purchase_usd", "amortization_years", "power_kw_full", "pue", "usd_per_kwh"):
            assert getattr(offer, field) is not None, (offer.id, field)
            assert field == "purchase_usd" or field in offer.price_sources, (offer.id, field)
        assert math.isfinite(offer.usd_per_hour("owned"))


def test_cloud_offer_breadth() -> None:
    cloud = [o for o in _entries("offers") if o.kind == "cloud"]
    providers = {o.provider for o in cloud}
    assert {"aws", "gcp", "azure"} <= providers
    assert len(providers) >= 6
    gpus = {o.accelerator for o in cloud}
    assert {"a100-80gb-sxm", "h100-sxm", "h200-sxm", "b200", "l40s", "l4", "a10g", "mi300x", "gh200-96gb"} <= gpus
    assert any(o.usd_per_hour_reserved_1y and o.usd_per_hour_reserved_3y for o in cloud)
    assert {o.gpus_per_instance for o in cloud} >= {1, 8}


def test_prices_are_ordered() -> None:
    for offer in _entries("offers"):
        od = offer.usd_per_hour_on_demand
        for tier in (offer.usd_per_hour_spot, offer.usd_per_hour_reserved_1y, offer.usd_per_hour_reserved_3y):
            if od and tier:
                assert tier <= od, offer.id
        if offer.usd_per_hour_reserved_1y and offer.usd_per_hour_reserved_3y:
            assert offer.usd_per_hour_reserved_3y <= offer.usd_per_hour_reserved_1y, offer.id


# ---------------------------------------------------------------- engines
@pytest.mark.parametrize("engine_id", REQUIRED["engines"])
def test_launch_renders(engine_id: str) -> None:
    from solver.deploy.engine_args import LaunchSpec, Layout, render_launch

    engine = CATALOG.engines[engine_id]
    spec = LaunchSpec(engine_id, "llama-3.1-8b", "bf16", "bf16", Layout(tp=2), 64, 4096, gpus_per_node=8)
    launch = render_launch(CATALOG, spec)
    assert "meta-llama/Llama-3.1-8B" in launch.leader and "8000" in launch.leader
    assert not any("{" in word for word in launch.leader)
    for flags in (engine.quant_flags, engine.kv_quant_flags):
        assert set(flags) <= {"bf16", "fp16", "fp8", "int8", "int4", "fp4", "mxfp4"}


def test_engine_support_rules() -> None:
    trt = CATALOG.engines["trtllm"]
    trt_families = {f for s in trt.support for f in s.families}
    assert not trt_families & {"cdna3", "cdna4", "gaudi", "tpu"}  # NVIDIA only
    for engine in _entries("engines"):
        for support in engine.support:
            if "fp4" in support.weight_quants:
                assert set(support.families) <= {"blackwell", "blackwell-ultra"}, engine.id
            if "fp8" in support.weight_quants:
                assert "ampere" not in support.families, engine.id
    vllm_amd = {q for s in CATALOG.engines["vllm"].support if "cdna3" in s.families for q in s.weight_quants}
    assert {"fp8", "mxfp4"} <= vllm_amd


def test_nim_alias_maps_to_trtllm() -> None:
    assert CATALOG.lookup("engines", "nim").id == "trtllm"
