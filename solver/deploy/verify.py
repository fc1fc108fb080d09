"""verify.sh: measure a deployed workload with vLLM's serving benchmark (`vllm bench serve`, an OpenAI
client that works against vLLM, SGLang and trtllm-serve) at the plan's peak request rate and mean
request lengths, then compare the SLO percentile of TTFT, TPOT and end-to-end latency with the SLOs;
exit 1 on a miss.

The benchmark's result JSON names percentiles `p{P}_{metric}_ms` (P printed without `.0`: p95_ttft_ms,
p99.9_tpot_ms; vllm-project/vllm benchmarks/serve.py `process_one_metric`).
"""

from __future__ import annotations

import math
import shlex

from solver.deploy.kubernetes import PORT, dns_name
from solver.deploy.plan_io import DeployPlan, DeployWorkload

BENCH_SECONDS = 120
"""Requests are sent for about this long at the planned rate (at least MIN_PROMPTS of them)."""
MIN_PROMPTS = 200


def percentile_word(p: float) -> str:
    return str(int(p)) if int(p) == p else str(p)


def _peak(wl: DeployWorkload) -> tuple[int, float]:
    """Slot of the highest served rate, and that rate."""
    t = max(range(len(wl.served_rps_by_slot)), key=lambda i: wl.served_rps_by_slot[i])
    return t, wl.served_rps_by_slot[t]


def _case(wl: DeployWorkload, model: str) -> str:
    slot, rate = _peak(wl)
    replicas = sum(c.replicas_by_slot[slot] for c in wl.configs)
    slo = {"TTFT": wl.slo_ttft_ms, "TPOT": wl.slo_tpot_ms, "E2EL": wl.slo_e2e_ms}
    lines = [
        f"  {shlex.quote(wl.name)})",
        f"    MODEL={shlex.quote(model)}; ISL={round(wl.input_tokens)}; OSL={round(wl.output_tokens)}",
        f"    PLAN_RATE={rate:g}; PLAN_REPLICAS={replicas}; PERCENTILE={percentile_word(wl.percentile)}",
        "    " + "; ".join(f"SLO_{k}={'' if v is None else f'{v:g}'}" for k, v in slo.items()),
        f"    DEFAULT_URL=http://{dns_name(wl.name)}:{PORT} ;;",
    ]
    return "\n".join(lines)


def verify_script(plan: DeployPlan, checkpoints: dict[str, str]) -> str:
    """`checkpoints`: workload -> the model id its servers load (the benchmark's --model)."""
    cases = "\n".join(_case(w, checkpoints[w.name]) for w in plan.workloads)
    names = " ".join(shlex.quote(w.name) for w in plan.workloads)
    return f"""#!/usr/bin/env bash
# Check a deployed workload against the plan's SLOs with vLLM's serving benchmark (pip install vllm).
# Usage: ./verify.sh WORKLOAD [BASE_URL]     workloads: {names}
# Sends the plan's peak request rate (RATE=... overrides) with the plan's mean input/output lengths to
# BASE_URL (default: the workload's Kubernetes Service, reachable inside the cluster; from outside run
# `kubectl port-forward svc/<workload> 8000:8000` and pass http://localhost:8000). The deployment must
# run the plan's peak replicas (PLAN_REPLICAS) while it is measured. Exits 1 when a percentile misses its SLO.
set -euo pipefail

WORKLOAD=${{1:?usage: ./verify.sh WORKLOAD [BASE_URL]}}
case "$WORKLOAD" in
{cases}
  *) echo "unknown workload $WORKLOAD; known: {names}" >&2; exit 2 ;;
esac
URL=${{2:-$DEFAULT_URL}}
RATE=${{RATE:-$PLAN_RATE}}
NUM_PROMPTS=${{NUM_PROMPTS:-$(python3 -c "import math; print(max({MIN_PROMPTS}, math.ceil($RATE * {BENCH_SECONDS})))")}}
OUT=${{OUT:-verify-$WORKLOAD.json}}

echo "verify $WORKLOAD: $RATE req/s (plan: $PLAN_RATE on $PLAN_REPLICAS replicas), ISL $ISL, OSL $OSL, p$PERCENTILE"
vllm bench serve --backend vllm --base-url "$URL" --endpoint /v1/completions --model "$MODEL" \\
  --dataset-name random --random-input-len "$ISL" --random-output-len "$OSL" --ignore-eos \\
  --request-rate "$RATE" --num-prompts "$NUM_PROMPTS" \\
  --percentile-metrics ttft,tpot,e2el --metric-percentiles "$PERCENTILE" \\
  --save-result --result-filename "$OUT"

python3 - "$OUT" "$PERCENTILE" "$SLO_TTFT" "$SLO_TPOT" "$SLO_E2EL" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
p = sys.argv[2]
missed = 0
for metric, slo in (("ttft", sys.argv[3]), ("tpot", sys.argv[4]), ("e2el", sys.argv[5])):
    if not slo:
        continue
    measured = result[f"p{{p}}_{{metric}}_ms"]
    ok = measured <= float(slo)
    missed += not ok
    print(f"p{{p}} {{metric.upper():5}} {{measured:10.1f}} ms  SLO {{float(slo):10.1f}} ms  {{'ok' if ok else 'MISS'}}")
sys.exit(1 if missed else 0)
EOF
"""


def prompts_for(rate: float) -> int:
    """The default request count of verify.sh at `rate` (same rule as the script)."""
    return max(MIN_PROMPTS, math.ceil(rate * BENCH_SECONDS))
