"""The performance model: memory fit, TTFT, TPOT, end-to-end latency and throughput under load.

Modules, one job each:
- `arch`: model geometry and datatype facts (bytes per weight, compute dtype per accelerator);
- `kernels`: kernel efficiency curves fitted to measured kernels (catalogs/kernel_fits.yaml);
- `memory`: weights, KV cache, activations per GPU;
- `latency`: time of one engine iteration (compute, memory traffic, communication);
- `serving`: continuous batching under load, queueing and percentiles;
- `profiles`: calibrated (engine, family) profiles and engine support checks;
- `candidates`: `evaluate_candidates`, the vectorised contract with the optimizer;
- `estimate`: `estimate`, one deployment under a load mode (CLI `trilemma estimate`);
- `calibrate`: fitting profiles to the published cases and validating (CLI `trilemma validate`).
"""

from solver.perf.candidates import evaluate_candidates
from solver.perf.estimate import estimate, estimate_many

__all__ = ["estimate", "estimate_many", "evaluate_candidates"]
