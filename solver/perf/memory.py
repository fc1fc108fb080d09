"""Memory per GPU: weights, KV cache, activations and runtime reserve (vectorised over rows).

Parallelism convention: a replica has tp·pp·ep GPUs. Layers are split evenly over pp stages. Within a
stage, attention, dense FFN, shared experts and embeddings are sharded over tp and replicated over the
ep groups (attention runs data-parallel over ep groups of tp GPUs, each group holding its own
requests' KV cache); routed experts are sharded over all ep·tp GPUs of the stage.

- Weights per GPU = (non-expert linear · β_w + embeddings · 2) / (tp·pp)
                    + moe_layers · E · expert · β_e / (tp·ep·pp).
- KV bytes per token per GPU (one ep group) = layers/pp · kv_elems_local · β_kv, with GQA
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

import numpy as np

GB = 1e9
ACTIVATION_WIDTH_HIDDEN = 2.0
ACTIVATION_WIDTH_FFN = 3.0
"""Peak live bf16 activations per token inside one layer: the residual and the FFN input (2·hidden)
plus the gate/up output and the activated product (3·local FFN width)."""


def weights_per_gpu(g: dict, beta_ne, beta_e, tp, pp, ep):
    non_expert = g["layers"] * g["attn_params"] + g["n_dense_layers"] * g["dense_ffn_params"] \
        + g["n_moe_layers"] * g["shared_params"]
    experts = g["n_moe_layers"] * g["experts"] * g["expert_params"]
    return (non_expert * beta_ne + g["embed_params"] * 2.0) / (tp * pp) + experts * beta_e / (tp * ep * pp)


def kv_elems_local(g: dict, tp):
    """KV elements per token per layer on one GPU."""
    gqa = 2.0 * np.ceil(g["kv_heads"] / tp) * (g["kv_elems_per_layer"] / np.maximum(2.0 * g["kv_heads"], 1))
    return np.where(g["is_mla"] > 0, g["kv_elems_per_layer"], gqa)


def kv_bytes_per_request(g: dict, beta_kv, tp, pp, context):
    """KV bytes on one GPU for one request holding `context` tokens (sliding-window layers capped)."""
    full_layers = g["layers"] - g["sw_layers"]
    windowed = np.where(g["window"] > 0, np.minimum(context, g["window"]), context)
    tokens_layers = full_layers * context + g["sw_layers"] * windowed
    return tokens_layers / pp * kv_elems_local(g, tp) * beta_kv


def activation_bytes(g: dict, tp, max_num_tokens):
    ffn_local = np.maximum(g["dense_ffn_params"], g["shared_params"] + g["top_k"] * g["expert_params"]) \
        / (3.0 * np.maximum(g["hidden"], 1)) / tp
    logits = max_num_tokens * 0 + g["lm_head_params"] / np.maximum(g["hidden"], 1) / tp * 4.0 * 256
    width = ACTIVATION_WIDTH_HIDDEN * g["hidden"] + ACTIVATION_WIDTH_FFN * ffn_local
    return max_num_tokens * width * 2.0 + logits


def usable_bytes(memory_gb, utilisation, reserve_gb):
    return memory_gb * GB * utilisation - reserve_gb * GB
