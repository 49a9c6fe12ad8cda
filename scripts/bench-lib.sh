# Helpers for scripts/bench.d/*.sh (sourced). Needs the test env exported
# (eval "$(scripts/testenv env)"). Each bench script prints markdown rows `| metric | value | note |`.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${KUBECONFIG:?export the test env first: eval \"\$(scripts/testenv env)\"}"
: "${AUDIT_LOG:?export the test env first}"
PLUGIN="${PLUGIN_BIN:-$ROOT/target/debug/helm-milvus-upgrade}"
[ -x "$PLUGIN" ] || (cd "$ROOT" && cargo build --quiet --bin helm-milvus-upgrade)
# shellcheck disable=SC2034 # used by the scripts that source this
READY_MS=${NODE_STANDIN_READY_DELAY_MS:-1000}
# shellcheck disable=SC2034
PLUGIN_UA=helm-milvus-upgrade/

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

# bench_home: a private copy of the prepared Helm 3 home, exported for helm and the plugin.
bench_home() {
  BENCH_WORK=$(mktemp -d)
  cp -a "$HELM3_HOME" "$BENCH_WORK/home"
  export HELM_CONFIG_HOME="$BENCH_WORK/home/config" HELM_CACHE_HOME="$BENCH_WORK/home/cache" \
    HELM_DATA_HOME="$BENCH_WORK/home/data" HELM_REPOSITORY_CONFIG="$BENCH_WORK/home/config/repositories.yaml" \
    HELM_REPOSITORY_CACHE="$BENCH_WORK/home/cache/repository" HELM_PLUGINS="$BENCH_WORK/home/data/plugins"
  export HELM_BIN="$HELM3" NO_COLOR=1
}

# bench_ns NAME: creates the namespace and deletes it (and the work dir) on exit.
bench_ns() {
  BENCH_NSES+=("$1")
  kubectl create namespace "$1" >/dev/null
  trap bench_cleanup EXIT
}
BENCH_NSES=()
bench_cleanup() {
  local n
  for n in "${BENCH_NSES[@]}"; do kubectl delete namespace "$n" --wait=false >/dev/null 2>&1 || true; done
  rm -rf "${BENCH_WORK:-/nonexistent}"
}

# Audit log: requests completed after a mark (byte offset), by user agent prefix.
audit_mark() { stat -c %s "$AUDIT_LOG"; }
audit_events() { # audit_events MARK UA_PREFIX [jq filter]
  sleep 0.5 # the apiserver logs a request just after answering it
  tail -c +$(($1 + 1)) "$AUDIT_LOG" |
    jq -c --arg p "$2" "select(.stage == \"ResponseComplete\" and ((.userAgent // \"\") | startswith(\$p)))${3:+ | select($3)}"
}
audit_count() { audit_events "$@" | wc -l | tr -d ' '; }

# median_seconds RUNS CMD...: median wall time of CMD (hyperfine when installed).
median_seconds() {
  local runs=$1
  shift
  if command -v hyperfine >/dev/null; then
    local json
    json=$(mktemp)
    hyperfine --style none --runs "$runs" --warmup 1 -i -N --export-json "$json" -- "$*" >/dev/null 2>&1
    jq -r '.results[0].median' "$json"
    rm -f "$json"
  else
    local i t0 times=()
    "$@" >/dev/null 2>&1 || true
    for ((i = 0; i < runs; i++)); do
      t0=$(now)
      "$@" >/dev/null 2>&1 || true
      times+=("$(calc "$(now) - $t0" 4)")
    done
    printf '%s\n' "${times[@]}" | median
  fi
}
# median: the median of the numbers on stdin, one a line.
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
timer_name() { command -v hyperfine >/dev/null && echo "hyperfine" || echo "date +%s.%N"; }
