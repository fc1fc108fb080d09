"""The deployment folder and CSV rows of a plan whose workloads run disaggregated (prefill and decode pools).

Folder (one per plan, like the aggregated emit):
- `dynamo/<workload>.yaml`: the DynamoGraphDeployment (and TensorRT-LLM engine-options ConfigMap), `dynamo.py`;
- `kubernetes/<workload>-prefill.yaml`, `-decode.yaml`, `-router.yaml`: plain Kubernetes pools and the engine's
  router or proxy, `disagg_kube.py`;
- `trtllm/<workload>/...`: TensorRT-LLM's extra-LLM-API YAMLs and proxy config for running the servers directly;
- `README.md`: what the plan predicted, every file, how the pools find each other, the apply order.

Library code: returns the written paths, raises DeployError, never prints.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from solver.catalog.loader import Catalog
from solver.deploy import disagg_kube, dynamo
from solver.deploy.disagg_launch import ROLES, disagg_launch, launch_lines
from solver.deploy.emit import Emitted, _dump, _Writer, empty_folder
from solver.deploy.kubernetes import HF_SECRET, dns_name
from solver.errors import DeployError

POOL_COLUMNS = ["workload", "pool", "accelerator", "offer", "workers", "gpus_per_worker", "tp", "dp", "pp", "ep",
                "quant", "kv_quant", "engine", "capacity_rps_per_worker", "usd_per_hour"]


@dataclass(frozen=True)
class DisaggWorkload:
    """One disaggregated workload of a plan, as deployment needs it."""

    name: str
    model: str
    max_model_len: int
    """Longest context a request may reach (prompt + output): every pool's max-model-len."""
    split: dict
    """The solve's split (`optimize.disagg` result_to_dict workload entry)."""
    slo_ttft_ms: float
    slo_tpot_ms: float
    percentile: float
    pool_usd_per_hour: dict[str, float]


def max_model_len(workload) -> int:
    """A problem workload's longest context (prompt + output tokens, the longest of a length distribution)."""
    return int(workload.max_context())


def pool_usd_per_hour(result, problem, catalog: Catalog) -> dict[tuple[str, str], float]:
    """USD/h of each (workload, pool): the cost of every (offer, tier, slot) split over the pools by their share of
    the GPUs in use there (regular tiers by regular workers, spot by spot workers, as the plan attributes costs to
    workloads), then scaled so each workload's pools sum to its cost in the plan (which also holds owned power and
    fixed costs); averaged over the horizon."""
    from solver.optimize.inputs import allowed_offers

    offers = allowed_offers(problem, catalog)
    plan = result.plan
    sched = plan.schedule.assign(reg=plan.schedule["replicas"] * plan.schedule["gpus_per_replica"],
                                 spot=plan.schedule["spot_replicas"] * plan.schedule["gpus_per_replica"])
    inst = plan.instances
    share: dict[tuple[str, str], float] = defaultdict(float)
    for row in inst.itertuples():
        g, tier, t, n = row.offer, row.tier, int(row.slot), int(row.instances)
        here = sched[(sched["offer"] == g) & (sched["slot"] == t)]
        cost = offers[g].usd_per_hour[tier] * float(here["hours"].iloc[0] if len(here) else 0.0) * n
        col = "spot" if tier == "spot" else "reg"
        if tier != "spot":
            same = inst[(inst["offer"] == g) & (inst["slot"] == t) & (inst["tier"] != "spot")]
            regular = int(same["instances"].sum())
            cost_share = n / regular if regular else 0.0
        else:
            cost_share = 1.0
        used = float(here[col].sum())
        for rep in here.itertuples():
            gpus = float(getattr(rep, col))
            if used and gpus:
                share[rep.workload, rep.role] += cost * cost_share * gpus / used
    totals = plan.costs.groupby("workload")["usd"].sum()
    out: dict[tuple[str, str], float] = {}
    for wl in {w for w, _ in share}:
        attributed = sum(v for (w, _), v in share.items() if w == wl)
        scale = float(totals.get(wl, attributed)) / attributed if attributed else 0.0
        for (w, role), v in share.items():
            if w == wl:
                out[w, role] = v * scale / plan.horizon_hours
    return out


def disagg_workloads(result, problem, catalog: Catalog, splits: list[dict]) -> list[DisaggWorkload]:
    """The disaggregated workloads of a solve (`splits`: result_to_dict(result)["workloads"]). Raises DeployError
    when the plan mixes aggregated and disaggregated workloads (emit one form at a time)."""
    forms = {s["form"] for s in splits}
    if forms != {"disaggregated"}:
        aggregated = [s["workload"] for s in splits if s["form"] != "disaggregated"]
        raise DeployError(f"the plan runs {', '.join(aggregated)} aggregated and the rest disaggregated; deployment "
                          "files are written for plans whose workloads all take one form")
    costs = pool_usd_per_hour(result, problem, catalog)
    out = []
    for split, wl in zip(splits, problem.workloads, strict=True):
        out.append(DisaggWorkload(name=wl.name, model=wl.model, max_model_len=max_model_len(wl), split=split,
                                  slo_ttft_ms=wl.slo.ttft_ms, slo_tpot_ms=wl.slo.tpot_ms,
                                  percentile=wl.slo.percentile,
                                  pool_usd_per_hour={r: costs.get((wl.name, r), 0.0) for r in ROLES}))
    return out


def pool_rows(workloads: list[DisaggWorkload]) -> pd.DataFrame:
    """One CSV row per pool."""
    rows = []
    for w in workloads:
        s = w.split
        for role in ROLES:
            p = s[role]
            rows.append({"workload": w.name, "pool": role, "accelerator": p["accelerator"], "offer": p["offer"],
                         "workers": int(s[f"{role}_workers"]), "gpus_per_worker": int(p["gpus_per_worker"]),
                         "tp": p["tp"], "dp": p.get("dp") or 1, "pp": p["pp"], "ep": p["ep"], "quant": p["quant"],
                         "kv_quant": p["kv_quant"], "engine": p["engine"],
                         "capacity_rps_per_worker": s[f"{role}_capacity_rps"],
                         "usd_per_hour": w.pool_usd_per_hour[role]})
    return pd.DataFrame(rows, columns=POOL_COLUMNS)


def emit_disagg(catalog: Catalog, workloads: list[DisaggWorkload], out_dir: Path | str, *, status: str,
                usd_per_hour: float, aggregated_usd_per_hour: float) -> Emitted:
    """Write the folder of a disaggregated plan. A form that cannot express a workload (Dynamo on non-NVIDIA
    pools, multi-node workers) is left out and the README says why."""
    root = empty_folder(out_dir)
    w = _Writer(root)
    described: dict[str, str] = {}
    notes: list[str] = []
    sections: list[list[str]] = []
    for wl in workloads:
        split, engine = wl.split, wl.split["prefill"]["engine"]
        stem = dns_name(wl.name)
        dl_print = disagg_launch(catalog, split, wl.model, wl.max_model_len)
        try:
            graph = dynamo.dynamo_graph(catalog, disagg_launch(catalog, split, wl.model, wl.max_model_len,
                                                               config_dir=dynamo.CONFIG_DIR),
                                        split, dns_name(wl.name, "disagg"), wl.max_model_len)
            rel = f"dynamo/{stem}.yaml"
            w.write(rel, _dump(graph.objects))
            described[rel] = (f"NVIDIA Dynamo DynamoGraphDeployment `{graph.name}` for {wl.name}: Frontend, "
                              f"{split['prefill_workers']} prefill and {split['decode_workers']} decode {engine} "
                              "workers" + (" (and the ConfigMap of their engine options)" if len(graph.objects) > 1
                                           else ""))
            notes += graph.notes
        except DeployError as exc:
            notes.append(f"Dynamo: {exc}; dynamo/{stem}.yaml is not written")
        try:
            kube = disagg_kube.disagg_objects(catalog, split, wl.name, wl.model, wl.max_model_len)
            for name, docs in kube.objects.items():
                rel = f"kubernetes/{name}.yaml"
                w.write(rel, _dump(docs))
                kinds = ", ".join(dict.fromkeys(d["kind"] for d in docs))
                what = "router" if name.endswith("-router") else name.rsplit("-", 1)[-1] + " pool"
                described[rel] = f"{kinds} of the {wl.name} {what}"
            notes += kube.notes
        except DeployError as exc:
            notes.append(f"Kubernetes: {exc}; kubernetes/{stem}-*.yaml are not written")
        if engine == "trtllm":
            for f in dl_print.files:
                rel = f"trtllm/{stem}/{f.name}"
                w.write(rel, f.text)
                described[rel] = (f"TensorRT-LLM {f.name}: the front end's list of servers ($PREFILL_HOST_i and "
                                  "$DECODE_HOST_i to fill, e.g. with envsubst)" if f.name.startswith("disagg")
                                  else f"TensorRT-LLM extra-LLM-API options of the "
                                       f"{'context' if f.name.startswith('ctx') else 'generation'} servers")
        notes += list(dl_print.notes)
        sections.append(_workload_section(wl, dl_print))
    readme = _readme(workloads, sections, w.files, described, notes, status, usd_per_hour, aggregated_usd_per_hour)
    w.write("README.md", readme)
    return Emitted(root=root, files=w.files, notes=notes)


def _ms(v) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _workload_section(wl: DisaggWorkload, dl) -> list[str]:
    s = wl.split
    engine = s["prefill"]["engine"]
    L = [f"### {wl.name} ({wl.model} on {engine})", ""]
    L.append("| pool | workers | accelerator | offer | GPUs/worker | TP/DP/PP/EP | quant/kv | req/s per worker | "
             "USD/h |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for role in ROLES:
        p = s[role]
        L.append(f"| {role} | {s[f'{role}_workers']} | {p['accelerator']} | {p['offer']} | {p['gpus_per_worker']} | "
                 f"{p['tp']}/{p.get('dp') or 1}/{p['pp']}/{p['ep']} | {p['quant']}/{p['kv_quant']} | "
                 f"{s[f'{role}_capacity_rps']:.3g} | {wl.pool_usd_per_hour[role]:,.2f} |")
    pct = f"p{wl.percentile:g}"
    L += ["", f"Predicted at both pools' capacity: {pct} TTFT {_ms(s['ttft_ms'])} ms (SLO {_ms(wl.slo_ttft_ms)}), "
          f"TPOT {s['tpot_ms']:.1f} ms (SLO {wl.slo_tpot_ms:g}); KV transfer {s['transfer_ms']:.1f} ms per request. "
          "Worker counts are the plan's peak.", ""]
    L.append("How the pools find each other:")
    if engine == "sglang":
        L.append(f"the router (`kubernetes/{dns_name(wl.name)}-router.yaml`) is given every prefill and decode "
                 "worker's stable StatefulSet address (`<pool>-<i>.<pool>`); a decode worker pulls the KV cache from "
                 "the prefill worker the router names, over Mooncake (plain Kubernetes) or NIXL (Dynamo).")
    elif engine == "trtllm":
        L.append("`trtllm-serve disaggregated` reads `disagg_config.yaml` (in the ConfigMap) listing every context "
                 "and generation server's stable StatefulSet address (`<pool>-<i>.<pool>:8000`); the generation "
                 "server fetches the KV cache from the context server over UCX.")
    else:
        L.append("vLLM documents no router: the plain Kubernetes pools are reachable as the Services "
                 f"`{disagg_kube.pool_name(wl.name, 'prefill')}` and `{disagg_kube.pool_name(wl.name, 'decode')}`, "
                 "and the KV cache moves over NIXL; the Dynamo Frontend is the documented component that sends each "
                 "request through a prefill worker and then a decode worker.")
    L.append("In the Dynamo description the workers register with the Dynamo runtime and the Frontend routes "
             "between them.")
    L += ["", "Launch outside Kubernetes (one line per worker host; the same rendering as the manifests):", "",
          "```sh", *launch_lines(dl), "```", ""]
    return L


def _readme(workloads, sections, files, described, notes, status, usd_per_hour, aggregated_usd_per_hour) -> str:
    L = ["# Deployment of a solved disaggregated plan", ""]
    L.append(f"Plan status: {status}; predicted cost {usd_per_hour:,.2f} USD/h, against {aggregated_usd_per_hour:,.2f} "
             "USD/h for the best aggregated plan. Each workload runs separate prefill and decode pools.")
    L += ["", "## What the plan predicted", ""]
    for sec in sections:
        L += sec
    L += ["## Files", ""]
    for s in sorted(str(f) for f in files):
        L.append(f"- `{s}`: {described.get(s, '')}")
    L.append("- `README.md`: this file")
    L += ["", "## Apply order", ""]
    if any(str(f).startswith("dynamo/") for f in files):
        L.append("1. NVIDIA Dynamo (the documented route for disaggregated serving on Kubernetes): install the Dynamo "
                 "platform (https://docs.nvidia.com/dynamo/ , Kubernetes installation guide), then "
                 f"`kubectl create secret generic {dynamo.HF_SECRET} --from-literal=HF_TOKEN=$HF_TOKEN` and "
                 "`kubectl apply -f dynamo/`. The Frontend serves the OpenAI API on port 8000. Runtime images are "
                 f"Dynamo {dynamo.DYNAMO_RELEASE}'s.")
    if any(str(f).startswith("kubernetes/") for f in files):
        L.append(f"2. Or plain Kubernetes (NVIDIA or AMD GPU device plugin): `kubectl create secret generic "
                 f"{HF_SECRET} --from-literal=token=$HF_TOKEN` for gated models, then `kubectl apply -f "
                 "kubernetes/`. " + ("Clients call the router's Service on port 8000." if any(
                     str(f).endswith("-router.yaml") for f in files) else "vLLM documents no router: put a proxy "
                     "in front of the pools' Services (see above), or use the Dynamo description."))
    if any(str(f).startswith("trtllm/") for f in files):
        L.append("3. Or TensorRT-LLM on hosts of your own: start the servers and the front end as the launch lines "
                 "above show, with the files under `trtllm/`.")
    L.append("")
    L.append("KV transfer between pools needs RDMA for the transfer times the plan assumes (Dynamo's Kubernetes guide: "
             "without it, transfers fall back to TCP with severe latency penalties); give the pods your cluster's "
             "RDMA resources (and SGLang's `--disaggregation-ib-device`).")
    if notes:
        L += ["", "## Before you apply", ""]
        L += [f"- {n}" for n in dict.fromkeys(notes)]
    return "\n".join(L) + "\n"


__all__ = ["DisaggWorkload", "disagg_workloads", "emit_disagg", "pool_rows", "pool_usd_per_hour"]
