"""Link parameters: what a collective costs on each row, inside the scale-up domain or across nodes.

Tensor-parallel all-reduces run over the tp GPUs of an attention group, expert-parallel all-to-alls
and the all-reduce of a tensor-parallel MoE layer fed by dp groups over the n = tp·dp GPUs of a
stage, pipeline hops between stages. Within the scale-up domain (NVLink,
Infinity Fabric) each uses the fitted latency and bus bandwidth of `kernels.KernelLibrary.link`; a
group larger than the domain crosses the network, so its bandwidth is capped at the accelerator's
inter-node bandwidth per GPU (the catalog's `inter_node_bandwidth_gb_s`, or the default of
`catalogs/families.yaml` when the accelerator entry has none). A pipeline whose stages span more
GPUs than the domain hops over the network.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from solver.errors import CatalogError, Issue
from solver.perf.rows import Links
from solver.units import BYTES_PER_GB


def inter_node_bytes_per_s(acc, catalog) -> float:
    """Network bandwidth per GPU per direction, bytes/s: the accelerator's, else its family's default."""
    if acc.inter_node_bandwidth_gb_s:
        return acc.inter_node_bandwidth_gb_s * BYTES_PER_GB
    family = catalog.families.get(acc.family)
    if family is None:
        raise CatalogError([Issue("families", acc.family, f"unknown family of {acc.id}; families live in "
                                                          f"catalogs/families.yaml")])
    return family.default_inter_node_bandwidth_gb_s * BYTES_PER_GB


def link_parameters(sub: pd.DataFrame, tp, dp, pp, domain, inter_node, entries: dict, kernels, per_key) -> Links:
    """Links of the rows of `sub` (accelerator and engine columns); `entries` maps (accelerator, engine) to
    its `prepare.DeviceEngine` (accelerator and kernel framework), `inter_node` is bytes/s per row."""
    n_stage = tp * dp
    sub = sub.assign(_tp=tp, _n=n_stage)

    def link(a, e, n, kind):
        entry = entries[(a, e)]
        return kernels.link(entry.acc, kind, entry.framework if kind == "allreduce" else "nccl", int(n))

    if len(sub):
        codes: dict = {}
        ar, ar_code = per_key(sub, ["accelerator", "engine", "_tp"], lambda a, e, n: link(a, e, n, "allreduce"),
                              codes_of=codes)
        a2a, a2a_code = per_key(sub, ["accelerator", "engine", "_n"], lambda a, e, n: link(a, e, n, "alltoall"),
                                codes_of=codes)
        ar_latency = np.array([v.alpha_s for v in ar])[ar_code]
        ar_bw = np.array([v.busbw_bytes_s for v in ar])[ar_code]
        a2a_latency = np.array([v.alpha_s for v in a2a])[a2a_code]
        a2a_bw = np.array([v.busbw_bytes_s for v in a2a])[a2a_code]
        moe_ar, moe_code = per_key(sub, ["accelerator", "engine", "_n"], lambda a, e, n: link(a, e, n, "allreduce"),
                                   codes_of=codes)
        moe_ar_latency = np.array([v.alpha_s for v in moe_ar])[moe_code]
        moe_ar_bw = np.array([v.busbw_bytes_s for v in moe_ar])[moe_code]
        p2p, p2p_code = per_key(sub, ["accelerator", "engine"], lambda a, e: kernels.p2p_latency_s(entries[(a, e)].acc),
                                codes_of=codes)
        p2p_latency = np.array(p2p, float)[p2p_code]
    else:
        ar_latency = ar_bw = a2a_latency = a2a_bw = p2p_latency = moe_ar_latency = moe_ar_bw = np.zeros(0)
    ar_bw = np.where(tp > domain, np.minimum(ar_bw, inter_node), ar_bw)
    a2a_bw = np.where(n_stage > domain, np.minimum(a2a_bw, inter_node), a2a_bw)
    moe_ar_bw = np.where(n_stage > domain, np.minimum(moe_ar_bw, inter_node), moe_ar_bw)
    return Links(allreduce_latency_s=ar_latency, allreduce_bytes_per_s=ar_bw, alltoall_latency_s=a2a_latency,
                 alltoall_bytes_per_s=a2a_bw, moe_allreduce_latency_s=moe_ar_latency,
                 moe_allreduce_bytes_per_s=moe_ar_bw, p2p_latency_s=p2p_latency,
                 p2p_bytes_per_s=np.where(n_stage * pp > domain, inter_node, ar_bw))
