"""An engine's launch command as an argv list plus the files it reads: one rendering for the printed
launch command, the Kubernetes manifests, the SkyPilot tasks and the Compose file.

Layout vocabulary (the engines'): a replica is `pp` pipeline stages of `n = tp·dp` GPUs; attention splits
a stage as `tp × dp` (dp = attention data-parallel ranks, each with its own requests and KV cache); MoE
layers split the same `n` GPUs as `moe_tp × ep` with `moe_tp = n / ep`. GPUs per replica = `tp·dp·pp`;
`ep = 1` for dense models. How each engine spells it (sources in catalogs/engines.yaml):

- vLLM: `--tensor-parallel-size tp --data-parallel-size dp --pipeline-parallel-size pp`, and
  `--enable-expert-parallel` makes EP = TP×DP, so `ep ∈ {1, n}`. `--max-num-seqs` is per DP rank.
- SGLang: `--tp n` counts every GPU of a stage; `--dp dp --enable-dp-attention` splits attention into dp
  ranks of `n/dp` GPUs; `--ep ep` with `ep | n`; `--max-running-requests` is for the whole server.
- TensorRT-LLM: `trtllm-serve` reads `tensor_parallel_size n`, `pipeline_parallel_size`,
  `moe_expert_parallel_size ep`, `moe_tensor_parallel_size n/ep` and `enable_attention_dp` from the extra
  LLM-API YAML written beside the command; attention DP makes every rank its own DP rank (`tp = 1`).

A stage wider than one node with attention DP and expert parallelism (wide EP, n > 8) exchanges MoE
tokens by all-to-all, as modelled (`solver.perf.latency.moe_exchange`): vLLM `--all2all-backend
deepep_high_throughput`, SGLang `--moe-a2a-backend deepep`, TensorRT-LLM `moe_config: {backend: WIDEEP}`.
Narrower stages keep each engine's default all-gather / reduce-scatter.

A replica larger than a node (`gpus > gpus_per_node`) runs on `gpus / gpus_per_node` nodes: vLLM with
`--nnodes --node-rank --master-addr` (`--headless` on the other nodes; with dp > 1 its data-parallel
flags), SGLang with `--nnodes --node-rank --dist-init-addr`, TensorRT-LLM as one MPI job (`srun ...
trtllm-llmapi-launch trtllm-serve`).
"""

from __future__ import annotations

import math
import shlex
import string
from collections import defaultdict
from dataclasses import dataclass, field

import yaml

from solver.catalog.loader import Catalog
from solver.catalog.schema import Engine, Model
from solver.errors import DeployError

TRTLLM_CONFIG_FILE = "extra-llm-api-config.yaml"
SGLANG_DIST_PORT = 20000
"""Port of SGLang's `--dist-init-addr` (the value of SGLang's multi-node example)."""
VLLM_DP_RPC_PORT = 13345
"""Port of vLLM's `--data-parallel-rpc-port` (the value of vLLM's data-parallel example)."""


@dataclass(frozen=True)
class Layout:
    tp: int
    dp: int = 1
    pp: int = 1
    ep: int = 1

    @property
    def gpus_per_stage(self) -> int:
        """n = tp·dp."""
        return self.tp * self.dp

    @property
    def gpus(self) -> int:
        """GPUs per replica = tp·dp·pp."""
        return self.tp * self.dp * self.pp

    @property
    def wide_ep(self) -> bool:
        """Attention DP and expert parallelism over a stage wider than a node: all-to-all exchange."""
        from solver.perf.latency import EP_ALLTOALL_ABOVE_GPUS

        return self.ep > 1 and self.dp > 1 and self.gpus_per_stage > EP_ALLTOALL_ABOVE_GPUS

    @property
    def moe_tp(self) -> int:
        """moe_tp = tp·dp / ep."""
        return self.gpus_per_stage // self.ep


@dataclass(frozen=True)
class LaunchSpec:
    """What one replica runs: the plan's configuration, independent of where it is deployed."""

    engine: str
    model: str
    quant: str
    kv_quant: str
    layout: Layout
    max_batch: int
    """Requests decoding at once in the whole replica."""
    max_model_len: int
    gpus_per_node: int
    """GPUs of one node (instance) of the offer; a larger replica spans nodes."""
    port: int = 8000

    @property
    def nodes(self) -> int:
        return max(1, math.ceil(self.layout.gpus / self.gpus_per_node))


@dataclass(frozen=True)
class SideFile:
    name: str
    text: str


@dataclass(frozen=True)
class EngineLaunch:
    engine: str
    checkpoint: str
    """Hugging Face repository the engine loads (a pre-quantized one where the quant needs it)."""
    nodes: int
    leader: tuple[str, ...]
    """argv of node rank 0 (the only node of a single-node replica); it serves HTTP on `port`."""
    worker: tuple[str, ...] | None = None
    """argv of node ranks ≥ 1 (None for single-node replicas and for MPI-launched TensorRT-LLM)."""
    files: tuple[SideFile, ...] = ()
    """Files the argv reads, by name relative to `config_dir`."""
    launcher: str = "direct"
    """direct: run `leader` (and `worker` on the other nodes); mpi: `leader` starts every rank."""
    notes: tuple[str, ...] = ()
    """What a user must provide before this starts (e.g. a checkpoint the catalog does not know)."""
    port: int = 8000

    def shell(self) -> str:
        """One shell line: write the side files, then run the leader command."""
        parts = []
        for f in self.files:
            lines = " ".join(shlex.quote(line) for line in f.text.splitlines())
            parts.append(f"printf '%s\\n' {lines} > {shlex.quote(f.name)}")
        parts.append(shell_join(self.leader))
        return " && ".join(parts)


@dataclass
class _Parts:
    checkpoint: str
    quant_args: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_layout(engine_id: str, model: Model, layout: Layout) -> None:
    """Raise DeployError naming the rule when `engine_id` cannot start `layout` as modelled."""
    lay = layout
    name = f"tp={lay.tp} dp={lay.dp} pp={lay.pp} ep={lay.ep}"
    if min(lay.tp, lay.dp, lay.pp, lay.ep) < 1:
        raise DeployError(f"layout {name}: every size must be ≥ 1")
    if not model.is_moe and lay.ep != 1:
        raise DeployError(f"layout {name}: {model.id} is dense, so ep must be 1")
    if lay.gpus_per_stage % lay.ep:
        raise DeployError(f"layout {name}: ep must divide tp·dp = {lay.gpus_per_stage} (MoE layers split the "
                          "same GPUs as moe_tp × ep)")
    if engine_id == "vllm" and lay.ep not in (1, lay.gpus_per_stage):
        raise DeployError(f"layout {name}: vLLM's --enable-expert-parallel sets EP = TP×DP = "
                          f"{lay.gpus_per_stage}; ep must be 1 or {lay.gpus_per_stage}")
    if engine_id == "trtllm" and lay.dp > 1 and lay.tp != 1:
        raise DeployError(f"layout {name}: TensorRT-LLM's enable_attention_dp makes every rank a data-parallel "
                          "rank, so dp > 1 needs tp = 1")


def _checkpoint(engine: Engine, model: Model, quant: str) -> _Parts:
    """The checkpoint for a weight quant: the native one when the quant is the checkpoint's own dtype or the
    engine quantizes it online (quant_flags, e.g. vLLM/SGLang `--quantization fp8`); otherwise a
    pre-quantized checkpoint recorded in the catalog (the engine reads its quantization from the checkpoint
    config and must not be told again); otherwise a note that the user must supply one."""
    if quant == model.native_dtype:
        return _Parts(model.hf_id)
    if quant in engine.quant_flags:
        return _Parts(model.hf_id, shlex.split(engine.quant_flags[quant]))
    if quant in model.quantized_checkpoints:
        return _Parts(model.quantized_checkpoints[quant])
    return _Parts(model.hf_id, notes=[
        f"{engine.name} runs {quant} weights from a pre-quantized checkpoint of {model.hf_id}; none is recorded "
        f"in catalogs/models.yaml (models[{model.id}].quantized_checkpoints): replace {model.hf_id} with one"])


def _vllm(engine: Engine, model: Model, spec: LaunchSpec, parts: _Parts, node_rank: str, head: str):
    lay = spec.layout
    base = ["vllm", "serve", parts.checkpoint, "--host", "0.0.0.0", "--port", str(spec.port),
            "--tensor-parallel-size", str(lay.tp), "--pipeline-parallel-size", str(lay.pp)]
    if lay.dp > 1:
        base += ["--data-parallel-size", str(lay.dp)]
    if lay.ep > 1:
        base += shlex.split(engine.ep_flags)
    if lay.wide_ep:
        base += ["--all2all-backend", "deepep_high_throughput"]
    base += ["--max-num-seqs", str(math.ceil(spec.max_batch / lay.dp)), "--max-model-len", str(spec.max_model_len)]
    base += parts.quant_args + shlex.split(engine.kv_quant_flags.get(spec.kv_quant, ""))
    nodes = spec.nodes
    if nodes == 1:
        return tuple(base), None
    if lay.dp == 1:
        multi = ["--nnodes", str(nodes), "--master-addr", head]
        return (tuple(base + multi + ["--node-rank", "0"]),
                tuple(base + multi + ["--node-rank", node_rank, "--headless"]))
    if lay.dp % nodes or lay.tp * lay.pp * (lay.dp // nodes) != spec.gpus_per_node:
        raise DeployError(f"vLLM spreads data-parallel ranks over nodes whole: dp={lay.dp} with tp·pp = "
                          f"{lay.tp * lay.pp} does not fill {nodes} nodes of {spec.gpus_per_node} GPUs")
    local = lay.dp // nodes
    dp_args = ["--data-parallel-size-local", str(local), "--data-parallel-address", head,
               "--data-parallel-rpc-port", str(VLLM_DP_RPC_PORT)]
    worker_rank = f"$(( {node_rank} * {local} ))" if not node_rank.isdigit() else str(int(node_rank) * local)
    return (tuple(base + dp_args),
            tuple(base + dp_args + ["--data-parallel-start-rank", worker_rank, "--headless"]))


def _sglang(engine: Engine, model: Model, spec: LaunchSpec, parts: _Parts, node_rank: str, head: str):
    lay = spec.layout
    base = ["python3", "-m", "sglang.launch_server", "--model-path", parts.checkpoint, "--host", "0.0.0.0",
            "--port", str(spec.port), "--tp", str(lay.gpus_per_stage)]
    if lay.dp > 1:
        base += ["--dp", str(lay.dp), "--enable-dp-attention"]
    if lay.ep > 1:
        base += ["--ep", str(lay.ep)]
    if lay.wide_ep:
        base += ["--moe-a2a-backend", "deepep"]
    if lay.pp > 1:
        base += ["--pp-size", str(lay.pp)]
    base += ["--max-running-requests", str(spec.max_batch), "--context-length", str(spec.max_model_len)]
    base += parts.quant_args + shlex.split(engine.kv_quant_flags.get(spec.kv_quant, ""))
    if spec.nodes == 1:
        return tuple(base), None
    multi = ["--nnodes", str(spec.nodes), "--dist-init-addr", f"{head}:{SGLANG_DIST_PORT}"]
    return tuple(base + multi + ["--node-rank", "0"]), tuple(base + multi + ["--node-rank", node_rank])


def trtllm_config(model: Model, spec: LaunchSpec) -> dict:
    """The extra LLM-API options of a TensorRT-LLM replica (parallelism and KV-cache dtype)."""
    lay = spec.layout
    cfg: dict = {"tensor_parallel_size": lay.gpus_per_stage, "pipeline_parallel_size": lay.pp,
                 "enable_attention_dp": lay.dp > 1}
    if model.is_moe:
        cfg["moe_expert_parallel_size"] = lay.ep
        cfg["moe_tensor_parallel_size"] = lay.moe_tp
        if lay.wide_ep:
            cfg["moe_config"] = {"backend": "WIDEEP"}
    if spec.kv_quant == "fp8":
        cfg["kv_cache_config"] = {"dtype": "fp8"}
    return cfg


def _trtllm(engine: Engine, model: Model, spec: LaunchSpec, parts: _Parts, config_path: str):
    lay = spec.layout
    argv = ["trtllm-serve", parts.checkpoint, "--host", "0.0.0.0", "--port", str(spec.port),
            "--max_batch_size", str(math.ceil(spec.max_batch / lay.dp)), "--max_seq_len", str(spec.max_model_len),
            "--extra_llm_api_options", config_path] + parts.quant_args
    if spec.nodes == 1:
        return tuple(argv), None
    srun = ["srun", "-N", str(spec.nodes), "--ntasks-per-node", str(spec.gpus_per_node), "--mpi=pmix",
            "trtllm-llmapi-launch"]
    return tuple(srun + argv), None


class _Blank(defaultdict):
    def __missing__(self, key: str) -> str:
        return ""


def _template(engine: Engine, model: Model, spec: LaunchSpec, parts: _Parts):
    """Engines without a built-in renderer (user catalogs): their `launch_template`, single node."""
    if not engine.launch_template:
        raise DeployError(f"engine {engine.id} has no launch_template and no built-in launch renderer")
    if spec.nodes > 1:
        raise DeployError(f"engine {engine.id}: a replica of {spec.layout.gpus} GPUs spans {spec.nodes} nodes and "
                          "the engine's launch_template has no multi-node form")
    lay = spec.layout
    fields = _Blank(str)
    fields.update(hf_id=parts.checkpoint, tp=lay.tp, dp=lay.dp, pp=lay.pp, ep=lay.ep, max_batch=spec.max_batch,
                  max_model_len=spec.max_model_len, port=spec.port, quant=spec.quant, kv_quant=spec.kv_quant,
                  quant_flags=shlex.join(parts.quant_args),
                  kv_quant_flags=engine.kv_quant_flags.get(spec.kv_quant, ""),
                  ep_flags=engine.ep_flags if lay.ep > 1 else "")
    return tuple(shlex.split(string.Formatter().vformat(engine.launch_template, (), fields))), None


def render_launch(catalog: Catalog, spec: LaunchSpec, *, node_rank: str = "$NODE_RANK",
                  head_address: str = "$HEAD_NODE_IP", config_dir: str = "") -> EngineLaunch:
    """The launch of one replica. `node_rank` and `head_address` are written verbatim into the commands of
    multi-node replicas (a shell variable, or Kubernetes' `$(VAR)`); side files are referenced as
    `config_dir/name`. Raises DeployError when the engine cannot start the layout as modelled."""
    engine = catalog.lookup("engines", spec.engine)
    model = catalog.lookup("models", spec.model)
    check_layout(engine.id, model, spec.layout)
    if spec.nodes > 1 and spec.layout.gpus % spec.gpus_per_node:
        raise DeployError(f"a replica of {spec.layout.gpus} GPUs does not fill whole nodes of {spec.gpus_per_node}")
    parts = _checkpoint(engine, model, spec.quant)
    files: tuple[SideFile, ...] = ()
    launcher = "direct"
    if engine.id == "vllm":
        leader, worker = _vllm(engine, model, spec, parts, node_rank, head_address)
    elif engine.id == "sglang":
        leader, worker = _sglang(engine, model, spec, parts, node_rank, head_address)
    elif engine.id == "trtllm":
        path = f"{config_dir.rstrip('/')}/{TRTLLM_CONFIG_FILE}" if config_dir else TRTLLM_CONFIG_FILE
        leader, worker = _trtllm(engine, model, spec, parts, path)
        files = (SideFile(TRTLLM_CONFIG_FILE, yaml.safe_dump(trtllm_config(model, spec), sort_keys=False)),)
        launcher = "mpi" if spec.nodes > 1 else "direct"
    else:
        leader, worker = _template(engine, model, spec, parts)
    return EngineLaunch(engine=engine.id, checkpoint=parts.checkpoint, nodes=spec.nodes, leader=leader,
                        worker=worker, files=files, launcher=launcher, notes=tuple(parts.notes), port=spec.port)


def spec_from_config(catalog: Catalog, *, engine: str, model: str, quant: str, kv_quant: str, tp: int, pp: int,
                     ep: int, max_batch: int, max_model_len: int, offer: str, dp: int | None = None,
                     port: int = 8000) -> LaunchSpec:
    """A LaunchSpec from a plan's configuration fields; a missing `dp` is 1. The node size is the offer's
    GPUs per instance."""
    layout = Layout(tp=int(tp), dp=int(dp or 1), pp=int(pp), ep=int(ep))
    return LaunchSpec(engine=engine, model=model, quant=quant, kv_quant=kv_quant, layout=layout,
                      max_batch=int(max_batch), max_model_len=int(max_model_len),
                      gpus_per_node=catalog.lookup("offers", offer).gpus_per_instance, port=port)


def shell_join(argv: tuple[str, ...] | list[str]) -> str:
    """Quote for a POSIX shell; words holding a `$` (node rank, head address) are double-quoted so the shell
    expands them."""
    out = []
    for word in argv:
        if "$" in word:
            out.append('"' + word.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`") + '"')
        else:
            out.append(shlex.quote(word))
    return " ".join(out)
