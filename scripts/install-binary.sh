#!/usr/bin/env bash
# Helm install/update hook: put the plugin binary at $HELM_PLUGIN_DIR/bin/helm-milvus-upgrade
# (.exe on Windows). The first source that works:
# 1. HELM_MILVUS_UPGRADE_BINARY=<path>: that binary (e.g. one cargo already built);
# 2. a prebuilt binary for this platform shipped in dist/<os>-<arch>/;
# 3. the release archive of plugin.yaml's version for this platform,
#    helm-milvus-upgrade_<version>_<os>_<arch>.tar.gz (.zip on Windows), fetched with curl or
#    wget (http_proxy/https_proxy/no_proxy honoured) from HELM_MILVUS_UPGRADE_DOWNLOAD_URL
#    (a mirror: the URL under which the archive and checksums.txt live, `{version}` replaced;
#    file:///dir for a local copy; `none` skips this), else from the project's GitHub release
#    v<version>. Its sha256 must be the one in checksums.txt: a mismatch or no checksums.txt
#    refuses it;
# 4. `cargo build --release --locked` from the plugin's source;
# else it fails, saying why each source did not work and what to do.
# HELM_MILVUS_UPGRADE_SKIP_BUILD=1 skips all of it (the binary is put there by hand).
# Runs with bash 3.2 (macOS) and Git Bash (Windows, where Helm runs hooks with `sh -c`).
set -euo pipefail
# The project; a clone of a GitHub repository downloads from its own origin's releases.
PROJECT_URL=https://github.com/helm-milvus-upgrade/helm-milvus-upgrade

say() { echo "helm-milvus-upgrade: $*"; }
dir="${HELM_PLUGIN_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
# Git Bash: Helm passes a Windows path (C:\...).
if command -v cygpath >/dev/null 2>&1; then dir=$(cygpath -u "$dir"); fi
if [ "${HELM_MILVUS_UPGRADE_SKIP_BUILD:-}" = "1" ]; then
  say "HELM_MILVUS_UPGRADE_SKIP_BUILD=1, not installing a binary" >&2
  exit 0
fi
os=$(uname -s | tr '[:upper:]' '[:lower:]')
case "$os" in mingw* | msys* | cygwin* | windows*) os=windows ;; esac
arch=$(uname -m)
case "$arch" in x86_64 | amd64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; esac
exe='' ext=tar.gz
if [ "$os" = windows ]; then exe=.exe ext=zip; fi
name="helm-milvus-upgrade$exe"
bin="$dir/bin/$name"
version=$(sed -n 's/^version:[[:space:]]*["'\'']\{0,1\}\([^"'\'' ]*\).*/\1/p' "$dir/plugin.yaml" | head -n 1)
mkdir -p "$dir/bin"
work=$(mktemp -d "${TMPDIR:-/tmp}/helm-milvus-upgrade.XXXXXX")
# Each binary goes to a temporary name and is renamed into place: a running binary is never
# overwritten (ETXTBSY) and a half-written one is never seen.
tmp="$dir/bin/.tmp.$$.$name"
trap 'rm -rf "$work" "$tmp"' EXIT
why=       # why the last source did not work
url=       # the release archive's URL
failures=  # one line per source tried

# put FILE WHAT: installs FILE as the plugin binary if it runs here; else sets $why.
put() {
  local out
  install -m 0755 "$1" "$tmp" || { why="cannot copy $1 to $dir/bin"; return 1; }
  if ! out=$("$tmp" --version 2>&1); then
    why="$2 does not run on this machine ($os-$arch): $out"
    return 1
  fi
  mv -f "$tmp" "$bin"
  say "installed $2 ($out)"
}

fail() { # fail SOURCE: records why SOURCE was not used
  failures="$failures
  - $1: $why"
}

# ---------------------------------------------------------------- 1. and 2.
given="${HELM_MILVUS_UPGRADE_BINARY:-}"
if [ -n "$given" ]; then
  # An explicit choice: no falling back to something else.
  if [ ! -f "$given" ] || ! put "$given" "$given (HELM_MILVUS_UPGRADE_BINARY)"; then
    echo "helm-milvus-upgrade: ERROR: HELM_MILVUS_UPGRADE_BINARY=$given: ${why:-not an executable file}" >&2
    exit 1
  fi
  exit 0
fi
why="not set (a helm-milvus-upgrade binary you have)"
fail HELM_MILVUS_UPGRADE_BINARY

prebuilt="$dir/dist/$os-$arch/$name"
if [ -f "$prebuilt" ]; then
  put "$prebuilt" "prebuilt binary for $os-$arch" && exit 0
else
  why="no prebuilt binary in the plugin directory"
fi
fail "dist/$os-$arch/$name"

# ---------------------------------------------------------------- 3. download
# wget reads only the lower-case proxy variables; curl ignores HTTP_PROXY: take either.
if [ -z "${http_proxy:-}" ] && [ -n "${HTTP_PROXY:-}" ]; then export http_proxy="$HTTP_PROXY"; fi
if [ -z "${https_proxy:-}" ] && [ -n "${HTTPS_PROXY:-}" ]; then export https_proxy="$HTTPS_PROXY"; fi
if [ -z "${no_proxy:-}" ] && [ -n "${NO_PROXY:-}" ]; then export no_proxy="$NO_PROXY"; fi

fetch() { # fetch URL FILE: 0 when FILE holds URL's content; else $why says what went wrong
  local src=$1 out=$2 code rc=0
  case "$src" in
    file://*)
      cp "${src#file://}" "$out" 2>/dev/null || { why="${src#file://}: no such file"; return 1; }
      return 0 ;;
  esac
  if command -v curl >/dev/null 2>&1; then
    code=$(curl -fsSL --connect-timeout 10 --retry 2 --max-time 600 -o "$out" -w '%{http_code}' \
      "$src" 2>"$work/err") || rc=$?
    [ "$rc" = 0 ] && return 0
    if [ "$rc" = 22 ]; then why="$src: HTTP $code"; else why="$src: $(tail -n 1 "$work/err")"; fi
  elif command -v wget >/dev/null 2>&1; then
    wget -q -S --timeout=10 --tries=2 -O "$out" "$src" 2>"$work/err" || rc=$?
    [ "$rc" = 0 ] && return 0
    code=$(awk '$1 ~ /^HTTP\// { c = $2 } END { print c }' "$work/err")
    if [ "$rc" = 8 ]; then why="$src: HTTP $code"; else why="$src: network error (wget exit $rc)"; fi
  else
    why="neither curl nor wget is installed"
  fi
  return 1
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1"
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1"
  elif command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$1"
  else return 1
  fi | awk '{ print tolower($1) }'
}

unpack() { # unpack ARCHIVE DIR: the binary out of a release archive
  mkdir -p "$2"
  if [ "$ext" = zip ]; then
    if command -v unzip >/dev/null 2>&1; then
      unzip -q -o "$1" "$name" -d "$2"
    else
      powershell -NoProfile -Command "Expand-Archive -Force -LiteralPath '$(cygpath -w "$1")' -DestinationPath '$(cygpath -w "$2")'"
    fi
  else
    tar -xzf "$1" -C "$2" "$name"
  fi
}

# download: the release archive, verified; 0 when installed, else $why says why not.
download() {
  local base origin archive want got
  if [ -z "$version" ]; then why="no version in $dir/plugin.yaml"; return 1; fi
  base="${HELM_MILVUS_UPGRADE_DOWNLOAD_URL:-}"
  if [ "$base" = none ]; then why="HELM_MILVUS_UPGRADE_DOWNLOAD_URL=none"; return 1; fi
  if [ -z "$base" ]; then
    origin=$(git -C "$dir" config --get remote.origin.url 2>/dev/null || true)
    case "$origin" in
      https://github.com/*) ;;
      git@github.com:*) origin="https://github.com/${origin#git@github.com:}" ;;
      *) origin="$PROJECT_URL" ;;
    esac
    origin="${origin%/}"
    base="${origin%.git}/releases/download/v{version}"
  fi
  base="${base//\{version\}/$version}"
  base="${base%/}"
  archive="helm-milvus-upgrade_${version}_${os}_${arch}.$ext"
  url="$base/$archive"
  say "downloading $url"
  # The archive first: a 404 means no release for this platform (or version) there.
  fetch "$url" "$work/$archive" || return 1
  if ! fetch "$base/checksums.txt" "$work/checksums.txt"; then
    why="refusing $archive without checksums.txt to verify it: $why"
    return 1
  fi
  want=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print tolower($1) }' "$work/checksums.txt" | head -n 1)
  if [ -z "$want" ]; then
    why="refusing $archive: $base/checksums.txt does not list it"
    return 1
  fi
  if ! got=$(sha256 "$work/$archive"); then
    why="no sha256sum, shasum or openssl to verify $archive, refusing it"
    return 1
  fi
  if [ "$got" != "$want" ]; then
    why="sha256 mismatch, refusing $archive: checksums.txt says $want, the download is $got"
    return 1
  fi
  unpack "$work/$archive" "$work/unpacked" 2>"$work/err" || {
    why="cannot unpack $archive: $(tr '\n' ' ' <"$work/err")"
    return 1
  }
  put "$work/unpacked/$name" "$archive (sha256 verified)"
}

if download; then exit 0; fi
say "download failed, trying the next source: $why" >&2
fail download

# ---------------------------------------------------------------- 4. cargo
if ! command -v cargo >/dev/null 2>&1; then
  why="no cargo on PATH (install Rust: https://rustup.rs)"
elif [ ! -f "$dir/Cargo.toml" ]; then
  why="no Cargo.toml in $dir (install from a clone of the repository)"
else
  say "building with cargo (a few minutes)..."
  target="${CARGO_TARGET_DIR:-target}"
  case "$target" in /*) ;; *) target="$dir/$target" ;; esac
  if (cd "$dir" && cargo build --release --locked --bin helm-milvus-upgrade); then
    put "$target/release/$name" "binary built by cargo" && exit 0
  else
    why="the build failed (see above)"
  fi
fi
fail "cargo build --release --locked"

cat >&2 <<EOF
helm-milvus-upgrade: ERROR: no helm-milvus-upgrade binary for $os-$arch (version ${version:-?}). Tried:$failures
Any one of these makes it work:
  - HELM_MILVUS_UPGRADE_BINARY=/path/to/helm-milvus-upgrade$exe (a binary you built or downloaded),
  - HELM_MILVUS_UPGRADE_DOWNLOAD_URL=<mirror> (https://... or file:///dir holding
    helm-milvus-upgrade_${version:-<version>}_${os}_${arch}.$ext and checksums.txt; releases: $PROJECT_URL/releases),
  - Rust (https://rustup.rs), so that cargo can build it,
then run $dir/scripts/install-binary.sh again (Helm keeps the plugin after a failed hook),
or copy a helm-milvus-upgrade binary to $bin.
EOF
exit 1
