"""How long the vectorised performance model takes for 10k and 100k candidate rows (one core).

Rows are a realistic candidate table: every catalog model × accelerator × engine × weight quant × KV quant ×
tp × max_batch the optimizer would enumerate, with SLOs, sampled (seeded) to the requested size.

Run:  python bench/estimate.py [--rows 10000 100000]
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from solver.catalog.loader import load_catalog  # noqa: E402
from solver.perf import evaluate_candidates  # noqa: E402


def candidate_table(catalog, n: int, seed: int = 0) -> pd.DataFrame:
    combos = list(itertools.product(
        sorted(catalog.models), sorted(catalog.accelerators), sorted(catalog.engines),
        ("bf16", "fp8", "int4", "fp4"), ("bf16", "fp8"), (1, 2, 4, 8), (1, 2), (1, 8, 64, 256),
    ))
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(combos), size=n)
    cols = ["model", "accelerator", "engine", "quant", "kv_quant", "tp", "pp", "max_batch"]
    df = pd.DataFrame([combos[i] for i in pick], columns=cols)
    df["ep"] = 1
    df["isl"] = rng.choice([512.0, 2048.0, 8192.0], size=n)
    df["osl"] = rng.choice([128.0, 512.0, 1024.0], size=n)
    df["slo_ttft_ms"] = rng.choice([500.0, 2000.0, np.nan], size=n)
    df["slo_tpot_ms"] = rng.choice([20.0, 50.0, np.nan], size=n)
    df["slo_e2e_ms"] = np.nan
    df["percentile"] = 99.0
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    args = ap.parse_args()
    catalog = load_catalog()
    evaluate_candidates(candidate_table(catalog, 100), catalog)  # warm caches (kernel fits, imports)
    for n in args.rows:
        df = candidate_table(catalog, n)
        t = time.perf_counter()
        out = evaluate_candidates(df, catalog)
        dt = time.perf_counter() - t
        print(f"{n:>7} rows: {dt:.3f} s ({dt / n * 1e6:.1f} us/row), {int(out['fits'].sum())} usable")


if __name__ == "__main__":
    main()
