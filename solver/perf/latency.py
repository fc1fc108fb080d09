"""Time of one engine iteration (vectorised): compute, memory traffic and communication.

One iteration advances every decoding request by one token and prefills `n_pf` prompt tokens (chunked
prefill) of prompts of `prompt` tokens each.

Requests are indivisible: a decoding request or a prompt sits in one pipeline micro-batch and, with
ep > 1, in one data-parallel attention group. With pp stages the requests are split into
m = min(pp, n_dec + prompts) micro-batches, and the micro-batch that sets the pace is the heaviest one,
carrying max(total/m, min(total, one request)) decode and prompt tokens (the mean when there are
enough requests to go round, else one whole request). Each micro-batch crosses every stage once per
iteration, so the wall time is `L · t_layer(heaviest) + max(lm_head + (pp−1)·hop, m · lm_head) +
step_overhead`: one micro-batch's traversal, or the last stage's m LM heads when they take longer
(a bubble when there are fewer requests than stages). So a prompt under load never costs less than
the same prompt alone (its tokens are never spread over micro-batches or ep groups), and the TTFT and
TPOT floors (one request alone) are lower bounds of the loaded values. `fill=True` adds the pipeline
fill of a one-shot batch (m − 1 further stage times), used by the static-batch prefill.

Per layer on one GPU, with t tokens in the micro-batch and t_g = t/ep of them in this GPU's ep group
(see memory.py for the sharding convention), every kernel costed with its fitted smooth roofline
(kernels.py), η derated by the profile's serving factors:

- linear layers (attention projections; dense FFN or shared experts): F = 2·t_g·params/tp,
  bytes = params/tp·β_w + activations;
- routed experts: pairs = t·k/ep, F = 2·pairs·expert/tp, bytes = touched·expert/tp·β_e with
  touched = (E/ep)·(1 − (1 − k/E)^t) distinct experts hit (DESIGN §3), plus γ·pairs·d bytes of
  routed-activation copies (γ fitted with the MoE kernel curve);
- prefill attention: F = 2·(n_h/tp)·(d_qk + d_v)·pairs, pairs = tokens · mean causal context (windowed
  layers capped at the window), so attention cost grows with the square of the prompt;
- decode attention: bytes = n_dec_g · context · KV bytes per token per layer; F = 2·(n_h/tp)·(d_qk+d_v)
  ·context (absorbed MLA: 2·(n_h/tp)·(2·r_kv + d_rope)·context);
- communication: 2 tensor-parallel all-reduces of t_g·d·2 bytes per layer, α + 2(tp−1)/tp·bytes/busbw
  (an expert-parallel MoE layer replaces one by dispatch + combine all-to-alls,
  α + (n−1)/n·t_g·k·d·2/busbw each, n = tp·ep); crossing the scale-up domain uses the network link;
- kernel floors: the lumped linear layers above are costed as one kernel each, so the other GEMM
  kernels of a layer add their floor t0 (attention: GQA 2 kernels, MLA 6; dense FFN 2; MoE layers a
  router and, with shared experts, 2 more); element-wise kernels (`MISC_KERNELS`: 2 RMSNorms, rotary
  embedding, activation; MLA +2 latent norms; MoE +2 for top-k and combine) cost the framework's
  bf16 kernel floor plus their activation traffic.
"""

from __future__ import annotations

import numpy as np

from solver.perf.kernels import smooth_roofline

MISC_KERNELS = 4.0


def _curve(R: dict, name: str, flops, bytes_, peak, mask=None):
    """Kernel time from the fitted curve `name`; with `mask`, only those rows (others 0)."""
    if mask is None:
        return smooth_roofline(flops, bytes_, peak, R["bw"], R[f"{name}_eta_c"], R[f"{name}_eta_m"],
                               R[f"{name}_p"], R[f"{name}_t0"])
    return _curve_rows(R, name, flops, bytes_, peak, _rows(R, name, mask))


def _rows(R: dict, name: str, mask):
    """(row indices, the curve's parameters on those rows); indices None when every row is selected."""
    mask = np.asarray(mask, bool)
    if mask.all():
        return None, None
    sel = np.flatnonzero(mask)
    return sel, tuple(R[k][sel] for k in ("bw", f"{name}_eta_c", f"{name}_eta_m", f"{name}_p", f"{name}_t0"))


def _curve_rows(R: dict, name: str, flops, bytes_, peak, rows):
    sel, par = rows
    if sel is None:
        return _curve(R, name, flops, bytes_, peak)
    out = np.zeros(len(R["bw"]))
    if len(sel):
        def pick(a):
            return a[sel] if np.ndim(a) else a

        out[sel] = smooth_roofline(pick(flops), pick(bytes_), pick(peak), *par)
    return out


def _heaviest(total, unit, parts):
    """Work of the most loaded of `parts` shares when `total` comes in indivisible units of `unit`."""
    return np.maximum(total / parts, np.minimum(total, unit))


def _consts(R: dict) -> dict:
    """Per-row quantities of step_time that do not depend on the load, computed once per R (the cache is
    keyed on R's own tp array, so a row subset of R, which has a new one, recomputes them)."""
    cached = R.get("_step_consts")
    if cached is not None and cached[0] is R["tp"]:
        return cached[1]
    g = R["g"]
    tp, pp, ep = R["tp"], R["pp"], R["ep"]
    L = g["layers"]
    d = g["hidden"]
    c: dict = {"L": L, "d": d}
    c["frac_dense"] = frac_dense = g["n_dense_layers"] / L
    c["frac_moe"] = frac_moe = g["n_moe_layers"] / L
    c["attn_p"] = attn_p = g["attn_params"] / tp
    c["attn_w"] = attn_p * R["beta_ne"]
    c["ffn_p"] = ffn_p = g["dense_ffn_params"] / tp
    c["ffn_w"] = ffn_p * R["beta_ne"]
    c["ffn_rows"] = _rows(R, "gemm", ffn_p > 0)
    c["shared_p"] = shared_p = g["shared_params"] / tp
    c["shared_w"] = shared_p * R["beta_ne"]
    c["shared_rows"] = _rows(R, "gemm", shared_p > 0)
    experts = np.maximum(g["experts"], 1.0)
    c["k_ep"] = g["top_k"] / ep
    c["miss"] = 1.0 - g["top_k"] / experts
    c["exp_p"] = exp_p = g["expert_params"] / tp
    c["exp_w"] = experts / ep * exp_p * R["beta_e"]
    c["moe_rows"] = _rows(R, "moe", g["n_moe_layers"] > 0)
    c["heads_dd"] = g["heads"] / tp * (g["d_qk"] + g["d_v"])
    c["sw"] = g["sw_layers"] / L
    c["win"] = g["window"]
    dec_flops_dim = np.where(g["is_mla"] > 0, g["mla_decode_dim"], g["d_qk"] + g["d_v"])
    c["dec_f"] = 2 * (g["heads"] / tp) * dec_flops_dim
    c["kv_b"] = R["kv_elems_local"] * R["beta_kv"]
    c["ar_alpha"] = np.where(tp > 1, R["ar_alpha"], 0.0)
    c["ar_coef"] = np.where(tp > 1, 2 * (tp - 1) / tp * d * 2.0 / R["ar_busbw"], 0.0)
    n_a2a = tp * ep
    c["a2a_coef"] = (n_a2a - 1) / n_a2a * g["top_k"] * d * 2.0 / R["a2a_busbw"]
    c["ep_on"] = ep > 1
    misc = MISC_KERNELS + 2.0 * g["is_mla"] + 2.0 * frac_moe
    c["misc_m"] = misc * d * 4.0 / (R["gemm_eta_m"] * R["bw"])
    extra_gemms = (g["attn_gemms"] - 1.0) + frac_dense * (ffn_p > 0) + frac_moe * (shared_p > 0)
    c["misc_0"] = misc * R["floor"] + extra_gemms * R["gemm_t0"] + frac_moe * R["floor"]  # + the router GEMM
    c["lm_p"] = lm_p = g["lm_head_params"] / tp
    c["lm_w"] = lm_p * 2.0
    c["hop_0"] = np.where(pp > 1, (pp - 1) * R["p2p_alpha"], 0.0)
    c["hop_t"] = np.where(pp > 1, (pp - 1) * d * 2.0 / R["p2p_bw"], 0.0)
    R["_step_consts"] = (R["tp"], c)
    return c


def step_time(R: dict, n_dec, ctx_dec, n_pf, pf_ctx, prompt=None, fill=False):
    """Seconds for one iteration of the whole replica.

    n_dec: decoding requests (one token each) with mean context ctx_dec; n_pf: prompt tokens prefilled
    in this iteration, attending over pf_ctx tokens of their own prompt (mean, i.e. ≈ (S+1)/2), in
    prompts of `prompt` tokens (None: n_pf is one prompt). fill: one-shot batch, add the pipeline fill.
    """
    c = _consts(R)
    tp, pp, ep = R["tp"], R["pp"], R["ep"]
    L = c["L"]
    n_dec = np.asarray(n_dec, float)
    n_pf = np.asarray(n_pf, float)
    unit = np.maximum(n_pf if prompt is None else np.asarray(prompt, float), 1.0)
    m = np.clip(n_dec + n_pf / unit, 1.0, pp)
    dec_mb = _heaviest(n_dec, 1.0, m)
    pf_mb = _heaviest(n_pf, unit, m)
    t = dec_mb + pf_mb
    dec_g = _heaviest(dec_mb, 1.0, ep)
    pf_g = _heaviest(pf_mb, unit, ep)
    t_g = dec_g + pf_g
    act = t_g * c["d"] * 4.0  # read + write of a bf16 hidden vector per token

    # Linear layers (per layer, averaged over dense and MoE layers).
    frac_dense, frac_moe = c["frac_dense"], c["frac_moe"]
    t_lin = _curve(R, "gemm", 2 * t_g * c["attn_p"], c["attn_w"] + act, R["peak"])
    t_lin = t_lin + frac_dense * _curve_rows(R, "gemm", 2 * t_g * c["ffn_p"], c["ffn_w"] + act, R["peak"],
                                             c["ffn_rows"])
    t_shared = _curve_rows(R, "gemm", 2 * t_g * c["shared_p"], c["shared_w"] + act, R["peak"], c["shared_rows"])
    pairs = t * c["k_ep"]
    touched_w = c["exp_w"] * (1.0 - c["miss"] ** t)  # bytes of the distinct experts hit (DESIGN §3)
    routed = R["moe_gamma"] * pairs * c["d"]  # permute / un-permute copies of the routed activations
    t_moe = _curve_rows(R, "moe", 2 * pairs * c["exp_p"], touched_w + act + routed, R["peak_moe"], c["moe_rows"])
    t_lin = t_lin + frac_moe * (t_shared + t_moe)

    # Attention core.
    sw, win = c["sw"], c["win"]

    def capped(x):
        return np.where(win > 0, (1 - sw) * x + sw * np.minimum(x, win), x)

    pf_on = np.broadcast_to(pf_g > 0, tp.shape)
    t_pf = _curve(R, "pfa", 2 * c["heads_dd"] * pf_g * capped(pf_ctx), pf_g * c["heads_dd"] * 4.0, R["peak_bf16"],
                  mask=pf_on)
    ctx = capped(ctx_dec)
    dec_on = np.broadcast_to(dec_g > 0, tp.shape)
    t_dec = _curve(R, "dca", c["dec_f"] * ctx * dec_g, dec_g * ctx * c["kv_b"], R["peak_bf16"], mask=dec_on)

    # Communication.
    t_ar = c["ar_alpha"] + c["ar_coef"] * t_g
    a2a = R["a2a_alpha"] + c["a2a_coef"] * t_g
    t_comm = np.where(c["ep_on"], t_ar + frac_moe * 2 * a2a + (1 - frac_moe) * t_ar, 2 * t_ar)

    t_misc = c["misc_0"] + c["misc_m"] * t_g
    t_layer = t_lin + t_pf + t_dec + t_comm + t_misc

    # LM head on the last stage: one logit row per decoding request and per prefilled prompt of the
    # micro-batch. The last stage runs it for all m micro-batches; a micro-batch's traversal pays it once
    # plus the pp − 1 hops.
    logit_rows = dec_mb + pf_mb / unit
    t_lm = _curve(R, "gemm", 2 * logit_rows * c["lm_p"], c["lm_w"], R["peak_bf16"])
    hop = c["hop_0"] + c["hop_t"] * t
    wall = L * t_layer + np.maximum(t_lm + hop, m * t_lm) + R["step_overhead"]
    if fill:
        wall = wall + (m - 1.0) * (L / pp * t_layer + t_lm)
    return wall
