#!/usr/bin/env bash
# Helm install/update hook: put the plugin binary at $HELM_PLUGIN_DIR/bin.
# 0. HELM_MILVUS_UPGRADE_BINARY=<path>: that binary (e.g. one cargo already built), else
# 1. a prebuilt binary for this platform shipped in dist/<os>-<arch>/, else
# 2. `cargo build --release` from the plugin's source, else
# 3. fail loudly, saying what to install.
# HELM_MILVUS_UPGRADE_SKIP_BUILD=1 skips all of it (the binary is put there by hand).
set -euo pipefail
dir="${HELM_PLUGIN_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
bin="$dir/bin/helm-milvus-upgrade"
mkdir -p "$dir/bin"
# Each copy goes to a temporary name and is renamed into place: a running binary is never
# overwritten (ETXTBSY) and a half-written one is never seen.
if [ "${HELM_MILVUS_UPGRADE_SKIP_BUILD:-}" = "1" ]; then
  echo "helm-milvus-upgrade: HELM_MILVUS_UPGRADE_SKIP_BUILD=1, not installing a binary" >&2
  exit 0
fi
os=$(uname -s | tr '[:upper:]' '[:lower:]')
arch=$(uname -m)
case "$arch" in x86_64|amd64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; esac
prebuilt="$dir/dist/$os-$arch/helm-milvus-upgrade"
given="${HELM_MILVUS_UPGRADE_BINARY:-}"
if [ -n "$given" ]; then
  [ -x "$given" ] || { echo "helm-milvus-upgrade: ERROR: HELM_MILVUS_UPGRADE_BINARY=$given is not an executable file" >&2; exit 1; }
  install -m 0755 "$given" "$bin.tmp.$$" && mv -f "$bin.tmp.$$" "$bin"
  echo "helm-milvus-upgrade: installed $given (HELM_MILVUS_UPGRADE_BINARY)"
elif [ -x "$prebuilt" ]; then
  install -m 0755 "$prebuilt" "$bin.tmp.$$" && mv -f "$bin.tmp.$$" "$bin"
  echo "helm-milvus-upgrade: installed prebuilt binary for $os-$arch"
elif command -v cargo >/dev/null 2>&1; then
  echo "helm-milvus-upgrade: no prebuilt binary for $os-$arch, building with cargo (a few minutes)..."
  target="${CARGO_TARGET_DIR:-$dir/target}"
  (cd "$dir" && cargo build --release --locked --bin helm-milvus-upgrade)
  install -m 0755 "$target/release/helm-milvus-upgrade" "$bin.tmp.$$" && mv -f "$bin.tmp.$$" "$bin"
else
  echo "helm-milvus-upgrade: ERROR: no prebuilt binary for $os-$arch in $dir/dist and no cargo to build one." >&2
  echo "  Install Rust (https://rustup.rs, then re-run 'helm plugin update milvus-upgrade')," >&2
  echo "  or copy a helm-milvus-upgrade binary to $bin." >&2
  exit 1
fi
"$bin" --version >/dev/null || { echo "helm-milvus-upgrade: ERROR: $bin does not run" >&2; exit 1; }
echo "helm-milvus-upgrade: ready: helm milvus-upgrade --help"
