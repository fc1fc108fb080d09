"""Expert load imbalance: the busiest expert-parallel rank receives more routed tokens than the mean.

The imbalance ratio r = (max − mean)/mean of routed tokens per ep rank was measured by the TensorRT-LLM
team for DeepSeek-R1 on 32 GB200 GPUs (EP 32): 1.564 without load balancing, 0.109–0.115 with the
Expert Parallelism Load Balancer (EPLB: redundant copies of hot experts, 288 slots for 256 experts)
(NVIDIA/TensorRT-LLM@1d263f15a979ef2902c60de3f6238bcc0952bb29
docs/source/blogs/tech_blog/blog4_Scaling_Expert_Parallelism_in_TensorRT-LLM.md, Table 1). The engines
we model all ship such a balancer (TensorRT-LLM's MoE load balancer, SGLang and vLLM `--enable-eplb`),
so the balanced figure is used. The ratio is 0 with one rank and grows with the number of ranks that
split the experts; we interpolate in log2(ep) up to the measured EP 32 and hold it beyond:

    ρ(ep) = 1 + r · min(1, log2(ep) / log2(32)),   r = 0.115.

ρ multiplies the routed pairs on the busiest rank (grouped GEMM) and its all-to-all traffic.
"""

from __future__ import annotations

import numpy as np

BALANCED_IMBALANCE_RATIO = 0.115
"""(max − mean)/mean routed tokens per rank with EPLB at EP 32 (TensorRT-LLM blog 4, Table 1)."""
MEASURED_AT_EP = 32.0


def load_imbalance(ep) -> np.ndarray:
    """ρ(ep) ≥ 1, the busiest rank's routed tokens over the mean (see the module docstring)."""
    ep = np.asarray(ep, float)
    share = np.minimum(1.0, np.log2(np.maximum(ep, 1.0)) / np.log2(MEASURED_AT_EP))
    return 1.0 + BALANCED_IMBALANCE_RATIO * share
