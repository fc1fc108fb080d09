"""The public calibration files parse, name catalog ids, keep their layouts consistent and carry provenance.

`validation/cases_public.csv` has the columns of `validation/cases.csv` plus `dp`, `source_url`, `as_of` and
`family_class`; `validation/cases_disagg.csv` holds disaggregated prefill/decode measurements. Both are data
transcribed from public sources; these checks guard the transcription, not the performance model.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
import typing
from pathlib import Path

import pytest

from solver.catalog import load_catalog
from solver.catalog.schema import KvQuant, WeightQuant

VALIDATION = Path(__file__).resolve().parents[1] / "validation"
CATALOG = load_catalog()
MODELS = CATALOG.section("models")
ACCELERATORS = CATALOG.section("accelerators")
ENGINES = {"vllm", "sglang", "trtllm"}
WEIGHT_QUANTS = set(typing.get_args(WeightQuant))
KV_QUANTS = set(typing.get_args(KvQuant))
MODES = {"max_throughput", "rate", "concurrency", "static_batch", "slo"}
DISAGG_MODES = {"max_throughput", "rate", "concurrency", "prefill_only", "decode_only"}
FAMILY = {"dense": "dense", "moe": "moe", "mla-moe": "mla"}

# Reserved for independent validation: never a source of these files (matched on URL and notes).
FORBIDDEN = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"mlperf",
        r"mlcommons",
        r"inference_results_v",
        r"best[ _-]?perf[ _-]?practice",
        r"Best_perf_practice_on_D",
        r"oracle",
        r"perf(ormance)?[ _-]?dashboard",
        r"nightly[ _-]?benchmark",
        r"\.buildkite/nightly",
        r"perf(ormance)?-benchmarks",
        r"perf\.vllm\.ai",
        r"llama[ _-]?3\.1[ _-]?405b.*mi300x.*(vs|versus).*h100",
    )
]
ROCM_BLOG_405B = re.compile(r"rocm-blogs|rocm\.blogs\.amd\.com", re.IGNORECASE)

CASE_COLUMNS = (Path(VALIDATION / "cases.csv").read_text().splitlines()[0].split(",")
                + ["dp", "source_url", "as_of", "family_class"])
DISAGG_COLUMNS = (
    "case_id,model,engine,quant,kv_quant,isl,osl,prefill_accelerator,prefill_gpus_per_worker,prefill_tp,prefill_dp,"
    "prefill_ep,prefill_workers,decode_accelerator,decode_gpus_per_worker,decode_tp,decode_dp,decode_ep,"
    "decode_workers,kv_link,mode,mode_value,measured_output_tok_s,measured_ttft_ms,measured_tpot_ms,source_url,"
    "as_of,notes"
).split(",")


def _read(name: str) -> tuple[list[str], list[dict[str, str]]]:
    with open(VALIDATION / name, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


PUBLIC_HEADER, PUBLIC = _read("cases_public.csv")
DISAGG_HEADER, DISAGG = _read("cases_disagg.csv")
_, CASES = _read("cases.csv")


def _int(value: str) -> int | None:
    return None if value == "" else int(value)


def _pos(value: str) -> float | None:
    if value == "":
        return None
    x = float(value)
    assert math.isfinite(x) and x > 0, value
    return x


def test_headers() -> None:
    assert PUBLIC_HEADER == CASE_COLUMNS
    assert DISAGG_HEADER == DISAGG_COLUMNS


def test_enough_rows_and_sources() -> None:
    assert len(PUBLIC) + len(DISAGG) >= 60
    sources = {r["source_url"] for r in PUBLIC} | {r["source_url"] for r in DISAGG}
    assert len(sources) >= 6


def test_case_ids_unique() -> None:
    ids = [r["case_id"] for r in PUBLIC] + [r["case_id"] for r in DISAGG] + [r["case_id"] for r in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("r", PUBLIC, ids=lambda r: r["case_id"])
def test_public_row(r: dict[str, str]) -> None:
    model = MODELS.get(r["model"])
    assert model is not None, r["model"]
    assert r["accelerator"] in ACCELERATORS
    assert r["engine"] in ENGINES
    assert r["quant"] in WEIGHT_QUANTS
    assert r["kv_quant"] in KV_QUANTS | {""}
    assert r["family_class"] == FAMILY[model.architecture]
    assert r["mode"] in MODES

    gpus, tp, dp, pp = int(r["gpus"]), int(r["tp"]), int(r["dp"]), int(r["pp"])
    ep = _int(r["ep"])
    per_replica = tp * dp * pp
    assert gpus % per_replica == 0, f"gpus {gpus} is not a whole number of tp*dp*pp = {per_replica} replicas"
    if ep is not None:
        assert (tp * dp) % ep == 0, "ep must divide the tp*dp GPUs of a stage (moe_tp x ep = tp x dp)"
        if model.architecture == "dense":
            assert ep == 1

    assert _pos(r["isl"]) and _pos(r["osl"])
    if r["mode"] in ("rate", "concurrency", "static_batch"):
        assert _pos(r["mode_value"])
    measured = [_pos(r[c]) for c in ("measured_output_tok_s", "measured_ttft_ms", "measured_tpot_ms",
                                     "measured_e2e_ms")]
    assert any(m is not None for m in measured), "a case with nothing measured"
    if r["mode"] == "static_batch":
        assert _pos(r["measured_e2e_ms"])
    _provenance(r)


@pytest.mark.parametrize("r", DISAGG, ids=lambda r: r["case_id"])
def test_disagg_row(r: dict[str, str]) -> None:
    assert r["model"] in MODELS
    assert r["engine"] in ENGINES
    assert r["quant"] in WEIGHT_QUANTS
    assert r["kv_quant"] in KV_QUANTS | {""}
    assert r["kv_link"] in {"nvlink", "infiniband", "ethernet", "unknown"}
    assert r["mode"] in DISAGG_MODES
    assert _pos(r["isl"])
    sides = []
    for side in ("prefill", "decode"):
        acc = r[f"{side}_accelerator"]
        if not acc:
            assert not any(r[f"{side}_{k}"] for k in ("gpus_per_worker", "tp", "dp", "ep", "workers"))
            continue
        sides.append(side)
        assert acc in ACCELERATORS
        n = int(r[f"{side}_gpus_per_worker"])
        tp, dp, ep = (_int(r[f"{side}_{k}"]) for k in ("tp", "dp", "ep"))
        if tp is not None and dp is not None:
            assert n % (tp * dp) == 0, f"{side}: {n} GPUs per worker is not a multiple of tp*dp"
        if ep is not None:
            assert n % ep == 0
    assert sides, "a disaggregated case names at least one pool"
    if r["mode"] == "prefill_only":
        assert sides == ["prefill"]
    if r["mode"] == "decode_only":
        assert sides == ["decode"]
    assert _pos(r["measured_output_tok_s"])
    _provenance(r)


def _provenance(r: dict[str, str]) -> None:
    url = r["source_url"]
    assert re.match(r"^(https://\S+|[\w.-]+/[\w.-]+@[0-9a-f]{7,40}:\S+)$", url), url
    assert "/work/" not in url and "shared/" not in url
    as_of = dt.date.fromisoformat(r["as_of"])
    assert dt.date(2023, 1, 1) <= as_of <= dt.date(2026, 12, 31)
    assert len(r["notes"]) >= 40
    text = f"{url} {r['case_id']} {r.get('source_id', '')}"
    for pattern in FORBIDDEN:
        assert not pattern.search(text), f"reserved source {pattern.pattern}: {url}"
    if ROCM_BLOG_405B.search(url):
        assert r["model"] != "llama-3.1-405b", "the ROCm blog's Llama-3.1-405B tables are reserved"
    if "405b" in r["model"] and r.get("accelerator") in ("mi300x", "mi325x"):
        pytest.fail("MI300X-class Llama-3.1-405B rows are reserved for independent validation")


def test_forbidden_patterns_catch_known_sources() -> None:
    """The guard itself: each reserved source's usual address is caught."""
    reserved = [
        "https://mlcommons.org/benchmarks/inference-datacenter/",
        "mlcommons/inference_results_v5.1@abc1234:closed/AMD/results/x.json",
        "NVIDIA/TensorRT-LLM@0123abc:docs/source/blogs/Best_perf_practice_on_DeepSeek-R1_in_TensorRT-LLM.md",
        "https://blogs.oracle.com/cloud-infrastructure/post/llama-405b-mi300x",
        "https://perf.vllm.ai/ (vLLM performance dashboard)",
        "vllm-project/vllm@0123abc:.buildkite/nightly-benchmarks/README.md",
    ]
    for url in reserved:
        assert any(p.search(url) for p in FORBIDDEN), url


def test_no_row_copies_a_calibration_case() -> None:
    """A row with the same configuration and the same measured value as cases.csv would count a point twice."""
    def key(r: dict[str, str]) -> tuple:
        return (r["model"], r["accelerator"], r["engine"], r["gpus"], float(r["isl"]), float(r["osl"]), r["mode"],
                r["mode_value"], r["measured_output_tok_s"], r["measured_e2e_ms"])

    assert not {key(r) for r in PUBLIC} & {key(r) for r in CASES}


def test_derived_per_gpu_values_by_hand() -> None:
    """Spot checks against the sources, computed by hand."""
    by_id = {r["case_id"]: r for r in PUBLIC} | {r["case_id"]: r for r in DISAGG}
    # TRT-LLM perf-overview: DeepSeek-R1 on B200 DEP4, 1000/1000: 6,463 tok/s/GPU x 4 GPUs
    r = by_id["trtllm1x-deepseek-r1-b200-dep4-1000-1000"]
    assert (r["tp"], r["dp"], r["ep"], r["gpus"]) == ("1", "4", "4", "4")
    assert float(r["measured_output_tok_s"]) == 25852.0
    # Qwen3-235B on RTX PRO 6000, 'DEP2,PP2' on 4 GPUs: 1,731 tok/s/GPU x 4
    r = by_id["trtllm1x-qwen3-235b-a22b-rtx-pro-6000-dep2pp2-1000-1000"]
    assert (r["tp"], r["dp"], r["pp"], r["gpus"]) == ("1", "2", "2", "4")
    assert float(r["measured_output_tok_s"]) == 6924.0
    # SGLang 96-H100 decode: 22,282 tok/s per node x 9 nodes; TPOT = 256 / (22,282 / 8) s = 91.913 ms
    r = by_id["sglang-ep96-h100-decode-ep72-isl2000"]
    assert float(r["measured_output_tok_s"]) == 200538.0
    assert float(r["measured_tpot_ms"]) == pytest.approx(91.913, abs=1e-3)
    # dstack offline: 819,200 output tokens in 708.2590959 s
    r = by_id["dstack-dsr1-h200-sxm-sglang-offline-3200-800-n1024"]
    assert float(r["measured_output_tok_s"]) == pytest.approx(1156.64, abs=0.01)
