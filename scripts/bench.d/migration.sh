#!/usr/bin/env bash
# Bench: wall time of a 2.1.4 -> 2.2.0 meta migration (chart 3.2.18 -> 3.3.6) against the
# test environment, side by side with what it has to wait for: the etcd session wait
# and pod readiness (the node stand-in's ready delay, paid by the backup pod, the
# migration pod and the new version's pods, one after the other).
# Needs the test env exported (eval "$(scripts/testenv env)"); prints markdown table
# rows `| metric | value | note |`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${KUBECONFIG:?export the test env first: eval \"\$(scripts/testenv env)\"}"
: "${HELM3:?export the test env first}"
: "${HELM3_HOME:?export the test env first}"
PLUGIN="${PLUGIN_BIN:-$ROOT/target/debug/helm-milvus-upgrade}"
[ -x "$PLUGIN" ] || (cd "$ROOT" && cargo build --quiet --bin helm-milvus-upgrade)
SESSION_WAIT=${BENCH_SESSION_WAIT:-5}
READY_MS=${NODE_STANDIN_READY_DELAY_MS:-1000}

work=$(mktemp -d)
ns="bench-migrate-$$"
cleanup() {
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cp -r "$HELM3_HOME" "$work/home"
export HELM_CONFIG_HOME="$work/home/config" HELM_CACHE_HOME="$work/home/cache" \
  HELM_DATA_HOME="$work/home/data" HELM_REPOSITORY_CONFIG="$work/home/config/repositories.yaml" \
  HELM_REPOSITORY_CACHE="$work/home/cache/repository" HELM_PLUGINS="$work/home/data/plugins"
kubectl create namespace "$ns" >/dev/null

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

"$HELM3" install mig zilliztech/milvus --version 3.2.18 -n "$ns" \
  --set proxy.replicas=2 --set queryNode.replicas=3 --wait --timeout 180s >/dev/null

t0=$(now)
HELM_BIN="$HELM3" HELM_NAMESPACE="$ns" NO_COLOR=1 "$PLUGIN" mig --to 2.2.0 --yes \
  --session-wait "${SESSION_WAIT}s" --timeout 300s >"$work/out" 2>"$work/err" || {
  echo "| migration 2.1.4 → 2.2.0 | failed | $(tail -1 "$work/err" | tr '|' '/') |"
  exit 1
}
t1=$(now)

wall=$(secs "$t0" "$t1")
ready=$(awk -v ms="$READY_MS" 'BEGIN { printf "%.1f", 3 * ms / 1000 }')
overhead=$(awk -v w="$wall" -v s="$SESSION_WAIT" -v r="$ready" 'BEGIN { printf "%.1f", w - s - r }')
ok=$(awk -v o="$overhead" 'BEGIN { print (o < 3.0) ? "met" : "MISSED" }')

echo "| migration 2.1.4 → 2.2.0 wall time | ${wall} s | 8 Deployments (proxy 2, querynode 3 replicas), chart 3.2.18 → 3.3.6, helm 3 |"
echo "| migration: session wait | ${SESSION_WAIT}.0 s | --session-wait ${SESSION_WAIT}s (default: the release's common.session.ttl, else 30 s) |"
echo "| migration: pod readiness | ${ready} s | 3 sequential pod phases (backup pod, migration pod, new version) × ${READY_MS} ms stand-in delay |"
echo "| migration: overhead beyond those | ${overhead} s | target < 3 s: ${ok} |"
echo "| migration: machine load during the run | $(cut -d' ' -f1 /proc/loadavg) | 1-min load average on $(nproc) cores: helm and the API server share them |"
echo "| migrate.sh, same hop (reference) | 104 s | 75 s of it a fixed sleep (shared/milvus-facts.md) |"
