"""A disaggregated workload as plain Kubernetes objects: each pool's workers, a Service per pool, and the
engine's documented router or proxy in front (SGLang's router, TensorRT-LLM's `trtllm-serve disaggregated`).

How the pools find each other: SGLang's router and TensorRT-LLM's proxy are given one URL per worker (the
engines' docs list every prefill/context and decode/generation server; see `disagg_launch`). Pods of a
Deployment have no stable names, so those pools run as StatefulSets behind a headless Service, whose pods are
reachable at `<statefulset>-<i>.<service>` (https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/
#stable-network-id). vLLM documents no router, so its pools are Deployments behind one Service each, and the
folder's README points at the Dynamo description for routing. The KV cache itself travels pod to pod over the
engine's transfer library (Mooncake, NIXL/UCX).

Pods follow the aggregated manifests (`kubernetes.py`): `/dev/shm` as a memory-backed emptyDir, probes on
`/health`, GPUs as the device plugin's extended resource, the instance-type node selector of each pool's offer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from solver.catalog.loader import Catalog
from solver.deploy import targets
from solver.deploy.disagg_launch import ROLES, DisaggLaunch, disagg_launch

# Every pod serves on PORT (pods have their own addresses, so the pools need no distinct ports).
from solver.deploy.kubernetes import CONFIG_DIR, PORT, dns_name, engine_container
from solver.errors import DeployError


@dataclass
class DisaggKube:
    objects: dict[str, list[dict]]
    """Objects per file stem: `<workload>-prefill`, `<workload>-decode`, `<workload>-router`."""
    launch: DisaggLaunch
    notes: list[str] = field(default_factory=list)


def node_selector(catalog: Catalog, offer_id: str) -> dict[str, str]:
    """The well-known instance-type label where the provider's managed Kubernetes sets it to our instance type
    (targets.INSTANCE_TYPE_PROVIDERS); empty otherwise."""
    offer = catalog.lookup("offers", offer_id)
    if offer.kind == "cloud" and offer.provider in targets.INSTANCE_TYPE_PROVIDERS:
        return {targets.INSTANCE_TYPE_LABEL: offer.instance_type}
    return {}


def pool_name(workload: str, role: str) -> str:
    return dns_name(workload, role)


def stateful(engine: str) -> bool:
    """Pools whose router lists every worker run as StatefulSets (stable pod names)."""
    return engine in ("sglang", "trtllm")


def _labels(workload: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": dns_name(workload), "app.kubernetes.io/component": component}


def _pod(container: dict, config_map: str | None, selector: dict) -> dict:
    spec: dict = {"containers": [container], "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}]}
    if config_map:
        spec["volumes"].append({"name": "engine-config", "configMap": {"name": config_map}})
    if selector:
        spec["nodeSelector"] = dict(selector)
    return spec


def _workload_object(kind: str, name: str, labels: dict, replicas: int, pod: dict) -> dict:
    spec: dict = {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                  "template": {"metadata": {"labels": dict(labels)}, "spec": pod}}
    if kind == "StatefulSet":
        # Workers start together; the router needs them all, not one after another.
        spec = {"serviceName": name, "podManagementPolicy": "Parallel", **spec}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "labels": dict(labels)},
            "spec": spec}


def _service(name: str, labels: dict, headless: bool) -> dict:
    spec: dict = {"selector": dict(labels), "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]}
    if headless:
        spec = {"clusterIP": "None", **spec}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def worker_hosts(workload: str, role: str, workers: int) -> list[str]:
    """Stable DNS names of a StatefulSet pool's pods (in the same namespace)."""
    name = pool_name(workload, role)
    return [f"{name}-{i}.{name}" for i in range(workers)]


def disagg_objects(catalog: Catalog, split: dict, workload: str, model: str, max_model_len: int) -> DisaggKube:
    """The Kubernetes objects of one disaggregated workload. Raises DeployError when a pool's worker spans
    nodes (a multi-node worker needs LeaderWorkerSet wiring these manifests do not render)."""
    engine = split["prefill"]["engine"]
    counts = {r: int(split[f"{r}_workers"]) for r in ROLES}
    dl = disagg_launch(catalog, split, model, max_model_len,
                       prefill_hosts=worker_hosts(workload, "prefill", counts["prefill"]),
                       decode_hosts=worker_hosts(workload, "decode", counts["decode"]),
                       ports=(PORT, PORT), config_dir=CONFIG_DIR)
    for role in ROLES:
        p = dl.pool(role)
        if p.nodes > 1:
            raise DeployError(f"{workload}: a {role} worker of {p.gpus_per_worker} GPUs spans {p.nodes} nodes; "
                              "multi-node disaggregated workers are not rendered as Kubernetes objects")
    config_map = f"{dns_name(workload)}-config" if dl.files else None
    objects: dict[str, list[dict]] = {}
    notes: list[str] = list(dl.notes)
    kind = "StatefulSet" if stateful(engine) else "Deployment"
    for role in ROLES:
        pool, p = split[role], dl.pool(role)
        name = pool_name(workload, role)
        selector = node_selector(catalog, pool["offer"])
        if not selector:
            notes.append(f"{name}: {catalog.lookup('offers', pool['offer']).provider} nodes carry no instance-type "
                         "label we know; the pods select only on the GPU resource")
        resource = targets.GPU_RESOURCE[targets.vendor(catalog, pool["accelerator"])]
        image = targets.image(catalog, engine, pool["accelerator"])
        container = engine_container(image, list(p.argv), p.gpus_per_worker, resource, bool(p.files), probes=True)
        labels = _labels(workload, role)
        docs = []
        if config_map and role == "prefill":
            docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": config_map},
                         "data": {f.name: f.text for f in dl.files}})
        docs.append(_workload_object(kind, name, labels, p.workers, _pod(container, config_map if p.files else None,
                                                                         selector)))
        docs.append(_service(name, labels, headless=stateful(engine)))
        objects[name] = docs
    if dl.router is not None:
        name = dns_name(workload)
        image = targets.image(catalog, engine, split["decode"]["accelerator"])
        container = engine_container(image, list(dl.router), 0, None, bool(dl.router_files), probes=False)
        labels = _labels(workload, "router")
        objects[f"{name}-router"] = [
            _workload_object("Deployment", f"{name}-router", labels, 1,
                             _pod(container, config_map if dl.router_files else None, {})),
            _service(name, labels, headless=False),
        ]
    return DisaggKube(objects=objects, launch=dl, notes=notes)
