"""Every layout of every engine renders to the flags the engines document, or is refused naming the rule.

The rules checked here are restated from the engines' docs (catalogs/engines.yaml launch_notes), not read
from the renderer: vLLM EP = TP×DP when enabled; SGLang --tp counts the stage's GPUs and --ep divides it;
TensorRT-LLM moe_tp × moe_ep = tensor_parallel_size and attention DP only with tp = 1.
"""

from __future__ import annotations

import itertools

import pytest
import yaml

from solver.catalog.loader import load_catalog
from solver.deploy.engine_args import TRTLLM_CONFIG_FILE, LaunchSpec, Layout, render_launch
from solver.errors import DeployError
from solver.optimize.launch import launch_command

CATALOG = load_catalog([])
SIZES = (1, 2, 4, 8)


def _flags(argv: tuple[str, ...]) -> dict[str, str | bool]:
    out: dict[str, str | bool] = {}
    words = list(argv)
    for i, w in enumerate(words):
        if w.startswith("--"):
            nxt = words[i + 1] if i + 1 < len(words) else None
            out[w] = nxt if nxt is not None and not nxt.startswith("--") else True
    return out


def _valid(engine: str, moe: bool, lay: Layout) -> bool:
    n = lay.tp * lay.dp
    if not moe and lay.ep != 1:
        return False
    if n % lay.ep:
        return False
    if engine == "vllm":
        return lay.ep in (1, n)
    if engine == "trtllm":
        return lay.dp == 1 or lay.tp == 1
    return True


LAYOUTS = [Layout(tp, dp, pp, ep) for tp, dp, pp, ep in itertools.product(SIZES, SIZES, (1, 2), (1, 2, 4, 8, 16))
           if tp * dp * pp <= 32]


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
@pytest.mark.parametrize("model", ["qwen3-235b-a22b", "llama-3.1-70b"])
def test_every_layout_renders_the_documented_flags(engine: str, model: str) -> None:
    moe = CATALOG.models[model].is_moe
    rendered = refused = 0
    for lay in LAYOUTS:
        spec = LaunchSpec(engine, model, "bf16", "bf16", lay, max_batch=64, max_model_len=4096, gpus_per_node=8)
        gpus = lay.tp * lay.dp * lay.pp
        nodes = max(1, gpus // 8)
        vllm_dp_fits = lay.dp == 1 or (lay.dp % nodes == 0 and lay.tp * lay.pp * lay.dp // nodes == 8)
        if not _valid(engine, moe, lay) or (engine == "vllm" and nodes > 1 and not vllm_dp_fits):
            with pytest.raises(DeployError):
                render_launch(CATALOG, spec)
            refused += 1
            continue
        launch = render_launch(CATALOG, spec)
        rendered += 1
        f = _flags(launch.leader)
        assert launch.nodes == nodes
        # Wide EP (attention DP and EP over more than one 8-GPU node) runs the all-to-all the model assumes.
        wide = lay.ep > 1 and lay.dp > 1 and lay.tp * lay.dp > 8
        if engine == "vllm":
            assert f.get("--all2all-backend") == ("deepep_high_throughput" if wide else None)
            assert f["--tensor-parallel-size"] == str(lay.tp)
            assert f["--pipeline-parallel-size"] == str(lay.pp)
            assert f.get("--data-parallel-size", "1") == str(lay.dp)
            assert ("--enable-expert-parallel" in f) == (lay.ep > 1)
            assert f["--max-num-seqs"] == str(-(-64 // lay.dp))
            if nodes > 1 and lay.dp == 1:
                assert f["--nnodes"] == str(nodes) and f["--node-rank"] == "0"
                w = _flags(launch.worker)
                assert w["--node-rank"] == "$NODE_RANK" and "--headless" in w
            if nodes > 1 and lay.dp > 1:
                assert f["--data-parallel-size-local"] == str(lay.dp // nodes)
                assert "--headless" in _flags(launch.worker)
        elif engine == "sglang":
            assert f["--tp"] == str(lay.tp * lay.dp)
            assert f.get("--dp", "1") == str(lay.dp)
            assert ("--enable-dp-attention" in f) == (lay.dp > 1)
            assert f.get("--ep", "1") == str(lay.ep)
            assert f.get("--pp-size", "1") == str(lay.pp)
            assert f.get("--moe-a2a-backend") == ("deepep" if wide else None)
            if nodes > 1:
                assert f["--nnodes"] == str(nodes) and f["--node-rank"] == "0"
                assert f["--dist-init-addr"] == "$HEAD_NODE_IP:20000"
                assert _flags(launch.worker)["--node-rank"] == "$NODE_RANK"
        else:
            assert f["--extra_llm_api_options"] == TRTLLM_CONFIG_FILE
            (side,) = launch.files
            assert side.name == TRTLLM_CONFIG_FILE
            cfg = yaml.safe_load(side.text)
            assert cfg["tensor_parallel_size"] == lay.tp * lay.dp
            assert cfg["pipeline_parallel_size"] == lay.pp
            assert cfg["enable_attention_dp"] is (lay.dp > 1)
            if moe:
                assert cfg["moe_expert_parallel_size"] == lay.ep
                assert cfg["moe_expert_parallel_size"] * cfg["moe_tensor_parallel_size"] == lay.tp * lay.dp
                assert cfg.get("moe_config") == ({"backend": "WIDEEP"} if wide else None)
            else:
                assert "moe_expert_parallel_size" not in cfg
            if nodes > 1:
                assert launch.leader[:3] == ("srun", "-N", str(nodes)) and launch.launcher == "mpi"
    assert rendered and (refused or not moe)


def test_refusals_name_the_rule() -> None:
    spec = LaunchSpec("vllm", "qwen3-235b-a22b", "bf16", "bf16", Layout(tp=8, ep=4), 64, 4096, 8)
    with pytest.raises(DeployError, match="EP = TP×DP"):
        render_launch(CATALOG, spec)
    spec = LaunchSpec("sglang", "llama-3.1-70b", "bf16", "bf16", Layout(tp=8, ep=8), 64, 4096, 8)
    with pytest.raises(DeployError, match="dense"):
        render_launch(CATALOG, spec)


def test_checkpoint_matches_the_weight_format() -> None:
    # An engine without online FP8 (TensorRT-LLM) or any engine with FP4 loads the recorded pre-quantized
    # checkpoint as is, without quantization flags.
    for engine, quant in (("trtllm", "fp8"), ("vllm", "fp4"), ("sglang", "fp4")):
        spec = LaunchSpec(engine, "llama-3.3-70b", quant, "fp8", Layout(tp=2), 64, 4096, 8)
        launch = render_launch(CATALOG, spec)
        ckpt = f"nvidia/Llama-3.3-70B-Instruct-{quant.upper()}"
        assert launch.checkpoint == ckpt and ckpt in launch.leader and not launch.notes
        assert "--quantization" not in launch.leader
    # vLLM quantizes FP8 online from the native checkpoint.
    spec = LaunchSpec("vllm", "qwen2.5-32b", "fp8", "bf16", Layout(tp=1), 64, 4096, 8)
    launch = render_launch(CATALOG, spec)
    assert launch.checkpoint == "Qwen/Qwen2.5-32B-Instruct" and _flags(launch.leader)["--quantization"] == "fp8"
    # TensorRT-LLM has no online FP8: the user is told to supply a checkpoint.
    spec = LaunchSpec("trtllm", "qwen2.5-32b", "fp8", "fp8", Layout(tp=1), 64, 4096, 8)
    launch = render_launch(CATALOG, spec)
    assert launch.notes and "pre-quantized checkpoint" in launch.notes[0]
    assert yaml.safe_load(launch.files[0].text)["kv_cache_config"] == {"dtype": "fp8"}
    # FP4 DeepSeek-R1 from NVIDIA's ModelOpt checkpoint.
    spec = LaunchSpec("trtllm", "deepseek-r1", "fp4", "fp8", Layout(tp=1, dp=8, ep=8), 64, 4096, 8)
    assert render_launch(CATALOG, spec).checkpoint == "nvidia/DeepSeek-R1-FP4"


def test_printed_command_writes_the_trtllm_yaml_it_references() -> None:
    from solver.problem import Workload

    row = {"engine": "trtllm", "model": "llama-3.1-8b", "quant": "bf16", "kv_quant": "fp8", "tp": 2, "pp": 1,
           "ep": 1, "max_batch": 32, "offer": next(o for o, v in CATALOG.offers.items() if v.gpus_per_instance == 8)}
    wl = Workload(name="w", model="llama-3.1-8b", traffic={"requests_per_s": 1}, input_tokens=1000,
                  output_tokens=100)
    line = launch_command(CATALOG, row, wl)
    written, _, run = line.partition(" && ")
    assert written.startswith("printf") and written.endswith(f"> {TRTLLM_CONFIG_FILE}")
    assert "'tensor_parallel_size: 2'" in written and "'  dtype: fp8'" in written
    assert run.startswith("trtllm-serve meta-llama/Llama-3.1-8B") and "--max_seq_len 1100" in run


def test_printed_command_refuses_a_row_whose_gpus_disagree_with_the_layout() -> None:
    from solver.problem import Workload

    wl = Workload(name="w", model="qwen3-235b-a22b", traffic={"requests_per_s": 1}, input_tokens=1000,
                  output_tokens=100)
    row = {"engine": "sglang", "model": "qwen3-235b-a22b", "quant": "fp8", "kv_quant": "fp8", "tp": 8, "pp": 1,
           "ep": 8, "gpus": 64, "max_batch": 32, "offer": "aws-p5.48xlarge-us-east-1"}
    assert launch_command(CATALOG, row, wl) == (
        "# not startable as modelled: the row has 64 GPUs per replica but tp·dp·pp = 8")
    row["gpus"] = 8
    assert launch_command(CATALOG, row, wl).startswith("python3 -m sglang.launch_server")
