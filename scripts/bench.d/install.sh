#!/usr/bin/env bash
# Bench: `helm plugin install <clone>` on the download path, as a user without Rust runs it:
# no cargo on PATH, the release archive of this build (scripts/release) served from a
# loopback HTTP server (python3 http.server) as HELM_MILVUS_UPGRADE_DOWNLOAD_URL; the hook
# downloads, checks the sha256 against checksums.txt, unpacks and runs --version.
# Median of several installs (uninstalled in between), Helm 3 and Helm 4. Target < 5 s.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../bench-lib.sh"
bench_home
RUNS=${BENCH_RUNS:-5}
work=$BENCH_WORK

"$ROOT/scripts/release" --binary "$PLUGIN" --out "$work/releases" >/dev/null
archive=$(cd "$work/releases" && ls helm-milvus-upgrade_*_linux_*.tar.gz)
size=$(stat -c %s "$work/releases/$archive")

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$work/releases" "$port" >/dev/null 2>&1 &
server=$!
# shellcheck disable=SC2317 # invoked by the EXIT trap
stop() { kill "$server" 2>/dev/null || true; bench_cleanup; }
trap stop EXIT
url=http://127.0.0.1:$port
for _ in $(seq 50); do curl -fsS -o /dev/null "$url/checksums.txt" 2>/dev/null && break; sleep 0.1; done

# The plugin as users get it: a clone (named like its origin), on a PATH without cargo.
clone="$work/src/$(basename "$ROOT")"
git clone -q "$ROOT" "$clone"
cp "$ROOT/scripts/install-binary.sh" "$clone/scripts/" # the working tree's hook
path=$(tr ':' '\n' <<<"$PATH" | while read -r d; do [ -x "$d/cargo" ] || printf '%s:' "$d"; done)
path=${path%:}
if PATH=$path command -v cargo >/dev/null; then echo "bench install: cargo still on PATH" >&2; exit 1; fi

# timed_median PREP CMD...: median wall time of CMD over RUNS runs, PREP (untimed) before
# each; every run must have installed a downloaded, verified binary.
timed_median() {
  local prep=$1 i t0 times=()
  shift
  for ((i = 0; i < RUNS; i++)); do
    $prep
    t0=$(now)
    "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; return 1; }
    times+=("$(calc "$(now) - $t0" 3)")
    grep -q 'sha256 verified' "$work/out" || { echo "bench install: no download:" >&2; cat "$work/out" >&2; return 1; }
  done
  printf '%s\n' "${times[@]}" | median
}
uninstall3() { "$HELM3" plugin uninstall milvus-upgrade >/dev/null 2>&1 || true; }
uninstall4() { "$HELM4" plugin uninstall milvus-upgrade >/dev/null 2>&1 || true; }
no_binary() { rm -rf "${clone:?}/bin"; }
offline=(env "PATH=$path" "HELM_MILVUS_UPGRADE_DOWNLOAD_URL=$url")

h3=$(timed_median uninstall3 "${offline[@]}" "$HELM3" plugin install "$clone")
uninstall3
h4=$(timed_median uninstall4 "${offline[@]}" "$HELM4" plugin install "$clone")
uninstall4
# The hook alone (download, verify, unpack, --version): what Helm adds is the rest.
hook=$(timed_median no_binary "${offline[@]}" bash "$clone/scripts/install-binary.sh")
verdict() { awk -v s="$1" 'BEGIN { print (s < 5) ? "met" : "MISSED" }'; }
mib=$(calc "$size / 1048576" 1)
echo "| install, download path, Helm 3 | $(calc "$h3" 2) s | median of $RUNS \`helm plugin install <clone>\`, no cargo on PATH; target < 5 s: $(verdict "$h3") |"
echo "| install, download path, Helm 4 | $(calc "$h4" 2) s | median of $RUNS; target < 5 s: $(verdict "$h4") |"
echo "| install hook alone | $(calc "$hook" 2) s | median of $RUNS: fetch archive + checksums.txt (curl), sha256, unpack, \`--version\` |"
echo "| release archive | $mib MiB | $archive ($(basename "$PLUGIN") $(stat -c %s "$PLUGIN" | awk '{ printf "%.1f MiB", $1 / 1048576 }') unpacked); served from loopback, so the network adds nothing here |"
