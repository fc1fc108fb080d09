"""docker-compose.yaml for plans that run on single nodes: owned servers, and cloud plans whose every slot
fits one instance. Each replica is a service pinned to its GPUs; replicas are packed onto nodes first fit
in the order of the plan, and each node's services form a Compose profile (`docker compose --profile
node-1 up -d` on the first server). Compose runs the peak replica count all day: owned servers are paid
for whether busy or not, and a one-instance cloud plan holds its instance anyway.

GPU reservations follow Docker's Compose GPU support (https://docs.docker.com/compose/how-tos/gpu-support/);
AMD devices are passed as /dev/kfd and /dev/dri with the `video` group (ROCm's Docker guidance), limited
to the replica's GPUs with HIP_VISIBLE_DEVICES.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from solver.catalog.loader import Catalog
from solver.deploy import targets
from solver.deploy.kubernetes import PORT, config_name, launch_for
from solver.deploy.plan_io import DeployConfig, DeployPlan
from solver.errors import DeployError

CONFIG_MOUNT = "/config"


@dataclass
class ComposeResult:
    body: dict | None = None
    side_files: dict[str, str] = field(default_factory=dict)
    """Path inside the output folder -> text (engine side files mounted into services)."""
    nodes: dict[str, list[str]] = field(default_factory=dict)
    """Profile (node) -> services."""
    notes: list[str] = field(default_factory=list)


def wants_compose(catalog: Catalog, plan: DeployPlan) -> bool:
    """Owned hardware in the plan, or a cloud plan that holds one instance in every slot."""
    cfgs = [c for w in plan.workloads for c in w.configs]
    if any(catalog.lookup("offers", c.offer).kind == "owned" for c in cfgs):
        return True
    per_slot: dict[int, int] = {}
    for row in plan.instances:
        per_slot[row["slot"]] = per_slot.get(row["slot"], 0) + int(row["instances"])
    return bool(per_slot) and max(per_slot.values()) == 1


def compose(catalog: Catalog, plan: DeployPlan) -> ComposeResult:
    out = ComposeResult()
    services: dict[str, dict] = {}
    by_offer: dict[str, list[tuple[DeployConfig, int]]] = {}
    for wl in plan.workloads:
        for cfg in wl.configs:
            by_offer.setdefault(cfg.offer, []).append((cfg, max(cfg.replicas_by_slot)))
    node_no = 0
    for offer_id, items in by_offer.items():
        offer = catalog.lookup("offers", offer_id)
        size = offer.gpus_per_instance
        free: list[int] = []  # free GPUs per node of this offer, in order
        first: list[int] = []  # the global node number of each of them
        for cfg, peak in items:
            wl = next(w for w in plan.workloads if w.name == cfg.workload)
            try:
                launch = launch_for(catalog, wl, cfg, node_rank="0", head_address="localhost", config_dir=CONFIG_MOUNT)
            except DeployError:
                continue  # emit_plan's README already says why
            if launch.nodes > 1:
                out.notes.append(f"{config_name(cfg)}: a replica spans {launch.nodes} nodes; Compose runs one host, "
                                 "use the Kubernetes files")
                continue
            for f in launch.files:
                out.side_files[f"config/{config_name(cfg)}/{f.name}"] = f.text
            vendor = targets.vendor(catalog, cfg.accelerator)
            for r in range(1, peak + 1):
                slot = next((i for i, g in enumerate(free) if g >= cfg.gpus_per_replica), None)
                if slot is None:
                    node_no += 1
                    free.append(size)
                    first.append(node_no)
                    slot = len(free) - 1
                start = size - free[slot]
                free[slot] -= cfg.gpus_per_replica
                ids = [str(g) for g in range(start, start + cfg.gpus_per_replica)]
                profile = f"node-{first[slot]}"
                name = f"{config_name(cfg)}-r{r}"
                index_on_node = len(out.nodes.get(profile, []))
                svc: dict = {
                    "image": targets.image(catalog, cfg.engine, cfg.accelerator),
                    "profiles": [profile],
                    "entrypoint": [launch.leader[0]],
                    "command": list(launch.leader[1:]),
                    "ports": [f"{PORT + index_on_node}:{PORT}"],
                    "ipc": "host",
                    "environment": {"HF_TOKEN": "${HF_TOKEN:-}"},
                    "volumes": ["${HF_HOME:-~/.cache/huggingface}:/root/.cache/huggingface"],
                    "restart": "unless-stopped",
                }
                for f in launch.files:
                    svc["volumes"].append(f"./config/{config_name(cfg)}/{f.name}:{CONFIG_MOUNT}/{f.name}:ro")
                if vendor == "nvidia":
                    svc["deploy"] = {"resources": {"reservations": {"devices": [
                        {"driver": "nvidia", "device_ids": ids, "capabilities": ["gpu"]}]}}}
                else:
                    svc["devices"] = ["/dev/kfd", "/dev/dri"]
                    svc["group_add"] = ["video"]
                    svc["environment"]["HIP_VISIBLE_DEVICES"] = ",".join(ids)
                services[name] = svc
                out.nodes.setdefault(profile, []).append(name)
    if services:
        out.body = {"name": "trilemma-plan", "services": services}
    return out
