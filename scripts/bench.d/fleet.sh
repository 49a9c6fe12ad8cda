#!/usr/bin/env bash
# Bench: the fleet view (`status -A`, `status -A --to 2.4.9`) over 1, 10 and 50 releases
# spread over 5 namespaces: median wall time and API requests (audit log), by the plugin
# and by the helm it runs. One list per resource kind for the whole cluster, so the
# requests stay the same as releases are added; `status RELEASE` per release is the
# comparison (what a script looping over releases would pay). The test environment should
# hold no other releases (the fleet view lists every release in the cluster).
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../bench-lib.sh"
bench_home
RUNS=${BENCH_RUNS:-5}
nses=()
for i in 0 1 2 3 4; do
  nses+=("bench-fleet-$i-$$")
  bench_ns "${nses[$i]}"
done

available() {
  local n
  for n in "${nses[@]}"; do
    kubectl -n "$n" wait --for=condition=available deployment --all --timeout=300s >/dev/null 2>&1 || true
  done
}

# measure ARGS...: sets MS (median), REQ (plugin requests), HELM_REQ (helm's).
measure() {
  MS=$(calc "$(median_seconds "$RUNS" "$PLUGIN" "$@") * 1000" 0)
  local mark
  mark=$(audit_mark)
  "$PLUGIN" "$@" >/dev/null 2>&1 || true
  REQ=$(audit_count "$mark" "$PLUGIN_UA")
  HELM_REQ=$(audit_count "$mark" "Helm/")
}

install() { # install NAME NS [--set ...]
  local name=$1 ns=$2
  shift 2
  "$HELM3" install "$name" zilliztech/milvus --version 4.0.13 -n "$ns" "$@" >/dev/null
}

install r0 "${nses[0]}"
total=1
for target in 1 10 50; do
  while [ "$total" -lt "$target" ]; do
    install "f$total" "${nses[$((total % 5))]}" --set cluster.enabled=false
    total=$((total + 1))
  done
  available
  measure status -A
  echo "| status -A, $target release(s) | ${MS} ms | median of $RUNS ($(timer_name)); ${REQ} requests by the plugin, ${HELM_REQ} by helm (\`helm list -A\`) |"
  measure status -A --to 2.4.9
  echo "| status -A --to 2.4.9, $target release(s) | ${MS} ms | ${REQ} + ${HELM_REQ} requests; + helm repo list/search (local), one plan per release |"
done
export HELM_NAMESPACE=${nses[0]}
measure status r0
echo "| status RELEASE (one release, for comparison) | ${MS} ms | ${REQ} requests by the plugin, ${HELM_REQ} by helm; × releases when looped over |"
