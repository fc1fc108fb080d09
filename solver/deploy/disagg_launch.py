"""What starts a disaggregated plan: each pool's server with the engine's disaggregation flags, and what routes
requests across the pools. Each pool's base command is `engine_args.render_launch` of its layout; the
disaggregation flags come from the engines' docs recorded in catalogs/disaggregation.yaml:

- SGLang: `--disaggregation-mode prefill|decode --disaggregation-transfer-backend mooncake` on the servers,
  and `python -m sglang_router.launch_router --pd-disaggregation --prefill URL --decode URL` in front;
- vLLM: `--kv-transfer-config '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'` on both servers; a proxy
  sends each request to a prefill server (one output token), then to a decode server (vLLM's disaggregated
  examples ship one); no proxy command is rendered;
- TensorRT-LLM: disaggregated serving with UCX KV transfer is documented through NVIDIA Dynamo; no command
  is rendered (the description says so).
"""

from __future__ import annotations

import json
import math

from solver.catalog.loader import Catalog
from solver.deploy.engine_args import render_launch, shell_join, spec_from_config

PREFILL_PORT = 30000
DECODE_PORT = 30001
ROUTER_PORT = 8000
NIXL_CONFIG = json.dumps({"kv_connector": "NixlConnector", "kv_role": "kv_both"}, separators=(",", ":"))


def _pool_command(catalog: Catalog, model: str, pool: dict, port: int, max_model_len: int) -> list[str]:
    max_batch = pool.get("max_batch")
    if max_batch is None or (isinstance(max_batch, float) and math.isnan(max_batch)):
        # A prefill pool keeps the engine's default cap (it never holds a decoding batch).
        max_batch = catalog.lookup("engines", pool["engine"]).settings.max_batch_default
    spec = spec_from_config(catalog, engine=pool["engine"], model=model, quant=pool["quant"],
                            kv_quant=pool["kv_quant"], tp=pool["tp"], pp=pool["pp"], ep=pool["ep"],
                            dp=pool.get("dp"), max_batch=max_batch, max_model_len=max_model_len,
                            offer=pool["offer"], port=port)
    return list(render_launch(catalog, spec).leader)


def launch_description(catalog: Catalog, split: dict, model: str, max_model_len: int) -> list[str]:
    """Shell lines (and `#` notes) that start one disaggregated workload of a plan (`optimize.disagg` split)."""
    engine = split["prefill"]["engine"]
    lines = []
    if engine == "trtllm":
        return ["# TensorRT-LLM disaggregated serving (UCX KV transfer) is launched through NVIDIA Dynamo: "
                "https://docs.nvidia.com/dynamo/latest/components/backends/trtllm/kv-cache-tranfer.html"]
    for role, port in (("prefill", PREFILL_PORT), ("decode", DECODE_PORT)):
        argv = _pool_command(catalog, model, split[role], port, max_model_len)
        if engine == "sglang":
            argv += ["--disaggregation-mode", role, "--disaggregation-transfer-backend", "mooncake"]
        elif engine == "vllm":
            argv += ["--kv-transfer-config", NIXL_CONFIG]
        lines.append(f"# {role}: {split[f'{role}_workers']} worker(s), each:")
        lines.append(shell_join(argv))
    if engine == "sglang":
        lines.append("# router (one --prefill/--decode per worker):")
        lines.append(shell_join(["python", "-m", "sglang_router.launch_router", "--pd-disaggregation",
                                 "--prefill", f"http://$PREFILL_HOST:{PREFILL_PORT}",
                                 "--decode", f"http://$DECODE_HOST:{DECODE_PORT}",
                                 "--host", "0.0.0.0", "--port", str(ROUTER_PORT)]))
    elif engine == "vllm":
        lines.append("# a proxy sends each request to a prefill server with max_tokens=1, then to a decode server "
                     "(https://docs.vllm.ai/en/stable/features/nixl_connector_usage.html)")
    return lines
