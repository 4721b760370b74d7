#!/usr/bin/env bash
# bench-recommend.sh - rp-recommend throughput: user x video pairs scored per second (blocked
# scoring + top-K heap + exclusion) against the single-core SGEMM rate of the same shape measured
# in the same run. Uses a real run's shards.h5/als.h5/hybrid.h5 when BENCH_RUN has them
# (default /work/data/full), else a synthetic KuaiRec-shaped input (7,176 users x 10,728 videos,
# 13% of pairs in train, ALS-like d=66 and two-tower-like d=32 dot models).
# Rates are given per wall second and per CPU second (the machine is shared: CPU seconds are
# steadier; rp-recommend reads them before its ranks' closing agreement, so a rank's MPI wait
# does not count; binaries before that change counted it). The SGEMM reference is measured
# again before each model because it moves with the load too (1.2e9-2.9e9 pairs per CPU second
# seen on the same day). BENCH_BEFORE=path/to/an/older/rp-recommend runs it too, interleaved, for a
# before/after table from one run.
# Usage: bench/bench-recommend.sh   (env: BENCH_RUN, BENCH_NPS="1 2", BENCH_K=50, BENCH_DIR,
#        BENCH_BEFORE, BENCH_NO_HYBRID=1 skips the hybrid models and training a synthetic one)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
source tests/env.sh
make -j2 all > /dev/null
run=${BENCH_RUN:-/work/data/full}
nps=${BENCH_NPS:-1 2}
k=${BENCH_K:-50}
work=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bench-recommend.XXXXXX")}
mkdir -p "$work"

if [ -f "$run/shards.h5" ] && [ -f "$run/als.h5" ]; then
    data="real ($run)"
    shards=$run/shards.h5 als=$run/als.h5 hybrid=${run}/hybrid.h5 tt=$run/twotower.h5
else
    nu=${BENCH_USERS:-7176} ni=${BENCH_ITEMS:-10728} # smaller only to try the script
    data="synthetic KuaiRec-shaped ($nu x $ni)"
    if [ ! -f "$work/shards.h5" ]; then
        t0=$(date +%s)
        (cd "$work" && "$top/bin/test-hybrid_fixture" "$nu" "$ni" 0.134 63 29 11)
        echo "synthetic inputs written in $(( $(date +%s) - t0 )) s"
    fi
    shards=$work/shards.h5 als=$work/als.h5 hybrid=$work/hybrid.h5 tt=$work/twotower.h5
    if [ ! -f "$hybrid" ] && [ -z "${BENCH_NO_HYBRID:-}" ]; then
        # A short hybrid (1 epoch of 200k samples) so its two variants can be timed too.
        rp_mpirun 2 bin/rp-hybrid --shards "$shards" --als "$als" --twotower "$work/twotower.h5" \
            --out "$hybrid" --epochs 1 --epoch-samples 200000 2> "$work/hybrid.log" | tail -1
    fi
fi

# Single-core SGEMM rate at the scoring shape (256 users x n_items x d).
d=$(h5dump -H -d /score/user "$als" | sed -n 's/.*SIMPLE { ( \([0-9]*\), \([0-9]*\) ).*/\2/p')
ni=$(h5dump -H -d /score/item "$als" | sed -n 's/.*SIMPLE { ( \([0-9]*\), \([0-9]*\) ).*/\1/p')
read -r gflops gemm_pairs gemm_cpu < <(OPENBLAS_NUM_THREADS=1 "$top/bin/bench-sgemm_rate" "$ni" "$d")

echo "== bench-recommend: $data, K=$k, ALS width d=$d, $(getconf _NPROCESSORS_ONLN) cores; load $(cut -d" " -f1-3 /proc/loadavg) (shared: timings are noisy)"
printf "SGEMM 256x%sx%s single core: %.2f GFLOP/s = %.4g pairs/s (2d flops per pair), %.4g pairs per cpu s\n" "$ni" "$d" "$gflops" "$gemm_pairs" "$gemm_cpu"
printf "%-16s %-7s %3s %12s %12s %9s %14s %9s %8s\n" model binary np scored_pairs pairs_per_s vs_gemm pairs_cpu_s_r vs_gemm wall_s
bins=("after:bin/rp-recommend")
[ -n "${BENCH_BEFORE:-}" ] && bins=("before:$BENCH_BEFORE" "${bins[@]}")
models=("$als")
[ -f "$tt" ] && models+=("$tt")
[ -f "$hybrid" ] && [ -z "${BENCH_NO_HYBRID:-}" ] && models+=("$hybrid#blend" "$hybrid#concat")
for m in "${models[@]}"; do
    # The SGEMM reference at this model's width (hybrids: the ALS width above).
    mf=${m%%#*}
    md=$(h5dump -H -d /score/user "$mf" 2> /dev/null | sed -n 's/.*SIMPLE { ( \([0-9]*\), \([0-9]*\) ).*/\2/p' || true)
    [ -n "$md" ] || md=$d
    read -r mg_gflops gemm_pairs gemm_cpu < <(OPENBLAS_NUM_THREADS=1 "$top/bin/bench-sgemm_rate" "$ni" "$md")
    printf "SGEMM 256x%sx%s single core (for %s): %.4g pairs/s, %.4g pairs per cpu s\n" "$ni" \
        "$md" "$(basename "$m")" "$gemm_pairs" "$gemm_cpu"
    for np in $nps; do
      for b in "${bins[@]}"; do
        out=$work/recs-${b%%:*}.h5
        summary=$(rp_mpirun "$np" "${b#*:}" --shards "$shards" --model-file "$m" --k "$k" \
                  --out "$out" 2> "$work/rec.log")
        line=$(grep "scored" "$work/rec.log" | tail -1)
        pairs=$(sed -n 's/.*scored \([0-9]*\) pairs in \([0-9.]*\) s.*/\1/p' <<< "$line")
        secs=$(sed -n 's/.*scored \([0-9]*\) pairs in \([0-9.]*\) s.*/\2/p' <<< "$line")
        cpu=$(sed -n 's/.*; \([0-9.]*\) cpu s per rank.*/\1/p' <<< "$line")
        wall=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<< "$summary")
        awk -v m="$(basename "$m")" -v b="${b%%:*}" -v np="$np" -v p="$pairs" -v s="$secs" -v c="${cpu:-0}" \
            -v g="$gemm_pairs" -v gc="$gemm_cpu" -v w="$wall" 'BEGIN { r = s > 0 ? p / s : 0; rc = c > 0 ? p / np / c : 0;
            printf "%-16s %-7s %3d %12d %12.4g %8.1f%% %14.4g %8.1f%% %8s\n", m, b, np, p, r, 100 * r / np / g, rc, 100 * rc / gc, w }'
      done
      if [ ${#bins[@]} -gt 1 ]; then
        if h5diff "$work/recs-before.h5" "$work/recs-after.h5" /items > /dev/null &&
           h5diff "$work/recs-before.h5" "$work/recs-after.h5" /scores > /dev/null; then
            echo "  before and after: same /items and /scores"
        else
            echo "  before and after: /items or /scores DIFFER"
        fi
      fi
    done
done
echo "(vs_gemm: pairs/s per rank as a share of the pure single-core SGEMM pair rate at the model's width"
echo " (measured again just before each model's rows), per wall"
echo " second and per CPU second (pairs_cpu_s_r: pairs per CPU second of the slowest rank's scoring);"
echo " the rest is the top-K heap, exclusion marks and, for hybrids, the extra components/MLP)"
