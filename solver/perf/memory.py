"""Memory per GPU: weights, KV cache, activations and runtime reserve (vectorised over rows).

Parallelism convention (the engines'): a replica is pp stages of n = tp·dp GPUs (tp·dp·pp GPUs).
Layers are split evenly over pp stages. Within a stage, attention, dense FFN, shared experts and
embeddings are sharded over tp and replicated over the dp groups (attention runs data-parallel over
dp groups of tp GPUs, each group holding its own requests' KV cache); MoE layers split the same n
GPUs as moe_tp × ep: each of the ep ranks holds ⌈E/ep⌉ routed experts, each sliced over moe_tp.

- Weights per GPU = (non-expert linear · β_w + embeddings · 2) / (tp·pp)
                    + moe_layers · ⌈E/ep⌉ · expert · β_e / (moe_tp·pp).
- KV bytes per token per GPU (one dp group) = layers/pp · kv_elems_local · β_kv, with GQA
  kv_elems_local = 2·ceil(n_kv/tp)·d_h (KV heads are replicated when n_kv < tp) and MLA
  kv_elems_local = r_kv + d_rope (the latent is replicated on every tp rank).
- Sliding-window layers hold min(context, window) tokens.
- Activations: one iteration's tokens (max_num_tokens) × (2·hidden + 3·local FFN width) bf16 values
  (the peak inside an FFN) plus fp32 logits of 256 rows, and the engine's runtime reserve; the engine
  may use `memory_utilisation` of the device (or of what is left after weights, TensorRT-LLM).
- Device capacity: the catalog's `memory_gb` is the byte-exact capacity the driver reports (nvidia-smi
  memory.total, e.g. H100 81,559 MiB = 85.52 GB, not the marketing "80GB", which is GiB). The CUDA
  context, driver-reserved memory and communication buffers are the profile's `runtime_reserve_gb`,
  subtracted once: inside the `memory_utilisation` budget (vLLM, SGLang) or before the free-memory
  fraction (TensorRT-LLM); nothing else is deducted from the capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.perf.arch import Geometry
from solver.perf.rows import take_rows
from solver.units import BF16_BYTES, BYTES_PER_GB, FP32_BYTES

GB = BYTES_PER_GB
ACTIVATION_WIDTH_HIDDEN = 2.0
ACTIVATION_WIDTH_FFN = 3.0
"""Peak live bf16 activations per token inside one layer: the residual and the FFN input (2·hidden)
plus the gate/up output and the activated product (3·local FFN width)."""
LOGIT_ROWS = 256
"""fp32 logit rows held at once (the sampler's batch of last-token logits)."""


def expert_slots_per_rank(g: Geometry, ep):
    """Routed experts one ep rank holds: ⌈E/ep⌉ (when ep does not divide E the engines fill the spare
    slots with redundant copies of hot experts, as EPLB does)."""
    return np.ceil(np.maximum(g.experts, 1.0) / ep)


def weights_per_gpu(g: Geometry, beta_ne, beta_e, tp, dp, pp, ep):
    """Attention, dense FFN, shared experts and embeddings sharded over tp (replicated over dp); each GPU
    holds ⌈E/ep⌉ routed experts sliced over moe_tp = tp·dp/ep."""
    non_expert = g.layers * g.attn_params + g.n_dense_layers * g.dense_ffn_params \
        + g.n_moe_layers * g.shared_params
    moe_tp = tp * dp / ep
    experts = g.n_moe_layers * expert_slots_per_rank(g, ep) * g.expert_params
    return (non_expert * beta_ne + g.embed_params * BF16_BYTES) / (tp * pp) + experts * beta_e / (moe_tp * pp)


def kv_elems_local(g: Geometry, tp):
    """KV elements per token per layer on one GPU."""
    gqa = 2.0 * np.ceil(g.kv_heads / tp) * (g.kv_elems_per_layer / np.maximum(2.0 * g.kv_heads, 1))
    return np.where(g.is_mla > 0, g.kv_elems_per_layer, gqa)


def kv_bytes_per_request(g: Geometry, beta_kv, tp, pp, context, window_capped=1.0):
    """KV bytes on one GPU for one request holding `context` tokens; sliding-window layers hold at most
    their window where `window_capped` (the engine frees out-of-window pages: `Runtime.kv_window_capped`),
    else the full context."""
    full_layers = g.layers - g.sw_layers
    windowed = np.where((g.window > 0) & (np.asarray(window_capped) > 0), np.minimum(context, g.window), context)
    tokens_layers = full_layers * context + g.sw_layers * windowed
    return tokens_layers / pp * kv_elems_local(g, tp) * beta_kv


def activation_bytes(g: Geometry, tp, max_num_tokens):
    ffn_local = np.maximum(g.dense_ffn_params, g.shared_params + g.top_k * g.expert_params) \
        / (3.0 * np.maximum(g.hidden, 1)) / tp
    logits = max_num_tokens * 0 + g.lm_head_params / np.maximum(g.hidden, 1) / tp * FP32_BYTES * LOGIT_ROWS
    width = ACTIVATION_WIDTH_HIDDEN * g.hidden + ACTIVATION_WIDTH_FFN * ffn_local
    return max_num_tokens * width * BF16_BYTES + logits


def usable_bytes(memory_bytes, utilisation, reserve_bytes):
    return memory_bytes * utilisation - reserve_bytes


@dataclass(frozen=True)
class MemoryPlan:
    """Memory per GPU of each row, in bytes, and the batch it allows."""

    weights_bytes: np.ndarray
    activation_bytes: np.ndarray
    reserve_bytes: np.ndarray
    kv_free_bytes: np.ndarray
    """Memory the engine gives the KV cache."""
    device_bytes: np.ndarray
    """What the engine may use of the device (the denominator of the memory verdict)."""
    kv_bytes_per_request_full: np.ndarray
    """KV of one request at its full context (isl + osl), on one GPU."""
    kv_bytes_per_request_mean: np.ndarray
    """KV of one request at its mean context while decoding (isl + osl/2)."""
    kv_cache_tokens: np.ndarray
    """Tokens the replica's KV cache holds."""
    batch_max: np.ndarray
    """B_max = min(max_batch, KV capacity in requests, max_num_tokens per dp rank × dp)."""

    def take(self, sel) -> MemoryPlan:
        return take_rows(self, sel)

    @property
    def need_bytes(self) -> np.ndarray:
        """Memory one request at full context needs on top of weights, activations and reserve."""
        return self.weights_bytes + self.activation_bytes + self.reserve_bytes + self.kv_bytes_per_request_full

    def verdict(self) -> np.ndarray:
        """'' where one request fits, else the reason (GB = 1e9 bytes)."""
        out = np.full(len(self.weights_bytes), "", dtype=object)
        short = self.kv_free_bytes < self.kv_bytes_per_request_full
        out[short] = [f"memory: needs {a / GB:.1f} GB/GPU, {b / GB:.1f} available"
                      for a, b in zip(self.need_bytes[short], self.device_bytes[short], strict=True)]
        return out

    def kv_bytes_at(self, batch, dp) -> np.ndarray:
        """KV bytes per GPU when `batch` requests decode in the replica (capped at B_max ≥ 1; dp groups)."""
        return np.minimum(batch, np.maximum(self.batch_max, 1.0)) / dp * self.kv_bytes_per_request_mean

    def gb_per_gpu_at(self, batch, dp) -> np.ndarray:
        """Memory per GPU in GB at the operating batch: weights + activations + reserve + KV."""
        return (self.weights_bytes + self.activation_bytes + self.reserve_bytes + self.kv_bytes_at(batch, dp)) / GB


def memory_plan(rows, isl, osl, max_batch) -> MemoryPlan:
    """Weights, activations, KV capacity and B_max of each row of `rows` (a `rows.Rows`).

    The KV cache gets `memory_utilisation` of the device minus reserve, weights and activations
    (vLLM, SGLang), or that fraction of what is left after them (TensorRT-LLM); a request is admitted
    with `kv_admission_output_fraction` of its output reserved. NaN max_batch: the engine's default.
    """
    g, rt, dev = rows.geometry, rows.runtime, rows.device
    tp, dp, pp, beta_kv = rows.tp, rows.dp, rows.pp, rows.kv_bytes_per_element
    w = weights_per_gpu(g, rows.dense_weight_bytes, rows.expert_weight_bytes, tp, dp, pp, rows.ep)
    act = activation_bytes(g, tp, rt.max_num_tokens)
    usable = usable_bytes(dev.memory_bytes, rt.memory_utilisation, rt.runtime_reserve_bytes)
    after = dev.memory_bytes - rt.runtime_reserve_bytes - w - act
    free = np.where(rt.kv_memory_fraction_of_free > 0, after * rt.memory_utilisation, usable - w - act)
    cap = rt.kv_window_capped
    per_req_admit = kv_bytes_per_request(g, beta_kv, tp, pp, isl + rt.kv_admission_output_fraction * osl, cap)
    per_token = kv_bytes_per_request(g, beta_kv, tp, pp, 1.0, cap)
    b_kv = dp * np.floor(np.maximum(free, 0) / per_req_admit)
    mb = np.where(np.isnan(max_batch), rt.max_batch_default, max_batch)
    return MemoryPlan(
        weights_bytes=w, activation_bytes=act, reserve_bytes=rt.runtime_reserve_bytes, kv_free_bytes=free,
        device_bytes=dev.memory_bytes * np.where(rt.kv_memory_fraction_of_free > 0, 1.0, rt.memory_utilisation),
        kv_bytes_per_request_full=kv_bytes_per_request(g, beta_kv, tp, pp, isl + osl, cap),
        kv_bytes_per_request_mean=kv_bytes_per_request(g, beta_kv, tp, pp, isl + osl / 2, cap),
        kv_cache_tokens=dp * np.maximum(free, 0) / per_token,
        batch_max=np.minimum(np.minimum(mb, b_kv), rows.iteration_token_budget))
