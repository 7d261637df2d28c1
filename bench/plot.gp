# plot.gp — the benchmark plots, from the CSVs bench/run.sh writes.
#
#   gnuplot -e "dir='bench/results'" bench/plot.gp
#
# dir/conns.csv        -> dir/conns.png        throughput and server CPU per answer vs connections
# dir/latency-cdf.csv  -> dir/latency-cdf.png  latency percentiles, open loop
# dir/scale.csv        -> dir/scale.png        cost vs store size
# A missing or empty input skips its plot (a partial run still renders the rest).
if (!exists("dir")) dir = "bench/results"

have(f) = system("test -s '" . f . "' && echo 1 || echo 0") eq "1"
set terminal pngcairo size 900,540 font "DejaVu Sans,10" noenhanced
set grid xtics ytics mytics lc rgb "#dddddd"
set key top left box opaque
set style data linespoints

# --- throughput vs connections ---------------------------------------------------------
f = dir . "/conns.csv"
if (have(f)) {
    set terminal pngcairo size 1200,500 font "DejaVu Sans,10" noenhanced
    set output dir . "/conns.png"
    set datafile separator ","
    # conns.csv: per series 4 columns: req/s, p99 us, server CPU us per answer, server cores busy
    set multiplot layout 1,2 title "Closed loop vs connections (depth 1; server CPU 0, generator CPU 1)"
    set xlabel "connections"
    set logscale x 2
    set xtics (1, 2, 4, 8, 16, 32, 64, 128)
    set xrange [0.8:90]
    set yrange [0:*]
    set title "Throughput"
    set ylabel "requests/s (median)"
    set format y "%.0f"
    plot for [i=2:*:4] f using 1:i title columnheader(i) lw 2 pt 7
    set title "Server CPU per answer (lower is better)"
    set ylabel "µs of server CPU per answer"
    set format y "%g"
    # results from before the CPU columns have them empty: an empty panel, not an error
    if (system("awk -F, 'NR > 1 && $4 != \"\" { f = 1 } END { print f + 0 }' '" . f . "'") eq "1") {
        plot for [i=4:*:4] f using 1:i title columnheader(i) lw 2 pt 7
    } else {
        set label 1 "no server CPU data" at graph 0.5, 0.5 center
        set yrange [0:1]
        plot -1 notitle
        set yrange [0:*]
        unset label 1
    }
    unset multiplot
    set terminal pngcairo size 900,540 font "DejaVu Sans,10" noenhanced
    unset logscale x
    set xtics autofreq
    set xrange [*:*]
    set yrange [*:*]
    set datafile separator whitespace
}

# --- latency percentiles, open loop ------------------------------------------------------
f = dir . "/latency-cdf.csv"
if (have(f)) {
    set output dir . "/latency-cdf.png"
    set title "revokd latency by percentile, open loop (POST; latency from intended send time)"
    set xlabel "percentile"
    set ylabel "latency (µs)"
    set logscale x 10
    set logscale y 10
    # HdrHistogram style: the tail gets as much room as the body
    set xtics ("50%%" 2, "90%%" 10, "99%%" 100, "99.9%%" 1000)
    set xrange [1.8:1200]
    set format y "%.0f"
    stats f using 1 nooutput
    plot for [i=0:STATS_blocks-1] f index i using (1/(1-$1)):2 title columnheader(2) lw 2 pt 7
    unset logscale x
    unset logscale y
    set xtics autofreq
    set xrange [*:*]
}

# --- cost vs store size -------------------------------------------------------------------
f = dir . "/scale.csv"
if (have(f)) {
    set output dir . "/scale.png"
    set datafile separator ","
    set terminal pngcairo size 1500,500 font "DejaVu Sans,10" enhanced
    set multiplot layout 1,3 title "Cost vs store size (certificates in index.txt)"
    set logscale x 10
    set logscale y 10
    set autoscale xfix
    set offsets graph 0.06, graph 0.06, 0, 0
    set xlabel "certificates"
    set format x "10^{%L}"
    set title "Time until ready"
    set ylabel "seconds"
    set format y "%g"
    set key top left
    plot f using 1:2 title "revokd-indexer --once (import + pre-sign)" lw 2 pt 7, \
         f using 1:3 title "revokd-indexer --once, index unchanged" lw 2 pt 6, \
         f using 1:5 title "openssl ocsp -index: start to first answer" lw 2 pt 5, \
         f using 1:4 title "revokd-responder: start to first answer" lw 2 pt 9
    set title "revokd-responder, POST 32 x 4, requests across the whole store"
    unset logscale y
    set ylabel "requests/s (warm)"
    set y2label "p99 latency (µs)"
    set yrange [0:*]
    set y2range [0:*]
    set ytics nomirror
    set y2tics
    set key bottom left
    plot f using 1:7 title "req/s, warm" lw 2 pt 7, \
         f using 1:6 title "req/s, first run after start" lw 2 pt 6, \
         f using 1:9 axes x1y2 title "p99 (warm), right axis" lw 2 pt 5 dt 2
    set title "revokd-responder: server CPU per answer (lower is better)"
    unset y2tics
    unset y2label
    set ytics mirror
    set ylabel "µs of server CPU per answer"
    set format y "%g"
    set key top left
    if (system("awk -F, 'NR > 1 && $17 != \"\" { f = 1 } END { print f + 0 }' '" . f . "'") eq "1") {
        plot f using 1:17 title "warm" lw 2 pt 7, \
             f using 1:16 title "first run after start" lw 2 pt 6
    } else {
        set label 1 "no server CPU data" at graph 0.5, 0.5 center
        set yrange [0:1]
        plot -1 notitle
        set yrange [0:*]
        unset label 1
    }
    unset multiplot
}
