"""Time of one engine iteration (vectorised): compute, memory traffic and communication.

One iteration advances every decoding request by one token and prefills `n_pf` prompt tokens (chunked
prefill) of prompts of `prompt` tokens each.

Requests are indivisible: a decoding request or a prompt sits in one pipeline micro-batch and, with
dp > 1, in one data-parallel attention group. With pp stages the requests are split into
m = min(pp, n_dec + prompts) micro-batches, and the micro-batch that sets the pace is the heaviest one,
carrying max(total/m, min(total, one request)) decode and prompt tokens (the mean when there are
enough requests to go round, else one whole request). Each micro-batch crosses every stage once per
iteration, so the wall time is `L · t_layer(heaviest) + max(lm_head + (pp−1)·hop, m · lm_head) +
step_overhead`: one micro-batch's traversal, or the last stage's m LM heads when they take longer
(a bubble when there are fewer requests than stages). So a prompt under load never costs less than
the same prompt alone (its tokens are never spread over micro-batches or dp groups), and the TTFT and
TPOT floors (one request alone) are lower bounds of the loaded values. `fill=True` adds the pipeline
fill of a one-shot batch (m − 1 further stage times), used by the static-batch prefill.

Per layer on one GPU, with t tokens in the micro-batch and t_g = t/dp of them in this GPU's attention
group (see memory.py for the sharding convention: a stage is n = tp·dp GPUs, MoE layers split them as
moe_tp × ep), every kernel costed with its fitted smooth roofline (kernels.py), η derated by the
profile's serving factors:

- linear layers (attention projections; dense FFN or shared experts): F = 2·t_g·params/tp,
  bytes = params/tp·β_w + activations;
- routed experts: pairs = ρ·t·k/ep on the busiest ep rank (ρ the expert load imbalance, 1 at ep = 1;
  `moe_load_imbalance`), F = 2·pairs·expert/moe_tp, bytes = touched·expert/moe_tp·β_e with
  touched = ⌈E/ep⌉·(1 − (1 − k/E)^t) distinct local experts hit (DESIGN §3), plus γ·pairs·d bytes of
  routed-activation copies (γ fitted with the MoE kernel curve, measured grouped GEMMs);
- prefill attention: F = 2·(n_h/tp)·(d_qk + d_v)·pairs, pairs = tokens · mean causal context (windowed
  layers capped at the window), so attention cost grows with the square of the prompt;
- decode attention: bytes = n_dec_g · context · KV bytes per token per layer; F = 2·(n_h/tp)·(d_qk+d_v)
  ·context (absorbed MLA: 2·(n_h/tp)·(2·r_kv + d_rope)·context);
- communication: 2 tensor-parallel all-reduces of t_g·d·2 bytes per layer over tp, α + 2(tp−1)/tp·
  bytes/busbw. A MoE layer replaces the second by its expert block's collectives. With attention
  data parallelism (dp > 1) and ep > 1 tokens live on their dp group and travel to their experts: a
  dispatch and a combine all-to-all, α + ρ·(ep−1)/ep·(t_g/tp)·k·d·2/busbw each (each GPU sends its
  share of its group's tokens; the busiest group sets the pace). Otherwise every GPU of the stage
  sees all t tokens (tensor-parallel attention replicates them, or dp groups are gathered) and the
  MoE outputs are summed: an all-reduce over n = tp·dp of t tokens (with dp > 1 the all-gather and
  reduce-scatter around the MoE block, which cost as much). A group larger than the scale-up domain
  (NVLink / Infinity Fabric; 72 GPUs on an NVL72 rack) uses the network link;
- kernel floors: the lumped linear layers above are costed as one kernel each, so the other GEMM
  kernels of a layer add their floor t0 (attention: GQA 2 kernels, MLA 6; dense FFN 2; MoE layers a
  router and, with shared experts, 2 more); element-wise kernels (`MISC_KERNELS`: 2 RMSNorms, rotary
  embedding, activation; MLA +2 latent norms; MoE +2 for top-k and combine) cost the framework's
  bf16 kernel floor plus their activation traffic.

`step_time` returns a `StepTime`: the wall time `total_s` and its named parts, which add up to it
(each kernel's time split into launch floor, compute and memory traffic as in `kernels.roofline`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.perf.kernels import KernelTime, roofline
from solver.perf.rows import KernelCurve, Rows
from solver.units import BF16_BYTES

MISC_KERNELS = 4.0
"""Element-wise kernels of every layer: 2 RMSNorms, rotary embedding, activation."""
MLA_MISC_KERNELS = 2.0
"""Extra element-wise kernels of an MLA layer: the two latent norms."""
MOE_MISC_KERNELS = 2.0
"""Extra element-wise kernels of a MoE layer: top-k and combine."""
READ_WRITE_BF16_BYTES = 2.0 * BF16_BYTES
"""A bf16 value read once and written once."""
EP_ALLTOALL_ABOVE_GPUS = 8
"""Stages of more GPUs than one 8-GPU node exchange MoE tokens by all-to-all (`moe_exchange`)."""


PARTS = ("weights_read_s", "gemm_compute_s", "kv_read_s", "attention_s", "moe_s", "allreduce_s", "alltoall_s",
         "pipeline_s", "other_kernels_s", "scheduler_overhead_s")


@dataclass(frozen=True)
class StepTime:
    """One iteration's wall time per row, in seconds, and the parts it is made of (they sum to `total_s`).

    Parts (`PARTS`, properties computed on first use): linear layers (attention projections, dense FFN,
    shared experts, LM head) split into `weights_read_s` and `gemm_compute_s`; decode attention into
    `kv_read_s` and (with prefill attention) `attention_s`; `moe_s` the routed experts; `allreduce_s`
    and `alltoall_s` the collectives; `pipeline_s` the stage hops, bubbles and a one-shot batch's
    pipeline fill; `other_kernels_s` element-wise kernels and kernel launch floors;
    `scheduler_overhead_s` the engine's fixed cost per iteration.
    """

    total_s: np.ndarray
    layers: np.ndarray
    linear: tuple
    """(share of layers, KernelTime) of the attention projections, dense FFN and shared experts."""
    lm_head: KernelTime
    prefill_attention: KernelTime
    decode_attention: KernelTime
    moe_layer_s: np.ndarray
    """Routed experts, averaged over layers."""
    allreduce_layer_s: np.ndarray
    alltoall_layer_s: np.ndarray
    misc_layer_s: np.ndarray
    pipeline_s: np.ndarray
    scheduler_overhead_s: np.ndarray

    def _linear(self, part: str):
        per_layer = sum(share * getattr(k, part) for share, k in self.linear)
        return self.layers * per_layer + getattr(self.lm_head, part)

    @property
    def weights_read_s(self):
        return self._linear("memory_s")

    @property
    def gemm_compute_s(self):
        return self._linear("compute_s")

    @property
    def kv_read_s(self):
        return self.layers * self.decode_attention.memory_s

    @property
    def attention_s(self):
        pf = self.prefill_attention
        return self.layers * (pf.compute_s + pf.memory_s + self.decode_attention.compute_s)

    @property
    def moe_s(self):
        return self.layers * self.moe_layer_s

    @property
    def allreduce_s(self):
        return self.layers * self.allreduce_layer_s

    @property
    def alltoall_s(self):
        return self.layers * self.alltoall_layer_s

    @property
    def other_kernels_s(self):
        floors = self.misc_layer_s + self.prefill_attention.floor_s + self.decode_attention.floor_s
        return self.layers * floors + self._linear("floor_s")

    def parts(self) -> dict[str, np.ndarray]:
        """The named parts, each broadcast to the rows' shape."""
        return {k: np.broadcast_to(getattr(self, k), np.shape(self.total_s)) for k in PARTS}


def _kernel(rows: Rows, curve: KernelCurve, flops, bytes_, peak, selected=None) -> KernelTime:
    """Kernel time from a fitted curve; with `selected` (row indices, or None for all), only those rows
    (the others 0)."""
    if selected is None:
        return roofline(flops, bytes_, peak, rows.device.hbm_bytes_per_s, curve.eta_c, curve.eta_m, curve.p,
                        curve.t0_s)

    def pick(a):
        return a[selected] if np.ndim(a) else a

    part = roofline(pick(flops), pick(bytes_), pick(peak), rows.device.hbm_bytes_per_s[selected],
                    curve.eta_c[selected], curve.eta_m[selected], curve.p[selected], curve.t0_s[selected])

    def scatter(values):
        whole = np.zeros(len(rows))
        whole[selected] = values
        return whole

    return KernelTime(scatter(part.time_s),
                      lambda: tuple(scatter(v) for v in (part.floor_s, part.compute_s, part.memory_s)))


def _selection(mask) -> np.ndarray | None:
    """Row indices where `mask` holds; None when it holds everywhere."""
    mask = np.asarray(mask, bool)
    return None if mask.all() else np.flatnonzero(mask)


def _heaviest(total, unit, parts):
    """Work of the most loaded of `parts` shares when `total` comes in indivisible units of `unit`."""
    return np.maximum(total / parts, np.minimum(total, unit))


class _LoadFree:
    """Per-row quantities of step_time that do not depend on the load (per layer, on one GPU)."""

    def __init__(self, rows: Rows):
        g, tp, pp, ep = rows.geometry, rows.tp, rows.pp, rows.ep
        n, moe_tp, rho = rows.stage_gpus, rows.moe_tp, rows.moe_load_imbalance
        links = rows.links
        self.layers = g.layers
        self.hidden = d = g.hidden
        self.frac_dense = g.n_dense_layers / g.layers
        self.frac_moe = frac_moe = g.n_moe_layers / g.layers
        self.attn_params = g.attn_params / tp
        self.attn_weight_bytes = self.attn_params * rows.dense_weight_bytes
        self.ffn_params = ffn_p = g.dense_ffn_params / tp
        self.ffn_weight_bytes = ffn_p * rows.dense_weight_bytes
        self.ffn_rows = _selection(ffn_p > 0)
        self.shared_params = shared_p = g.shared_params / tp
        self.shared_weight_bytes = shared_p * rows.dense_weight_bytes
        self.shared_rows = _selection(shared_p > 0)
        experts = np.maximum(g.experts, 1.0)
        self.top_k_per_group = rho * g.top_k / ep
        self.miss = 1.0 - g.top_k / experts
        self.expert_params = g.expert_params / moe_tp
        self.expert_weight_bytes = np.ceil(experts / ep) * self.expert_params * rows.expert_weight_bytes
        self.moe_rows = _selection(g.n_moe_layers > 0)
        self.heads_dd = g.heads / tp * (g.d_qk + g.d_v)
        self.sw_share = g.sw_layers / g.layers
        self.window = g.window
        dec_flops_dim = np.where(g.is_mla > 0, g.mla_decode_dim, g.d_qk + g.d_v)
        self.decode_flops_per_ctx = 2 * (g.heads / tp) * dec_flops_dim
        self.kv_bytes_per_ctx = rows.kv_elements_per_token_layer * rows.kv_bytes_per_element
        # KV heads on one GPU (replicated below one; MLA reads one latent head, and its kernels are
        # not the ones the parallelism limit was measured on, so they count as saturating).
        self.kv_heads_local = np.where(g.is_mla > 0, np.inf, np.maximum(g.kv_heads / tp, 1.0))
        self.ar_latency_s = np.where(tp > 1, links.allreduce_latency_s, 0.0)
        self.ar_s_per_token = np.where(tp > 1, 2 * (tp - 1) / tp * d * BF16_BYTES / links.allreduce_bytes_per_s,
                                       0.0)
        # The MoE block's token exchange (`moe_exchange`): with attention data parallelism the dp groups'
        # tokens reach the experts either by all-to-all (dispatch in the engine's wire dtype, combine in
        # BF16, per dp group) or by an all-gather of the stage's tokens and a reduce-scatter of the outputs.
        self.exchanged = rows.dp > 1
        self.wide_ep = self.exchanged & (ep > 1) & (n > EP_ALLTOALL_ABOVE_GPUS)
        self.a2a_s_per_token = (rho * (ep - 1) / ep * g.top_k * d * (rows.moe_dispatch_bytes + BF16_BYTES)
                                / links.alltoall_bytes_per_s / tp)
        self.moe_ar_latency_s = np.where(n > 1, links.moe_allreduce_latency_s, 0.0)
        self.moe_ar_s_per_token = np.where(n > 1, 2 * (n - 1) / n * d * BF16_BYTES / links.moe_allreduce_bytes_per_s,
                                           0.0)
        self.ag_rs_s_per_token = np.where(n > 1, (n - 1) / n * d * (rows.moe_gather_bytes + BF16_BYTES)
                                          / links.moe_allreduce_bytes_per_s, 0.0)
        misc = MISC_KERNELS + MLA_MISC_KERNELS * g.is_mla + MOE_MISC_KERNELS * frac_moe
        self.misc_s_per_token = misc * d * READ_WRITE_BF16_BYTES / (rows.gemm.eta_m * rows.device.hbm_bytes_per_s)
        extra_gemms = (g.attn_gemms - 1.0) + self.frac_dense * (ffn_p > 0) + frac_moe * (shared_p > 0)
        floor = rows.runtime.kernel_floor_s
        self.misc_floor_s = misc * floor + extra_gemms * rows.gemm.t0_s + frac_moe * floor  # + the router GEMM
        self.lm_params = g.lm_head_params / tp
        self.lm_weight_bytes = self.lm_params * BF16_BYTES
        self.hop_latency_s = np.where(pp > 1, (pp - 1) * links.p2p_latency_s, 0.0)
        self.hop_s_per_token = np.where(pp > 1, (pp - 1) * d * BF16_BYTES / links.p2p_bytes_per_s, 0.0)

    @staticmethod
    def of(rows: Rows) -> _LoadFree:
        """Computed once per `Rows` (a row subset is a new `Rows` and recomputes them)."""
        if "load_free" not in rows.cache:
            rows.cache["load_free"] = _LoadFree(rows)
        return rows.cache["load_free"]


def _windowed(c: _LoadFree, context):
    """Context a layer attends over, averaged over full and sliding-window layers."""
    return np.where(c.window > 0, (1 - c.sw_share) * context + c.sw_share * np.minimum(context, c.window), context)


@dataclass(frozen=True)
class _Load:
    """How one iteration's tokens land on the micro-batch that sets the pace and on one dp group."""

    micro_batches: np.ndarray
    dec_mb: np.ndarray
    pf_mb: np.ndarray
    tokens_mb: np.ndarray
    dec_g: np.ndarray
    pf_g: np.ndarray
    tokens_g: np.ndarray
    prompt_unit: np.ndarray


def _load(rows: Rows, n_dec, n_pf, prompt, ranks_queued=False) -> _Load:
    n_dec = np.asarray(n_dec, float)
    n_pf = np.asarray(n_pf, float)
    unit = np.maximum(n_pf if prompt is None else np.asarray(prompt, float), 1.0)
    m = np.clip(n_dec + n_pf / unit, 1.0, rows.pp)
    dec_mb = _heaviest(n_dec, 1.0, m)
    pf_mb = _heaviest(n_pf, unit, m)
    dec_g = _heaviest(dec_mb, 1.0, rows.dp)
    # With prompts queued on every dp rank, each rank prefills its own chunk in every iteration.
    pf_g = pf_mb / rows.dp if ranks_queued else _heaviest(pf_mb, unit, rows.dp)
    return _Load(m, dec_mb, pf_mb, dec_mb + pf_mb, dec_g, pf_g, dec_g + pf_g, unit)


def _linear_layers(rows: Rows, c: _LoadFree, t_g, tokens) -> tuple[KernelTime, KernelTime, KernelTime, KernelTime]:
    """(attention projections, dense FFN, shared experts, routed experts) of one layer on one GPU."""
    peak = rows.device.peak_flop_per_s
    act = t_g * c.hidden * READ_WRITE_BF16_BYTES
    attn = _kernel(rows, rows.gemm, 2 * t_g * c.attn_params, c.attn_weight_bytes + act, peak)
    ffn = _kernel(rows, rows.gemm, 2 * t_g * c.ffn_params, c.ffn_weight_bytes + act, peak, c.ffn_rows)
    shared = _kernel(rows, rows.gemm, 2 * t_g * c.shared_params, c.shared_weight_bytes + act, peak, c.shared_rows)
    pairs = tokens * c.top_k_per_group
    touched_w = c.expert_weight_bytes * (1.0 - c.miss**tokens)  # bytes of the distinct experts hit (DESIGN §3)
    routed = rows.moe.gamma_bytes_per_pair_hidden * pairs * c.hidden  # permute / un-permute copies
    moe = _kernel(rows, rows.moe, 2 * pairs * c.expert_params, touched_w + act + routed,
                  rows.device.moe_peak_flop_per_s, c.moe_rows)
    return attn, ffn, shared, moe


def _attention(rows: Rows, c: _LoadFree, load: _Load, ctx_dec, pf_ctx) -> tuple[KernelTime, KernelTime]:
    """(prefill attention, decode attention) of one layer on one GPU."""
    peak = rows.device.peak_bf16_flop_per_s
    pf_g, dec_g = load.pf_g, load.dec_g
    pf_rows = _selection(np.broadcast_to(pf_g > 0, rows.tp.shape))
    prefill = _kernel(rows, rows.prefill_attention, 2 * c.heads_dd * pf_g * _windowed(c, pf_ctx),
                      pf_g * c.heads_dd * READ_WRITE_BF16_BYTES, peak, pf_rows)
    ctx = _windowed(c, ctx_dec)
    dec_rows = _selection(np.broadcast_to(dec_g > 0, rows.tp.shape))
    # Fewer (request, KV head) units than the kernel needs leave bandwidth idle (DecodeCurve).
    occupancy = np.minimum(1.0, np.maximum(dec_g, 1.0) * c.kv_heads_local / rows.decode_attention.units_full_bw)
    decode = _kernel(rows, rows.decode_attention, c.decode_flops_per_ctx * ctx * dec_g,
                     dec_g * ctx * c.kv_bytes_per_ctx / occupancy, peak, dec_rows)
    return prefill, decode


def moe_exchange(rows: Rows, c: _LoadFree, tokens_group, tokens_stage):
    """Seconds per MoE layer to bring a stage's tokens to their experts and the outputs back, with
    attention data parallelism (dp > 1).

    Inside a node (n ≤ `EP_ALLTOALL_ABOVE_GPUS`) every engine's default is an all-gather of the stage's
    T tokens and a reduce-scatter of the outputs over the n GPUs (TensorRT-LLM's CUTLASS MoE, vLLM's
    `allgather_reducescatter` all2all backend, SGLang's DP-attention gather):
        2·α + (n−1)/n · T · d · (β_gather + 2) / busbw.
    A wider stage (wide EP) exchanges by all-to-all (TensorRT-LLM WideEP, DeepEP in vLLM and SGLang,
    which the launch commands enable): each dp group sends its T_g tokens to top_k experts, of which a
    share (ep−1)/ep lives elsewhere, and receives them back in BF16:
        2·α + ρ · (ep−1)/ep · top_k · T_g · d · (β_dispatch + 2) / busbw / tp."""
    a2a = 2 * rows.links.alltoall_latency_s + c.a2a_s_per_token * tokens_group
    ag_rs = 2 * c.moe_ar_latency_s + c.ag_rs_s_per_token * tokens_stage
    return np.where(c.wide_ep, a2a, ag_rs)


def step_time(rows: Rows, n_dec, ctx_dec, n_pf, pf_ctx, prompt=None, fill=False, ranks_queued=False) -> StepTime:
    """One iteration of the whole replica.

    n_dec: decoding requests (one token each) with mean context ctx_dec; n_pf: prompt tokens prefilled
    in this iteration, attending over pf_ctx tokens of their own prompt (mean, i.e. ≈ (S+1)/2), in
    prompts of `prompt` tokens (None: n_pf is one prompt). fill: one-shot batch, add the pipeline fill.
    ranks_queued: every attention dp rank has prompts waiting (saturation), so the prefill tokens split
    evenly over the ranks; otherwise a rank takes indivisible pieces of `prompt` tokens.
    """
    c = _LoadFree.of(rows)
    L = c.layers
    load = _load(rows, n_dec, n_pf, prompt, ranks_queued)
    t_g = load.tokens_g
    attn, ffn, shared, moe = _linear_layers(rows, c, t_g, load.tokens_mb)
    t_lin = attn.time_s + c.frac_dense * ffn.time_s
    t_lin = t_lin + c.frac_moe * (shared.time_s + moe.time_s)
    prefill, decode = _attention(rows, c, load, ctx_dec, pf_ctx)

    t_ar = c.ar_latency_s + c.ar_s_per_token * t_g
    exchange = moe_exchange(rows, c, t_g, load.tokens_mb)
    moe_ar = c.moe_ar_latency_s + c.moe_ar_s_per_token * load.tokens_mb
    t_comm = t_ar + c.frac_moe * np.where(c.exchanged, exchange, moe_ar) + (1 - c.frac_moe) * t_ar
    t_misc = c.misc_floor_s + c.misc_s_per_token * t_g
    t_layer = t_lin + prefill.time_s + decode.time_s + t_comm + t_misc

    # LM head on the last stage: one logit row per decoding request and per prefilled prompt of the
    # micro-batch. The last stage runs it for all m micro-batches; a micro-batch's traversal pays it once
    # plus the pp − 1 hops.
    m = load.micro_batches
    logit_rows = load.dec_mb + load.pf_mb / load.prompt_unit
    lm = _kernel(rows, rows.gemm, 2 * logit_rows * c.lm_params, c.lm_weight_bytes, rows.device.peak_bf16_flop_per_s)
    hop = c.hop_latency_s + c.hop_s_per_token * load.tokens_mb
    last_stage = np.maximum(lm.time_s + hop, m * lm.time_s)
    overhead = rows.runtime.step_overhead_s
    wall = L * t_layer + last_stage + overhead
    pipeline = last_stage - lm.time_s
    if fill:
        fill_s = (m - 1.0) * (L / rows.pp * t_layer + lm.time_s)
        wall = wall + fill_s
        pipeline = pipeline + fill_s

    alltoall = np.where(c.exchanged, c.frac_moe * exchange, 0.0)
    return StepTime(total_s=wall, layers=L, linear=((1.0, attn), (c.frac_dense, ffn), (c.frac_moe, shared)),
                    lm_head=lm, prefill_attention=prefill, decode_attention=decode,
                    moe_layer_s=c.frac_moe * moe.time_s, allreduce_layer_s=t_comm - alltoall,
                    alltoall_layer_s=alltoall, misc_layer_s=t_misc, pipeline_s=pipeline,
                    scheduler_overhead_s=overhead)
