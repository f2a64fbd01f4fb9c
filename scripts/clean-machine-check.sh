#!/usr/bin/env bash
# Proves the README's two commands, `make demo` and `make test`, on a clean clone as a new machine would run them:
# the repo's HEAD cloned into a temp dir, an empty CARGO_HOME (no registry cache, no cargo-installed tools such as
# cargo-deny), no tools venv (TOOLS_VENV is an empty dir), an empty cache (XDG_CACHE_HOME: also Go's build cache
# and the built peers) and an empty Go module cache (GOPATH). Only the rustup
# toolchain stays (RUSTUP_HOME), reached through its proxies, and the Debian packages already installed.
# Reports each command's time; exits non-zero when one fails. Takes long: cargo-deny alone compiles for minutes.
#   scripts/clean-machine-check.sh            # both commands
#   scripts/clean-machine-check.sh test       # only `make test` (or `demo`)
#   KEEP=1 scripts/clean-machine-check.sh     # keep the temp dir (logs, clone) afterwards
set -euo pipefail

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(demo test)
repo="$(git rev-parse --show-toplevel)"
rustup_bin="$(command -v rustup)" || { echo "clean-machine-check: needs rustup on PATH" >&2; exit 2; }
rustup_home="${RUSTUP_HOME:-$(rustup show home)}"

work="$(mktemp -d "${TMPDIR:-/tmp}/kube-thermostat-clean.XXXXXX")"
if [ -z "${KEEP:-}" ]; then
  # Go leaves its module cache read-only.
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
fi
git clone --quiet --no-local "$repo" "$work/repo"
cloned="$(git -C "$work/repo" rev-parse --short HEAD)"
mkdir -p "$work/cargo-home" "$work/venv" "$work/cache" "$work/proxies" "$work/gopath"

# rustup's proxies dispatch on their own name: links named like the tools run the kept toolchain, while the
# original CARGO_HOME/bin (and whatever `cargo install` put there) stays off PATH.
for tool in rustup cargo rustc rustdoc rustfmt cargo-fmt cargo-clippy clippy-driver; do
  ln -s "$rustup_bin" "$work/proxies/$tool"
done
original_bin="$(dirname "$rustup_bin")"
clean_path="$(tr ':' '\n' <<<"$PATH" | grep -vxF "$original_bin" | paste -sd: -)"

report=()
status=0
for target in "${targets[@]}"; do
  log="$work/make-$target.log"
  echo "clean-machine-check: make $target in $work/repo (log: $log)" >&2
  started=$(date +%s)
  if env -u CARGO_TARGET_DIR -u RUSTC_WRAPPER \
      CARGO_HOME="$work/cargo-home" RUSTUP_HOME="$rustup_home" \
      TOOLS_VENV="$work/venv" XDG_CACHE_HOME="$work/cache" GOPATH="$work/gopath" \
      PATH="$work/cargo-home/bin:$work/proxies:$clean_path" \
      make -C "$work/repo" "$target" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (exit $?)"
    status=1
    tail -n 40 "$log" >&2
  fi
  report+=("make $target: $result in $(( $(date +%s) - started ))s")
done

echo "clean-machine-check: $cloned" >&2
printf '  %s\n' "${report[@]}" >&2
[ -n "${KEEP:-}" ] && echo "  kept: $work" >&2
exit $status
