"""Deployment files of disaggregated plans: the Dynamo DynamoGraphDeployment within its documented fields, every
plain Kubernetes object valid against the pinned Kubernetes schema, worker counts and GPU limits equal to the
solved plan's, the routers listing every worker, TensorRT-LLM's documented files, the CSV's per-pool rows and
costs, and the CLI (`solve --emit/--csv` with disaggregation allowed).

One solve of problems/disaggregation/long-prompts.yaml per module (vLLM, the optimum); SGLang and TensorRT-LLM are
rendered from that split with the engine changed, and from a split written by hand.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from solver.catalog.loader import load_catalog
from solver.deploy import disagg_kube, dynamo
from solver.deploy.disagg_emit import DisaggWorkload, disagg_workloads, emit_disagg, pool_rows
from solver.deploy.disagg_launch import NIXL_CONFIG, disagg_launch, launch_description
from solver.deploy.emit import KUBERNETES_VERSION
from solver.errors import DeployError
from solver.optimize.disagg import result_to_dict, solve_disagg
from solver.problem import load_problem

ROOT = Path(__file__).resolve().parent.parent
LONG = ROOT / "problems" / "disaggregation" / "long-prompts.yaml"
SHORT = ROOT / "problems" / "disaggregation" / "short-chat.yaml"
CATALOG = load_catalog([])

# ---- Dynamo's documented fields (nvidia.com/v1alpha1) ------------------------------------------------------
# ai-dynamo/dynamo@832a531f08993b98f56155a42523cdb96a7ed6b2 deploy/operator/api/v1alpha1/dynamographdeployment_types.go
DGD_SPEC = {"pvcs", "services", "envs", "backendFramework", "restart"}
DGD_BACKENDS = {"sglang", "vllm", "trtllm"}
# @1d26d9213a1d73ecf5ae84685a40ffcb655c48fa .../dynamocomponentdeployment_types.go (DynamoComponentDeploymentSharedSpec)
DGD_SERVICE = {"annotations", "labels", "serviceName", "componentType", "subComponentType", "dynamoNamespace",
               "globalDynamoNamespace", "resources", "autoscaling", "envs", "envFromSecret", "volumeMounts", "ingress",
               "modelRef", "sharedMemory", "extraPodMetadata", "extraPodSpec", "livenessProbe", "readinessProbe",
               "replicas", "multinode", "scalingAdapter", "checkpoint"}
# @647025f7055adab40a31f32bbc80382c87912c4f .../common.go (Resources, ResourceItem, ExtraPodSpec)
DGD_RESOURCES = {"requests", "limits", "claims"}
DGD_RESOURCE_ITEM = {"cpu", "memory", "gpu", "gpuType", "custom"}
# examples/backends/{vllm,sglang,trtllm}/deploy/disagg.yaml: the services and their worker modules
DGD_WORKERS = {"vllm": ("VllmPrefillWorker", "VllmDecodeWorker", "dynamo.vllm"),
               "sglang": ("prefill", "decode", "dynamo.sglang"),
               "trtllm": ("TRTLLMPrefillWorker", "TRTLLMDecodeWorker", "dynamo.trtllm")}
# TensorRT-LLM@c3c3d76e28c57ee23adc3458fc6aca87300c8c21 examples/disaggregated/README.md: disagg_config.yaml and the
# cache_transceiver_config of the extra-LLM-API files
TRT_PROXY = {"hostname", "port", "backend", "context_servers", "generation_servers"}
TRT_SERVERS = {"num_instances", "urls"}
TRT_TRANSCEIVER = {"backend", "max_tokens_in_buffer", "kv_transfer_timeout_ms"}
TRT_BACKENDS = {"DEFAULT", "UCX", "NIXL"}


# ---- one solve per module -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def solved():
    problem = load_problem(LONG, CATALOG)
    result = solve_disagg(problem, CATALOG, workers=1)
    assert result.disaggregated
    return problem, result, result_to_dict(result)["workloads"]


@pytest.fixture(scope="module")
def vllm_split(solved) -> dict:
    return solved[2][0]


def _as_engine(split: dict, engine: str) -> dict:
    """The solved split run by another engine, both pools on the decode pool's H100 offer (SGLang and
    TensorRT-LLM record no pools on different accelerators)."""
    s = copy.deepcopy(split)
    for role in ("prefill", "decode"):
        s[role]["engine"] = engine
    s["prefill"].update(accelerator=s["decode"]["accelerator"], offer=s["decode"]["offer"])
    return s


HAND = {
    "workload": "chat", "form": "disaggregated", "prefill_workers": 3, "decode_workers": 1,
    "prefill": {"accelerator": "h100-sxm", "offer": "aws-p5.48xlarge-us-east-1", "engine": "trtllm", "tp": 2,
                "dp": 1, "pp": 1, "ep": 1, "gpus_per_worker": 2, "quant": "bf16", "kv_quant": "fp8", "max_batch": None},
    "decode": {"accelerator": "h100-sxm", "offer": "aws-p5.48xlarge-us-east-1", "engine": "trtllm", "tp": 4,
               "dp": 1, "pp": 1, "ep": 1, "gpus_per_worker": 4, "quant": "bf16", "kv_quant": "fp8", "max_batch": 32},
    "prefill_capacity_rps": 2.0, "decode_capacity_rps": 6.0, "ttft_ms": 800.0, "tpot_ms": 30.0, "transfer_ms": 4.0,
    "prefill_ms": 300.0, "first_decode_step_ms": 30.0,
}
"""3 context servers of TP 2 and one generation server of TP 4 for Llama 3.1 8B, written by hand."""


def _workload(split: dict, model: str = "llama-3.1-70b", name: str = "completion") -> DisaggWorkload:
    return DisaggWorkload(name=name, model=model, max_model_len=8300, split=split, slo_ttft_ms=2000.0,
                          slo_tpot_ms=20.0, percentile=99.0, pool_usd_per_hour={"prefill": 1.0, "decode": 2.0})


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _kind(path: Path, kind: str) -> dict:
    return next(d for d in _docs(path) if d["kind"] == kind)


def _validate_core(doc: dict) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _graph(folder: Path, stem: str = "completion") -> tuple[dict, list[dict]]:
    docs = _docs(folder / "dynamo" / f"{stem}.yaml")
    graphs = [d for d in docs if d["kind"] == "DynamoGraphDeployment"]
    assert len(graphs) == 1
    return graphs[0], [d for d in docs if d["kind"] != "DynamoGraphDeployment"]


def check_dynamo(graph: dict, engine: str) -> None:
    """The DynamoGraphDeployment within the documented fields; its pods valid core PodSpecs and Containers."""
    assert graph["apiVersion"] == "nvidia.com/v1alpha1" and graph["kind"] == "DynamoGraphDeployment"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", graph["metadata"]["name"])
    spec = graph["spec"]
    assert set(spec) <= DGD_SPEC and spec["backendFramework"] in DGD_BACKENDS
    prefill, decode, module = DGD_WORKERS[engine]
    assert set(spec["services"]) == {"Frontend", prefill, decode}
    assert spec["services"]["Frontend"]["componentType"] == "frontend"
    for name, svc in spec["services"].items():
        assert set(svc) <= DGD_SERVICE, set(svc) - DGD_SERVICE
        for key in svc.get("resources", {}):
            assert key in DGD_RESOURCES and set(svc["resources"][key]) <= DGD_RESOURCE_ITEM
        pod = dict(svc["extraPodSpec"])
        main = pod.pop("mainContainer")
        assert main["image"].startswith("nvcr.io/nvidia/ai-dynamo/")
        _validate_core({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
                        "spec": {**pod, "containers": [{"name": "main", **main}]}})
        if name == "Frontend":
            continue
        role = "prefill" if name == prefill else "decode"
        assert svc["componentType"] == "worker" and svc["subComponentType"] == role
        assert main["command"] == ["python3", "-m", module]
        args = main["args"]
        assert args[args.index("--disaggregation-mode") + 1] == role


# ---- the solved vLLM plan -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vllm_folder(solved, tmp_path_factory) -> Path:
    problem, result, splits = solved
    out = tmp_path_factory.mktemp("disagg") / "out"
    emit_disagg(CATALOG, disagg_workloads(result, problem, CATALOG, splits), out, status=result.status,
                usd_per_hour=result.usd_per_hour, aggregated_usd_per_hour=result.aggregated.usd_per_hour)
    return out


def _plan_pools(result) -> dict[str, tuple[int, int]]:
    """(peak workers, GPUs per worker) per pool, read from the plan's schedule (not from the split)."""
    sched = result.plan.schedule
    out = {}
    for role in ("prefill", "decode"):
        mine = sched[sched["role"] == role]
        peak = int((mine["replicas"] + mine["spot_replicas"]).groupby(mine["slot"]).sum().max())
        out[role] = (peak, int(mine["gpus_per_replica"].iloc[0]))
    return out


def test_worker_counts_and_gpu_limits_equal_the_plan(solved, vllm_folder):
    _, result, _ = solved
    pools = _plan_pools(result)
    graph, _ = _graph(vllm_folder)
    check_dynamo(graph, "vllm")
    for role, svc_name in (("prefill", "VllmPrefillWorker"), ("decode", "VllmDecodeWorker")):
        workers, gpus = pools[role]
        svc = graph["spec"]["services"][svc_name]
        assert svc["replicas"] == workers
        assert svc["resources"]["limits"]["gpu"] == str(gpus)
        dep = _kind(vllm_folder / "kubernetes" / f"completion-{role}.yaml", "Deployment")
        assert dep["spec"]["replicas"] == workers
        assert dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == gpus


def test_every_kubernetes_object_validates(vllm_folder):
    kinds = []
    for f in sorted((vllm_folder / "kubernetes").glob("*.yaml")):
        for doc in _docs(f):
            _validate_core(doc)
            kinds.append(doc["kind"])
    assert kinds.count("Deployment") == 2 and kinds.count("Service") == 2


def test_a_misspelt_dynamo_field_is_caught(vllm_folder):
    graph, _ = _graph(vllm_folder)
    broken = copy.deepcopy(graph)
    svc = broken["spec"]["services"]["VllmDecodeWorker"]
    svc["subComponentTypes"] = svc.pop("subComponentType")
    with pytest.raises(AssertionError):
        check_dynamo(broken, "vllm")
    broken = copy.deepcopy(graph)
    broken["spec"]["services"]["VllmDecodeWorker"]["resources"]["limits"]["gpus"] = "8"
    with pytest.raises(AssertionError):
        check_dynamo(broken, "vllm")


def test_dynamo_and_kubernetes_run_the_printed_launch(vllm_split, vllm_folder):
    """One rendering: the Kubernetes command is the printed command (pods serve on 8000), and the Dynamo worker
    carries the same engine flags, in order, without the standalone server's --host/--port."""
    printed = [ln for ln in launch_description(CATALOG, vllm_split, "llama-3.1-70b", 8300) if not ln.startswith("#")]
    graph, _ = _graph(vllm_folder)
    for role, line in zip(("prefill", "decode"), printed, strict=True):
        words = line.replace("'", "").split()
        dep = _kind(vllm_folder / "kubernetes" / f"completion-{role}.yaml", "Deployment")
        command = dep["spec"]["template"]["spec"]["containers"][0]["command"]
        port = words.index("--port")
        assert command[:port + 1] == words[:port + 1] and command[port + 2:] == words[port + 2:]
        assert command[port + 1] == "8000"
        args = graph["spec"]["services"]["VllmPrefillWorker" if role == "prefill" else "VllmDecodeWorker"][
            "extraPodSpec"]["mainContainer"]["args"]
        engine_flags = words[words.index("--port") + 2:]
        assert args[:2] == ["--model", words[2]]
        assert args[2:2 + len(engine_flags)] == engine_flags
        assert NIXL_CONFIG in args and args[-2:] == ["--disaggregation-mode", role]


def test_csv_has_one_row_per_pool_and_costs_by_hand(solved):
    problem, result, splits = solved
    rows = pool_rows(disagg_workloads(result, problem, CATALOG, splits))
    assert list(rows["pool"]) == ["prefill", "decode"]
    assert rows["usd_per_hour"].sum() == pytest.approx(result.usd_per_hour)
    pools = _plan_pools(result)
    for r in rows.itertuples():
        offer = CATALOG.offers[r.offer]
        workers, gpus = pools[r.pool]
        assert (r.workers, r.gpus_per_worker) == (workers, gpus)
        # Each pool has its offer to itself here: whole instances of its GPUs at the on-demand price.
        assert r.usd_per_hour == pytest.approx(math.ceil(workers * gpus / offer.gpus_per_instance)
                                               * offer.usd_per_hour_on_demand)
    # Long prompts: prefill on B200 (8 workers of TP 2 = 2 instances), decode on H100 (2 of TP 8 = 2 instances).
    assert rows.loc[0, "usd_per_hour"] == pytest.approx(2 * CATALOG.offers["aws-p6-b200.48xlarge-us-east-1"]
                                                        .usd_per_hour_on_demand)


def test_readme_names_every_file(vllm_folder):
    readme = (vllm_folder / "README.md").read_text()
    named = set(re.findall(r"^- `([^`]+)`:", readme, flags=re.M))
    files = {str(p.relative_to(vllm_folder)) for p in vllm_folder.rglob("*") if p.is_file()}
    assert files == named
    assert "vLLM documents no router" in readme and "kubectl apply -f dynamo/" in readme


def test_a_mixed_plan_is_refused(solved):
    problem, result, splits = solved
    mixed = [{"workload": splits[0]["workload"], "form": "aggregated"}]
    with pytest.raises(DeployError, match="aggregated"):
        disagg_workloads(result, problem, CATALOG, mixed)


# ---- SGLang ---------------------------------------------------------------------------------------------------
def test_sglang_router_lists_every_worker(vllm_split, tmp_path):
    split = _as_engine(vllm_split, "sglang")
    emit_disagg(CATALOG, [_workload(split)], tmp_path / "out", status="optimal", usd_per_hour=3.0,
                aggregated_usd_per_hour=4.0)
    folder = tmp_path / "out"
    graph, _ = _graph(folder)
    check_dynamo(graph, "sglang")
    assert graph["spec"]["services"]["prefill"]["replicas"] == split["prefill_workers"]
    assert graph["spec"]["services"]["decode"]["resources"]["limits"]["gpu"] == str(split["decode"]["gpus_per_worker"])
    hosts = {}
    for role in ("prefill", "decode"):
        docs = _docs(folder / "kubernetes" / f"completion-{role}.yaml")
        for d in docs:
            _validate_core(d)
        sts = next(d for d in docs if d["kind"] == "StatefulSet")
        svc = next(d for d in docs if d["kind"] == "Service")
        assert sts["spec"]["serviceName"] == svc["metadata"]["name"] and svc["spec"]["clusterIP"] == "None"
        assert sts["spec"]["replicas"] == split[f"{role}_workers"]
        argv = sts["spec"]["template"]["spec"]["containers"][0]["command"]
        assert argv[argv.index("--disaggregation-mode") + 1] == role
        name = sts["metadata"]["name"]
        hosts[role] = [f"http://{name}-{i}.{svc['metadata']['name']}:8000" for i in range(sts["spec"]["replicas"])]
    router_docs = _docs(folder / "kubernetes" / "completion-router.yaml")
    for d in router_docs:
        _validate_core(d)
    argv = next(d for d in router_docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0][
        "command"]
    assert argv[:4] == ["python", "-m", "sglang_router.launch_router", "--pd-disaggregation"]
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--prefill"] == hosts["prefill"]
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--decode"] == hosts["decode"]


# ---- TensorRT-LLM ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["solved", "hand"])
def test_trtllm_files_follow_the_readme(case, vllm_split, tmp_path):
    split, model = (_as_engine(vllm_split, "trtllm"), "llama-3.1-70b") if case == "solved" else (HAND, "llama-3.1-8b")
    isl = 8000
    emit_disagg(CATALOG, [_workload(split, model)], tmp_path / "out", status="optimal", usd_per_hour=3.0,
                aggregated_usd_per_hour=4.0)
    folder = tmp_path / "out"
    graph, others = _graph(folder)
    check_dynamo(graph, "trtllm")
    services = graph["spec"]["services"]
    if case == "hand":  # 3 context servers of 2 GPUs, 1 generation server of 4
        assert services["TRTLLMPrefillWorker"]["replicas"] == 3
        assert services["TRTLLMPrefillWorker"]["resources"]["limits"]["gpu"] == "2"
        assert services["TRTLLMDecodeWorker"]["replicas"] == 1
        assert services["TRTLLMDecodeWorker"]["resources"]["limits"]["gpu"] == "4"
    (config_map,) = others
    _validate_core(config_map)
    for role, svc in (("prefill", "TRTLLMPrefillWorker"), ("decode", "TRTLLMDecodeWorker")):
        opts = yaml.safe_load(config_map["data"][f"{role}.yaml"])
        assert opts["tensor_parallel_size"] == split[role]["tp"]
        assert opts["max_batch_size"] >= 1 and opts["max_seq_len"] == 8300
        args = services[svc]["extraPodSpec"]["mainContainer"]["args"]
        assert args[args.index("--extra-engine-args") + 1] == f"/config/{role}.yaml"
    trt = folder / "trtllm" / "completion"
    for name, role in (("ctx_extra-llm-api-config.yaml", "prefill"), ("gen_extra-llm-api-config.yaml", "decode")):
        opts = yaml.safe_load((trt / name).read_text())
        ct = opts["cache_transceiver_config"]
        assert set(ct) <= TRT_TRANSCEIVER and ct["backend"] in TRT_BACKENDS and ct["max_tokens_in_buffer"] >= isl
        assert opts.get("disable_overlap_scheduler", False) is (role == "prefill")
        assert opts["tensor_parallel_size"] == split[role]["tp"]
    proxy = yaml.safe_load((trt / "disagg_config.yaml").read_text())
    assert set(proxy) <= TRT_PROXY
    for key, role in (("context_servers", "prefill"), ("generation_servers", "decode")):
        assert set(proxy[key]) <= TRT_SERVERS
        assert proxy[key]["num_instances"] == len(proxy[key]["urls"]) == split[f"{role}_workers"]
    # Kubernetes: the proxy's ConfigMap names every StatefulSet pod
    for f in sorted((folder / "kubernetes").glob("*.yaml")):
        for d in _docs(f):
            _validate_core(d)
    cm = next(d for d in _docs(folder / "kubernetes" / "completion-prefill.yaml") if d["kind"] == "ConfigMap")
    kube_proxy = yaml.safe_load(cm["data"]["disagg_config.yaml"])
    assert kube_proxy["context_servers"]["urls"] == [f"completion-prefill-{i}.completion-prefill:8000"
                                                     for i in range(split["prefill_workers"])]
    assert kube_proxy["generation_servers"]["urls"] == [f"completion-decode-{i}.completion-decode:8000"
                                                        for i in range(split["decode_workers"])]
    readme = (folder / "README.md").read_text()
    assert set(re.findall(r"^- `([^`]+)`:", readme, flags=re.M)) == {
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_trtllm_launch_prints_servers_and_front_end():
    lines = launch_description(CATALOG, HAND, "llama-3.1-8b", 8300)
    commands = [ln for ln in lines if not ln.startswith("#")]
    assert sum(c.startswith("trtllm-serve meta-llama/") for c in commands) == 2
    assert commands[-1] == "trtllm-serve disaggregated -c disagg_config.yaml"
    assert any("ctx_extra-llm-api-config.yaml" in c and "cache_transceiver_config:" in c for c in commands)
    assert sum("$PREFILL_HOST_" in c for c in commands) == 1 and "$PREFILL_HOST_3:30000" in commands[-2]


def test_dynamo_refuses_what_it_cannot_run():
    amd = copy.deepcopy(HAND)
    for role in ("prefill", "decode"):
        amd[role].update(engine="sglang", accelerator="mi300x", offer=next(
            o.id for o in CATALOG.offers.values() if o.accelerator == "mi300x"))
    dl = disagg_launch(CATALOG, amd, "llama-3.1-8b", 8300)
    with pytest.raises(DeployError, match="NVIDIA"):
        dynamo.dynamo_graph(CATALOG, dl, amd, "chat-disagg", 8300)
    kube = disagg_kube.disagg_objects(CATALOG, amd, "chat", "llama-3.1-8b", 8300)
    sts = next(d for d in kube.objects["chat-decode"] if d["kind"] == "StatefulSet")
    assert sts["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"amd.com/gpu": 4}


# ---- CLI ------------------------------------------------------------------------------------------------------
def test_cli_solve_emit_csv_json(cli, solved, tmp_path):
    _, result, splits = solved
    out, table = tmp_path / "out", tmp_path / "pools.csv"
    res = cli("solve", LONG, "--workers", "1", "--json", "--emit", out, "--csv", table)
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["workloads"][0]["launch"] == launch_description(CATALOG, splits[0], "llama-3.1-70b", 8300)
    assert (out / "dynamo" / "completion.yaml").is_file() and (out / "README.md").is_file()
    with table.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["pool"] for r in rows] == ["prefill", "decode"]
    assert sum(float(r["usd_per_hour"]) for r in rows) == pytest.approx(result.usd_per_hour)
    assert "wrote" in res.stderr


def test_cli_refuses_plot_and_timings_with_the_reason(cli, tmp_path):
    for args in (("--plot", tmp_path / "x.png"), ("--timings",)):
        res = cli("solve", LONG, *args)
        assert res.exit_code == 1 and "Traceback" not in res.stderr
        assert f"{args[0]}: not available when disaggregation is allowed" in res.stderr


def test_cli_aggregated_winner_emits_the_aggregated_folder(cli, tmp_path):
    out = tmp_path / "out"
    res = cli("solve", SHORT, "--workers", "1", "--emit", out)
    assert res.exit_code == 0, res.stderr
    assert not (out / "dynamo").exists() and list((out / "kubernetes").glob("chat-*.yaml"))
    for f in (out / "kubernetes").glob("*.yaml"):
        for d in _docs(f):
            if d["kind"] in ("Deployment", "Service"):
                _validate_core(d)


def test_emit_into_a_non_empty_folder_is_refused(tmp_path, vllm_split):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(DeployError, match="not empty"):
        emit_disagg(CATALOG, [_workload(vllm_split)], tmp_path, status="optimal", usd_per_hour=1.0,
                    aggregated_usd_per_hour=2.0)


def test_emit_of_a_disaggregated_result_points_to_solve_emit(cli, tmp_path):
    """`trilemma emit` reads aggregated results; a disaggregated one gets told where its folder comes from."""
    result_file = tmp_path / "result.json"
    result_file.write_text(json.dumps({"disaggregated": True, "aggregated_usd_per_hour": 1.0, "workloads": []}))
    result = cli("emit", result_file, tmp_path / "out")
    assert result.exit_code == 1, result
    assert result.stderr.startswith(f"{result_file}: a result solved with disaggregation allowed"), result.stderr
    assert "--emit DIR" in result.stderr
