"""Kubernetes objects of a plan: per configuration a Deployment (a LeaderWorkerSet when a replica spans
nodes), a spot Deployment when the plan puts replicas on spot capacity, a KEDA cron ScaledObject per
scaled object reproducing the replicas per slot; per workload a Service over all its configurations.

Pods follow the engines' Kubernetes guidance: `/dev/shm` as a memory-backed emptyDir (vLLM's
parallelism-scaling doc), probes on `/health`, a long startup probe for model loading, GPUs as the
device plugins' extended resources. Multi-node replicas use LeaderWorkerSet's injected
`LWS_LEADER_ADDRESS` and `LWS_WORKER_INDEX` (vLLM's LWS deployment doc).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from solver.catalog.loader import Catalog
from solver.deploy import targets
from solver.deploy.engine_args import EngineLaunch, render_launch, shell_join, spec_from_config
from solver.deploy.plan_io import DeployConfig, DeployPlan, DeployWorkload
from solver.deploy.schedule import cron_schedule
from solver.errors import DeployError

PORT = 8000
CONFIG_DIR = "/config"
HF_SECRET = "hf-token"
"""Secret holding a Hugging Face token (key `token`) for gated models; optional."""
STARTUP_SECONDS = 1800
"""How long a replica may take to download and load its weights before the startup probe gives up."""


def dns_name(*parts: str) -> str:
    """A DNS-1123 label from `parts` (lowercase alphanumerics and '-', at most 63 characters)."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return name[:63].rstrip("-") or "x"


def config_name(cfg: DeployConfig) -> str:
    return dns_name(cfg.workload, str(cfg.index))


def launch_for(catalog: Catalog, plan_workload: DeployWorkload, cfg: DeployConfig, *, node_rank: str,
               head_address: str, config_dir: str) -> EngineLaunch:
    spec = spec_from_config(catalog, engine=cfg.engine, model=cfg.model, quant=cfg.quant, kv_quant=cfg.kv_quant,
                            tp=cfg.tp, dp=cfg.dp, pp=cfg.pp, ep=cfg.ep, max_batch=cfg.max_batch,
                            max_model_len=plan_workload.max_context_tokens, offer=cfg.offer, port=PORT)
    if spec.layout.gpus != cfg.gpus_per_replica:
        raise DeployError(f"{config_name(cfg)}: the plan gives {cfg.gpus_per_replica} GPUs per replica but "
                          f"tp·dp·pp = {spec.layout.gpus} (tp={cfg.tp} dp={cfg.dp} pp={cfg.pp} ep={cfg.ep})")
    return render_launch(catalog, spec, node_rank=node_rank, head_address=head_address, config_dir=config_dir)


@dataclass
class KubeConfig:
    """The objects of one configuration, and what a user must know about them."""

    name: str
    objects: list[dict]
    scaled: bool
    kind: str
    """Deployment or LeaderWorkerSet."""
    notes: list[str] = field(default_factory=list)


def _labels(cfg: DeployConfig, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": dns_name(cfg.workload), "app.kubernetes.io/instance": config_name(cfg),
            "app.kubernetes.io/component": component}


def engine_container(image: str, command: list[str], gpus: int, resource: str | None, config: bool,
                     probes: bool) -> dict:
    """The engine container: shared memory, the HF token, GPUs of `resource` (none for a router), the
    engine-config volume when the launch writes files, and the readiness probes when it serves."""
    c: dict = {
        "name": "engine", "image": image, "command": command,
        "ports": [{"name": "http", "containerPort": PORT}],
        "env": [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": HF_SECRET, "key": "token",
                                                                   "optional": True}}}],
    }
    if resource:
        c["resources"] = {"limits": {resource: gpus}, "requests": {resource: gpus}}
    c["volumeMounts"] = [{"name": "shm", "mountPath": "/dev/shm"}]
    if config:
        c["volumeMounts"].append({"name": "engine-config", "mountPath": CONFIG_DIR, "readOnly": True})
    if probes:
        probe = {"httpGet": {"path": targets.READY_PATH, "port": "http"}}
        c["startupProbe"] = {**probe, "periodSeconds": 10, "failureThreshold": STARTUP_SECONDS // 10}
        c["readinessProbe"] = {**probe, "periodSeconds": 10, "failureThreshold": 3}
        c["livenessProbe"] = {**probe, "periodSeconds": 30, "failureThreshold": 3}
    return c


def _pod(container: dict, launch: EngineLaunch, name: str, node_selector: dict, tolerations: list) -> dict:
    spec: dict = {"containers": [container],
                  "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}]}
    if launch.files:
        spec["volumes"].append({"name": "engine-config", "configMap": {"name": f"{name}-config"}})
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if tolerations:
        spec["tolerations"] = [dict(t) for t in tolerations]
    return spec


def _placement(catalog: Catalog, cfg: DeployConfig, spot: bool) -> tuple[dict, list, list[str]]:
    offer = catalog.lookup("offers", cfg.offer)
    selector: dict[str, str] = {}
    notes: list[str] = []
    if offer.kind == "cloud" and cfg.provider in targets.INSTANCE_TYPE_PROVIDERS:
        selector[targets.INSTANCE_TYPE_LABEL] = cfg.instance_type
    elif offer.kind == "owned":
        notes.append(f"{config_name(cfg)} runs on owned {cfg.instance_type} servers: no node selector is set; "
                     f"label those nodes and add a nodeSelector if the cluster has other GPUs")
    else:
        notes.append(f"{config_name(cfg)}: {cfg.provider} nodes carry no instance-type label we know; the pods "
                     f"select only on the {targets.GPU_RESOURCE[targets.vendor(catalog, cfg.accelerator)]} resource")
    tolerations: list = []
    if spot:
        sched = targets.SPOT.get(cfg.provider)
        if sched is None:
            notes.append(f"{config_name(cfg)}-spot: no spot node label is known for {cfg.provider}; "
                         "add your spot pool's node selector")
        else:
            selector.update(sched.node_selector)
            tolerations = list(sched.tolerations)
    return selector, tolerations, notes


def _scaled_object(name: str, target: dict, counts: tuple[int, ...], slot_hours: tuple[float, ...],
                   timezone: str) -> dict | None:
    """None when the count never changes; raises DeployError when cron cannot express the schedule."""
    sched = cron_schedule(counts, slot_hours)
    if not sched.windows:
        return None
    return {
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": target,
            "minReplicaCount": sched.min_replicas, "maxReplicaCount": sched.max_replicas,
            # Follow the plan at each slot boundary instead of HPA's default 5-minute scale-down delay.
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {
                "stabilizationWindowSeconds": 0}}}},
            "triggers": [{"type": "cron", "metadata": {"timezone": timezone, "start": w.start, "end": w.end,
                                                       "desiredReplicas": str(w.replicas)}}
                         for w in sched.windows],
        },
    }


def _scheduled(name: str, target: dict, counts: tuple[int, ...], slot_hours: tuple[float, ...], timezone: str,
               notes: list[str]) -> dict | None:
    """The ScaledObject, or None: a constant count, or a schedule cron cannot express (then the object runs
    the peak count all the time and a note says so)."""
    try:
        return _scaled_object(name, target, counts, slot_hours, timezone)
    except DeployError as exc:
        notes.append(f"{name}: {exc}; it runs its peak of {max(counts)} replicas all the time")
        return None


def _deployment(catalog: Catalog, wl: DeployWorkload, cfg: DeployConfig, name: str, counts: tuple[int, ...],
                spot: bool, slot_hours: tuple[float, ...], timezone: str) -> tuple[list[dict], list[str], bool]:
    launch = launch_for(catalog, wl, cfg, node_rank="0", head_address="localhost", config_dir=CONFIG_DIR)
    vendor = targets.vendor(catalog, cfg.accelerator)
    selector, tolerations, notes = _placement(catalog, cfg, spot)
    container = engine_container(targets.image(catalog, cfg.engine, cfg.accelerator), list(launch.leader),
                                 cfg.gpus_per_replica, targets.GPU_RESOURCE[vendor], bool(launch.files), probes=True)
    labels = _labels(cfg, "server")
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": counts[0], "selector": {"matchLabels": {**labels, "capacity": _capacity(spot)}},
                 "template": {"metadata": {"labels": {**labels, "capacity": _capacity(spot)}},
                              "spec": _pod(container, launch, config_name(cfg), selector, tolerations)}},
    }
    objs = [deployment]
    so = _scheduled(name, {"name": name}, counts, slot_hours, timezone, notes)
    if so:
        objs.append(so)
    else:
        deployment["spec"]["replicas"] = max(counts) if len(set(counts)) > 1 else counts[0]
    return objs, notes, so is not None


def _capacity(spot: bool) -> str:
    return "spot" if spot else "regular"


def _leader_worker_set(catalog: Catalog, wl: DeployWorkload, cfg: DeployConfig, name: str,
                       counts: tuple[int, ...], spot: bool, slot_hours: tuple[float, ...],
                       timezone: str) -> tuple[list[dict], list[str], bool]:
    launch = launch_for(catalog, wl, cfg, node_rank="$(LWS_WORKER_INDEX)", head_address="$(LWS_LEADER_ADDRESS)",
                        config_dir=CONFIG_DIR)
    if launch.worker is None:
        raise DeployError(f"{config_name(cfg)}: {cfg.engine} starts a {launch.nodes}-node replica as one MPI job "
                          "(srun/mpirun), which these manifests do not set up; run it with the SkyPilot or "
                          "SLURM launch printed by `trilemma solve`")
    vendor = targets.vendor(catalog, cfg.accelerator)
    offer = catalog.lookup("offers", cfg.offer)
    selector, tolerations, notes = _placement(catalog, cfg, spot)
    image = targets.image(catalog, cfg.engine, cfg.accelerator)
    per_node = offer.gpus_per_instance
    leader = engine_container(image, ["/bin/sh", "-c", shell_join(launch.leader)], per_node,
                              targets.GPU_RESOURCE[vendor], bool(launch.files), probes=True)
    worker = engine_container(image, ["/bin/sh", "-c", shell_join(launch.worker)], per_node,
                              targets.GPU_RESOURCE[vendor], bool(launch.files), probes=False)
    leader_labels = {**_labels(cfg, "server"), "capacity": _capacity(spot)}
    worker_labels = {**_labels(cfg, "worker"), "capacity": _capacity(spot)}
    lws = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
        "metadata": {"name": name, "labels": _labels(cfg, "server")},
        "spec": {
            "replicas": counts[0],
            "leaderWorkerTemplate": {
                "size": launch.nodes,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": {"metadata": {"labels": leader_labels},
                                   "spec": _pod(leader, launch, config_name(cfg), selector, tolerations)},
                "workerTemplate": {"metadata": {"labels": worker_labels},
                                   "spec": _pod(worker, launch, config_name(cfg), selector, tolerations)},
            },
        },
    }
    objs = [lws]
    so = _scheduled(name, {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": name},
                    counts, slot_hours, timezone, notes)
    if so:
        objs.append(so)
    else:
        lws["spec"]["replicas"] = max(counts) if len(set(counts)) > 1 else counts[0]
    return objs, notes, so is not None


def config_objects(catalog: Catalog, plan: DeployPlan, wl: DeployWorkload, cfg: DeployConfig,
                   timezone: str) -> KubeConfig:
    """ConfigMap (engine side files), the regular and spot workload objects, their ScaledObjects."""
    name = config_name(cfg)
    probe_launch = launch_for(catalog, wl, cfg, node_rank="0", head_address="localhost", config_dir=CONFIG_DIR)
    multi = probe_launch.nodes > 1
    build = _leader_worker_set if multi else _deployment
    objects: list[dict] = []
    notes = list(probe_launch.notes)
    if probe_launch.files:
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-config"},
                        "data": {f.name: f.text for f in probe_launch.files}})
    scaled = False
    if any(cfg.regular_by_slot):
        objs, more, s = build(catalog, wl, cfg, name, cfg.regular_by_slot, False, plan.slot_hours, timezone)
        objects += objs
        notes += more
        scaled |= s
    if cfg.has_spot:
        objs, more, s = build(catalog, wl, cfg, f"{name}-spot", cfg.spot_replicas_by_slot, True, plan.slot_hours,
                              timezone)
        objects += objs
        notes += more
        scaled |= s
    return KubeConfig(name=name, objects=objects, scaled=scaled,
                      kind="LeaderWorkerSet" if multi else "Deployment", notes=notes)


def service(wl: DeployWorkload) -> dict:
    """One Service per workload over every configuration's serving pods (regular and spot)."""
    name = dns_name(wl.name)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "server"},
                     "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]}}
