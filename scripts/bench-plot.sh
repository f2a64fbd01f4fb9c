#!/usr/bin/env bash
# Plots thermostat-bench's plot.tsv: hook wall time and requests (Prometheus queries + API requests) of a first
# tick against cluster size, ours and the seed approach's, for both controllers. Needs gnuplot (Debian gnuplot-nox).
#   scripts/bench-plot.sh target/bench/plot.tsv docs/bench.png
set -euo pipefail
data="$1"
png="$2"
mkdir -p "$(dirname "$png")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# One file per (controller, approach): nodes (taint) or containers (resize) on x.
for controller in taint-nodes resize-pods; do
  for approach in ours seed; do
    awk -F'\t' -v c="$controller" -v a="$approach" \
      '!/^#/ && $3 == c && $4 == a { x = (c == "taint-nodes") ? $1 : $2; print x "\t" $5 "\t" $6 + $7 }' \
      "$data" | sort -n > "$tmp/$controller-$approach.tsv"
  done
done
plot() { # file title column
  local file="$1" title="$2" column="$3" color="$4" dash="$5"
  [ -s "$file" ] && printf '"%s" using 1:%s with linespoints lw 2 pt 7 lc rgb "%s" dt %s title "%s", ' \
    "$file" "$column" "$color" "$dash" "$title"
}
series() { # controller column
  plot "$tmp/$1-ours.tsv" "kube-thermostat" "$2" "#1b6ac9" 1
  plot "$tmp/$1-seed.tsv" "seed approach" "$2" "#d9480f" 2
}
gnuplot <<GNUPLOT
set terminal pngcairo size 1400,1000 font "sans,11"
set output "$png"
set multiplot layout 2,2 title "First tick against cluster size (log-log; ours with snapshots, seed without)"
set logscale xy
set grid
set key top left
set xlabel "nodes"
set ylabel "hook wall time (ms)"
set title "taint-nodes: time"
plot $(series taint-nodes 2) 1/0 notitle
set ylabel "requests (Prometheus + API)"
set title "taint-nodes: requests"
plot $(series taint-nodes 3) 1/0 notitle
set xlabel "containers"
set ylabel "hook wall time (ms)"
set title "resize-pods: time"
plot $(series resize-pods 2) 1/0 notitle
set ylabel "requests (Prometheus + API)"
set title "resize-pods: requests"
plot $(series resize-pods 3) 1/0 notitle
unset multiplot
GNUPLOT
echo "wrote $png"
