#!/usr/bin/env bash
# Bench: dry-run and status latency (median of several runs) and their API requests, then how
# both grow with querynode replicas (1 → 100) and with releases in the namespace (1 → 50).
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../bench-lib.sh"
bench_home
RUNS=${BENCH_RUNS:-7}
ns=bench-read-$$
many=bench-many-$$
bench_ns "$ns"
bench_ns "$many"

available() { kubectl -n "$1" wait --for=condition=available deployment --all --timeout=300s >/dev/null; }

# measure NS RELEASE: sets DRY, STATUS (median seconds), DRY_REQ, STATUS_REQ, DRY_HELM
measure() {
  export HELM_NAMESPACE=$1
  DRY=$(median_seconds "$RUNS" "$PLUGIN" "$2" --to 2.4.9 --dry-run)
  STATUS=$(median_seconds "$RUNS" "$PLUGIN" status "$2")
  local mark
  mark=$(audit_mark)
  "$PLUGIN" "$2" --to 2.4.9 --dry-run >/dev/null 2>&1 || true
  DRY_REQ=$(audit_count "$mark" "$PLUGIN_UA")
  DRY_HELM=$(audit_count "$mark" "Helm/" ".objectRef.namespace == \"$1\" or .objectRef.namespace == null")
  mark=$(audit_mark)
  "$PLUGIN" status "$2" >/dev/null 2>&1 || true
  STATUS_REQ=$(audit_count "$mark" "$PLUGIN_UA")
  DRY=$(calc "$DRY * 1000" 0) STATUS=$(calc "$STATUS * 1000" 0)
}

"$HELM3" install q zilliztech/milvus --version 4.0.13 -n "$ns" >/dev/null
available "$ns"
measure "$ns" q
echo "| dry run latency (8 Deployments) | ${DRY} ms | median of $RUNS ($(timer_name)); helm list + get values ×2 + search repo, cluster reads, access reviews |"
echo "| dry run API requests | ${DRY_REQ} | by the plugin; + ${DRY_HELM} by the helm it runs; 0 writes (e2e_plan checks) |"
echo "| status latency | ${STATUS} ms | median of $RUNS, ${STATUS_REQ} requests |"
echo "| querynode replicas 1: dry run / status | ${DRY} / ${STATUS} ms | ${DRY_REQ} / ${STATUS_REQ} requests |"

for n in 10 100; do
  "$HELM3" upgrade q zilliztech/milvus --version 4.0.13 -n "$ns" --reuse-values --set queryNode.replicas=$n >/dev/null
  available "$ns"
  measure "$ns" q
  echo "| querynode replicas $n: dry run / status | ${DRY} / ${STATUS} ms | ${DRY_REQ} / ${STATUS_REQ} requests |"
done

# Releases in one namespace: the measured one (8 Deployments) plus standalone fillers.
"$HELM3" install r0 zilliztech/milvus --version 4.0.13 -n "$many" >/dev/null
available "$many"
total=1
for target in 1 10 50; do
  while [ "$total" -lt "$target" ]; do
    "$HELM3" install "f$total" zilliztech/milvus --version 4.0.13 -n "$many" \
      --set cluster.enabled=false >/dev/null
    total=$((total + 1))
  done
  available "$many"
  measure "$many" r0
  echo "| $target release(s) in the namespace: dry run / status | ${DRY} / ${STATUS} ms | ${DRY_REQ} / ${STATUS_REQ} requests; + ${DRY_HELM} by helm (its \`helm list\` is one Secret list that grows with the releases) |"
done
