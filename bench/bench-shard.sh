#!/usr/bin/env bash
# bench-shard.sh - time full-size rp-shard at np 1 and 2 (not a test; timings on a shared machine
# are noisy). Prints CSV MB/s per rank (read+parse phase and whole run), peak memory per rank,
# and the peak memory against the size of the data kept (the output's datasets).
# Usage: bench/bench-shard.sh [DATA_DIR]  (default $DATA or /work/data/full; when the folder has
# no small_matrix.csv after WAIT_S seconds, full-size-shaped CSVs are generated instead).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/tests/env.sh"
# A shared machine: idle ranks yield instead of spinning (override by exporting it).
export OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle:-1}
data=${1:-${DATA:-/work/data/full}}
nps=${BENCH_NPS:-1 2}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-shard.XXXXXX")
trap 'rm -rf "$work"' EXIT
waited=0
while [ ! -f "$data/small_matrix.csv" ] && [ "$waited" -lt "${WAIT_S:-0}" ]; do sleep 10; waited=$((waited + 10)); done
if [ ! -f "$data/small_matrix.csv" ] || [ ! -f "$data/big_matrix.csv" ]; then
    echo "bench-shard: no CSVs in $data; generating full-size-shaped ones (bench/shard_gen.py)"
    data=$work/data
    python3 "$top/bench/shard_gen.py" "$data" --scale "${SCALE:-1.0}"
fi
big=$data/big_matrix.csv small=$data/small_matrix.csv
csv_mb=$(( ($(stat -c %s "$big") + $(stat -c %s "$small")) / 1000000 ))
echo "bench-shard: $big + $small = $csv_mb MB of CSV; $(getconf _NPROCESSORS_ONLN) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$big" "$small" > /dev/null # warm the page cache so np 1 is not charged for the disk
printf '%-4s %8s %12s %12s %12s %10s %10s %10s %8s\n' np seconds parse_MB/s/r cpu_MB/s/r run_MB/s/r peak_MB/r peak_MB kept_MB ratio
for np in $nps; do
    out=$work/shards-np$np.h5
    line=$(RP_LOG=0 rp_mpirun "$np" "$top/bin/rp-shard" --big "$big" --small "$small" --out "$out" | tail -n 1)
    get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
    secs=$(get seconds) pmb=$(get parse_mb_s_per_rank) cmb=$(get parse_cpu_mb_s_per_rank)
    mem=$(get peak_rss_mb_per_rank)
    kept_mb=$(( $(stat -c %s "$out") / 1048576 ))
    awk -v np="$np" -v s="$secs" -v p="$pmb" -v c="$cmb" -v m="$mem" -v mb="$csv_mb" -v k="$kept_mb" 'BEGIN {
        printf "%-4d %8.2f %12.1f %12.1f %12.1f %10.0f %10.0f %10d %8.2f\n", np, s, p, c, mb / np / s,
               m, m * np, k, m * np / k }'
    echo "  $line"
done
# The datasets must not depend on the rank count (attributes nprocs/params do).
set -- $nps
if [ $# -ge 2 ]; then
    if h5diff "$work/shards-np$1.h5" "$work/shards-np$2.h5" > "$work/diff.txt" 2>&1 ||
       ! grep -v -e nprocs -e params -e elapsed_s -e peak_rss_mb -e "differences found" -e "^$" "$work/diff.txt" | grep -q .; then
        echo "np $1 and np $2 outputs: same data (only nprocs/params attributes differ)"
    else
        echo "np $1 and np $2 outputs DIFFER:"; head "$work/diff.txt"
    fi
fi
echo "parse_MB/s/r: CSV MB per rank per wall second of the read+parse phase (aim >= 300);"
echo "cpu_MB/s/r: the same per CPU second (what the parser does when the machine is loaded);"
echo "peak_MB = peak_MB/r x np (upper bound of the total); ratio = peak_MB / kept_MB (aim < 3)"
