"""A disaggregated workload as NVIDIA Dynamo's Kubernetes resource: one `DynamoGraphDeployment` (apiVersion
`nvidia.com/v1alpha1`) with the documented services — a `Frontend` (componentType frontend, which routes each
request through a prefill worker and then a decode worker) and the prefill and decode workers of the chosen
backend (componentType worker, subComponentType prefill|decode) — and, for TensorRT-LLM, a ConfigMap holding
each worker's engine options.

Sources (field names and layout):
- ai-dynamo/dynamo@7893f2684e43bd9b8b9fac31e9582238b72f0581 examples/backends/vllm/deploy/disagg.yaml,
  @da6dc882377f1c6e15eec8c6bdeb2eecbc2206c4 examples/backends/sglang/deploy/disagg.yaml,
  @25417557c21eb30586fa9996bfd179cbce956318 examples/backends/trtllm/deploy/disagg.yaml (services, componentType,
  subComponentType, replicas, resources.limits.gpu, envFromSecret, extraPodSpec.mainContainer image/workingDir/
  command/args; worker modules `dynamo.vllm`, `dynamo.sglang`, `dynamo.trtllm`; `--disaggregation-mode`);
- @179449ffd14bf6f18fac1c0a0373594f22d26ae1 examples/backends/trtllm/deploy/agg-with-config.yaml (engine options
  from a ConfigMap: extraPodSpec.volumes + mainContainer.volumeMounts, `--extra-engine-args`);
- @1d26d9213a1d73ecf5ae84685a40ffcb655c48fa deploy/operator/api/v1alpha1/dynamocomponentdeployment_types.go,
  @647025f7055adab40a31f32bbc80382c87912c4f deploy/operator/api/v1alpha1/common.go,
  @832a531f08993b98f56155a42523cdb96a7ed6b2 deploy/operator/api/v1alpha1/dynamographdeployment_types.go (the
  JSON names of every field; `extraPodSpec` is a core PodSpec plus `mainContainer`, a core Container);
- https://docs.nvidia.com/dynamo/reference/backends/v-llm-configuration (`python -m dynamo.vllm` accepts every
  native vLLM engine argument plus `--disaggregation-mode`); Dynamo's Kubernetes deployment guide (the disaggregated
  vLLM workers carry `--kv-transfer-config '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'`; runtime
  images `nvcr.io/nvidia/ai-dynamo/{vllm,sglang,tensorrtllm}-runtime:1.4.0`; TensorRT-LLM reads all
  parallelism from the `--extra-engine-args` YAML).

The worker arguments are the pools' launch rendering (`disagg_launch`) translated to the worker module: the
engine's own flags are kept, the HTTP `--host/--port` of a standalone server are dropped (the Frontend serves
HTTP), and the model is passed as the module names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from solver.catalog.loader import Catalog
from solver.deploy import targets
from solver.deploy.disagg_kube import node_selector
from solver.deploy.disagg_launch import NIXL_CONFIG, ROLES, DisaggLaunch, trtllm_pool_options
from solver.errors import DeployError

API_VERSION = "nvidia.com/v1alpha1"
KIND = "DynamoGraphDeployment"
DYNAMO_RELEASE = "1.4.0"
"""Dynamo release whose runtime images the manifest names (Dynamo's quickstart `RUNTIME_IMAGE` tags)."""
RUNTIME_IMAGES = {"vllm": "nvcr.io/nvidia/ai-dynamo/vllm-runtime", "sglang": "nvcr.io/nvidia/ai-dynamo/sglang-runtime",
                  "trtllm": "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime"}
WORKER_MODULES = {"vllm": "dynamo.vllm", "sglang": "dynamo.sglang", "trtllm": "dynamo.trtllm"}
SERVICE_NAMES = {"vllm": {"prefill": "VllmPrefillWorker", "decode": "VllmDecodeWorker"},
                 "sglang": {"prefill": "prefill", "decode": "decode"},
                 "trtllm": {"prefill": "TRTLLMPrefillWorker", "decode": "TRTLLMDecodeWorker"}}
"""Worker service names of the examples above."""
HF_SECRET = "hf-token-secret"
"""Secret of the examples (`envFromSecret`), holding HF_TOKEN."""
SGLANG_TRANSFER_BACKEND = "nixl"
SGLANG_BOOTSTRAP_PORT = "12345"
"""SGLang workers of the Dynamo example: NIXL transfer, bootstrap port 12345, tokenizer skipped (the Frontend
tokenizes)."""
CONFIG_DIR = "/config"
FRONTEND = "Frontend"


@dataclass
class DynamoGraph:
    objects: list[dict]
    """ConfigMap (TensorRT-LLM engine options) and the DynamoGraphDeployment."""
    name: str
    notes: list[str] = field(default_factory=list)


def image(engine: str) -> str:
    return f"{RUNTIME_IMAGES[engine]}:{DYNAMO_RELEASE}"


def _drop_pairs(argv: list[str], flags: tuple[str, ...]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in flags:
            skip = True
            continue
        out.append(a)
    return out


def _after(argv: tuple[str, ...], first_flag: str) -> list[str]:
    """argv after the executable and model (from the first flag on)."""
    return list(argv[argv.index(first_flag):]) if first_flag in argv else []


def worker_args(dl: DisaggLaunch, role: str) -> list[str]:
    """The worker module's arguments for one pool, from the pool's rendered command."""
    pool = dl.pool(role)
    ckpt = dl.checkpoint
    if dl.engine == "vllm":
        # vllm serve CKPT --host H --port P <engine args> --kv-transfer-config NIXL
        rest = _drop_pairs(_after(pool.argv, "--host"), ("--host", "--port", "--kv-transfer-config"))
        return ["--model", ckpt, *rest, "--kv-transfer-config", NIXL_CONFIG, "--disaggregation-mode", role]
    if dl.engine == "sglang":
        rest = _drop_pairs(_after(pool.argv, "--host"), ("--host", "--port", "--disaggregation-mode",
                                                         "--disaggregation-transfer-backend"))
        return ["--model-path", ckpt, "--served-model-name", ckpt, *rest, "--skip-tokenizer-init",
                "--disaggregation-mode", role, "--disaggregation-transfer-backend", SGLANG_TRANSFER_BACKEND,
                "--disaggregation-bootstrap-port", SGLANG_BOOTSTRAP_PORT, "--host", "0.0.0.0"]
    if dl.engine == "trtllm":
        return ["--model-path", ckpt, "--served-model-name", ckpt, "--extra-engine-args",
                f"{CONFIG_DIR}/{role}.yaml", "--disaggregation-mode", role]
    raise DeployError(f"engine {dl.engine}: Dynamo has no worker module for it (known: {', '.join(WORKER_MODULES)})")


def trtllm_engine_options(dl: DisaggLaunch, role: str, max_model_len: int) -> dict:
    """The TensorRT-LLM worker's engine options: the pool's extra-LLM-API options (parallelism, KV dtype,
    cache_transceiver_config) plus the batch and length limits `trtllm-serve` takes as flags."""
    pool = dl.pool(role)
    argv = list(pool.argv)
    opts = trtllm_pool_options(pool.launch, role, max_model_len)
    extra = argv[argv.index("--extra_llm_api_options") + 2:]
    if extra:
        raise DeployError(f"TensorRT-LLM {role} pool: flags {' '.join(extra)} have no engine-options form here")
    opts["max_batch_size"] = int(argv[argv.index("--max_batch_size") + 1])
    opts["max_seq_len"] = int(argv[argv.index("--max_seq_len") + 1])
    return opts


def dynamo_graph(catalog: Catalog, dl: DisaggLaunch, split: dict, name: str, max_model_len: int) -> DynamoGraph:
    """The DynamoGraphDeployment of one disaggregated workload: replicas = the plan's workers per pool, GPU limit
    per worker = the pool's GPUs per worker. Raises DeployError when Dynamo cannot run it as modelled (a
    non-NVIDIA pool, a worker spanning nodes, an engine without a Dynamo worker)."""
    if dl.engine not in WORKER_MODULES:
        raise DeployError(f"engine {dl.engine}: Dynamo has no worker module for it")
    notes: list[str] = []
    for role in ROLES:
        pool = split[role]
        if targets.vendor(catalog, pool["accelerator"]) != "nvidia":
            raise DeployError(f"{name}: the {role} pool runs on {pool['accelerator']}; Dynamo's runtime images "
                              "are NVIDIA CUDA builds")
        if dl.pool(role).nodes > 1:
            raise DeployError(f"{name}: a {role} worker of {dl.pool(role).gpus_per_worker} GPUs spans "
                              f"{dl.pool(role).nodes} nodes; multinode Dynamo workers are not rendered here")
    img = image(dl.engine)
    services: dict[str, dict] = {FRONTEND: {"componentType": "frontend", "replicas": 1,
                                            "extraPodSpec": {"mainContainer": {"image": img}}}}
    objects: list[dict] = []
    if dl.engine == "trtllm":
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-engine-config"},
                        "data": {f"{role}.yaml": yaml.safe_dump(trtllm_engine_options(dl, role, max_model_len),
                                                                sort_keys=False) for role in ROLES}})
    for role in ROLES:
        pool = split[role]
        # No workingDir: the examples' working directory serves their relative engine-config paths, and the
        # options here are mounted at an absolute path.
        container: dict = {"image": img, "command": ["python3", "-m", WORKER_MODULES[dl.engine]],
                           "args": worker_args(dl, role)}
        pod: dict = {}
        selector = node_selector(catalog, pool["offer"])
        if selector:
            pod["nodeSelector"] = selector
        else:
            notes.append(f"{name} {role}: {catalog.lookup('offers', pool['offer']).provider} nodes carry no "
                         "instance-type label we know; the workers select only on their GPU count")
        if dl.engine == "trtllm":
            pod["volumes"] = [{"name": "engine-config", "configMap": {"name": f"{name}-engine-config"}}]
            container["volumeMounts"] = [{"name": "engine-config", "mountPath": CONFIG_DIR, "readOnly": True}]
        pod["mainContainer"] = container
        services[SERVICE_NAMES[dl.engine][role]] = {
            "envFromSecret": HF_SECRET, "componentType": "worker", "subComponentType": role,
            "replicas": int(split[f"{role}_workers"]),
            "resources": {"limits": {"gpu": str(int(pool["gpus_per_worker"]))}},
            "extraPodSpec": pod,
        }
    graph = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name},
             "spec": {"backendFramework": dl.engine, "services": services}}
    objects.append(graph)
    return DynamoGraph(objects=objects, name=name, notes=notes)
