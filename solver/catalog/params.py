"""Parameter counts computed from a model's architecture (config.json fields).

Per layer, with hidden size d, heads n_h, KV heads n_kv, head dim d_h:
- GQA attention: q and o projections 2·d·n_h·d_h, k and v projections 2·d·n_kv·d_h
  (+ biases n_h·d_h + 2·n_kv·d_h + d when `attention_bias`).
- MLA attention (DeepSeek): q = d·r_q + r_q·n_h·(d_nope + d_rope) (or d·n_h·(d_nope + d_rope) without
  a q rank), kv_a = d·(r_kv + d_rope), kv_b = r_kv·n_h·(d_nope + d_v), o = n_h·d_v·d, plus the
  r_q and r_kv norms.
- Gated (SwiGLU) FFN of width f: 3·d·f. An MoE layer has E routed experts of width f_e, `shared`
  always-on experts of the same width and a router d·E.
- Two RMSNorms per layer (2·d), a final norm (d), the embedding V·d and an untied LM head V·d.
Active parameters replace the E routed experts of each MoE layer by the k a token is sent to.
"""

from __future__ import annotations

from dataclasses import dataclass

from solver.catalog.schema import Model


@dataclass(frozen=True)
class ParameterCounts:
    embedding: int
    lm_head: int
    attention_per_layer: int
    dense_ffn_per_layer: int
    expert: int
    """One routed expert of one MoE layer."""
    shared_experts_per_layer: int
    router_per_layer: int
    norms_per_layer: int
    num_dense_layers: int
    num_moe_layers: int
    num_experts: int
    experts_per_token: int
    final_norm: int

    @property
    def routed_experts_total(self) -> int:
        return self.expert * self.num_experts * self.num_moe_layers

    @property
    def non_expert_total(self) -> int:
        """Everything except the routed experts (attention, dense FFNs, shared experts, embeddings)."""
        return self.total - self.routed_experts_total

    @property
    def total(self) -> int:
        layers = self.num_dense_layers + self.num_moe_layers
        per_layer_common = self.attention_per_layer + self.norms_per_layer
        return (
            self.embedding
            + self.lm_head
            + layers * per_layer_common
            + self.num_dense_layers * self.dense_ffn_per_layer
            + self.num_moe_layers
            * (self.expert * self.num_experts + self.shared_experts_per_layer + self.router_per_layer)
            + self.final_norm
        )

    @property
    def active(self) -> int:
        inactive = self.num_moe_layers * self.expert * (self.num_experts - self.experts_per_token)
        return self.total - inactive



def moe_layer_count(model: Model) -> int:
    """Layers l ≥ first_dense_layers with (l + 1) divisible by moe_layer_interval."""
    if not model.is_moe:
        return 0
    return sum(
        1
        for layer in range(model.first_dense_layers, model.num_layers)
        if (layer + 1) % model.moe_layer_interval == 0
    )


def attention_params(model: Model) -> int:
    d, n_h = model.hidden_size, model.num_attention_heads
    if model.is_mla:
        nope, rope, v = model.qk_nope_head_dim, model.qk_rope_head_dim, model.v_head_dim
        r_kv = model.kv_lora_rank
        if model.q_lora_rank:
            q = d * model.q_lora_rank + model.q_lora_rank * n_h * (nope + rope) + model.q_lora_rank
        else:
            q = d * n_h * (nope + rope)
        kv = d * (r_kv + rope) + r_kv * n_h * (nope + v) + r_kv
        return q + kv + n_h * v * d
    d_h, n_kv = model.head_dim, model.num_kv_heads
    weights = 2 * d * n_h * d_h + 2 * d * n_kv * d_h
    bias = (n_h * d_h + 2 * n_kv * d_h + d) if model.attention_bias else 0
    return weights + bias


def parameter_counts(model: Model) -> ParameterCounts:
    d = model.hidden_size
    n_moe = moe_layer_count(model)
    n_dense = model.num_layers - n_moe
    dense_ffn = 3 * d * model.intermediate_size if model.intermediate_size and n_dense else 0
    expert = 3 * d * model.moe_intermediate_size if model.is_moe else 0
    embedding = model.vocab_size * d
    return ParameterCounts(
        embedding=embedding,
        lm_head=0 if model.tie_word_embeddings else embedding,
        attention_per_layer=attention_params(model),
        dense_ffn_per_layer=dense_ffn,
        expert=expert,
        shared_experts_per_layer=model.shared_experts * expert,
        router_per_layer=d * model.num_experts if model.is_moe else 0,
        norms_per_layer=2 * d,
        num_dense_layers=n_dense,
        num_moe_layers=n_moe,
        num_experts=model.num_experts or 0,
        experts_per_token=model.experts_per_token or 0,
        final_norm=d,
    )
