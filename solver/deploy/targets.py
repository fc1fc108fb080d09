"""Where a plan runs: container images, Kubernetes node selection (accelerator, spot capacity) and SkyPilot
names, each from the public documentation named beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from solver.catalog.loader import Catalog
from solver.errors import DeployError

GPU_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu", "google": "google.com/tpu",
                "intel": "habana.ai/gaudi"}
"""Extended resource names of the accelerators' device plugins: NVIDIA and AMD
(https://kubernetes.io/docs/tasks/manage-gpus/scheduling-gpus/), Cloud TPU on GKE
(https://cloud.google.com/kubernetes-engine/docs/how-to/tpus: `google.com/tpu`), Intel Gaudi
(https://docs.habana.ai/en/latest/Orchestration/Gaudi_Kubernetes/Device_Plugin_for_Kubernetes.html:
`habana.ai/gaudi`)."""

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
"""Well-known label the cloud provider sets to the node's instance type
(https://kubernetes.io/docs/reference/labels-annotations-taints/#nodekubernetesioinstance-type)."""
INSTANCE_TYPE_PROVIDERS = ("aws", "gcp", "azure")
"""Providers whose managed Kubernetes nodes carry the instance type our offers name (EKS, GKE, AKS)."""


@dataclass(frozen=True)
class SpotScheduling:
    node_selector: dict[str, str]
    tolerations: tuple[dict[str, str], ...]
    source: str


SPOT = {
    "gcp": SpotScheduling({"cloud.google.com/gke-spot": "true"},
                          ({"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true",
                            "effect": "NoSchedule"},),
                          "https://docs.cloud.google.com/kubernetes-engine/docs/concepts/spot-vms"),
    "aws": SpotScheduling({"eks.amazonaws.com/capacityType": "SPOT"}, (),
                          "https://docs.aws.amazon.com/eks/latest/userguide/managed-node-groups.html"),
    "azure": SpotScheduling({"kubernetes.azure.com/scalesetpriority": "spot"},
                            ({"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot",
                              "effect": "NoSchedule"},),
                            "https://docs.nvidia.com/dynamo/kubernetes-deployment/cloud-provider-guides/azure/"
                            "spot-v-ms.md (AKS taints spot nodes "
                            "kubernetes.azure.com/scalesetpriority=spot:NoSchedule)"),
}
"""Spot node pools of GKE, EKS managed node groups and AKS: the label to select and the taint to tolerate."""

SKYPILOT_CLOUDS = {"aws": "aws", "gcp": "gcp", "azure": "azure", "lambda": "lambda", "runpod": "runpod",
                   "nebius": "nebius", "fluidstack": "fluidstack"}
"""Our providers as SkyPilot cloud names (https://docs.skypilot.co/en/latest/getting-started/installation.html)."""
SKYPILOT_REGION_PROVIDERS = ("aws", "gcp", "azure", "nebius")
"""Providers whose offer regions are the cloud's own region names."""

SKYPILOT_ACCELERATORS = {
    "a10g": "A10G", "l4": "L4", "l40s": "L40S", "a100-40gb-sxm": "A100", "a100-80gb-sxm": "A100-80GB",
    "a100-80gb-pcie": "A100-80GB", "h100-sxm": "H100", "h100-pcie": "H100", "h100-nvl": "H100", "h200-sxm": "H200",
    "gh200-96gb": "GH200", "b200": "B200", "mi300x": "MI300X",
}
"""SkyPilot accelerator names (AcceleratorName column of
skypilot-org/skypilot-catalog@001ca549aad50db24c5670b5438bea0573a2b6c0 catalogs/v8/common/accelerators.csv);
per-cloud names below override them."""
SKYPILOT_ACCELERATORS_BY_CLOUD = {
    ("runpod", "h100-sxm"): "H100-SXM", ("runpod", "a100-80gb-sxm"): "A100-80GB-SXM",
    ("runpod", "h200-sxm"): "H200-SXM", ("runpod", "h100-nvl"): "H100-NVL", ("fluidstack", "h100-sxm"): "H100-NVLINK",
}
"""Same file: RunPod lists H100-SXM, A100-80GB-SXM, H200-SXM, H100-NVL; Fluidstack H100-NVLINK."""

READY_PATH = "/health"
"""Health endpoint served by vLLM, SGLang and trtllm-serve once the model is loaded."""


def vendor(catalog: Catalog, accelerator: str) -> str:
    acc = catalog.lookup("accelerators", accelerator)
    if acc.vendor not in GPU_RESOURCE:
        raise DeployError(f"accelerator {accelerator}: {acc.vendor} devices have no Kubernetes GPU resource here "
                          f"(known: {', '.join(GPU_RESOURCE)})")
    return acc.vendor


def image(catalog: Catalog, engine: str, accelerator: str) -> str:
    """The engine's container image for the accelerator: engines.yaml `images`, by family, else by vendor."""
    eng = catalog.lookup("engines", engine)
    acc = catalog.lookup("accelerators", accelerator)
    img = eng.images.get(acc.family) or eng.images.get(acc.vendor)
    if not img:
        raise DeployError(f"engine {eng.id}: no container image recorded for {acc.vendor} {acc.family} "
                          "(catalogs/engines.yaml images)")
    return img


def skypilot_accelerator(provider: str, accelerator: str) -> str | None:
    return SKYPILOT_ACCELERATORS_BY_CLOUD.get((provider, accelerator)) or SKYPILOT_ACCELERATORS.get(accelerator)
