#!/usr/bin/env bash
# Plots thermostat-rightsizing-models' --tsv: per workload shape, the CPU each policy reserved (core-hours of
# requests) and the minutes it left a container throttled. Needs gnuplot (Debian gnuplot-nox).
#   scripts/rightsizing-plot.sh target/bench/rightsizing.tsv docs/rightsizing.png
set -euo pipefail
data="$1"
png="$2"
mkdir -p "$(dirname "$png")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# One row per shape, one column per policy: kube-thermostat's arms first, then the others, each in the order they
# first appear (an arm run on some shapes only, such as the annotated one, first appears late).
table() { # column
  awk -F'\t' -v col="$1" '
    !/^#/ { if (!($2 in seen)) { seen[$2] = 1; if ($2 ~ /^kube-thermostat/) ours[++k] = $2; else others[++o] = $2 }
            if (!($1 in shapes)) { shapes[$1] = 1; rows[++m] = $1 }
            value[$1, $2] = $col }
    END { n = 0; for (i = 1; i <= k; i++) order[++n] = ours[i]; for (i = 1; i <= o; i++) order[++n] = others[i]
          printf "shape"; for (i = 1; i <= n; i++) printf "\t%s", order[i]; printf "\n"
          for (r = 1; r <= m; r++) { printf "%s", rows[r]; for (i = 1; i <= n; i++) printf "\t%s", value[rows[r], order[i]]; printf "\n" } }
  ' "$data"
}
table 3 > "$tmp/cpu.tsv"
table 5 > "$tmp/throttled.tsv"
policies=$(head -1 "$tmp/cpu.tsv" | awk -F'\t' '{ print NF - 1 }')
gnuplot <<GNUPLOT
set terminal pngcairo size 1400,900 font "sans,11" noenhanced
set output "$png"
set datafile separator "\t"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top left autotitle columnhead
set xtics rotate by -20
set multiplot layout 2,1 title "Right-sizing over the same demand: kube-thermostat, the VPA model, the seed rule, no resizing"
set ylabel "CPU reserved (core-hours of requests)"
plot for [i=2:$((policies + 1))] "$tmp/cpu.tsv" using i:xtic(1)
set ylabel "minutes throttled at the limit"
set logscale y
set yrange [0.5:*]
plot for [i=2:$((policies + 1))] "$tmp/throttled.tsv" using (column(i) > 0 ? column(i) : 0.5):xtic(1)
unset multiplot
GNUPLOT
