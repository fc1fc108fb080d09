#!/usr/bin/env bash
# Regenerate the saved `solve --json` result of every example problem that the emit golden tests read,
# then the golden folders (review the diff before committing).
set -euo pipefail
cd "$(dirname "$0")/.."
for f in problems/*.yaml; do
  n=$(basename "$f" .yaml)
  mkdir -p "tests/golden/emit/$n"
  trilemma solve "$f" --json > "tests/golden/emit/$n/result.json"
done
UPDATE_GOLDEN=1 python -m pytest -q tests/test_deploy_emit.py -p no:cacheprovider || true
