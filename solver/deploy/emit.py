"""Write a plan's deployment folder: Kubernetes manifests, SkyPilot YAML, docker-compose.yaml where it
applies, verify.sh and a README naming every file, the apply order and what the plan predicted.
Library code: returns the written paths, raises DeployError, never prints."""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from solver.catalog.loader import Catalog
from solver.deploy import compose as compose_mod
from solver.deploy import kubernetes as kube
from solver.deploy import skypilot
from solver.deploy.plan_io import DeployPlan
from solver.deploy.schedule import slot_starts_minutes
from solver.deploy.verify import verify_script
from solver.errors import DeployError

KUBERNETES_VERSION = "1.33.0"
"""Kubernetes API version the emitted objects are validated against (tests, kubernetes-validate)."""


@dataclass
class Emitted:
    root: Path
    files: list[Path] = field(default_factory=list)
    """Every written file, relative to root."""
    notes: list[str] = field(default_factory=list)


class _Dumper(yaml.SafeDumper):
    """Plain YAML for humans: no anchors for repeated values, multi-line strings as `|` blocks."""

    def ignore_aliases(self, data) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(docs: list[dict]) -> str:
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


def _dump_one(doc: dict) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


def empty_folder(out_dir: Path | str) -> Path:
    """`out_dir`, created if missing; refused when it is a file or already holds something."""
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise DeployError(f"{root}: exists and is not a directory")
    if root.exists() and any(root.iterdir()):
        raise DeployError(f"{root}: not empty; emit into a new or empty directory")
    root.mkdir(parents=True, exist_ok=True)
    return root


class _Writer:
    def __init__(self, root: Path):
        self.root = root
        self.files: list[Path] = []

    def write(self, rel: str, text: str, executable: bool = False) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if executable:
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self.files.append(Path(rel))


def _hhmm(minutes: int) -> str:
    day, rest = divmod(minutes, 1440)
    prefix = f"day {day + 1} " if day else ""
    return f"{prefix}{rest // 60:02d}:{rest % 60:02d}"


def emit_plan(catalog: Catalog, plan: DeployPlan, out_dir: Path | str, *, timezone: str = "UTC") -> Emitted:
    """Write the folder. Configurations that cannot be expressed for a target (an MPI-launched multi-node
    TensorRT-LLM replica on Kubernetes, a cloud SkyPilot does not name) are left out of that target and
    the README says why."""
    root = empty_folder(out_dir)
    w = _Writer(root)
    notes: list[str] = []
    kube_rows, sky_rows = [], []
    checkpoints: dict[str, str] = {}
    needs_lws = needs_keda = False
    for wl in plan.workloads:
        for cfg in wl.configs:
            try:
                launch = kube.launch_for(catalog, wl, cfg, node_rank="0", head_address="localhost", config_dir="")
            except DeployError as exc:
                notes.append(f"{exc}; {kube.config_name(cfg)} is not emitted")
                continue
            checkpoints.setdefault(wl.name, launch.checkpoint)
            try:
                kc = kube.config_objects(catalog, plan, wl, cfg, timezone)
            except DeployError as exc:
                notes.append(f"Kubernetes: {exc}")
                continue
            rel = f"kubernetes/{kc.name}.yaml"
            w.write(rel, _dump(kc.objects))
            kube_rows.append((rel, cfg, kc))
            notes += kc.notes
            needs_lws |= kc.kind == "LeaderWorkerSet"
            needs_keda |= kc.scaled
            sky = skypilot.config_files(catalog, wl, cfg)
            for f in sky.files:
                srel = f"skypilot/{f.name}"
                w.write(srel, _dump_one(f.body))
                sky_rows.append((srel, cfg, f))
            notes += sky.notes
        if any(r[1].workload == wl.name for r in kube_rows):
            rel = f"kubernetes/{kube.dns_name(wl.name)}-service.yaml"
            w.write(rel, _dump([kube.service(wl)]))
    compose_res = None
    if compose_mod.wants_compose(catalog, plan):
        compose_res = compose_mod.compose(catalog, plan)
        notes += compose_res.notes
        if compose_res.body:
            for rel, text in sorted(compose_res.side_files.items()):
                w.write(rel, text)
            w.write("docker-compose.yaml", _dump_one(compose_res.body))
    for wl in plan.workloads:
        checkpoints.setdefault(wl.name, catalog.lookup("models", wl.model).hf_id)
    w.write("verify.sh", verify_script(plan, checkpoints), executable=True)
    readme = _readme(catalog, plan, w.files, kube_rows, sky_rows, compose_res, notes, needs_lws, needs_keda,
                     timezone)
    w.write("README.md", readme)
    return Emitted(root=root, files=w.files, notes=notes)


def _readme(catalog, plan: DeployPlan, files, kube_rows, sky_rows, compose_res, notes, needs_lws, needs_keda,
            timezone) -> str:
    L: list[str] = ["# Deployment of a solved plan", ""]
    L.append(f"Plan status: {plan.status}; predicted cost {plan.usd_per_hour:,.2f} USD/h "
             f"({plan.usd_per_month:,.0f} USD/month) over a {plan.horizon_hours:g}-hour horizon of "
             f"{len(plan.slot_hours)} slot(s) that repeats.")
    L += ["", "## What the plan predicted", ""]
    L.append("| workload | configuration | offer | engine | GPUs/replica | TP/DP/PP/EP | quant/kv | "
             "replicas (min-max) | spot (max) | TTFT ms (SLO) | TPOT ms (SLO) | percentile |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for wl in plan.workloads:
        for c in wl.configs:
            L.append(f"| {wl.name} | {kube.config_name(c)} | {c.offer} | {c.engine} | {c.gpus_per_replica} | "
                     f"{c.tp}/{c.dp}/{c.pp}/{c.ep} | {c.quant}/{c.kv_quant} | {min(c.replicas_by_slot)}-"
                     f"{max(c.replicas_by_slot)} | {max(c.spot_replicas_by_slot)} | {_ms(c.ttft_ms)} "
                     f"({_ms(wl.slo_ttft_ms)}) | {_ms(c.tpot_ms)} ({_ms(wl.slo_tpot_ms)}) | p{wl.percentile:g} |")
    starts = slot_starts_minutes(plan.slot_hours)
    if len(plan.slot_hours) > 1:
        L += ["", f"Replicas per slot (regular + spot; times in {timezone}):", ""]
        cfgs = [c for wl in plan.workloads for c in wl.configs]
        L.append("| slot | starts | hours | " + " | ".join(kube.config_name(c) for c in cfgs) + " |")
        L.append("|---|---|---|" + "---|" * len(cfgs))
        for t, h in enumerate(plan.slot_hours):
            cells = " | ".join(f"{c.regular_by_slot[t]} + {c.spot_replicas_by_slot[t]}" for c in cfgs)
            L.append(f"| {t} | {_hhmm(starts[t])} | {h:g} | {cells} |")
    L += ["", "## Files", ""]
    described: dict[str, str] = {}
    for rel, cfg, kc in kube_rows:
        kinds = ", ".join(sorted({o["kind"] for o in kc.objects}))
        described[rel] = f"{kinds} for {kc.name} ({cfg.workload} on {cfg.offer})"
    for f in files:
        s = str(f)
        if s.startswith("kubernetes/") and s.endswith("-service.yaml"):
            described[s] = "Service of the workload (all its configurations, regular and spot)"
    for rel, cfg, sf in sky_rows:
        what = "SkyServe service" if sf.kind == "service" else "SkyPilot task (one multi-node replica)"
        described[rel] = f"{what} for {kube.config_name(cfg)} on {cfg.offer}" + \
            (" (spot)" if sf.body["resources"].get("use_spot") else "")
    if compose_res and compose_res.body:
        nodes = ", ".join(f"{p}: {', '.join(s)}" for p, s in compose_res.nodes.items())
        described["docker-compose.yaml"] = f"Compose services per node profile ({nodes})"
        for rel in compose_res.side_files:
            described[rel] = "engine options file mounted by docker-compose.yaml"
    described["verify.sh"] = "serving benchmark at the planned rate and lengths; exits 1 when an SLO is missed"
    for s in sorted(str(f) for f in files):
        L.append(f"- `{s}`: {described.get(s, '')}")
    L += ["", "## Apply order", ""]
    step = 1
    if kube_rows:
        L.append(f"{step}. Kubernetes (cluster with the NVIDIA or AMD GPU device plugin):")
        if needs_keda:
            L.append("   install KEDA (https://keda.sh/docs/latest/deploy/) for the cron ScaledObjects;")
        if needs_lws:
            L.append("   install LeaderWorkerSet (https://lws.sigs.k8s.io/docs/installation/) for multi-node replicas;")
        L.append(f"   for gated models `kubectl create secret generic {kube.HF_SECRET} "
                 "--from-literal=token=$HF_TOKEN`;")
        L.append("   then `kubectl apply -f kubernetes/`." + (
            " The ScaledObjects set the replicas of each slot; the cluster autoscaler adds and removes the nodes "
            "they need." if needs_keda else ""))
        step += 1
    if sky_rows:
        L.append(f"{step}. Or SkyPilot: `sky serve up skypilot/<file>.yaml --env HF_TOKEN` for a service file, "
                 "`sky launch skypilot/<file>.yaml --env HF_TOKEN` for a task file. SkyServe scales between the "
                 "plan's minimum and peak replicas on load (target QPS per replica = the predicted capacity).")
        step += 1
    if compose_res and compose_res.body:
        L.append(f"{step}. Or Compose, on each server: `docker compose --profile node-N up -d` "
                 "(node-1 on the first server, ...), with HF_TOKEN in the environment; put a load balancer "
                 "over the published ports of a workload's services.")
        step += 1
    L.append(f"{step}. Verify: `./verify.sh WORKLOAD [BASE_URL]` while the peak replicas run.")
    if notes:
        L += ["", "## Before you apply", ""]
        L += [f"- {n}" for n in dict.fromkeys(notes)]
    return "\n".join(L) + "\n"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"
