#!/usr/bin/env bash
# Installs the Debian packages named as arguments when their commands are missing. Idempotent and quiet when
# everything is there, so `make test` stays fast on a machine that has run it before.
set -euo pipefail

declare -A command_of=([prometheus]=prometheus [gojq]=gojq [jq]=jq)
missing=()
for package in "$@"; do
  command -v "${command_of[$package]:-$package}" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
