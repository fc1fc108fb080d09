"""Request-length distributions of a workload, reduced to a few weighted points.

A workload's `input_tokens` / `output_tokens` is a mean, buckets, a log-normal family, quantiles, or a
histogram CSV. Every form becomes `points()`: at most `MAX_POINTS` (tokens, probability) pairs whose
probabilities sum to one. Expectations over them are what the performance model uses.

- Log-normal by mean m and 99th percentile q: ln q = μ + z·σ and ln m = μ + σ²/2 (z = Φ⁻¹(0.99)), so
  σ = z − √(z² − 2·ln(q/m)) (the smaller root; it needs m < q ≤ m·e^(z²/2) ≈ 15·m).
- Quantiles: the CDF is linear between the given (percentile, tokens) points (uniform within each
  segment); the first point is percentile 0 (the shortest request), the last percentile 100.
- Histogram CSV: a header row `input_tokens,output_tokens`, then one request per line, both integers
  ≥ 1 (`#` lines are comments). Each side reads its own column.

Continuous forms are cut at the probabilities `BIN_EDGES` and each bin is represented by its
conditional mean, so the mean is exact and the tail (the top 1 %, the top 0.1 %) keeps its own
points; the longest point is the context a replica provisions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

import csv
import math
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

MAX_POINTS = 16
BIN_EDGES = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0)
"""Cumulative probabilities where continuous distributions are cut (finer in the tail)."""
Z99 = NormalDist().inv_cdf(0.99)


def lognormal_sigma(mean: float, p99: float) -> float:
    """σ of the log-normal with this mean and 99th percentile; ValueError when none exists."""
    if not p99 > mean:
        raise ValueError(f"p99 ({p99:g}) must exceed the mean ({mean:g})")
    disc = Z99 * Z99 - 2.0 * math.log(p99 / mean)
    if disc < 0:
        raise ValueError(f"no log-normal has mean {mean:g} and p99 {p99:g}: p99 may be at most "
                         f"{mean * math.exp(Z99 * Z99 / 2):.0f} (≈15× the mean); use quantiles or buckets")
    return Z99 - math.sqrt(disc)


def lognormal_points(mean: float, p99: float) -> tuple[tuple[float, float], ...]:
    """(tokens, probability) per bin of BIN_EDGES: the bin's conditional mean.

    With the bin's edges as standard-normal quantiles z_a < z_b: E[X; bin] = m·(Φ(z_b − σ) − Φ(z_a − σ)).
    """
    sigma = lognormal_sigma(mean, p99)
    nd = NormalDist()
    out = []
    for lo, hi in zip(BIN_EDGES[:-1], BIN_EDGES[1:], strict=True):
        za = -math.inf if lo == 0 else nd.inv_cdf(lo)
        zb = math.inf if hi == 1 else nd.inv_cdf(hi)
        part = mean * (_cdf(zb - sigma) - _cdf(za - sigma))
        out.append((part / (hi - lo), hi - lo))
    return tuple(out)


def _cdf(z: float) -> float:
    return 0.0 if z == -math.inf else 1.0 if z == math.inf else NormalDist().cdf(z)


def quantile_points(quantiles: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """(tokens, probability) per segment of a piecewise-linear CDF: its midpoint (its mean)."""
    out = []
    for (p0, t0), (p1, t1) in zip(quantiles[:-1], quantiles[1:], strict=True):
        if p1 > p0:
            out.append(((t0 + t1) / 2.0, (p1 - p0) / 100.0))
    return tuple(out)


def sample_points(values: np.ndarray) -> tuple[tuple[float, float], ...]:
    """A sample of lengths cut at the BIN_EDGES quantiles, each bin its mean (the mean is exact)."""
    import numpy as np

    v = np.sort(np.asarray(values, float))
    n = len(v)
    cuts = sorted({int(round(e * n)) for e in BIN_EDGES})
    out = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if b > a:
            out.append((float(v[a:b].mean()), (b - a) / n))
    return tuple(out)


@lru_cache(maxsize=32)
def read_lengths_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(input tokens, output tokens) per request of a histogram CSV (format in the module docstring).

    Raises ValueError with the line number of the first malformed row."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{path}: no such file")
    ins, outs = [], []
    with open(p, newline="") as fh:
        rows = (r for r in csv.reader(fh) if r and not r[0].lstrip().startswith("#"))
        header = next(rows, None)
        if header is None or [h.strip() for h in header[:2]] != ["input_tokens", "output_tokens"]:
            raise ValueError(f"{path}: the first row must be the header 'input_tokens,output_tokens'")
        for line, r in enumerate(rows, start=2):
            try:
                i, o = int(r[0]), int(r[1])
            except (ValueError, IndexError):
                raise ValueError(f"{path}: row {line}: expected two integers (input_tokens,output_tokens), "
                                 f"got {','.join(r)!r}") from None
            if i < 1 or o < 1:
                raise ValueError(f"{path}: row {line}: token counts must be ≥ 1")
            ins.append(i)
            outs.append(o)
    if not ins:
        raise ValueError(f"{path}: no requests (one line per request after the header)")
    return np.array(ins, float), np.array(outs, float)


def moments(points: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    """(E[X], E[X²]) of weighted points."""
    import numpy as np

    t = np.array([p[0] for p in points], float)
    w = np.array([p[1] for p in points], float)
    w = w / w.sum()
    return float(t @ w), float((t * t) @ w)


def parse_spec(text: str):
    """A distribution written on the command line, as a problem file's `Lengths`:
    `lognormal:MEAN:P99`, `buckets:TOKENSxWEIGHT,...`, `quantiles:PCT=TOKENS,...` or `csv:PATH`.
    Raises ValueError naming what was wrong and what is allowed."""
    from pydantic import ValidationError

    from solver.problem import Lengths

    kind, _, rest = text.partition(":")
    allowed = "lognormal:MEAN:P99, buckets:TOKENSxWEIGHT,..., quantiles:PCT=TOKENS,... or csv:PATH"
    try:
        if kind == "lognormal":
            mean, p99 = (float(v) for v in rest.split(":"))
            return Lengths(lognormal={"mean": mean, "p99": p99})
        if kind == "buckets":
            pairs = [b.split("x") for b in rest.split(",")]
            return Lengths(buckets=[{"tokens": int(t), "weight": float(w)} for t, w in pairs])
        if kind == "quantiles":
            pairs = [q.split("=") for q in rest.split(",")]
            return Lengths(quantiles=[{"percentile": float(p), "tokens": int(t)} for p, t in pairs])
        if kind == "csv":
            return Lengths(csv=rest)
    except ValidationError as exc:
        raise ValueError(f"{text!r}: " + "; ".join(e["msg"] for e in exc.errors())) from None
    except ValueError:
        raise ValueError(f"{text!r}: malformed; expected {allowed}") from None
    raise ValueError(f"{text!r}: unknown form {kind!r}; expected {allowed}")
