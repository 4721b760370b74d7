#!/usr/bin/env bash
# bench-shard.sh - time full-size rp-shard at np 1 and 2 (not a test; timings on a shared machine
# are noisy). Prints CSV MB/s per rank (read+parse phase and whole run), peak memory per rank,
# and the peak memory against the size of the data kept (the output's datasets).
# Usage: bench/bench-shard.sh [DATA_DIR]  (default $DATA or /work/data/full; when the folder has
# no small_matrix.csv after WAIT_S seconds, full-size-shaped CSVs are generated instead).
# OLD_BIN=<older rp-shard> adds a side-by-side run of both binaries (AB_NPS, AB_REPS); BENCH_NPS=
# (empty) skips the single-binary table. The full-size CSVs of `make run` are in
# /work/runs/seq/data on the project's machine. Per phase: the summary line has wall seconds;
# RP_LOG=2 also logs each phase's end with this rank's CPU seconds so far. Wall well above CPU
# on a quiet machine is mostly the VM's host backing fresh memory and page cache (see
# docs/stages/shard.md, "Memory and speed"): compare runs in turns (OLD_BIN), not across hours.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/tests/env.sh"
# A shared machine: idle ranks yield instead of spinning (override by exporting it).
export OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle:-1}
data=${1:-${DATA:-/work/data/full}}
nps=${BENCH_NPS-1 2}
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
# Side by side (OLD_BIN=path/to/an/older/rp-shard): both binaries on the same files, in turns
# (old, new, old, new, ... AB_REPS rounds per np in AB_NPS), best of the rounds, each run after
# AB_SLEEP seconds (default 3) with its old output removed: memory a process freed comes back
# ~25x cheaper than fresh memory for about 2 s on the project's VMs (docs/stages/shard.md), so
# back to back the second binary would run on the first one's freed pages; CPU seconds of
# all processes from /usr/bin/time (steadier than wall on a shared machine); the datasets of
# both outputs compared with h5diff (only run attributes may differ).
# The root attributes of a shards file without those of the run itself.
root_attrs() {
    h5dump -A -g / "$1" | awk '/^   ATTRIBUTE "(nprocs|params|elapsed_s|peak_rss_mb)"/ { skip = 1 }
        !skip && !/^HDF5 / { print } skip && /^   }/ { skip = 0 }'
}
same_data() { # every dataset and every group attribute, and the root attributes above
    h5diff -r --exclude-attribute / "$1" "$2" > /dev/null && diff <(root_attrs "$1") <(root_attrs "$2")
}
if [ -n "${OLD_BIN:-}" ]; then
    echo "== side by side: old $OLD_BIN vs new $top/bin/rp-shard, AB_REPS=${AB_REPS:-3}"
    printf '%-4s %-4s %8s %8s %12s %12s  %s\n' np bin wall_s cpu_s parse_MB/s/r cpu_MB/s/r phases
    ab_run() { # np label binary out -> one table row; keeps the best wall and CPU in ab_best
        local np=$1 lab=$2 bin=$3 out=$4 line t
        t=$work/time.txt
        rm -f "$out"
        sleep "${AB_SLEEP:-3}"
        line=$(RP_LOG=0 /usr/bin/time -f "%e %U %S" -o "$t" bash -c "source '$top/tests/env.sh'; rp_mpirun $np '$bin' --big '$big' --small '$small' --out '$out'" | tail -n 1)
        read -r wall usr sys < "$t"
        get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
        local phases=""
        for k in parse_seconds ids_seconds split_seconds test_seconds prep_seconds write_seconds h5_write_seconds; do
            phases="$phases ${k%_seconds}=$(get $k)"
        done
        awk -v np="$np" -v b="$lab" -v w="$wall" -v u="$usr" -v s="$sys" -v p="$(get parse_mb_s_per_rank)" \
            -v c="$(get parse_cpu_mb_s_per_rank)" -v ph="$phases" \
            'BEGIN { printf "%-4d %-4s %8.2f %8.2f %12.1f %12.1f %s\n", np, b, w, u + s, p, c, ph }'
        echo "$lab $wall $(awk -v u="$usr" -v s="$sys" 'BEGIN { print u + s }')" >> "$work/ab-$np.txt"
    }
    for np in ${AB_NPS:-2}; do
        mkdir -p "$work/old" "$work/new"
        for r in $(seq "${AB_REPS:-3}"); do
            ab_run "$np" old "$OLD_BIN" "$work/old/shards.h5"
            ab_run "$np" new "$top/bin/rp-shard" "$work/new/shards.h5"
        done
        awk -v np="$np" '{ if (!($1 in w) || $2 < w[$1]) w[$1] = $2; if (!($1 in c) || $3 < c[$1]) c[$1] = $3 }
            END { printf "np %d best of rounds: old %.2f s wall, %.2f CPU s; new %.2f s wall, %.2f CPU s; old/new: %.2fx wall, %.2fx CPU\n",
                  np, w["old"], c["old"], w["new"], c["new"], w["old"] / w["new"], c["old"] / c["new"] }' "$work/ab-$np.txt"
        if same_data "$work/old/shards.h5" "$work/new/shards.h5" > "$work/abdiff.txt" 2>&1; then
            echo "np $np: old and new outputs: same datasets and attributes (but the run's own: nprocs, params, elapsed_s, peak_rss_mb)"
        else
            echo "np $np: old and new outputs DIFFER:"; head "$work/abdiff.txt"
        fi
    done
fi
echo "parse_MB/s/r: CSV MB per rank per wall second of the read+parse phase (aim >= 300);"
echo "cpu_MB/s/r: the same per CPU second (what the parser does when the machine is loaded);"
echo "peak_MB = peak_MB/r x np (upper bound of the total); ratio = peak_MB / kept_MB (aim < 3)"
