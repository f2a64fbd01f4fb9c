#!/usr/bin/env bash
# Runs the benchmark (see BENCHMARKS.md): release builds of kube-thermostat and thermostat-bench, copied aside so a
# concurrent build cannot swap the binary under a run, then the bench itself, then the PNG plot, then
# thermostat-real-bench: our ticks against the real kube-apiserver and etcd (`make peers`).
#   scripts/bench.sh            the full run (10 to 5,000 nodes, 3 repeats; the real API server at 1,000 and 5,000
#                               nodes); rewrites the tables in BENCHMARKS.md
#   scripts/bench.sh --quick    CI smoke: 10 and 100 nodes, 1 repeat, and 20 nodes on the real API server
# Extra arguments go to thermostat-bench (e.g. --sizes 1000x10000 --repeats 1). REAL_BENCH_SIZES (e.g. 1000x10000)
# sets the real API server's sizes; REAL_BENCH=0 skips it, REAL_BENCH=only runs nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh prometheus gojq
quick=false
for arg in "$@"; do [ "$arg" = --quick ] && quick=true; done
if ! $quick && ! command -v gnuplot >/dev/null 2>&1; then
  bash scripts/install-deps.sh gnuplot-nox
fi

target="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet -p kube-thermostat --bin kube-thermostat
cargo build --release --quiet -p thermostat-rig --bin thermostat-bench --bin thermostat-real-bench
out="${BENCH_OUT:-$target/bench}"
mkdir -p "$out/bin"
cp "$target/release/kube-thermostat" "$target/release/thermostat-bench" "$target/release/thermostat-real-bench" \
  "$out/bin/"

real="${REAL_BENCH:-1}"
if [ "$real" != only ]; then
  args=(--binary "$out/bin/kube-thermostat" --out "$out")
  $quick || args+=(--markdown BENCHMARKS.md)
  "$out/bin/thermostat-bench" "${args[@]}" "$@"
  if ! $quick; then
    bash scripts/bench-plot.sh "$out/plot.tsv" docs/bench.png
  fi
fi

if [ "$real" != 0 ]; then
  real_args=(--binary "$out/bin/kube-thermostat" --measurer "$out/bin/thermostat-bench" --out "$out/real")
  if $quick; then
    real_args+=(--quick)
  else
    real_args+=(--markdown BENCHMARKS.md)
  fi
  [ -n "${REAL_BENCH_SIZES:-}" ] && real_args+=(--sizes "$REAL_BENCH_SIZES")
  "$out/bin/thermostat-real-bench" "${real_args[@]}"
fi
