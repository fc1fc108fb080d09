#!/usr/bin/env bash
# Check a deployed workload against the plan's SLOs with vLLM's serving benchmark (pip install vllm).
# Usage: ./verify.sh WORKLOAD [BASE_URL]     workloads: reasoning
# Sends the plan's peak request rate (RATE=... overrides) with the plan's mean input/output lengths to
# BASE_URL (default: the workload's Kubernetes Service, reachable inside the cluster; from outside run
# `kubectl port-forward svc/<workload> 8000:8000` and pass http://localhost:8000). The deployment must
# run the plan's peak replicas (PLAN_REPLICAS) while it is measured. Exits 1 when a percentile misses its SLO.
set -euo pipefail

WORKLOAD=${1:?usage: ./verify.sh WORKLOAD [BASE_URL]}
case "$WORKLOAD" in
  reasoning)
    MODEL=Qwen/Qwen3-235B-A22B; ISL=1500; OSL=3000
    PLAN_RATE=4; PLAN_REPLICAS=1; PERCENTILE=90
    SLO_TTFT=3000; SLO_TPOT=40; SLO_E2EL=
    DEFAULT_URL=http://reasoning:8000 ;;
  *) echo "unknown workload $WORKLOAD; known: reasoning" >&2; exit 2 ;;
esac
URL=${2:-$DEFAULT_URL}
RATE=${RATE:-$PLAN_RATE}
NUM_PROMPTS=${NUM_PROMPTS:-$(python3 -c "import math; print(max(200, math.ceil($RATE * 120)))")}
OUT=${OUT:-verify-$WORKLOAD.json}

echo "verify $WORKLOAD: $RATE req/s (plan: $PLAN_RATE on $PLAN_REPLICAS replicas), ISL $ISL, OSL $OSL, p$PERCENTILE"
vllm bench serve --backend vllm --base-url "$URL" --endpoint /v1/completions --model "$MODEL" \
  --dataset-name random --random-input-len "$ISL" --random-output-len "$OSL" --ignore-eos \
  --request-rate "$RATE" --num-prompts "$NUM_PROMPTS" \
  --percentile-metrics ttft,tpot,e2el --metric-percentiles "$PERCENTILE" \
  --save-result --result-filename "$OUT"

python3 - "$OUT" "$PERCENTILE" "$SLO_TTFT" "$SLO_TPOT" "$SLO_E2EL" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
p = sys.argv[2]
missed = 0
for metric, slo in (("ttft", sys.argv[3]), ("tpot", sys.argv[4]), ("e2el", sys.argv[5])):
    if not slo:
        continue
    measured = result[f"p{p}_{metric}_ms"]
    ok = measured <= float(slo)
    missed += not ok
    print(f"p{p} {metric.upper():5} {measured:10.1f} ms  SLO {float(slo):10.1f} ms  {'ok' if ok else 'MISS'}")
sys.exit(1 if missed else 0)
EOF
