"""All-reduce among GPUs joined only by PCIe (no NVLink), with peer-to-peer through PCIe switches.

A ring all-reduce of B bytes over n GPUs moves 2(n−1)/n·B through every GPU's link in each direction
(the NCCL "bus bandwidth" convention: busbw = algbw·2(n−1)/n). On NVLink/NVSwitch systems the fitted
busbw per GPU count already says how that scales. On a PCIe box every rank's traffic crosses its own
x16 link, and with peer-to-peer through PCIe switches no link carries more than one rank's share, so
the bus bandwidth does not fall with n:

    busbw_pcie(n) = busbw(2),   time = α(n) + 2(n−1)/n · B / busbw(2)

with busbw(2) the two-GPU measurement of the accelerator's kernel system (scaled to this accelerator's
PCIe link when the system was measured on another part) and α(n) the system's per-size latency. A box
whose GPUs cannot reach each other peer-to-peer stages every hop through host memory and across CPU
sockets; its 4- and 8-GPU bus bandwidth collapses (the l40s kernel system measured 5.3 and 1.4 GB/s
against 19.7 GB/s between two GPUs). `scale_up_link: pcie` on an accelerator selects this model, which
assumes the peer-to-peer host topology.
"""

from __future__ import annotations


def pcie_allreduce(table: dict, n: int, scale: float) -> tuple[float, float]:
    """(α seconds, busbw bytes/s) of an n-GPU all-reduce over PCIe from one framework's fitted table
    {gpus: {alpha_us, busbw_gb_s}}; `scale` converts the table system's link bandwidth to this GPU's."""
    sizes = sorted(int(k) for k in table)
    row = table.get(n) or table.get(str(n)) or table[min(sizes, key=lambda s: (abs(s - n), s))]
    pair = table.get(2) or table.get("2") or table[sizes[0]]
    return row["alpha_us"] * 1e-6, pair["busbw_gb_s"] * 1e9 * scale
