#!/usr/bin/env bash
# Builds the real peers the integration tests run against (tests/it/real_apiserver.rs), from pinned Go modules:
#   tests/peers/kubernetes-<minor>/  go.mod + go.sum: kube-apiserver (k8s.io/kubernetes) and, where the go.mod lists
#                                    it as a tool, etcd (go.etcd.io/etcd/server/v3, etcd's own main)
#   tests/peers/shell-operator/go.sum  the shell-operator module version and its hashes
# into PEERS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/kube-thermostat/peers)/<name>-<version>/<name>.
# A directory whose recorded key (sha256 of the go.mod + go.sum it was built from) matches is reused, so a warm run
# takes a second and a changed pin rebuilds. Go module proxy only; GOTOOLCHAIN=local (no toolchain download).
#   build-peers.sh                        build (or reuse) every kube-apiserver and etcd
#   build-peers.sh shell-operator         shell-operator too (blocked for now: see the end of this file)
#   build-peers.sh kubernetes-1.37 ...    only these directories of tests/peers/
#   build-peers.sh --list                 print "<name> <version> <path>" for each peer, build nothing
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-thermostat/peers}"
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
list_only=false
[ "${1:-}" = "--list" ] && { list_only=true; shift; }
wanted=("$@")
# wanted DIR: whether tests/peers/DIR is to be built (all of them when no names were given).
wanted() {
  [ ${#wanted[@]} -eq 0 ] && return 0
  local name
  for name in "${wanted[@]}"; do [ "$name" = "$1" ] && return 0; done
  return 1
}

if ! $list_only && ! command -v go >/dev/null 2>&1; then
  echo "build-peers: no 'go' on PATH: the real kube-apiserver, etcd and shell-operator are built with Go (>= 1.26)" >&2
  exit 1
fi

key_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# build_one NAME VERSION KEY COMMAND...: runs COMMAND with $out set to a fresh directory, then moves it into place.
# Nothing half-built is ever at the final path: the tests take a present binary as a finished one.
build_one() {
  local name="$1" version="$2" key="$3"
  shift 3
  local dest="$cache/$name-$version"
  if $list_only; then
    echo "$name $version $dest/$name"
    return
  fi
  if [ -x "$dest/$name" ] && [ "$(cat "$dest/.key" 2>/dev/null)" = "$key" ]; then
    echo "build-peers: $name $version: up to date ($dest)" >&2
    return
  fi
  mkdir -p "$cache"
  out="$(mktemp -d "$cache/.$name-$version.XXXXXX")"
  echo "build-peers: $name $version: building (a cold build takes minutes)" >&2
  local started=$SECONDS
  if ! "$@"; then
    rm -rf "$out"
    echo "build-peers: $name $version: build failed" >&2
    exit 1
  fi
  echo "$key" >"$out/.key"
  rm -rf "$dest"
  mv "$out" "$dest"
  echo "build-peers: $name $version: built in $((SECONDS - started)) s ($dest/$name)" >&2
}

# The version a release build stamps (kubernetes: hack/lib/version.sh, kube::version::ldflags), so that /version
# answers v1.X.Y and not v0.0.0-master: clients (ours among them) read the minor from it.
build_kube_apiserver() (
  local module="$1" version="$2" minor flags
  minor="${version#v1.}"
  minor="${minor%%.*}"
  cd "$module"
  local released
  released="$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"
  flags=""
  for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X '$package.gitVersion=$version' -X '$package.gitMajor=1' -X '$package.gitMinor=$minor'"
    flags+=" -X '$package.gitTreeState=clean' -X '$package.buildDate=$released'"
  done
  go build -trimpath -ldflags="$flags" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
)

# etcd's own main package (go.etcd.io/etcd/server/v3 is `package main`), at the version k8s.io/kubernetes requires.
build_etcd() (
  cd "$1"
  go build -trimpath -o "$out/etcd" go.etcd.io/etcd/server/v3
)

for module in "$root"/tests/peers/kubernetes-*/; do
  module="${module%/}"
  wanted "$(basename "$module")" || continue
  key="$(key_of "$module/go.mod" "$module/go.sum")"
  version="$(sed -n 's/^[[:space:]]*k8s.io\/kubernetes \(v[^ ]*\).*/\1/p' "$module/go.mod")"
  [ -n "$version" ] || { echo "build-peers: $module/go.mod: no k8s.io/kubernetes requirement" >&2; exit 1; }
  build_one kube-apiserver "$version" "$key" build_kube_apiserver "$module" "$version"
  if grep -q '^	go.etcd.io/etcd/server/v3$' "$module/go.mod"; then
    etcd_version="$(sed -n 's/^[[:space:]]*go.etcd.io\/etcd\/server\/v3 \(v[^ ]*\).*/\1/p' "$module/go.mod")"
    build_one etcd "$etcd_version" "$key" build_etcd "$module"
  fi
done

# shell-operator's go.mod has a replace directive, so `go install module@version` refuses it: its module source
# (fetched and verified against our pinned hash by `go mod download`) is built as the main module instead.
so_sum="$root/tests/peers/shell-operator/go.sum"
read -r so_module so_version so_hash < <(grep -v '/go.mod ' "$so_sum")
build_shell_operator() {
  local info dir hash work
  info="$(go mod download -json "$so_module@$so_version")"
  dir="$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' <<<"$info")"
  hash="$(sed -n 's/^\t"Sum": "\(.*\)",$/\1/p' <<<"$info")"
  if [ "$hash" != "$so_hash" ]; then
    echo "build-peers: $so_module@$so_version: hash $hash, pinned $so_hash ($so_sum)" >&2
    return 1
  fi
  work="$(mktemp -d)"
  cp -r "$dir/." "$work/"
  chmod -R u+w "$work"
  (cd "$work" && go build -trimpath -o "$out/shell-operator" ./cmd/shell-operator)
  local rc=$?
  rm -rf "$work"
  return $rc
}
# Blocked for now, so built only when named: the Go module proxy refuses github.com/deckhouse/module-sdk, which
# shell-operator 1.20.1 and 1.20.2 require (v0.11.1; 403 "This module version is not available", and so for
# v0.11.0, v0.11.2, v0.12.0; v0.10.0 has no checksum database entry). `build-peers.sh shell-operator` retries.
if [ ${#wanted[@]} -gt 0 ] && wanted shell-operator; then
  build_one shell-operator "$so_version" "$(key_of "$so_sum")" build_shell_operator
elif $list_only; then
  echo "shell-operator $so_version $cache/shell-operator-$so_version/shell-operator"
else
  echo "build-peers: shell-operator $so_version: skipped (blocked: the module proxy refuses" \
    "github.com/deckhouse/module-sdk; 'scripts/build-peers.sh shell-operator' tries again)" >&2
fi
