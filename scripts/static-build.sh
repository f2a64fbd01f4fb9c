#!/usr/bin/env bash
# Checks the image's pieces without a container runtime (there is none on our machines):
#   1. the Docker build context is what .dockerignore lets through, and cargo builds from it alone (--locked);
#   2. the binary, built for x86_64-unknown-linux-musl as in the Dockerfile, is static (no ELF interpreter, no
#      dynamic section), so it runs on shell-operator's Alpine as is;
#   3. copied to the path the Dockerfile copies it to, inside a hooks dir, it prints the golden --config when run as
#      shell-operator runs it at start-up (cwd = its folder, a bare environment).
# PROFILE=debug (the default) keeps `make test` to a minute or two on 2 cores; PROFILE=release checks the exact
# build the Dockerfile runs (several minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${PROFILE:-debug}"
target=x86_64-unknown-linux-musl
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "static-build: $*" >&2; exit 1; }

command -v musl-gcc >/dev/null || fail "musl-gcc not found (Debian package musl-tools): run \`make deps\`"
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  # The musl standard library comes from Rust's own distribution server, which is not a package registry and may be
  # out of reach on a build machine. Without it this check cannot run here: say so loudly rather than fail the
  # suite for a download (the Dockerfile's builder image has the target; STATIC_REQUIRED=1 makes it fatal).
  if ! rustup target add "$target" >/dev/null 2>&1; then
    [ -n "${STATIC_REQUIRED:-}" ] && fail "rustup could not add $target"
    echo "static-build: SKIPPED: rustup could not download the $target standard library on this machine" >&2
    exit 0
  fi
fi

# 1. The build context, from .dockerignore's allowlist.
[ "$(grep -v '^\s*\(#\|$\)' .dockerignore | head -1)" = "*" ] || fail ".dockerignore must start with \`*\` (allowlist)"
context="$work/context"
mkdir -p "$context"
while read -r line; do
  case "$line" in
    '' | '#'* | '*') ;;
    '!'*) path="${line#!}"; mkdir -p "$context/$(dirname "$path")"; cp -R "$path" "$context/$path" ;;
    *) fail ".dockerignore line \`$line\`: this check understands only \`*\` and \`!path\`" ;;
  esac
done < .dockerignore

# The Dockerfile's own build line, so this check cannot drift from it (only the profile may differ).
build_line="$(sed -n 's/^RUN \(cargo build [^\\&]*\).*/\1/p' Dockerfile | head -1 | sed 's/ *$//')"
[ -n "$build_line" ] || fail "no \`cargo build\` line in the Dockerfile"
grep -q -- "--target $target" <<<"$build_line" || fail "Dockerfile does not build for $target: $build_line"
profile_flag=""; [ "$profile" = release ] && profile_flag="--release"
args="$(sed -e 's/^cargo build //' -e 's/--release//' <<<"$build_line") $profile_flag"
echo "static-build: cargo build $args (from the .dockerignore context)" >&2
# musl-gcc compiles ring's C for the musl target, as gcc + musl-dev do in the builder image.
# shellcheck disable=SC2086
(cd "$context" && CC_x86_64_unknown_linux_musl=musl-gcc cargo build --quiet $args)
binary="$CARGO_TARGET_DIR/$target/$profile/kube-thermostat"
[ -x "$binary" ] || fail "no binary at $binary"

# 2. Statically linked: no PT_INTERP (the loader the kernel would start first) and no NEEDED library. Rust's musl
#    target links static-pie, which keeps a DYNAMIC segment for relocating itself: that one is expected.
headers="$(LC_ALL=C readelf --program-headers --wide "$binary")"
grep -q 'INTERP' <<<"$headers" && fail "$binary asks for an ELF interpreter: not static"
[ -z "$(LC_ALL=C readelf --dynamic "$binary" | grep NEEDED || true)" ] || fail "$binary needs shared libraries"

# 3. The hooks layout: the destination of the Dockerfile's COPY of the binary.
destination="$(sed -n 's|^COPY --from=build /kube-thermostat \(/[^ ]*\)$|\1|p' Dockerfile)"
[ -n "$destination" ] || fail "no \`COPY --from=build /kube-thermostat <path>\` in the Dockerfile"
hooks_dir="$(dirname "$destination")"
[ "$hooks_dir" = /hooks ] || fail "the Dockerfile copies the binary to $destination, outside shell-operator's /hooks"
root="$work/image"
install -D -m 0755 "$binary" "$root$destination"
hooks=()
while IFS= read -r -d '' file; do hooks+=("${file#"$root$hooks_dir"/}"); done \
  < <(find "$root$hooks_dir" -type f -perm -u+x -print0)
[ "${hooks[*]}" = kube-thermostat ] || fail "executables in the hooks dir: ${hooks[*]} (want exactly kube-thermostat)"

config="$work/config.json"
(cd "$(dirname "$root$destination")" && env -i SHELL_OPERATOR_HOOKS_DIR="$root$hooks_dir" LOG_TYPE=json \
  "./$(basename "$destination")" --config >"$config")
cmp -s "$config" tests/golden/config.json || {
  diff -u tests/golden/config.json "$config" >&2 || true
  fail "--config from $destination differs from tests/golden/config.json"
}
echo "static-build: ok: $(du -h "$binary" | cut -f1) static $target $profile binary; --config from $destination matches the golden file" >&2
