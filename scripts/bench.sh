#!/usr/bin/env bash
# Runs the benchmark (see BENCHMARKS.md): release builds of kube-thermostat and the rig's bench binaries, copied
# aside so a concurrent build cannot swap the binary under a run, then the bench itself, then the PNG plot, then
# thermostat-real-bench: our ticks against the real kube-apiserver and etcd (`make peers`), then
# thermostat-replay-bench: `kube-thermostat replay` over 24 hours and 7 days of backfilled history.
#   scripts/bench.sh            the full run (10 to 5,000 nodes, 3 repeats; the real API server at 1,000 and 5,000
#                               nodes; replays of 1,000 nodes and 10,000 containers); rewrites the tables in
#                               BENCHMARKS.md
#   scripts/bench.sh --quick    CI smoke: 10 and 100 nodes, 1 repeat, 20 nodes on the real API server, and a 2-hour
#                               replay of 20 nodes and 200 containers
# Extra arguments go to thermostat-bench (e.g. --sizes 1000x10000 --repeats 1). REAL_BENCH_SIZES (e.g. 1000x10000)
# sets the real API server's sizes; REAL_BENCH=0 skips it, REAL_BENCH=only runs nothing else.
# REPLAY_BENCH=0 skips the replay bench, REPLAY_BENCH=only runs nothing else; REPLAY_BENCH_DAYS (e.g. 1)
# sets its replay lengths. Its history is built once (promtool, minutes to an hour) and cached under
# ~/.cache/kube-thermostat/replay-bench.
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
cargo build --release --quiet -p thermostat-rig --bin thermostat-bench --bin thermostat-real-bench \
  --bin thermostat-replay-bench --bin thermostat-rightsizing-models
out="${BENCH_OUT:-$target/bench}"
mkdir -p "$out/bin"
cp "$target/release/kube-thermostat" "$target/release/thermostat-bench" "$target/release/thermostat-real-bench" \
  "$target/release/thermostat-replay-bench" "$target/release/thermostat-rightsizing-models" "$out/bin/"

# REAL_BENCH / REPLAY_BENCH: 0 skips that part, `only` runs nothing else.
real="${REAL_BENCH:-1}"
replay="${REPLAY_BENCH:-1}"
rightsizing="${RIGHTSIZING_BENCH:-1}"
run_ticks=true run_real=true run_replay=true run_rightsizing=true
[ "$real" = 0 ] && run_real=false
[ "$replay" = 0 ] && run_replay=false
[ "$rightsizing" = 0 ] && run_rightsizing=false
if [ "$real" = only ]; then run_ticks=false run_replay=false run_rightsizing=false; fi
if [ "$replay" = only ]; then run_ticks=false run_real=false run_rightsizing=false; fi
if [ "$rightsizing" = only ]; then run_ticks=false run_real=false run_replay=false; fi

if $run_ticks; then
  args=(--binary "$out/bin/kube-thermostat" --out "$out")
  $quick || args+=(--markdown BENCHMARKS.md)
  "$out/bin/thermostat-bench" "${args[@]}" "$@"
  if ! $quick; then
    bash scripts/bench-plot.sh "$out/plot.tsv" docs/bench.png
  fi
fi

if $run_real; then
  real_args=(--binary "$out/bin/kube-thermostat" --measurer "$out/bin/thermostat-bench" --out "$out/real")
  if $quick; then
    real_args+=(--quick)
  else
    real_args+=(--markdown BENCHMARKS.md)
  fi
  [ -n "${REAL_BENCH_SIZES:-}" ] && real_args+=(--sizes "$REAL_BENCH_SIZES")
  "$out/bin/thermostat-real-bench" "${real_args[@]}"
fi

if $run_replay; then
  replay_args=(--binary "$out/bin/kube-thermostat" --measurer "$out/bin/thermostat-bench" --out "$out/replay")
  if $quick; then
    replay_args+=(--quick)
  else
    replay_args+=(--markdown BENCHMARKS.md)
  fi
  [ -n "${REPLAY_BENCH_DAYS:-}" ] && replay_args+=(--days "$REPLAY_BENCH_DAYS")
  "$out/bin/thermostat-replay-bench" "${replay_args[@]}"
fi

# Right-sizing against the VPA model, the seed rule and no resizing, kube-thermostat through the real binary in the
# same closed loop (issue 18; BENCHMARKS.md "Right-sizing"): ~5 minutes for 4 days of six shapes.
if $run_rightsizing; then
  if $quick; then
    "$out/bin/thermostat-rightsizing-models" --days 1 --shapes daily-cycle,throttled --binary "$out/bin/kube-thermostat"
  else
    # Second arm: the defaults with Burstable CPU requests sized from usage everywhere (RESIZE_CPU_REQUEST=usage);
    # third: on the shapes the defaults lose, the pod annotations the README suggests for such a workload.
    "$out/bin/thermostat-rightsizing-models" --days 4 --binary "$out/bin/kube-thermostat" \
      --compare RESIZE_CPU_REQUEST=usage --annotated --markdown BENCHMARKS.md --tsv "$out/rightsizing.tsv"
    bash scripts/rightsizing-plot.sh "$out/rightsizing.tsv" docs/rightsizing.png
  fi
fi
