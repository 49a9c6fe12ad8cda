#!/usr/bin/env bash
# Bench: a rolling upgrade of an 8-Deployment separate-coordinator release, 2.2.5 → 2.4.9,
# --min-ready-seconds 0: wall time minus the waits the cluster imposes (the node stand-in's
# ready delay, once per rollout), requests per run and per Deployment (audit log), and the
# same upgrade with longer waits (--min-ready-seconds 3) to show requests don't grow with
# waiting (the plugin watches, it does not poll).
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../bench-lib.sh"
bench_home
ns=bench-roll-$$
bench_ns "$ns"
export HELM_NAMESPACE=$ns
for r in roll wait; do
  "$HELM3" install "$r" zilliztech/milvus --version 4.0.13 -n "$ns" >/dev/null
done
kubectl -n "$ns" wait --for=condition=available deployment --all --timeout=180s >/dev/null

# split MARK RELEASE: from the audit log, per rollout: the cluster's time (plugin patch →
# the controller's last Deployment status update, minus the ready delay) and the plugin's
# reaction (that status update → the plugin's next patch). Prints "cluster_ms plugin_ms".
split() {
  audit_events "$1" "" ".objectRef.namespace == \"$ns\" and .objectRef.resource == \"deployments\" and ((.objectRef.name // \"\") | startswith(\"$2-\"))" |
    python3 -c '
import json, sys
from datetime import datetime
ready = int(sys.argv[1]) / 1000
def t(e): return datetime.fromisoformat(e["stageTimestamp"].replace("Z", "+00:00")).timestamp()
patches, status = [], {}
for line in sys.stdin:
    e = json.loads(line)
    ref = e["objectRef"]
    if e["userAgent"].startswith("helm-milvus-upgrade/") and e["verb"] == "patch" and not ref.get("subresource"):
        if not patches or patches[-1][1] != ref["name"]:
            patches.append((t(e), ref["name"]))
    elif e["user"]["username"] == "kube-controller-manager" and ref.get("subresource") == "status":
        status.setdefault(ref["name"], []).append(t(e))
cluster, plugin = [], []
for i, (at, name) in enumerate(patches):
    nxt = patches[i + 1][0] if i + 1 < len(patches) else float("inf")
    done = max([s for s in status.get(name, []) if at < s < nxt], default=None)
    if done is None: continue
    cluster.append(done - at - ready)
    if i + 1 < len(patches): plugin.append(nxt - done)
avg = lambda xs: 1000 * sum(xs) / max(len(xs), 1)
print("%.0f %.0f %.0f" % (avg(cluster), avg(plugin), 1000 * sum(plugin)))
' "$READY_MS"
}

# upgrade RELEASE MIN_READY: sets WALL, ROLLED (seconds into the run when the last
# Deployment rolled out), DONE (the run's own total), REQ, RENEWALS, HELM_REQ
upgrade() {
  local mark t0 err=$BENCH_WORK/$1.err
  mark=$(audit_mark)
  t0=$(now)
  "$PLUGIN" "$1" --to 2.4.9 --yes --min-ready-seconds "$2" --timeout 300s >"$BENCH_WORK/$1.out" 2>"$err" || {
    echo "| rolling upgrade ($1) | failed | $(tail -1 "$err" | tr '|' '/') |"
    exit 1
  }
  WALL=$(calc "$(now) - $t0")
  ROLLED=$(grep 'rolled out' "$err" | tail -1 | sed 's/^\[ *\([0-9.]*\)s\].*/\1/')
  DONE=$(sed -n 's/.* in \([0-9.]*\)s\.$/\1/p' "$BENCH_WORK/$1.out")
  REQ=$(audit_count "$mark" "$PLUGIN_UA")
  RENEWALS=$(audit_count "$mark" "$PLUGIN_UA" '.verb == "patch" and .objectRef.resource == "leases"')
  HELM_REQ=$(audit_count "$mark" "Helm/" ".objectRef.namespace == \"$ns\"")
  read -r CLUSTER_MS REACT_MS REACT_SUM_MS <<<"$(split "$mark" "$1")"
}

upgrade roll 0
waits=$(calc "8 * $READY_MS / 1000" 1)
before=$(calc "$WALL - $DONE")           # start, helm and cluster reads, plan, checks
rolling=$(calc "$ROLLED - 8 * $READY_MS / 1000") # executor time beyond the ready delays
sync=$(calc "$DONE - $ROLLED")            # helm upgrade recording the new tag
overhead=$(calc "$WALL - 8 * $READY_MS / 1000")
core=$(calc "$before + $rolling")
met=$(awk -v o="$core" 'BEGIN { print (o < 1.5) ? "met" : "MISSED" }')
met_total=$(awk -v o="$overhead" 'BEGIN { print (o < 1.5) ? "met" : "MISSED" }')
echo "| rolling 2.2.5 → 2.4.9, 8 Deployments: wall time | ${WALL} s | --min-ready-seconds 0; of it ${waits} s mandated: 8 rollouts × ${READY_MS} ms stand-in ready delay |"
echo "| rolling: overhead beyond the mandated waits | ${overhead} s | target < 1.5 s: ${met_total}; everything the plugin and the helm it runs add (the final helm sync below included) |"
echo "| rolling: plugin overhead without the final helm sync | ${core} s | < 1.5 s: ${met}; = ${before} s before the first patch (helm list/get values/search, reads, access review) + ${rolling} s while rolling (patches, watch latency, controller + pod creation) |"
echo "| rolling: the cluster's part, per rollout | ${CLUSTER_MS} ms | plugin's patch → the controller's last status update, minus the ready delay: ReplicaSet, pod, stand-in, status (audit log) |"
echo "| rolling: the plugin's reaction, per rollout | ${REACT_MS} ms | Deployment rolled out (controller's status update) → the plugin's next patch: watch event, progress saved; ${REACT_SUM_MS} ms over 7 hand-overs |"
echo "| rolling: final helm sync | ${sync} s | after the last rollout: \`helm upgrade --reuse-values --set image.all.tag=…\` so Helm names what runs (helm's own time; its \`--dry-run\` render check runs during the last rollout) |"
echo "| rolling: API requests by the plugin | ${REQ} | $(calc "$REQ / 8" 1) per Deployment; + ${HELM_REQ} by the helm it runs |"
first_req=$REQ first_wall=$WALL first_renew=$RENEWALS

upgrade wait 3
echo "| no polling: same upgrade, 5 coordinators × 3 s longer waits | ${REQ} requests in ${WALL} s | vs ${first_req} in ${first_wall} s; lease renewals (one per 10 s) ${RENEWALS} vs ${first_renew}: the only requests that follow the clock |"
