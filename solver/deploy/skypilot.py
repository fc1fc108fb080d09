"""SkyPilot YAML per configuration and offer: a SkyServe service (single-node replicas, autoscaled on
queries per second between the plan's minimum and peak replicas) or, for replicas spanning nodes, a task
with `num_nodes` whose nodes find each other through SkyPilot's `SKYPILOT_NODE_RANK` and
`SKYPILOT_NODE_IPS` (https://docs.skypilot.co/en/latest/running-jobs/distributed-jobs.html).

Fields follow the documented task and service YAML (https://docs.skypilot.co/en/latest/reference/yaml-spec.html,
https://docs.skypilot.co/en/latest/serving/service-yaml-spec.html). SkyServe scales on load, not on the
clock, so the plan's schedule becomes the replica range and a target QPS per replica equal to the
capacity the model predicted for one replica.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from solver.catalog.loader import Catalog
from solver.deploy import targets
from solver.deploy.engine_args import shell_join
from solver.deploy.kubernetes import PORT, STARTUP_SECONDS, config_name, launch_for
from solver.deploy.plan_io import DeployConfig, DeployWorkload


@dataclass
class SkyFile:
    name: str
    """File name without directory (`<config>.yaml`, `<config>-spot.yaml`)."""
    body: dict
    kind: str
    """service or task."""


@dataclass
class SkyResult:
    files: list[SkyFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _resources(catalog: Catalog, cfg: DeployConfig, spot: bool, acc_name: str) -> dict:
    offer = catalog.lookup("offers", cfg.offer)
    res: dict = {"cloud": targets.SKYPILOT_CLOUDS[cfg.provider]}
    if cfg.provider in targets.SKYPILOT_REGION_PROVIDERS and offer.region:
        res["region"] = offer.region
    per_node = min(cfg.gpus_per_replica, offer.gpus_per_instance)
    if per_node == offer.gpus_per_instance and cfg.provider in targets.INSTANCE_TYPE_PROVIDERS:
        res["instance_type"] = cfg.instance_type
    res["accelerators"] = f"{acc_name}:{per_node}"
    res["use_spot"] = spot
    res["ports"] = PORT
    res["image_id"] = f"docker:{targets.image(catalog, cfg.engine, cfg.accelerator)}"
    return res


def config_files(catalog: Catalog, wl: DeployWorkload, cfg: DeployConfig) -> SkyResult:
    out = SkyResult()
    name = config_name(cfg)
    offer = catalog.lookup("offers", cfg.offer)
    if offer.kind == "owned":
        out.notes.append(f"{name}: owned hardware, no SkyPilot file (use docker-compose.yaml or Kubernetes)")
        return out
    acc_name = targets.skypilot_accelerator(cfg.provider, cfg.accelerator)
    if cfg.provider not in targets.SKYPILOT_CLOUDS or acc_name is None:
        out.notes.append(f"{name}: SkyPilot names for {cfg.provider} / {cfg.accelerator} are not recorded; "
                         "no SkyPilot file")
        return out
    launch = launch_for(catalog, wl, cfg, node_rank="$SKYPILOT_NODE_RANK", head_address="$HEAD_NODE_IP",
                        config_dir="")
    parts = [("", cfg.regular_by_slot, False), ("-spot", cfg.spot_replicas_by_slot, True)]
    for suffix, counts, spot in parts:
        if not any(counts):
            continue
        body: dict = {"name": f"{name}{suffix}", "resources": _resources(catalog, cfg, spot, acc_name),
                      "envs": {"HF_TOKEN": ""}}
        if launch.nodes == 1:
            low, high = min(counts), max(counts)
            service: dict = {"readiness_probe": {"path": targets.READY_PATH,
                                                 "initial_delay_seconds": STARTUP_SECONDS}}
            if low == high:
                service["replicas"] = high
            else:
                service["replica_policy"] = {"min_replicas": low, "max_replicas": high,
                                             "target_qps_per_replica": round(cfg.replica_capacity_rps, 4)}
            body["service"] = service
            body["run"] = launch.shell() + "\n"
            out.files.append(SkyFile(f"{name}{suffix}.yaml", body, "service"))
        elif launch.launcher == "mpi":
            out.notes.append(f"{name}{suffix}: {cfg.engine} starts a {launch.nodes}-node replica as one MPI job; "
                             "no SkyPilot file")
        else:
            body["num_nodes"] = launch.nodes
            writes = launch.shell().rsplit(" && ", 1)[0] + " && " if launch.files else ""
            body["run"] = (
                'HEAD_NODE_IP=$(echo "$SKYPILOT_NODE_IPS" | head -n1)\n'
                'if [ "$SKYPILOT_NODE_RANK" = "0" ]; then\n'
                f"  {writes}{shell_join(launch.leader)}\n"
                "else\n"
                f"  {writes}{shell_join(launch.worker)}\n"
                "fi\n")
            out.files.append(SkyFile(f"{name}{suffix}.yaml", body, "task"))
            out.notes.append(f"{name}{suffix}: one `sky launch` of this task is one replica of {launch.nodes} nodes; "
                             f"the plan runs {min(counts)} to {max(counts)} of them")
    return out
