#!/usr/bin/env bash
# bench-synth.sh [OUT] - full-size rp-synth run: wall time and peak memory per rank on NP ranks
# (default 2), then the statistics of the result against KuaiRec's (rp-synth --stats, exit 65
# when a check misses) and the headers against data-manifest.txt. OUT (default a temp folder,
# removed afterwards) keeps the data, with SHA256SUMS of its CSV files. With BENCH_WIDE=1 also
# 10x the users (71,760) on a tenth of the videos, to show memory per rank stays bounded (about
# the same rows, 10x the users).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/tests/env.sh"
np=${NP:-2} seed=${SEED:-42}
out=${1:-}
keep=1
if [ -z "$out" ]; then out=$(mktemp -d "${TMPDIR:-/tmp}/rp-bench-synth.XXXXXX"); keep=0; fi
synth="$top/bin/rp-synth"
[ -x "$synth" ] || { echo "bench-synth: build first (make)" >&2; exit 1; }

run() { # label, args...: prints the summary line and wall seconds
    local label=$1; shift
    local t0 t1
    t0=$(date +%s.%N)
    $MPIEXEC -n "$np" "$synth" "$@" > "$out.$label.log" 2> "$out.$label.err" || {
        cat "$out.$label.err" >&2; echo "bench-synth: $label failed" >&2; exit 1; }
    t1=$(date +%s.%N)
    echo "$label: $(cat "$out.$label.log")"
    printf '%s: wall %.1f s on %s ranks\n' "$label" "$(echo "$t1 - $t0" | bc)" "$np"
}

echo "== rp-synth full size (7,176 x 10,728, seed $seed) into $out"
run full --out "$out" --seed "$seed"
# SHA256SUMS of the CSV files (as /work/data/full has): the same seed must reproduce them
(cd "$out" && sha256sum *.csv > SHA256SUMS)
du -b "$out"/*.csv "$out"/truth.h5 | awk '{printf "  %-32s %8.1f MB\n", $2, $1 / 1e6}' | sed "s|$out/||"
echo "== statistics (targets from KUAIREC.md; counts scaled by density)"
t0=$(date +%s.%N)
$MPIEXEC -n "$np" "$synth" --stats "$out"; st=$?
printf 'stats: wall %.1f s\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
echo "== headers and row counts vs data-manifest.txt"
"$top/tools/verify-data.sh" --headers-only "$out" || st=1
if [ "${BENCH_WIDE:-0}" = 1 ]; then
    wide=$(mktemp -d "${TMPDIR:-/tmp}/rp-bench-synth-wide.XXXXXX")
    echo "== 10x users: --users 71760 --items 1073 into $wide"
    run wide --out "$wide" --users 71760 --items 1073 --seed "$seed"
    rm -rf "$wide"
fi
rm -f "$out".*.log "$out".*.err
[ $keep = 1 ] || rm -rf "$out"
exit $st
