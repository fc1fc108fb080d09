"""Model geometry and datatype facts the performance model needs, as flat numbers.

Bytes per weight (`WEIGHT_BYTES`): bf16/fp16 2; fp8/int8 1; int4 0.5 plus one bf16 scale per 128
(0.5156); NVFP4 4 bits plus an fp8 scale per 16 (0.5625); MXFP4 4 bits plus an 8-bit scale per 32
(0.53125). Embeddings and the LM head stay bf16 in every engine's quantized checkpoints. For `mxfp4`
(gpt-oss) only routed-expert weights are 4-bit; attention, dense and shared layers stay bf16.

Compute datatype (`compute_dtype`): a weight format runs at its own peak only when the accelerator
lists that datatype in `peak_tflops` (fp8 on Hopper/Ada/MI300, fp4 on Blackwell/MI355X); otherwise it
is weight-only (dequantised into bf16 math: fewer bytes, bf16 speed). int8 is modelled weight-only
(W8A16) everywhere. MXFP4 checkpoints (gpt-oss) keep their non-expert layers in bf16, and their experts
run W4A8 (MXFP8 activations, fp8 peak) in TensorRT-LLM on GPUs with native fp4 and W4A16 (bf16
math) elsewhere and in vLLM/SGLang by default (`moe_compute_dtype`; TensorRT-LLM's gpt-oss deployment
blog, NVIDIA/TensorRT-LLM docs/source/blogs/tech_blog/blog9_Deploying_GPT_OSS_on_TRTLLM.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from solver.catalog.params import parameter_counts
from solver.catalog.schema import Accelerator, Model
from solver.units import BF16_BYTES

WEIGHT_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.515625, "fp4": 0.5625,
                "mxfp4": 0.53125}
KV_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0}


def compute_dtype(acc: Accelerator, quant: str) -> tuple[str, str]:
    """(peak key, kernel-curve dtype) of the linear layers for a weight format on an accelerator."""
    native = acc.native_dtypes
    if quant in ("bf16", "fp16"):
        return "bf16", "bf16"
    if quant == "fp8":
        return ("fp8", "fp8") if "fp8" in native else ("bf16", "int8_wo")
    if quant == "int8":
        return "bf16", "int8_wo"
    if quant == "fp4":
        return ("fp4", "fp4") if "fp4" in native else ("bf16", "int4_wo")
    if quant == "mxfp4":
        return "bf16", "bf16"  # only the routed experts are 4-bit (`moe_compute_dtype`)
    return "bf16", "int4_wo"  # int4: weight-only everywhere


def moe_compute_dtype(acc: Accelerator, quant: str, framework: str) -> tuple[str, str]:
    """(peak key, kernel-curve dtype) of the routed experts (module docstring)."""
    if quant != "mxfp4":
        return compute_dtype(acc, quant)
    if framework == "trtllm" and "fp4" in acc.native_dtypes and "fp8" in acc.native_dtypes:
        return "fp8", "mxfp4_w4a8"
    return "bf16", "mxfp4_wo"


@dataclass(frozen=True)
class Geometry:
    """Per-model numbers (counts, not bytes). Attention FLOP dims: qk and v head dims."""

    layers: float
    hidden: float
    heads: float
    kv_heads: float
    d_qk: float
    d_v: float
    is_mla: float
    kv_elems_per_layer: float
    """KV-cache elements per token per layer before sharding (GQA 2·n_kv·d_h; MLA r_kv + d_rope)."""
    mla_decode_dim: float
    """Absorbed-MLA decode FLOPs per (head, cached token) / 2: (r_kv + d_rope) + r_kv."""
    attn_params: float
    """Attention weights per layer."""
    dense_ffn_params: float
    n_dense_layers: float
    n_moe_layers: float
    experts: float
    top_k: float
    expert_params: float
    shared_params: float
    """Shared experts + router per MoE layer (always active, sharded by tp)."""
    embed_params: float
    """Embedding + LM head."""
    lm_head_params: float
    sw_layers: float
    window: float
    total_params: float
    active_params: float
    max_context: float
    attn_gemms: float
    """Separate GEMM kernels of the attention block (GQA: qkv, o = 2; MLA: q_a, q_b, kv_a, the two
    absorbed batched GEMMs, o = 6)."""

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def geometry(model: Model) -> Geometry:
    pc = parameter_counts(model)
    if model.is_mla:
        d_qk = float(model.qk_nope_head_dim + model.qk_rope_head_dim)
        d_v = float(model.v_head_dim)
        kv_elems = float(model.kv_lora_rank + model.qk_rope_head_dim)
        mla_dim = float(model.kv_lora_rank + model.qk_rope_head_dim + model.kv_lora_rank)
    else:
        d_qk = d_v = float(model.head_dim)
        kv_elems = 2.0 * model.num_kv_heads * model.head_dim
        mla_dim = 0.0
    return Geometry(
        layers=float(model.num_layers),
        hidden=float(model.hidden_size),
        heads=float(model.num_attention_heads),
        kv_heads=float(model.num_kv_heads),
        d_qk=d_qk,
        d_v=d_v,
        is_mla=float(model.is_mla),
        kv_elems_per_layer=kv_elems,
        mla_decode_dim=mla_dim,
        attn_params=float(pc.attention_per_layer + pc.norms_per_layer),
        dense_ffn_params=float(pc.dense_ffn_per_layer),
        n_dense_layers=float(pc.num_dense_layers),
        n_moe_layers=float(pc.num_moe_layers),
        experts=float(pc.num_experts),
        top_k=float(pc.experts_per_token),
        expert_params=float(pc.expert),
        shared_params=float(pc.shared_experts_per_layer + pc.router_per_layer),
        embed_params=float(pc.embedding + pc.lm_head),
        lm_head_params=float(pc.lm_head or pc.embedding),
        sw_layers=float(model.sliding_window_layers),
        window=float(model.sliding_window_tokens or 0),
        total_params=float(pc.total),
        active_params=float(pc.active),
        max_context=float(model.max_context_tokens),
        attn_gemms=6.0 if model.is_mla else 2.0,
    )


def weight_bytes(quant: str, model_arch: str) -> tuple[float, float]:
    """(bytes per non-expert linear weight, bytes per routed-expert weight)."""
    b = WEIGHT_BYTES[quant]
    if quant == "mxfp4":
        return BF16_BYTES, b
    return b, b
