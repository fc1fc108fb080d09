"""The deployment folder: golden files per example problem, every file named by the folder README, every
Kubernetes object valid against the pinned Kubernetes schema, the CRDs and SkyPilot files within their
documented fields, and the cron schedule reproducing the plan's replicas per hour.

Golden folders are emitted from the saved `solve --json` result of each example problem
(tests/golden/emit/<problem>/result.json), so they test the emitter, not the optimizer. After an intended
change: `UPDATE_GOLDEN=1 python -m pytest tests/test_deploy_emit.py` and review the diff.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
import shutil
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from solver.catalog.loader import load_catalog
from solver.cli import run
from solver.deploy.emit import KUBERNETES_VERSION, emit_plan
from solver.deploy.plan_io import plan_from_data, read_result

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = sorted(p.stem for p in (ROOT / "problems").glob("*.yaml"))
GOLDEN = Path(__file__).parent / "golden" / "emit"
CATALOG = load_catalog([])

# ---- documented fields (the CRDs are not in the Kubernetes schema) ----------------------------------------
# KEDA ScaledObject: https://keda.sh/docs/2.17/reference/scaledobject-spec/ ; cron trigger:
# https://keda.sh/docs/2.17/scalers/cron/ (timezone, start, end, desiredReplicas all required).
KEDA_SPEC = {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod", "idleReplicaCount",
             "minReplicaCount", "maxReplicaCount", "fallback", "advanced", "triggers"}
KEDA_TARGET = {"apiVersion", "kind", "name", "envSourceContainerName"}
KEDA_ADVANCED = {"restoreToOriginalReplicaCount", "horizontalPodAutoscalerConfig", "scalingModifiers"}
KEDA_TRIGGER = {"type", "metadata", "name", "useCachedMetrics", "authenticationRef", "metricType"}
KEDA_CRON = {"timezone", "start", "end", "desiredReplicas"}
# LeaderWorkerSet v1: https://lws.sigs.k8s.io/docs/reference/leaderworkerset.v1/
LWS_SPEC = {"replicas", "leaderWorkerTemplate", "rolloutStrategy", "startupPolicy", "networkConfig"}
LWS_TEMPLATE = {"leaderTemplate", "workerTemplate", "size", "restartPolicy", "subGroupPolicy"}
LWS_RESTART = {"RecreateGroupOnPodRestart", "None"}
# SkyPilot task and service YAML: https://docs.skypilot.co/en/latest/reference/yaml-spec.html ,
# https://docs.skypilot.co/en/latest/serving/service-yaml-spec.html
SKY_TOP = {"name", "workdir", "num_nodes", "resources", "envs", "secrets", "volumes", "file_mounts", "setup", "run",
           "service", "config"}
SKY_RESOURCES = {"cloud", "infra", "region", "zone", "accelerators", "accelerator_args", "cpus", "memory",
                 "instance_type", "use_spot", "disk_size", "disk_tier", "network_tier", "ports", "labels", "image_id",
                 "any_of", "ordered", "job_recovery", "autostop"}
SKY_SERVICE = {"readiness_probe", "replica_policy", "replicas", "ports", "load_balancing_policy", "tls"}
SKY_PROBE = {"path", "post_data", "initial_delay_seconds", "timeout_seconds", "headers"}
SKY_POLICY = {"min_replicas", "max_replicas", "target_qps_per_replica", "upscale_delay_seconds",
              "downscale_delay_seconds", "num_overprovision", "base_ondemand_fallback_replicas",
              "dynamic_ondemand_fallback"}
# skypilot-org/skypilot-catalog@001ca549 catalogs/v8/common/accelerators.csv (the names we may emit)
SKY_ACCELERATORS = {"A10G", "L4", "L40S", "A100", "A100-80GB", "A100-80GB-SXM", "H100", "H100-SXM", "H100-NVL",
                    "H100-NVLINK", "H100-MEGA", "H200", "H200-SXM", "GH200", "B200", "MI300X"}


def _emit(result: Path | dict, out: Path, timezone: str = "UTC"):
    plan = read_result(result) if isinstance(result, Path) else plan_from_data(result)
    return plan, emit_plan(CATALOG, plan, out, timezone=timezone)


def _docs(folder: Path, pattern: str) -> list[tuple[Path, dict]]:
    out = []
    for f in sorted(folder.glob(pattern)):
        out += [(f, d) for d in yaml.safe_load_all(f.read_text()) if d is not None]
    return out


# ---- golden folders ---------------------------------------------------------------------------------------
def test_every_example_problem_has_a_golden_folder() -> None:
    assert sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()) == PROBLEMS


@pytest.mark.parametrize("problem", PROBLEMS)
def test_golden_folder(problem: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _emit(GOLDEN / problem / "result.json", out)
    expected = GOLDEN / problem / "expected"
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(expected, ignore_errors=True)
        shutil.copytree(out, expected)
    got = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    want = sorted(str(p.relative_to(expected)) for p in expected.rglob("*") if p.is_file())
    assert got == want
    for rel in got:
        a, b = (expected / rel).read_text(), (out / rel).read_text()
        assert a == b, "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), rel, rel))
    assert os.access(out / "verify.sh", os.X_OK)


@pytest.mark.parametrize("problem", PROBLEMS)
def test_readme_names_every_file(problem: str) -> None:
    folder = GOLDEN / problem / "expected"
    readme = (folder / "README.md").read_text()
    named = set(re.findall(r"^- `([^`]+)`:", readme, flags=re.M))
    files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {"README.md"}
    assert files == named


# ---- Kubernetes objects -----------------------------------------------------------------------------------
def _validate_core(doc: dict) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _check_scaled_object(doc: dict) -> None:
    spec = doc["spec"]
    assert doc["apiVersion"] == "keda.sh/v1alpha1" and set(spec) <= KEDA_SPEC
    assert set(spec["scaleTargetRef"]) <= KEDA_TARGET and spec["scaleTargetRef"]["name"]
    assert set(spec["advanced"]) <= KEDA_ADVANCED
    assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    _validate_core({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "x"},
                    "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"}, "maxReplicas": 1,
                             "behavior": behavior}})
    assert spec["triggers"]
    for t in spec["triggers"]:
        assert set(t) <= KEDA_TRIGGER and t["type"] == "cron"
        assert set(t["metadata"]) == KEDA_CRON and isinstance(t["metadata"]["desiredReplicas"], str)
        assert t["metadata"]["start"] != t["metadata"]["end"]
        for key in ("start", "end"):
            assert re.fullmatch(r"\d{1,2} \d{1,2} \* \* (\*|[0-6])", t["metadata"][key])


def _check_lws(doc: dict) -> None:
    spec = doc["spec"]
    assert doc["apiVersion"] == "leaderworkerset.x-k8s.io/v1" and set(spec) <= LWS_SPEC
    tpl = spec["leaderWorkerTemplate"]
    assert set(tpl) <= LWS_TEMPLATE and tpl["size"] >= 2 and tpl["restartPolicy"] in LWS_RESTART
    for key in ("leaderTemplate", "workerTemplate"):
        _validate_core({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "x"}, "template": tpl[key]})


def check_kubernetes_folder(folder: Path) -> dict[str, list[dict]]:
    by_kind: dict[str, list[dict]] = {}
    for _, doc in _docs(folder, "kubernetes/*.yaml"):
        by_kind.setdefault(doc["kind"], []).append(doc)
        if doc["kind"] == "ScaledObject":
            _check_scaled_object(doc)
        elif doc["kind"] == "LeaderWorkerSet":
            _check_lws(doc)
        else:
            _validate_core(doc)
    return by_kind


@pytest.mark.parametrize("problem", PROBLEMS)
def test_kubernetes_objects_validate(problem: str) -> None:
    by_kind = check_kubernetes_folder(GOLDEN / problem / "expected")
    if not by_kind:  # e.g. a TPU plan: no engine image recorded; the folder README must say so
        assert "- Kubernetes: " in (GOLDEN / problem / "expected" / "README.md").read_text()
        return
    assert by_kind.get("Service") and (by_kind.get("Deployment") or by_kind.get("LeaderWorkerSet"))


def test_validation_rejects_a_broken_object() -> None:
    doc = next(d for _, d in _docs(GOLDEN / "coding-assistant-daily" / "expected", "kubernetes/code-*.yaml")
               if d["kind"] == "Deployment")
    broken = copy.deepcopy(doc)
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limit"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate_core(broken)


# ---- SkyPilot ---------------------------------------------------------------------------------------------
def check_skypilot_file(doc: dict) -> None:
    assert set(doc) <= SKY_TOP and doc["name"] and doc["run"]
    res = doc["resources"]
    assert set(res) <= SKY_RESOURCES and isinstance(res["use_spot"], bool)
    name, count = res["accelerators"].split(":")
    assert name in SKY_ACCELERATORS and int(count) >= 1
    assert res["image_id"].startswith("docker:")
    if "service" in doc:
        svc = doc["service"]
        assert set(svc) <= SKY_SERVICE and set(svc["readiness_probe"]) <= SKY_PROBE
        assert ("replicas" in svc) != ("replica_policy" in svc)
        if "replica_policy" in svc:
            pol = svc["replica_policy"]
            assert set(pol) <= SKY_POLICY and 0 <= pol["min_replicas"] < pol["max_replicas"]
            assert pol["target_qps_per_replica"] > 0
    else:
        assert doc["num_nodes"] >= 2


@pytest.mark.parametrize("problem", PROBLEMS)
def test_skypilot_files_use_documented_fields(problem: str) -> None:
    for _, doc in _docs(GOLDEN / problem / "expected", "skypilot/*.yaml"):
        check_skypilot_file(doc)


# ---- the schedule -----------------------------------------------------------------------------------------
def _minute(expr: str) -> int:
    minute, hour, _, _, _ = expr.split()
    return int(hour) * 60 + int(minute)


def keda_replicas(scaled_object: dict, minute_of_day: int) -> int:
    """KEDA's cron scaler as documented: inside [start, end) a trigger asks for desiredReplicas; the target
    runs the largest request of the active triggers, and minReplicaCount when none is active."""
    spec = scaled_object["spec"]
    wanted = [spec["minReplicaCount"]]
    for t in spec["triggers"]:
        m = t["metadata"]
        start, end = _minute(m["start"]), _minute(m["end"]) or 1440
        inside = start <= minute_of_day < end if start < end else (minute_of_day >= start or minute_of_day < end)
        if inside:
            wanted.append(int(m["desiredReplicas"]))
    return min(max(wanted), spec["maxReplicaCount"])


def _replicas_per_hour(folder: Path, name: str, static: int) -> list[int]:
    scaled = {d["metadata"]["name"]: d for _, d in _docs(folder, "kubernetes/*.yaml") if d["kind"] == "ScaledObject"}
    if name not in scaled:
        return [static] * 24
    return [keda_replicas(scaled[name], 60 * h + 30) for h in range(24)]


def test_cron_reproduces_the_coding_assistant_plan(tmp_path: Path, capsys) -> None:
    """Acceptance: `trilemma solve problems/coding-assistant-daily.yaml --emit DIR`."""
    out = tmp_path / "out"
    assert run(["solve", str(ROOT / "problems/coding-assistant-daily.yaml"), "--json", "--emit", str(out)]) == 0
    plan = plan_from_data(json.loads(capsys.readouterr().out))
    configs = plan.workloads[0].configs  # one configuration, possibly placed on several offers
    assert len({(c.accelerator, c.engine, c.tp, c.pp, c.quant) for c in configs}) == 1
    assert len(plan.slot_hours) == 24 and set(plan.slot_hours) == {1.0}
    total = [sum(c.replicas_by_slot[t] for c in configs) for t in range(24)]
    assert len(set(total)) > 1  # the plan does follow the day
    deployments = {d["metadata"]["name"]: d for _, d in _docs(out, "kubernetes/*.yaml") if d["kind"] == "Deployment"}
    for cfg in configs:
        name = f"code-{cfg.index}"
        assert name in deployments or not any(cfg.regular_by_slot)
        if name in deployments:
            regular = _replicas_per_hour(out, name, deployments[name]["spec"]["replicas"])
            assert regular == list(cfg.regular_by_slot)
        if cfg.has_spot:
            spot = _replicas_per_hour(out, name + "-spot", deployments[name + "-spot"]["spec"]["replicas"])
            assert spot == list(cfg.spot_replicas_by_slot)
    check_kubernetes_folder(out)


def test_multi_model_fleet_has_one_deployment_per_configuration(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(["solve", str(ROOT / "problems/multi-model-fleet.yaml"), "--emit", str(out)]) == 0
    plan = read_result(GOLDEN / "multi-model-fleet" / "result.json")
    deployments = [d for _, d in _docs(out, "kubernetes/*.yaml") if d["kind"] == "Deployment"]
    instances = sorted(d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] for d in deployments)
    assert instances == sorted(f"{w.name}-{c.index}" for w in plan.workloads for c in w.configs)
    assert len(plan.workloads) == 3
    services = [d for _, d in _docs(out, "kubernetes/*.yaml") if d["kind"] == "Service"]
    assert sorted(s["metadata"]["name"] for s in services) == ["agent", "assistant", "summariser"]
    check_kubernetes_folder(out)


def test_owned_plan_produces_compose(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert run(["solve", str(ROOT / "problems/owned-vs-cloud.yaml"), "--emit", str(out), "--json"]) == 0
    (tmp_path / "result.json").write_text(capsys.readouterr().out)
    compose = yaml.safe_load((out / "docker-compose.yaml").read_text())
    plan = read_result(tmp_path / "result.json")  # the plan this solve emitted
    (cfg,) = [c for c in plan.workloads[0].configs if CATALOG.offers[c.offer].kind == "owned"]
    services = {name: svc for name, svc in compose["services"].items()
                if name.startswith(f"{cfg.workload}-{cfg.index}-")}
    assert len(services) == max(cfg.replicas_by_slot)
    size = CATALOG.offers[cfg.offer].gpus_per_instance
    used: dict[str, list[str]] = {}
    for svc in services.values():
        (profile,) = svc["profiles"]
        ids = svc["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"]
        assert len(ids) == cfg.gpus_per_replica
        used.setdefault(profile, []).extend(ids)
    for ids in used.values():  # no GPU given twice on a server, none beyond its size
        assert len(ids) == len(set(ids)) and all(0 <= int(i) < size for i in ids)
    for svc in services.values():
        for vol in svc["volumes"]:
            src = vol.split(":")[0]
            if src.startswith("./"):
                assert (out / src).is_file()  # the side file it mounts was written


# ---- what the examples do not exercise: spot, multi-node, MPI, AMD -----------------------------------------
def _config(**over) -> dict:
    base = {"offer": "gcp-a3-highgpu-8g-us-central1", "provider": "gcp", "instance_type": "a3-highgpu-8g",
            "accelerator": "h100-sxm", "engine": "vllm", "quant": "bf16", "kv_quant": "bf16", "tp": 8, "pp": 1,
            "ep": 1, "gpus_per_replica": 8, "max_batch": 64, "replica_capacity_rps": 1.5,
            "replicas_by_slot": [1, 3, 2, 1], "spot_replicas_by_slot": [0, 2, 1, 0], "ttft_ms": 500, "tpot_ms": 30}
    base.update(over)
    placement = {k: base.pop(k) for k in ("offer", "provider", "instance_type")}
    placement.update(replicas_by_slot=base["replicas_by_slot"], spot_replicas_by_slot=base["spot_replicas_by_slot"])
    base["placements"] = [placement]
    return base


def _result(configs: list[dict], model: str = "llama-3.1-70b", hours=(6, 6, 6, 6)) -> dict:
    return {"status": "optimal", "usd_per_hour": 10.0, "usd_per_month": 7300.0, "horizon_hours": sum(hours),
            "instances": [], "workloads": [{
                "workload": "chat", "model": model, "slo": {"ttft_ms": 1000, "tpot_ms": 50, "percentile": 99},
                "input_tokens_mean": 1000, "output_tokens_mean": 200, "max_context_tokens": 1200,
                "slot_hours": list(hours), "served_rps_by_slot": [1.0, 4.0, 3.0, 1.0], "configs": configs}]}


def test_spot_capacity_is_a_separate_deployment_on_the_providers_spot_nodes(tmp_path: Path) -> None:
    plan, _ = _emit(_result([_config()]), tmp_path / "out")
    docs = {(d["kind"], d["metadata"]["name"]): d for _, d in _docs(tmp_path / "out", "kubernetes/*.yaml")}
    spot_pod = docs["Deployment", "chat-1-spot"]["spec"]["template"]["spec"]
    assert spot_pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "a3-highgpu-8g",
                                        "cloud.google.com/gke-spot": "true"}
    assert spot_pod["tolerations"][0]["key"] == "cloud.google.com/gke-spot"
    regular_pod = docs["Deployment", "chat-1"]["spec"]["template"]["spec"]
    assert "tolerations" not in regular_pod and "cloud.google.com/gke-spot" not in regular_pod["nodeSelector"]
    # 6-hour slots: 00-06 1+0, 06-12 1+2, 12-18 1+1, 18-24 1+0 (regular 1,1,1,1 is static).
    assert ("ScaledObject", "chat-1") not in docs and docs["Deployment", "chat-1"]["spec"]["replicas"] == 1
    spot = [keda_replicas(docs["ScaledObject", "chat-1-spot"], 60 * h + 30) for h in range(24)]
    assert spot == [0] * 6 + [2] * 6 + [1] * 6 + [0] * 6
    check_kubernetes_folder(tmp_path / "out")
    sky = {f.name: yaml.safe_load(f.read_text()) for f in (tmp_path / "out" / "skypilot").glob("*.yaml")}
    assert sky["chat-1-spot.yaml"]["resources"]["use_spot"] is True
    assert sky["chat-1-spot.yaml"]["service"]["replica_policy"] == {
        "min_replicas": 0, "max_replicas": 2, "target_qps_per_replica": 1.5}
    assert sky["chat-1.yaml"]["service"]["replicas"] == 1
    for doc in sky.values():
        check_skypilot_file(doc)


def test_a_replica_spanning_nodes_is_a_leader_worker_set(tmp_path: Path) -> None:
    cfg = _config(tp=8, pp=2, gpus_per_replica=16, spot_replicas_by_slot=[0, 0, 0, 0])
    _emit(_result([cfg], model="llama-3.1-405b"), tmp_path / "out")
    docs = {(d["kind"], d["metadata"]["name"]): d for _, d in _docs(tmp_path / "out", "kubernetes/*.yaml")}
    lws = docs["LeaderWorkerSet", "chat-1"]
    tpl = lws["spec"]["leaderWorkerTemplate"]
    assert tpl["size"] == 2
    leader = tpl["leaderTemplate"]["spec"]["containers"][0]
    worker = tpl["workerTemplate"]["spec"]["containers"][0]
    assert leader["resources"]["limits"] == {"nvidia.com/gpu": 8}
    assert leader["command"][:2] == ["/bin/sh", "-c"]
    assert "--nnodes 2" in leader["command"][2] and "--node-rank 0" in leader["command"][2]
    assert '--master-addr "$(LWS_LEADER_ADDRESS)"' in leader["command"][2]
    assert '--node-rank "$(LWS_WORKER_INDEX)" --headless' in worker["command"][2]
    assert "readinessProbe" in leader and "readinessProbe" not in worker
    so = docs["ScaledObject", "chat-1"]
    assert so["spec"]["scaleTargetRef"]["kind"] == "LeaderWorkerSet"
    assert [keda_replicas(so, 60 * h) for h in (0, 6, 12, 18)] == [1, 3, 2, 1]
    check_kubernetes_folder(tmp_path / "out")
    task = yaml.safe_load((tmp_path / "out" / "skypilot" / "chat-1.yaml").read_text())
    assert task["num_nodes"] == 2 and "service" not in task and "$SKYPILOT_NODE_RANK" in task["run"]
    check_skypilot_file(task)


def test_mpi_launched_replicas_are_left_out_of_kubernetes_with_a_reason(tmp_path: Path) -> None:
    cfg = _config(engine="trtllm", tp=8, pp=2, gpus_per_replica=16, spot_replicas_by_slot=[0, 0, 0, 0])
    _, emitted = _emit(_result([cfg], model="llama-3.1-405b"), tmp_path / "out")
    assert not (tmp_path / "out" / "kubernetes").exists()
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "one MPI job" in readme


def test_amd_pods_request_amd_gpus(tmp_path: Path) -> None:
    cfg = _config(offer="runpod-secure-mi300x-4x", provider="runpod", instance_type="4x_MI300X_SECURE",
                  accelerator="mi300x", engine="sglang", tp=4, gpus_per_replica=4,
                  spot_replicas_by_slot=[0, 0, 0, 0])
    _emit(_result([cfg]), tmp_path / "out")
    (dep,) = [d for _, d in _docs(tmp_path / "out", "kubernetes/*.yaml") if d["kind"] == "Deployment"]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["resources"]["limits"] == {"amd.com/gpu": 4} and "rocm" in c["image"]


# ---- verify.sh --------------------------------------------------------------------------------------------
FAKE_VLLM = """#!/usr/bin/env bash
# Stands in for `vllm bench serve`: records its arguments and writes the result file it was asked for.
echo "$@" > "$ARGS_FILE"
while [ $# -gt 0 ]; do
  if [ "$1" = "--result-filename" ]; then out=$2; fi
  shift
done
cat "$FAKE_RESULT" > "$out"
"""


@pytest.mark.parametrize(("ttft", "tpot", "code"), [(950.0, 39.0, 0), (1200.0, 39.0, 1), (950.0, 41.0, 1)])
def test_verify_script_compares_percentiles_with_the_slos(tmp_path: Path, ttft: float, tpot: float,
                                                          code: int) -> None:
    import subprocess

    folder = GOLDEN / "coding-assistant-daily" / "expected"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "vllm").write_text(FAKE_VLLM)
    (bin_dir / "vllm").chmod(0o755)
    (tmp_path / "result.json").write_text(json.dumps({"p95_ttft_ms": ttft, "p95_tpot_ms": tpot,
                                                      "p95_e2el_ms": 99999.0}))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_RESULT": str(tmp_path / "result.json"),
           "ARGS_FILE": str(tmp_path / "args"), "OUT": str(tmp_path / "out.json")}
    proc = subprocess.run(["bash", str(folder / "verify.sh"), "code", "http://localhost:8000"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == code, proc.stdout + proc.stderr
    args = (tmp_path / "args").read_text().split()
    # The plan: peak 24 req/s (the business-hours peak of the problem), 2000 in / 200 out tokens, p95.
    assert args[args.index("--request-rate") + 1] == "24"
    assert args[args.index("--random-input-len") + 1] == "2000"
    assert args[args.index("--random-output-len") + 1] == "200"
    assert args[args.index("--metric-percentiles") + 1] == "95"
    assert args[args.index("--num-prompts") + 1] == str(24 * 120)
    assert ("MISS" in proc.stdout) == (code == 1)


# ---- command line -----------------------------------------------------------------------------------------
def test_emit_command_writes_the_golden_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(["emit", str(GOLDEN / "chat-70b" / "result.json"), str(out)]) == 0
    assert (out / "README.md").read_text() == (GOLDEN / "chat-70b" / "expected" / "README.md").read_text()


def test_emit_errors_are_clear(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert run(["emit", str(bad), str(tmp_path / "o1")]) == 1
    assert f"{bad}: line 1, column 2: not JSON" in capsys.readouterr().err
    old = json.loads((GOLDEN / "chat-70b" / "result.json").read_text())
    for w in old["workloads"]:
        del w["input_tokens_mean"]
    bad.write_text(json.dumps(old))
    assert run(["emit", str(bad), str(tmp_path / "o2")]) == 1
    err = capsys.readouterr().err
    assert "workloads[0].input_tokens_mean" in err and "solve the problem again" in err
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("")
    assert run(["emit", str(GOLDEN / "chat-70b" / "result.json"), str(full)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert run(["emit", str(GOLDEN / "chat-70b" / "result.json"), str(tmp_path / "o3"), "--timezone", "Mars/Base"]) == 1
    assert "--timezone" in capsys.readouterr().err


def test_solve_emit_failure_prints_no_result(tmp_path: Path, capsys) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("")
    assert run(["solve", str(ROOT / "problems/chat-70b.yaml"), "--json", "--emit", str(full)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "not empty" in captured.err


def test_a_schedule_cron_cannot_follow_runs_the_peak_and_says_so(tmp_path: Path) -> None:
    cfg = _config(spot_replicas_by_slot=[0, 0, 0, 0])
    _emit(_result([cfg], hours=(5, 5, 5, 5)), tmp_path / "out")  # a 20-hour horizon: not a day, not a week
    docs = [d for _, d in _docs(tmp_path / "out", "kubernetes/*.yaml")]
    (dep,) = [d for d in docs if d["kind"] == "Deployment"]
    assert dep["spec"]["replicas"] == 3 and not [d for d in docs if d["kind"] == "ScaledObject"]
    assert "runs its peak of 3 replicas all the time" in (tmp_path / "out" / "README.md").read_text()


def test_a_layout_the_engine_cannot_start_is_left_out_with_the_rule(tmp_path: Path) -> None:
    # Expert parallelism that multiplies GPUs (tp 1 x ep 8 on 8 GPUs) is not a layout any engine starts.
    bad = _config(tp=1, ep=8, gpus_per_replica=8, spot_replicas_by_slot=[0, 0, 0, 0])
    good = _config(spot_replicas_by_slot=[0, 0, 0, 0])
    result = _result([bad, good], model="qwen3-235b-a22b")
    _emit(result, tmp_path / "out")
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "chat-1: the plan gives 8 GPUs per replica but tp·dp·pp = 1" in readme and "chat-1 is not emitted" in readme
    assert sorted(p.name for p in (tmp_path / "out" / "kubernetes").iterdir()) == ["chat-2.yaml", "chat-service.yaml"]
