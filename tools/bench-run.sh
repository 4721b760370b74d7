#!/usr/bin/env bash
# bench-run.sh OUT NAME... - run bench/bench-NAME.sh for each NAME (make bench, make bench-NAME),
# keep its stdout in OUT/NAME.out and stdout+stderr in OUT/NAME.log, then rewrite OUT/summary.md
# from every benchmark result in OUT: a table of (benchmark, status, seconds, finished) and each
# benchmark's own output. Exit status: 1 if any benchmark run now failed.
set -u
out=${1:?usage: bench-run.sh OUT NAME...}
shift
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 66
mkdir -p "$out" || exit 74
. tests/env.sh
export RP_TOP=$top RP_BIN=$top/bin SHARED=${SHARED:-$(cd "$top/.." && pwd)/shared}
failed=0
for name in "$@"; do
    script=bench/bench-$name.sh
    [ -f "$script" ] || { echo "bench: no $script" >&2; failed=1; continue; }
    echo "== bench $name ($script; output in $out/$name.out)" >&2
    t0=$(date +%s) load0=$(cut -d' ' -f1 /proc/loadavg)
    # stdout to both files and the terminal, stderr to the log and the terminal
    bash "$script" 2> >(tee -a "$out/$name.log.tmp" >&2) | tee "$out/$name.out.tmp" | tee -a "$out/$name.log.tmp"
    st=${PIPESTATUS[0]}
    sleep 0.1 # let the stderr tee finish
    mv -f "$out/$name.out.tmp" "$out/$name.out"
    mv -f "$out/$name.log.tmp" "$out/$name.log"
    # load average (1 min) at start and end: the figures mean little without it
    printf '%s %s %s %s\n' "$st" "$(( $(date +%s) - t0 ))" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        "$load0/$(cut -d' ' -f1 /proc/loadavg)" > "$out/$name.status"
    [ "$st" = 0 ] || { echo "bench: $name failed (exit $st); see $out/$name.log" >&2; failed=1; }
done

# The summary, from every result present (earlier runs of other benchmarks included).
{
    echo "# recpipe benchmarks"
    echo
    echo "Host: $(hostname), $(env -u OMP_NUM_THREADS nproc) CPUs. Timings on a shared machine are noisy."
    echo
    echo "| benchmark | status | seconds | finished (UTC) | load start/end |"
    echo "|---|---|---|---|---|"
    for s in "$out"/*.status; do
        [ -e "$s" ] || continue
        read -r st secs when load < "$s"
        name=$(basename "$s" .status)
        [ "$st" = 0 ] && st=ok || st="FAILED ($st)"
        echo "| $name | $st | $secs | $when | ${load:--} |"
    done
    for s in "$out"/*.status; do
        [ -e "$s" ] || continue
        name=$(basename "$s" .status)
        echo
        echo "## $name"
        echo
        echo '```'
        cat "$out/$name.out"
        echo '```'
    done
} > "$out/summary.md.tmp" && mv -f "$out/summary.md.tmp" "$out/summary.md"
echo "bench: summary in $out/summary.md" >&2
exit $failed
