"""The performance model: memory fit, TTFT, TPOT, end-to-end latency and throughput under load.

Modules, one job each:
- `arch`: model geometry and datatype facts (bytes per weight, compute dtype per accelerator);
- `kernels`: kernel efficiency curves fitted to measured kernels (catalogs/kernel_fits.yaml);
- `rows`: the per-row inputs (`Rows`: device, engine runtime, links, kernel curves), units in field names;
- `prepare`: a configuration table to `Rows` in named stages (catalog rows, `checks`, kernel and `links`
  parameters);
- `memory`: weights, KV cache (the one KV formula), activations per GPU, and the memory verdict;
- `latency`: time of one engine iteration, `StepTime`, with its named parts;
- `serving`: continuous batching under load, queueing and percentiles;
- `profiles`: calibrated (engine, family) profiles and engine support checks;
- `candidates`: `evaluate_candidates`, the vectorised contract with the optimizer;
- `estimate`: `estimate`, one deployment under a load mode (CLI `trilemma estimate`), with its
  `breakdown` of time and memory;
- `calibrate`: fitting profiles to the published cases and validating (CLI `trilemma validate`).
"""

from solver.perf.candidates import evaluate_candidates
from solver.perf.estimate import estimate, estimate_many

__all__ = ["estimate", "estimate_many", "evaluate_candidates"]
