"""Kernel efficiency curves fitted to measured kernels (`catalogs/kernel_fits.yaml`).

Every compute kernel is costed with one smooth roofline (see bench/fit_kernels.py):

    t = t0 + ((F / (η_c · P))^p + (B / (η_m · BW))^p)^(1/p)

so efficiency depends on shape the way real kernels do: a GEMM with few tokens is bandwidth-bound,
a large one approaches η_c of peak, and the knee is as sharp as measured. Collectives cost
t = α + f(n) · bytes / busbw.

Accelerators measured in the kernel tables use their own fits; others use the fit of their family's
`kernel_system` (catalogs/families.yaml), whose efficiencies are fractions of peak and so apply to the
unmeasured GPU's own spec-sheet numbers. Busbw of such a system is scaled by the ratio of link
bandwidths.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from solver.catalog.loader import builtin_catalog_dir
from solver.catalog.schema import Accelerator
from solver.errors import CatalogError, Issue
from solver.perf.pcie import pcie_allreduce

FRAMEWORK_ORDER = ("trtllm", "vllm", "sglang")


@dataclass(frozen=True)
class Curve:
    eta_c: float
    eta_m: float
    p: float
    t0_s: float
    gamma: float = 0.0
    """MoE only: extra bytes per (routed pair × hidden element), the permute/un-permute copies."""
    units_full_bw: float = 1.0
    """Decode attention only: (request, KV head) units it takes to reach full bandwidth (1: any)."""


@dataclass(frozen=True)
class Link:
    alpha_s: float
    busbw_bytes_s: float


class KernelTime:
    """A kernel's time and its split: `floor_s` (t0) + `compute_s` + `memory_s` = `time_s`.

    The smooth part ((t_c)^p + (t_m)^p)^(1/p) is split in proportion to t_c^p : t_m^p, so a clearly
    compute-bound kernel counts as compute, a bandwidth-bound one as memory traffic, and a kernel at
    the knee half and half. The split is computed on first use (the hot path needs only `time_s`).
    """

    __slots__ = ("time_s", "_split", "_parts")

    def __init__(self, time_s, split: Callable[[], tuple]):
        self.time_s = time_s
        self._split = split
        self._parts: tuple | None = None

    def _get(self) -> tuple:
        if self._parts is None:
            self._parts = self._split()
        return self._parts

    @property
    def floor_s(self):
        return self._get()[0]

    @property
    def compute_s(self):
        return self._get()[1]

    @property
    def memory_s(self):
        return self._get()[2]


def roofline(flops, bytes_, peak, bw, eta_c, eta_m, p, t0) -> KernelTime:
    """Vectorised kernel time in seconds with its split; arguments broadcast (FLOP, bytes, FLOP/s, bytes/s).

    t = t0 + (t_c^p + t_m^p)^(1/p) = t0 + hi·(1 + r^p)^(1/p), r = lo/hi ∈ [0, 1]; the powers are taken as
    exp/log (r = 0 gives 0), and p = 1 everywhere needs none."""
    tc = flops / (eta_c * peak)
    tm = bytes_ / (eta_m * bw)
    hi = np.maximum(tc, tm)
    lo = np.minimum(tc, tm)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(hi > 0, lo / hi, 0.0)
        if np.all(np.equal(p, 1.0)):
            ratio_p = ratio
            body = tc + tm
        else:
            ratio_p = np.exp(p * np.log(ratio))
            body = hi * np.exp(np.log1p(ratio_p) / p)

    def split():
        compute = body * np.where(tc >= tm, 1.0, ratio_p) / (1.0 + ratio_p)
        return np.broadcast_to(t0, np.shape(body)), compute, body - compute

    return KernelTime(t0 + body, split)


def smooth_roofline(flops, bytes_, peak, bw, eta_c, eta_m, p, t0):
    """Vectorised kernel time in seconds (`roofline` without the split)."""
    return roofline(flops, bytes_, peak, bw, eta_c, eta_m, p, t0).time_s


@functools.lru_cache(maxsize=4)
def load_kernel_fits(path: str | None = None) -> dict:
    file = Path(path) if path else builtin_catalog_dir() / "kernel_fits.yaml"
    if not file.exists():
        raise CatalogError([Issue(str(file), "", "kernel fit file missing; run bench/fit_kernels.py")])
    from solver.cache import cached

    return cached("kernel-fits", [file], lambda: yaml.safe_load(file.read_text()))


class KernelLibrary:
    """Curve and link lookups for one accelerator.

    fits: the kernel fits (default catalogs/kernel_fits.yaml); family_systems: family id -> the kernel
    system of accelerators without tables of their own (`kernel_system` of catalogs/families.yaml).
    """

    def __init__(self, fits: dict | None = None, family_systems: dict[str, str] | None = None):
        self.fits = fits or load_kernel_fits()
        self.family_systems = family_systems or {}
        self._by_acc: dict[str, str] = {}
        self._links: dict[tuple, Link] = {}
        for system, entry in self.fits["systems"].items():
            for acc_id in entry.get("accelerators", []):
                self._by_acc[acc_id] = system

    @classmethod
    def for_catalog(cls, catalog, fits: dict | None = None) -> KernelLibrary:
        return cls(fits, {f.id: f.kernel_system for f in catalog.families.values()})

    def system_for(self, acc: Accelerator) -> tuple[str, bool]:
        """(kernel system, measured?) for an accelerator."""
        if acc.id in self._by_acc:
            return self._by_acc[acc.id], True
        if acc.family not in self.family_systems:
            raise CatalogError([Issue("families", acc.family, f"no kernel_system for the {acc.family} family of "
                                                              f"{acc.id}; add the family to catalogs/families.yaml")])
        return self.family_systems[acc.family], False

    def curve(self, acc: Accelerator, table: str, framework: str, dtype: str) -> Curve:
        """Fitted curve; falls back over frameworks, then over dtypes (named in `DTYPE_FALLBACK`)."""
        system, _ = self.system_for(acc)
        tables = self.fits["systems"][system][table]
        for dt in (dtype, *DTYPE_FALLBACK.get(dtype, ()), "bf16"):
            for fw in (framework, *FRAMEWORK_ORDER):
                entry = tables.get(fw, {}).get(dt)
                if entry:
                    return Curve(entry["eta_c"], entry["eta_m"], entry["p"], entry["t0_us"] * 1e-6,
                                 entry.get("gamma_bytes_per_pair_hidden", 0.0), entry.get("units_full_bw", 1.0))
        # A table with no usable fit at all: a hard roofline at the README's headline fractions.
        raise CatalogError([Issue("kernel_fits.yaml", f"systems.{system}.{table}", "no fitted curve")])

    def link(self, acc: Accelerator, kind: str, framework: str, n: int) -> Link:
        """All-reduce or all-to-all cost for n GPUs inside one scale-up domain."""
        key = (acc.id, acc.intra_node_bandwidth_gb_s, acc.scale_up_link, kind, framework, n)
        if key not in self._links:
            self._links[key] = self._link(acc, kind, framework, n)
        return self._links[key]

    def _link(self, acc: Accelerator, kind: str, framework: str, n: int) -> Link:
        system, measured = self.system_for(acc)
        entry = self.fits["systems"][system]
        table = entry[kind]
        fw_table = table.get(framework) or table.get("nccl") or next(iter(table.values()))
        sizes = sorted(int(k) for k in fw_table)
        n_key = min(sizes, key=lambda s: (abs(np.log2(max(n, 2)) - np.log2(s)), s))
        row = fw_table[n_key] if n_key in fw_table else fw_table[str(n_key)]
        busbw = row["busbw_gb_s"] * 1e9
        scale = 1.0
        if not measured and acc.intra_node_bandwidth_gb_s:
            scale = acc.intra_node_bandwidth_gb_s / entry["intra_node_bw_gb_s"]
            busbw *= scale
        if kind == "allreduce" and acc.scale_up_link == "pcie":
            return Link(*pcie_allreduce(fw_table, n_key, scale))
        return Link(row["alpha_us"] * 1e-6, busbw)

    def p2p_latency_s(self, acc: Accelerator) -> float:
        system, _ = self.system_for(acc)
        return self.fits["systems"][system]["p2p_latency_us"] * 1e-6


DTYPE_FALLBACK = {
    "fp8": ("fp8_block",),
    "fp8_block": ("fp8",),
    "fp4": ("fp8",),
    "mxfp4_wo": ("int4_wo",),
    "mxfp4_w4a8": ("fp8",),
    "int4_wo": ("mxfp4_wo",),
    "int8_wo": (),
}
