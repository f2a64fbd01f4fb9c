#!/usr/bin/env bash
# Runs the benchmark (see BENCHMARKS.md): release builds of kube-thermostat and thermostat-bench, copied aside so a
# concurrent build cannot swap the binary under a run, then the bench itself, then the PNG plot.
#   scripts/bench.sh            the full run (10 to 5,000 nodes, 3 repeats); rewrites the tables in BENCHMARKS.md
#   scripts/bench.sh --quick    CI smoke: 10 and 100 nodes, 1 repeat, well under a minute once built
# Extra arguments go to thermostat-bench (e.g. --sizes 1000x10000 --repeats 1).
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
cargo build --release --quiet -p thermostat-rig --bin thermostat-bench
out="${BENCH_OUT:-$target/bench}"
mkdir -p "$out/bin"
cp "$target/release/kube-thermostat" "$target/release/thermostat-bench" "$out/bin/"

args=(--binary "$out/bin/kube-thermostat" --out "$out")
$quick || args+=(--markdown BENCHMARKS.md)
"$out/bin/thermostat-bench" "${args[@]}" "$@"

if ! $quick; then
  bash scripts/bench-plot.sh "$out/plot.tsv" docs/bench.png
fi
