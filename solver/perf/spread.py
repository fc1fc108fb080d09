"""How a length distribution's latency percentiles differ from those of its mean (`trilemma estimate`).

At one arrival rate per replica λ, the same configuration is evaluated twice: with the distribution
(`lengths.LengthMix`: expectations of work and KV, mixture percentiles) and with one request of the
mean lengths. Both use the batch bound of their own memory plan; the rate is the same, so the
difference is the length spread alone (and the KV the tail needs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from solver.perf import lengths
from solver.perf.candidates import prefix_caching
from solver.perf.prepare import Prepared
from solver.perf.serving import Serving

PERCENTILES = (50.0, 90.0, 99.0)


def spread_table(config: dict, mix: lengths.LengthMix, rate_rps: float, catalog) -> list[dict]:
    """Rows {metric, percentile, distribution_ms, mean_ms, ratio} for TTFT and E2E at `rate_rps` per
    replica. `config`: model, accelerator, engine, quant, kv_quant, tp, pp, ep, max_batch (NaN: default)."""
    isl = sum(t * w for t, w in mix.inputs)
    osl = sum(t * w for t, w in mix.outputs)
    row = {**config, "isl": isl, "osl": osl, "lengths": mix}
    df = pd.DataFrame([row, {**row, "lengths": None}])
    prep = Prepared(df, catalog)
    if len(prep.idx) != 2:
        raise ValueError(f"configuration not usable: {prep.reason[0] or prep.reason[1]}")
    max_batch = prep.df["max_batch"].to_numpy()[prep.idx]
    plan = prep.memory(max_batch)
    first, second = np.array([True, False]), np.array([False, True])
    arrays = lengths.MixArrays.build([mix], [prefix_caching(catalog, prep.df["engine"].iloc[0])])
    mixed = lengths.memory_plan(prep.rows.take(first), plan.take(first), arrays, max_batch[:1])
    out = []
    for p in PERCENTILES:
        sv_mix = Serving(prep.rows.take(first), [isl], [osl], np.maximum(mixed.batch_max, 1.0), [p], arrays)
        sv_mean = Serving(prep.rows.take(second), [isl], [osl], np.maximum(plan.batch_max[1:], 1.0), [p])
        a, _ = sv_mix.at_rate(np.array([rate_rps]))
        b, _ = sv_mean.at_rate(np.array([rate_rps]))
        for metric, va, vb in (("ttft", a.ttft_p, b.ttft_p), ("e2e", a.e2e_p, b.e2e_p)):
            out.append({"metric": metric, "percentile": p, "distribution_ms": float(va[0]) * 1e3,
                        "mean_ms": float(vb[0]) * 1e3, "ratio": float(va[0] / vb[0])})
    return out

