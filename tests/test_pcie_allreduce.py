"""All-reduce over PCIe without NVLink: peer-to-peer rings keep the two-GPU bus bandwidth at every size."""

from __future__ import annotations

import pytest

from solver.catalog.loader import load_catalog
from solver.perf.estimate import estimate
from solver.perf.kernels import KernelLibrary, load_kernel_fits


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def kernels(catalog):
    return KernelLibrary(family_systems={f: v.kernel_system for f, v in catalog.families.items()})


def test_l40s_ring_keeps_the_pair_bandwidth(catalog, kernels):
    table = load_kernel_fits()["systems"]["l40s"]["allreduce"]["vllm"]
    l40s = catalog.accelerators["l40s"]
    assert l40s.scale_up_link == "pcie"
    for n in (2, 4, 8):
        link = kernels.link(l40s, "allreduce", "vllm", n)
        # busbw = the 2-GPU measurement (19.7 GB/s), latency = the n-GPU one.
        assert link.busbw_bytes_s == pytest.approx(table[2]["busbw_gb_s"] * 1e9)
        assert link.alpha_s == pytest.approx(table[n]["alpha_us"] * 1e-6)


def test_pcie_card_scales_its_pair_bandwidth_to_its_own_link(catalog, kernels):
    # H100 PCIe has no tables of its own: the Hopper system's 2-GPU busbw, scaled by 64 / 450 GB/s.
    table = load_kernel_fits()["systems"]["h100_sxm"]["allreduce"]["trtllm"]
    pcie = kernels.link(catalog.accelerators["h100-pcie"], "allreduce", "trtllm", 8)
    assert pcie.busbw_bytes_s == pytest.approx(table[2]["busbw_gb_s"] * 1e9 * 64 / 450)
    sxm = kernels.link(catalog.accelerators["h100-sxm"], "allreduce", "trtllm", 8)
    assert sxm.busbw_bytes_s == pytest.approx(table[8]["busbw_gb_s"] * 1e9)  # NVLink: unchanged


def test_nvlink_part_is_faster_than_its_pcie_sibling_at_tp8(catalog):
    kw = dict(isl=1000, osl=1000, tp=8, pp=1, quant="fp8", kv_quant="fp8", engine="trtllm", mode="concurrency",
              mode_value=64, catalog=catalog)
    sxm = estimate("llama-3.1-70b", "h100-sxm", 8, **kw)
    pcie = estimate("llama-3.1-70b", "h100-pcie", 8, **kw)
    assert pcie["tpot_ms"] > sxm["tpot_ms"]
