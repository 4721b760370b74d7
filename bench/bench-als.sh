#!/usr/bin/env bash
# bench-als.sh - rp-als benchmark (`make bench-als`; not a test). Full-size data: $SHARDS if set;
# else rp-shard ($RP_SHARD, default bin/rp-shard) on $BENCH_DATA/{big,small}_matrix.csv
# (default /work/data/full) when both exist; else a planted fixture of 7,176 users x 10,728
# videos at density 0.17 (~12.5M rows like big_matrix.csv). Weak scaling always uses fixtures.
# Reports per (k, precision, np): seconds per sweep (best and mean of ITERS, wall; cpu_s = CPU
# seconds of the busiest rank, steadier when the machine is shared), GFLOP/s, the DGEMM/SGEMM
# roofline measured in the same run (roof_s = sweep flops / summed wall-clock GEMM rate of np
# single-threaded ranks; ratio = sweep_s / roof_s; cpu_rat = cpu_s / (sweep flops / summed
# CPU-time GEMM rate), the like-for-like figure when other jobs share the cores), peak memory
# per rank, bytes exchanged per sweep; then weak scaling with 2x and 4x the users at np 2 and 4. Env: BENCH_DIR (scratch, default /tmp/rp-bench-als), ITERS (3),
# KS ("32 64"), NPS ("1 2"), PRECS ("fp64 fp32"), WEAK (1), OUT (report, default
# $BENCH_DIR/report.txt), BENCH_USERS/BENCH_ITEMS/BENCH_DENSITY (fixture size). The machine may be shared: timings are noisy.
# On AVX-512 machines the normal equations come from a register-tiled kernel and the sweep's
# Cholesky solves are batched (8 fp64 / 16 fp32 systems per vector, docs/stages/als.md; the
# kernel alone: bin/bench-als_gram); elsewhere (or RP_ALS_NO_AVX512=1) SYRK and LAPACK.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/tests/env.sh"
dir=${BENCH_DIR:-/tmp/rp-bench-als}
iters=${ITERS:-3} ks=${KS:-32 64} nps=${NPS:-1 2} precs=${PRECS:-fp64 fp32} weak=${WEAK:-1}
mkdir -p "$dir"
out=${OUT:-$dir/report.txt}
fixture=$top/bin/test-als_fixture roofline=$top/bin/bench-als_roofline # built by `make all`
[ -x "$fixture" ] && [ -x "$roofline" ] || { echo "run make all first" >&2; exit 1; }
users=${BENCH_USERS:-7176} items=${BENCH_ITEMS:-10728} density=${BENCH_DENSITY:-0.17}
make_fixture() { # make_fixture PATH N_USERS NP
    [ -s "$1" ] && return 0
    echo "generating $1 ($2 users x $items videos)" >&2
    $MPIEXEC -n "$3" "$fixture" "$1" "$2" "$items" "$density" 16 0.15 || exit 1
}
data=${BENCH_DATA:-/work/data/full} shard_bin=${RP_SHARD:-$top/bin/rp-shard}
if [ -n "${SHARDS:-}" ]; then
    shards=$SHARDS
elif [ -x "$shard_bin" ] && [ -e "$data/big_matrix.csv" ] && [ -e "$data/small_matrix.csv" ]; then
    shards=$dir/shards_real.h5
    # The cached shards are reused only when made from these very CSVs (path, size, mtime):
    # BENCH_DIR outlives runs, and another BENCH_DATA must not be timed on stale shards.
    src=$(stat -c '%n %s %Y' "$data/big_matrix.csv" "$data/small_matrix.csv")
    if [ ! -s "$shards" ] || [ "$(cat "$shards.src" 2>/dev/null)" != "$src" ]; then
        rm -f "$shards" "$shards.src"
        $MPIEXEC -n 2 "$shard_bin" --big "$data/big_matrix.csv" \
            --small "$data/small_matrix.csv" --out "$shards" > /dev/null || exit 1
        echo "$src" > "$shards.src"
    fi
else
    shards=$dir/shards_1x.h5
    make_fixture "$shards" $users 2
fi
field() { grep -o " $1=[^ ]*" "$2" | head -n 1 | cut -d= -f2; }

declare -A roof
for np in $nps 4; do
    r=$($MPIEXEC -n $np "$roofline" 1024 5)
    roof[d$np]=$(echo "$r" | grep -o 'dgemm_gflops=[0-9.]*' | cut -d= -f2)
    roof[s$np]=$(echo "$r" | grep -o 'sgemm_gflops=[0-9.]*' | cut -d= -f2)
    roof[cd$np]=$(echo "$r" | grep -o 'dgemm_cpu_gflops=[0-9.]*' | cut -d= -f2)
    roof[cs$np]=$(echo "$r" | grep -o 'sgemm_cpu_gflops=[0-9.]*' | cut -d= -f2)
done
{
echo "# rp-als benchmark $(date -u +%FT%TZ) on $(getconf _NPROCESSORS_ONLN) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "# input: $shards (nnz train $(h5dump -A -a /train/nnz "$shards" 2>/dev/null | awk '/\(0\)/{print $2}'))"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# roofline (sum over np single-threaded ranks, GFLOP/s by wall / by CPU time): $(for np in $nps 4; do printf 'np%s dgemm=%s/%s sgemm=%s/%s  ' $np ${roof[d$np]} ${roof[cd$np]} ${roof[s$np]} ${roof[cs$np]}; done)"
printf "%-4s %-5s %-3s %9s %9s %9s %8s %8s %8s %7s %7s %12s %7s\n" k prec np sweep_s mean_s cpu_s gflop gflops roof_s ratio cpu_rat bytes/sweep rss_mb
} | tee "$out"
run() { # run K PREC NP SHARDS LABEL
    local log="$dir/run_$5_k$1_$2_np$3.txt"
    $MPIEXEC -n $3 "$top/bin/rp-als" --shards "$4" --out "$dir/als_$5.h5" --k $1 --lambda 0.01 --penalty wr \
        --precision $2 --iters $iters --checkpoint-every 0 --early-stop 0 > "$log" 2> "$log.err" || {
        echo "rp-als failed: $(tail -n 2 "$log.err")"; return 1; }
    local best mean cpu gf rate rss bytes key rf rfc
    best=$(field sweep_s_best "$log"); mean=$(field sweep_s_mean "$log")
    cpu=$(field sweep_cpu_s_best "$log")
    gf=$(field gflop_per_sweep "$log"); rate=$(field gflops_best "$log")
    rss=$(field peak_rss_mb_per_rank "$log"); bytes=$(field exchange_bytes_per_sweep "$log")
    key=$([ $2 = fp64 ] && echo d || echo s)$3
    rf=$(awk -v g="$gf" -v r="${roof[$key]}" 'BEGIN{printf "%.4f", g / r}')
    rfc=$(awk -v g="$gf" -v r="${roof[c$key]}" 'BEGIN{printf "%.4f", g / r}')
    printf "%-4s %-5s %-3s %9s %9s %9s %8s %8s %8s %7s %7s %12s %7s\n" $1 $2 $3 "$best" \
        "$mean" "$cpu" "$gf" "$rate" "$rf" "$(awk -v a="$best" -v b="$rf" 'BEGIN{printf "%.2fx", a / b}')" \
        "$(awk -v a="$cpu" -v b="$rfc" 'BEGIN{printf "%.2fx", a / b}')" "$bytes" "$rss" | tee -a "$out"
}
for k in $ks; do
    for prec in $precs; do
        for np in $nps; do run $k $prec $np "$shards" full; done
    done
done
if [ "$weak" = 1 ]; then
    echo "# weak scaling (fixtures): k=32 fp64, 1x users at np 1, 2x at np 2, 4x at np 4" | tee -a "$out"
    make_fixture "$dir/shards_1x.h5" $users 2
    run 32 fp64 1 "$dir/shards_1x.h5" weak1x
    make_fixture "$dir/shards_2x.h5" $((2 * users)) 2
    run 32 fp64 2 "$dir/shards_2x.h5" weak2x
    rm -f "$dir/shards_2x.h5"
    make_fixture "$dir/shards_4x.h5" $((4 * users)) 2
    run 32 fp64 4 "$dir/shards_4x.h5" weak4x
    rm -f "$dir/shards_4x.h5"
fi
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
echo "# report: $out"
