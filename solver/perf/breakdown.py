"""Where a deployment's time and memory go, at its operating point (what `trilemma estimate` shows).

- `decode_step_ms`: the mean iteration a decoding request sees, by `latency.StepTime` part; its total is
  the mean TPOT (static batch: one decode step of the batch).
- `prefill_step_ms`: the iteration that prefills one prompt next to the decoding batch (static batch:
  the prefill of one wave, pipeline fill included).
- `ttft_ms`: the mean TTFT by part: engine overhead, waiting for the running iteration, the prompt's
  prefill (its chunks next to the decoding batch) and queueing; the parts sum to the mean TTFT.
- `memory_gb_per_gpu`: weights, KV cache at the operating batch, activations and the runtime reserve;
  they sum to `memory_gb_per_gpu`.
"""

from __future__ import annotations

import numpy as np

from solver.perf import memory as mem
from solver.perf.latency import StepTime

PREFIX = "breakdown."


def _parts(step: StepTime) -> dict[str, np.ndarray]:
    return {**step.parts(), "total": step.total_s}


def _select(mask, a: dict, b: dict) -> dict:
    return {k: np.where(mask, a[k], b[k]) for k in a}


def _step_columns(name: str, parts: dict) -> dict[str, np.ndarray]:
    return {f"{PREFIX}{name}.{part.removesuffix('_s')}": v * 1e3 for part, v in parts.items()}


def breakdown_columns(base, x, others, static, static_n, ttft_parts: dict, ttft_s, plan: mem.MemoryPlan,
                      batch) -> dict[str, np.ndarray]:
    """Flat `breakdown.<group>.<part>` columns per row.

    base: the rows' `serving.Serving`; x, others: the operating point of the open and closed-loop modes;
    static: rows in static_batch mode, with static_n requests per replica; ttft_parts: the mean TTFT's
    parts (seconds) of every row (static rows: overhead and prefill), ttft_s their total; batch: requests
    decoding.
    """
    decode, prefill = _parts(base.decode_step(x, others)), _parts(base.prefill_step(x, others))
    if static.any():
        s_prefill, s_decode = base.static_steps(static_n)
        decode, prefill = _select(static, _parts(s_decode), decode), _select(static, _parts(s_prefill), prefill)
    cols = {**_step_columns("decode_step_ms", decode), **_step_columns("prefill_step_ms", prefill)}
    for part, v in ttft_parts.items():
        cols[f"{PREFIX}ttft_ms.{part.removesuffix('_s')}"] = v * 1e3
    cols[f"{PREFIX}ttft_ms.total"] = ttft_s * 1e3
    dp = base.rows.dp
    memory = {"weights": plan.weights_bytes, "kv_cache": plan.kv_bytes_at(batch, dp),
              "activations": plan.activation_bytes, "runtime_reserve": plan.reserve_bytes}
    for part, v in memory.items():
        cols[f"{PREFIX}memory_gb_per_gpu.{part}"] = v / mem.GB
    cols[f"{PREFIX}memory_gb_per_gpu.total"] = plan.gb_per_gpu_at(batch, dp)
    return cols


def nest(flat: dict) -> dict:
    """{'breakdown.a.b': v} -> {'a': {'b': v}} for the breakdown keys of one result row."""
    out: dict = {}
    for key, v in flat.items():
        if key.startswith(PREFIX):
            group, part = key[len(PREFIX):].split(".", 1)
            out.setdefault(group, {})[part] = v
    return out
