"""What starts a disaggregated plan: each pool's server with the engine's disaggregation flags, and what routes
requests across the pools. Each pool's base command is `engine_args.render_launch` of its layout (the same
rendering as an aggregated replica); the disaggregation flags and files come from the engines' docs recorded in
catalogs/disaggregation.yaml:

- SGLang (https://docs.sglang.io/advanced_features/pd_disaggregation.html): `--disaggregation-mode
  prefill|decode --disaggregation-transfer-backend mooncake` on the servers, and `python -m
  sglang_router.launch_router --pd-disaggregation --prefill URL ... --decode URL ...` (one `--prefill` /
  `--decode` per worker) in front;
- vLLM (https://docs.vllm.ai/en/stable/features/nixl_connector_usage.html): `--kv-transfer-config
  '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'` on both servers; a proxy sends each request to a
  prefill server (one output token), then to a decode server. vLLM ships only example proxies, so no proxy
  command is rendered (the Dynamo description routes the pools instead);
- TensorRT-LLM (NVIDIA/TensorRT-LLM@c3c3d76e28c57ee23adc3458fc6aca87300c8c21 examples/disaggregated/README.md):
  context and generation `trtllm-serve` servers, each reading an extra-LLM-API YAML with
  `cache_transceiver_config` (`backend: UCX`, `max_tokens_in_buffer` ≥ the longest prompt; the context servers
  also `disable_overlap_scheduler: True`), and the front end `trtllm-serve disaggregated -c disagg_config.yaml`
  whose YAML lists every server's URL under `context_servers` and `generation_servers`.

Library code: returns data, raises DeployError, never prints.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import yaml

from solver.catalog.loader import Catalog
from solver.deploy.engine_args import EngineLaunch, SideFile, render_launch, shell_join, spec_from_config

PREFILL_PORT = 30000
DECODE_PORT = 30001
ROUTER_PORT = 8000
NIXL_CONFIG = json.dumps({"kv_connector": "NixlConnector", "kv_role": "kv_both"}, separators=(",", ":"))
"""vLLM's documented NIXL connector setting (both roles use kv_both)."""
SGLANG_TRANSFER_BACKEND = "mooncake"
"""SGLang's default KV transfer engine in its PD-disaggregation doc (Mooncake or NIXL)."""
TRTLLM_TRANSFER_BACKEND = "UCX"
"""The cache transceiver backend of TensorRT-LLM's disaggregated README example (`DEFAULT` is NIXL)."""
TRTLLM_FILES = {"prefill": "ctx_extra-llm-api-config.yaml", "decode": "gen_extra-llm-api-config.yaml"}
"""File names of the README's context and generation extra-LLM-API options."""
TRTLLM_PROXY_CONFIG = "disagg_config.yaml"
TRTLLM_ROLE = {"prefill": "context", "decode": "generation"}
ROLES = ("prefill", "decode")


@dataclass(frozen=True)
class PoolLaunch:
    """One pool's server (every worker of the pool runs the same command)."""

    role: str
    """prefill or decode."""
    workers: int
    gpus_per_worker: int
    port: int
    argv: tuple[str, ...]
    files: tuple[SideFile, ...] = ()
    """Files `argv` reads (TensorRT-LLM's extra-LLM-API options), by name relative to the config directory."""
    launch: EngineLaunch | None = None
    """The aggregated rendering the pool's command extends (checkpoint, nodes, notes)."""

    @property
    def nodes(self) -> int:
        return self.launch.nodes if self.launch else 1


@dataclass(frozen=True)
class DisaggLaunch:
    """Both pools of one disaggregated workload and the front end that routes between them."""

    engine: str
    checkpoint: str
    prefill: PoolLaunch
    decode: PoolLaunch
    router: tuple[str, ...] | None
    """argv of the engine's documented router/proxy (None when the engine documents none)."""
    router_port: int = ROUTER_PORT
    router_files: tuple[SideFile, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    """What a user must provide before the pools start (e.g. a checkpoint the catalog does not know)."""
    router_note: str = ""
    """How requests reach the pools when the engine documents no router."""

    def pool(self, role: str) -> PoolLaunch:
        return self.prefill if role == "prefill" else self.decode

    @property
    def files(self) -> tuple[SideFile, ...]:
        return self.prefill.files + self.decode.files + self.router_files


def _max_batch(catalog: Catalog, pool: dict) -> int:
    max_batch = pool.get("max_batch")
    if max_batch is None or (isinstance(max_batch, float) and math.isnan(max_batch)):
        # A prefill pool keeps the engine's default cap (it never holds a decoding batch).
        max_batch = catalog.lookup("engines", pool["engine"]).settings.max_batch_default
    return int(max_batch)


def pool_launch(catalog: Catalog, model: str, pool: dict, port: int, max_model_len: int,
                config_dir: str = "") -> EngineLaunch:
    """The aggregated rendering of one pool's layout (what its workers run before the disaggregation flags)."""
    spec = spec_from_config(catalog, engine=pool["engine"], model=model, quant=pool["quant"],
                            kv_quant=pool["kv_quant"], tp=pool["tp"], pp=pool["pp"], ep=pool["ep"],
                            dp=pool.get("dp"), max_batch=_max_batch(catalog, pool), max_model_len=max_model_len,
                            offer=pool["offer"], port=port)
    return render_launch(catalog, spec, config_dir=config_dir)


def trtllm_pool_options(base: EngineLaunch, role: str, max_model_len: int) -> dict:
    """A pool's extra-LLM-API options: the aggregated options (parallelism, KV dtype) plus the README's
    `cache_transceiver_config` (buffer ≥ the longest prompt: the context length bounds it) and, on context
    servers, `disable_overlap_scheduler: True`."""
    opts = yaml.safe_load(base.files[0].text) if base.files else {}
    if role == "prefill":
        opts["disable_overlap_scheduler"] = True
    opts["cache_transceiver_config"] = {"backend": TRTLLM_TRANSFER_BACKEND, "max_tokens_in_buffer": max_model_len}
    return opts


def _trtllm_argv(base: EngineLaunch, path: str) -> tuple[str, ...]:
    argv = list(base.leader)
    i = argv.index("--extra_llm_api_options")
    argv[i + 1] = path
    return tuple(argv)


def trtllm_proxy_config(prefill_urls: list[str], decode_urls: list[str], port: int = ROUTER_PORT) -> dict:
    """`disagg_config.yaml` of `trtllm-serve disaggregated`: every context and generation server's URL."""
    return {"hostname": "0.0.0.0", "port": port, "backend": "pytorch",
            "context_servers": {"num_instances": len(prefill_urls), "urls": list(prefill_urls)},
            "generation_servers": {"num_instances": len(decode_urls), "urls": list(decode_urls)}}


def _hosts(role: str, n: int) -> list[str]:
    return [f"${role.upper()}_HOST_{i + 1}" for i in range(n)]


def disagg_launch(catalog: Catalog, split: dict, model: str, max_model_len: int, *,
                  prefill_hosts: list[str] | None = None, decode_hosts: list[str] | None = None,
                  ports: tuple[int, int] = (PREFILL_PORT, DECODE_PORT), config_dir: str = "") -> DisaggLaunch:
    """The launch of one disaggregated workload (an `optimize.disagg` split). `prefill_hosts`/`decode_hosts` name
    each worker's address for the router (default: shell variables `$PREFILL_HOST_1`...); `ports` are the
    prefill and decode servers' ports; side files are referenced as `config_dir/name`."""
    engine = split["prefill"]["engine"]
    counts = {r: int(split[f"{r}_workers"]) for r in ROLES}
    hosts = {"prefill": prefill_hosts or _hosts("prefill", counts["prefill"]),
             "decode": decode_hosts or _hosts("decode", counts["decode"])}
    port_of = dict(zip(ROLES, ports, strict=True))
    pools: dict[str, PoolLaunch] = {}
    notes: list[str] = []
    for role in ROLES:
        pool = split[role]
        base = pool_launch(catalog, model, pool, port_of[role], max_model_len, config_dir)
        notes += base.notes
        files: tuple[SideFile, ...] = ()
        if engine == "sglang":
            argv = base.leader + ("--disaggregation-mode", role,
                                  "--disaggregation-transfer-backend", SGLANG_TRANSFER_BACKEND)
        elif engine == "vllm":
            argv = base.leader + ("--kv-transfer-config", NIXL_CONFIG)
        elif engine == "trtllm":
            name = TRTLLM_FILES[role]
            path = f"{config_dir.rstrip('/')}/{name}" if config_dir else name
            argv = _trtllm_argv(base, path)
            files = (SideFile(name, yaml.safe_dump(trtllm_pool_options(base, role, max_model_len),
                                                   sort_keys=False)),)
        else:
            argv = base.leader
        pools[role] = PoolLaunch(role=role, workers=counts[role], gpus_per_worker=int(pool["gpus_per_worker"]),
                                 port=port_of[role], argv=tuple(argv), files=files, launch=base)
    urls = {r: [f"{h}:{port_of[r]}" for h in hosts[r]] for r in ROLES}
    router: tuple[str, ...] | None = None
    router_files: tuple[SideFile, ...] = ()
    if engine == "sglang":
        router = ("python", "-m", "sglang_router.launch_router", "--pd-disaggregation",
                  *[a for u in urls["prefill"] for a in ("--prefill", f"http://{u}")],
                  *[a for u in urls["decode"] for a in ("--decode", f"http://{u}")],
                  "--host", "0.0.0.0", "--port", str(ROUTER_PORT))
    elif engine == "trtllm":
        path = f"{config_dir.rstrip('/')}/{TRTLLM_PROXY_CONFIG}" if config_dir else TRTLLM_PROXY_CONFIG
        router = ("trtllm-serve", "disaggregated", "-c", path)
        router_files = (SideFile(TRTLLM_PROXY_CONFIG, yaml.safe_dump(
            trtllm_proxy_config(urls["prefill"], urls["decode"]), sort_keys=False)),)
    router_note = ""
    if engine == "vllm":
        router_note = ("vLLM documents no production proxy for disaggregated serving: route each request to a "
                       "prefill server with max_tokens=1, then to a decode server "
                       "(https://docs.vllm.ai/en/stable/features/nixl_connector_usage.html), or deploy the "
                       "Dynamo description, whose Frontend does it")
    return DisaggLaunch(engine=engine, checkpoint=pools["prefill"].launch.checkpoint, prefill=pools["prefill"],
                        decode=pools["decode"], router=router, router_files=router_files,
                        notes=tuple(dict.fromkeys(notes)), router_note=router_note)


def launch_lines(dl: DisaggLaunch) -> list[str]:
    """Shell lines (and `#` notes) that start the workload: side files first (like the aggregated TensorRT-LLM
    launch, which writes its YAML beside the command), then each pool's command, then the router."""
    lines: list[str] = []
    for f in dl.files:
        if f.name == TRTLLM_PROXY_CONFIG:
            continue
        lines.append(f"# {f.name}:")
        lines.append(_write_file(f))
    for role in ROLES:
        p = dl.pool(role)
        what = f"{TRTLLM_ROLE[role]} server" if dl.engine == "trtllm" else "worker"
        lines.append(f"# {role}: {p.workers} {what}(s) of {p.gpus_per_worker} GPU(s), each "
                     f"(on ${role.upper()}_HOST_1..{p.workers}):")
        lines.append(shell_join(p.argv))
    if dl.engine == "sglang":
        lines.append("# router (one --prefill/--decode per worker):")
        lines.append(shell_join(dl.router))
    elif dl.engine == "trtllm":
        lines.append(f"# front end ({TRTLLM_PROXY_CONFIG} lists every context and generation server):")
        lines.append(_write_file(dl.router_files[0]))
        lines.append(shell_join(dl.router))
    lines += [f"# {n}" for n in (dl.router_note, *dl.notes) if n]
    return lines


def _write_file(f: SideFile) -> str:
    return f"printf '%s\\n' {shell_join(f.text.splitlines())} > {f.name}"


def launch_description(catalog: Catalog, split: dict, model: str, max_model_len: int) -> list[str]:
    """Shell lines (and `#` notes) that start one disaggregated workload of a plan (`optimize.disagg` split)."""
    return launch_lines(disagg_launch(catalog, split, model, max_model_len))
