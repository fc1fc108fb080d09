"""Static checks of replica configurations, each with its own name and message (vectorised).

A check returns a `Check`: the rows it fails and why. `Reasons` keeps the first failing check of each
row, so the order in which `prepare.py` runs them decides which reason a row reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from solver.perf.arch import KV_BYTES, WEIGHT_BYTES, Geometry

Message = str | Callable[[int], str]


@dataclass(frozen=True)
class Check:
    name: str
    fails: np.ndarray
    """Boolean per row."""
    message: Message
    """The reason, or a function of the row index giving it."""


class Reasons:
    """Why each row cannot be evaluated ('' while it can)."""

    def __init__(self, n: int):
        self.text = np.full(n, "", dtype=object)

    @property
    def ok(self) -> np.ndarray:
        return self.text == ""

    def apply(self, *checks: Check) -> None:
        """Record each check on the rows it fails that have no reason yet, in order."""
        for check in checks:
            mask = np.asarray(check.fails, bool) & self.ok
            if not np.any(mask):
                continue
            if callable(check.message):
                idx = np.flatnonzero(mask)
                self.text[idx] = [check.message(i) for i in idx]
            else:
                self.text[mask] = check.message


def known_entries(df: pd.DataFrame, model_missing, accelerator_missing, engine_missing) -> list[Check]:
    """Catalog ids and the weight format exist."""
    return [
        Check("unknown_model", model_missing, lambda i: f"catalog: unknown model {df['model'].iat[i]!r}"),
        Check("unknown_accelerator", accelerator_missing,
              lambda i: f"catalog: unknown accelerator {df['accelerator'].iat[i]!r}"),
        Check("unknown_engine", engine_missing,
              lambda i: f"catalog: unknown engine {df['engine'].iat[i]!r} (not an id or alias)"),
        Check("unknown_quant", ~df["quant"].isin(list(WEIGHT_BYTES)).to_numpy(),
              lambda i: f"quant: unknown {df['quant'].iat[i]!r}"),
    ]


def positive_sizes(df: pd.DataFrame) -> list[Check]:
    """tp, dp, pp, ep, isl, osl are given and ≥ 1; max_batch (NaN = engine default) is ≥ 1."""
    out = []
    for c in ("tp", "dp", "pp", "ep", "max_batch", "isl", "osl"):
        v = df[c].to_numpy()
        bad = (v < 1) if c == "max_batch" else (~(v >= 1) | np.isnan(v))
        out.append(Check(f"{c}_at_least_one", bad, f"input: {c} must be >= 1"))
    return out


def parallelism_fits_model(g: Geometry, tp, dp, pp, ep, isl, osl) -> list[Check]:
    """tp splits the attention heads and KV heads; ep ranks split the n = tp·dp GPUs of a stage
    (moe_tp = n/ep GPUs each) and the experts of a MoE model (at most one rank per expert; ⌈E/ep⌉ slots
    each); pp ≤ layers; the request fits the model's context."""
    gqa = g.is_mla == 0
    n = tp * dp
    return [
        Check("tp_divides_heads", np.mod(g.heads, tp) != 0,
              lambda i: f"parallelism: tp {tp[i]:.0f} does not divide {g.heads[i]:.0f} attention heads"),
        Check("tp_and_kv_heads_divide", gqa & (np.mod(g.kv_heads, tp) != 0) & (np.mod(tp, g.kv_heads) != 0),
              lambda i: f"parallelism: tp {tp[i]:.0f} and {g.kv_heads[i]:.0f} KV heads do not divide each other"),
        Check("ep_needs_moe", (ep > 1) & (g.n_moe_layers == 0), "parallelism: ep > 1 needs a mixture-of-experts model"),
        Check("ep_divides_stage", np.mod(n, ep) != 0,
              lambda i: f"parallelism: ep {ep[i]:.0f} does not divide the stage's tp·dp = {n[i]:.0f} GPUs "
                        f"(MoE layers split the same GPUs as moe_tp × ep)"),
        Check("ep_within_experts", (g.n_moe_layers > 0) & (ep > g.experts),
              lambda i: f"parallelism: ep {ep[i]:.0f} exceeds the model's {g.experts[i]:.0f} experts"),
        Check("pp_within_layers", pp > g.layers, "parallelism: pp exceeds the number of layers"),
        Check("context_within_model", isl + osl > g.max_context,
              lambda i: f"context: isl+osl {isl[i] + osl[i]:.0f} exceeds the model's "
                        f"{g.max_context[i]:.0f}-token context"),
    ]


def engine_layout(engines, rules: list[tuple[str, str]], codes, tp, dp, ep) -> Check:
    """The layouts each engine runs (catalogs/engines.yaml `parallelism`): attention data parallelism
    `none` (dp = 1), `all` (dp = 1 or every rank a dp rank: tp = 1) or `any`; expert parallelism `none`
    (ep = 1), `whole_stage` (ep = 1 or ep = tp·dp, vLLM's --enable-expert-parallel) or
    `divides_stage` (any ep dividing tp·dp)."""
    attn = np.array([r[0] for r in rules], dtype=object)[codes] if len(rules) else np.array([], dtype=object)
    expert = np.array([r[1] for r in rules], dtype=object)[codes] if len(rules) else np.array([], dtype=object)
    n = tp * dp
    bad_dp = ((attn == "none") & (dp > 1)) | ((attn == "all") & (dp > 1) & (tp > 1))
    bad_ep = ((expert == "none") & (ep > 1)) | ((expert == "whole_stage") & (ep > 1) & (ep != n))
    allowed = {"none": "dp = 1", "all": "dp = 1, or tp = 1 with every rank a dp rank", "any": "any dp"}
    ep_allowed = {"none": "ep = 1", "whole_stage": "ep = 1 or ep = tp·dp", "divides_stage": "ep dividing tp·dp"}

    def why(i):
        if bad_dp[i]:
            return (f"parallelism: {engines[i]} runs attention data parallelism as {allowed[attn[i]]} "
                    f"(got tp {tp[i]:.0f}, dp {dp[i]:.0f})")
        return f"parallelism: {engines[i]} runs expert parallelism as {ep_allowed[expert[i]]} (got ep {ep[i]:.0f})"

    return Check("engine_layout", bad_dp | bad_ep, why)


def known_kv_quant(df: pd.DataFrame) -> Check:
    return Check("unknown_kv_quant", ~df["kv_quant"].isin(list(KV_BYTES)).to_numpy(),
                 lambda i: f"kv_quant: unknown {df['kv_quant'].iat[i]!r}")


def int4_kernels(df: pd.DataFrame, no_int4) -> Check:
    """Weight-only int4 needs the accelerator's int4 kernels."""
    return Check("int4_kernels", no_int4 & (df["quant"].to_numpy() == "int4"),
                 lambda i: f"quant: {df['accelerator'].iat[i]} has no weight-only int4 kernels")


def by_reason(name: str, reasons: list[str], codes: np.ndarray) -> Check:
    """A check whose reason was computed once per distinct key ('' = passes)."""
    return Check(name, np.array([r != "" for r in reasons], bool)[codes], lambda i: reasons[codes[i]])


def tp_within_scale_up_domain(tp, domain) -> np.ndarray:
    """Reasons for rows whose tp exceeds the scale-up domain (tensor parallel all-reduces every layer)."""
    out = np.full(len(tp), "", dtype=object)
    bad = tp > domain
    out[bad] = [f"parallelism: tp {t:.0f} exceeds the {d:.0f}-GPU scale-up domain"
                for t, d in zip(tp[bad], domain[bad], strict=True)]
    return out
