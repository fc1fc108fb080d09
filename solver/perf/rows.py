"""Per-row inputs of the performance model, in frozen dataclasses whose field names carry units.

`Rows` holds one array entry per usable replica configuration (built by `prepare.py`); `memory`,
`latency` and `serving` read only it. Kernel efficiencies are already derated by the engine
profile's serving factors (`compute_efficiency`, `memory_efficiency`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass

import numpy as np

from solver.perf.arch import Geometry


@dataclass(frozen=True)
class KernelCurve:
    """One fitted smooth roofline per row (kernels.py): t = t0 + ((F/(η_c·P))^p + (B/(η_m·BW))^p)^(1/p)."""

    eta_c: np.ndarray
    eta_m: np.ndarray
    p: np.ndarray
    t0_s: np.ndarray


@dataclass(frozen=True)
class MoeCurve(KernelCurve):
    gamma_bytes_per_pair_hidden: np.ndarray
    """Extra bytes per (routed pair × hidden element): the permute/un-permute copies."""


@dataclass(frozen=True)
class DecodeCurve(KernelCurve):
    units_full_bw: np.ndarray
    """(request, KV head) units the kernel needs to keep the memory system busy: a kernel that does not
    split the KV sequence runs one thread block per unit (kernels.py, bench/fit_kernels.py); 1: any."""


@dataclass(frozen=True)
class Device:
    """The accelerator, per row; `peak_flop_per_s` is the peak of the weight format's compute dtype,
    `moe_peak_flop_per_s` that of the routed experts (they differ for MXFP4 checkpoints, `arch.py`)."""

    memory_bytes: np.ndarray
    hbm_bytes_per_s: np.ndarray
    peak_bf16_flop_per_s: np.ndarray
    peak_flop_per_s: np.ndarray
    scale_up_domain_gpus: np.ndarray
    moe_peak_flop_per_s: np.ndarray


@dataclass(frozen=True)
class Runtime:
    """The engine's settings and calibrated overheads on this accelerator family, per row."""

    step_overhead_s: np.ndarray
    ttft_overhead_s: np.ndarray
    max_num_tokens: np.ndarray
    memory_utilisation: np.ndarray
    runtime_reserve_bytes: np.ndarray
    kv_admission_output_fraction: np.ndarray
    max_batch_default: np.ndarray
    kv_memory_fraction_of_free: np.ndarray
    """1.0 when the KV cache takes a fraction of the memory left after weights (TensorRT-LLM), else 0.0."""
    kernel_floor_s: np.ndarray
    """Time of the framework's smallest bf16 kernel; element-wise kernels cost it."""
    kv_window_capped: np.ndarray
    """1.0 when the engine keeps only the window of a sliding-window layer's KV per request, 0.0 when it
    keeps the full context (catalog `sliding_window_kv`)."""


@dataclass(frozen=True)
class Links:
    """Collective costs per row: t = latency + f(n) · bytes / bus bandwidth (network when crossing nodes)."""

    allreduce_latency_s: np.ndarray
    allreduce_bytes_per_s: np.ndarray
    alltoall_latency_s: np.ndarray
    alltoall_bytes_per_s: np.ndarray
    moe_allreduce_latency_s: np.ndarray
    """All-reduce over the n = tp·dp GPUs of a stage (a tensor-parallel MoE layer fed by dp groups)."""
    moe_allreduce_bytes_per_s: np.ndarray
    p2p_latency_s: np.ndarray
    p2p_bytes_per_s: np.ndarray


@dataclass(frozen=True)
class Rows:
    """Everything the performance model needs per usable row."""

    geometry: Geometry
    """Model geometry; each field an array over rows."""
    tp: np.ndarray
    """Attention tensor parallelism (each attention group of tp GPUs)."""
    dp: np.ndarray
    """Attention data-parallel groups per stage (each with its own requests and KV cache)."""
    pp: np.ndarray
    ep: np.ndarray
    """Expert parallelism: routed experts are spread over ep ranks of moe_tp = tp·dp/ep GPUs each."""
    moe_load_imbalance: np.ndarray
    """ρ ≥ 1: routed tokens on the busiest ep rank over the mean (1 when ep = 1)."""
    moe_gather_bytes: np.ndarray
    """Bytes per element of a MoE layer's input when all-gathered (prepare.moe_exchange_bytes)."""
    moe_dispatch_bytes: np.ndarray
    """Bytes per element of a MoE layer's input when dispatched by all-to-all."""
    dense_weight_bytes: np.ndarray
    """Bytes per non-expert linear weight (β_w)."""
    expert_weight_bytes: np.ndarray
    """Bytes per routed-expert weight (β_e)."""
    kv_bytes_per_element: np.ndarray
    """β_kv."""
    kv_elements_per_token_layer: np.ndarray
    """KV-cache elements per token per layer on one GPU (memory.kv_elems_local)."""
    device: Device
    runtime: Runtime
    links: Links
    gemm: KernelCurve
    moe: MoeCurve
    prefill_attention: KernelCurve
    decode_attention: DecodeCurve
    cache: dict = field(default_factory=dict, compare=False, repr=False)
    """Load-independent quantities computed once by `latency` (a row subset starts empty)."""

    def __len__(self) -> int:
        return len(self.tp)

    @property
    def stage_gpus(self) -> np.ndarray:
        """n = tp·dp GPUs per pipeline stage (attention tp × dp; MoE moe_tp × ep)."""
        return self.tp * self.dp

    @property
    def moe_tp(self) -> np.ndarray:
        return self.stage_gpus / self.ep

    @property
    def iteration_token_budget(self) -> np.ndarray:
        """Tokens one iteration of the replica may carry: the engine's max_num_tokens per attention dp
        rank (each dp rank schedules its own batch: TensorRT-LLM attention DP, SGLang DP attention
        workers, vLLM data-parallel engine cores)."""
        return self.runtime.max_num_tokens * self.dp

    def take(self, sel) -> Rows:
        """The rows `sel` (indices or a boolean mask) of every per-row array."""
        return take_rows(self, sel)


def take_rows(value, sel):
    """`value` with every 1-D array (also inside nested dataclasses) restricted to `sel`."""
    if isinstance(value, np.ndarray):
        return value[sel] if value.ndim == 1 else value
    names = _FIELD_NAMES.get(type(value))
    if names is None:
        if not is_dataclass(value):
            return value
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in fields(value) if f.name != "cache")
    return type(value)(**{name: take_rows(getattr(value, name), sel) for name in names})


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
"""Field names of each dataclass `take_rows` has met (`fields()` is slow to call per row subset)."""
