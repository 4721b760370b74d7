#!/usr/bin/env bash
# bench-weak.sh - weak scaling of the pipeline (`make bench-weak`; not a test): the data grow
# with the ranks. For each np in $WEAK_NPS, rp-synth --scale $WEAK_SCALE x sqrt(np) (users and
# videos both x sqrt(np), so the interactions grow as np: 0.5 gives 1/4 of KuaiRec at np 1 and
# KuaiRec's size at np 4), then shard, features, ALS (K 32, lambda 0.01, 5 iterations, no grid),
# two-tower (1 epoch), hybrid and eval at np ranks, as `make run` runs them (synth at np 2, not
# timed). Reports per stage the wall seconds and peak MB per rank at each np and the weak-scaling
# efficiency t(np_first) / t(np) (1.00 = perfect). Runs with more ranks than cores are marked
# "oversubscribed": there the ranks share cores and the efficiency falls for that reason alone.
# Writes $WEAK_RUN/weak.md and prints it.
# Env (mk/bench.mk passes the make variables of the same names): WEAK_RUN [runs/weak],
# WEAK_SCALE [0.5], WEAK_NPS ["1 2 4"], WEAK_KEEP (1: keep the run folders) [0].
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/tests/env.sh"
source "$top/bench/scale_lib.sh"
root=${WEAK_RUN:-runs/weak}
case $root in /*) ;; *) root=$top/$root ;; esac
s0=${WEAK_SCALE:-0.5} nps=${WEAK_NPS:-1 2 4} keep=${WEAK_KEEP:-0}
out=$root/weak.md
mkdir -p "$root" || exit 74
stages="shard features als twotower hybrid eval"
declare -A wall cpu mem line nnz scale
load0=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$(date +%s)
for np in $nps; do
    s=$(awk -v a="$s0" -v n="$np" 'BEGIN { printf "%.4f", a * sqrt(n) }')
    scale[$np]=$s
    run=$root/np$np
    rm -rf "$run"
    vars=(SCALE="$s" ALS_K=32 ALS_LAMBDA=0.01 ALS_PENALTY=wr ALS_ITERS=5 ALS_EARLY_STOP=0 ALS_CHECKPOINT_EVERY=0
          TT_EPOCHS=1)
    echo "bench: weak np $np, scale $s (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    sl_make "$root/logs-np$np" "$run" 2 synth "${vars[@]}" || exit 1
    for g in $stages; do
        sl_make "$root/logs-np$np" "$run" "$np" "$g" "${vars[@]}" || exit 1
        wall[$np.$g]=$SL_WALL
        cpu[$np.$g]=$(awk -v c="$SL_CPU" -v n="$np" 'BEGIN { printf "%.2f", c / n }')
        mem[$np.$g]=$(sl_field peak_rss_mb_per_rank "$SL_LINE")
        line[$np.$g]=$SL_LINE
    done
    nnz[$np]=$(sl_nnz "$run/shards.h5")
    [ "$keep" = 1 ] || rm -rf "$run"
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

first=${nps%% *}
# row LABEL FIELD-FUNCTION: one table row over the rank counts, then the efficiencies.
hdr() {
    local np
    printf '| %s |' "$1"
    for np in $nps; do
        if [ "$np" -gt "$sl_cores" ]; then printf ' np %s (oversubscribed) |' "$np"; else printf ' np %s |' "$np"; fi
    done
    for np in $nps; do [ "$np" = "$first" ] || printf ' efficiency np %s |' "$np"; done
    echo
    printf '|---|'
    for np in $nps; do printf -- '---:|'; done
    for np in $nps; do [ "$np" = "$first" ] || printf -- '---:|'; done
    echo
}
# stage_rows ARRAY: one row per stage of ARRAY[np.stage] and the efficiencies ARRAY[first] / ARRAY[np].
stage_rows() {
    local -n v=$1
    local g np
    for g in $stages; do
        printf '| rp-%s |' "$g"
        for np in $nps; do printf ' %s |' "${v[$np.$g]}"; done
        for np in $nps; do [ "$np" = "$first" ] || printf ' %s |' "$(sl_ratio "${v[$first.$g]}" "${v[$np.$g]}")"; done
        echo
    done
}
{
echo "# recpipe weak-scaling benchmark $(date -u +%FT%TZ)"
echo
echo "$(hostname), $sl_cores cores; load average $load0 at the start, $load1 at the end;" \
     "$(( $(date +%s) - t_start )) s in all. Data: rp-synth --scale $s0 x sqrt(np);" \
     "ALS --k 32 --lambda 0.01 --iters 5, two-tower 1 epoch. Efficiency = t(np $first) / t(np)."
echo
hdr "data"
printf '| scale |'; for np in $nps; do printf ' %s |' "${scale[$np]}"; done
for np in $nps; do [ "$np" = "$first" ] || printf ' |'; done; echo
printf '| train interactions |'; for np in $nps; do printf ' %s |' "${nnz[$np]}"; done
for np in $nps; do [ "$np" = "$first" ] || printf ' |'; done; echo
printf '| per rank |'; for np in $nps; do printf ' %s |' $(( nnz[$np] / np )); done
for np in $nps; do [ "$np" = "$first" ] || printf ' |'; done; echo
echo
hdr "seconds"
stage_rows wall
echo
echo "CPU seconds per rank (user + system of every process of the step, launcher included, / np):"
echo "on a shared machine the wall clock measures the neighbours, this the work; efficiency ="
echo "cpu(np $first) / cpu(np) per rank, 1.00 = each rank does the same work as one rank alone"
echo "(make's and mpirun's ~1 CPU s is divided by np too: on small data this reads above 1)."
echo
hdr "CPU s per rank"
stage_rows cpu
for f in sweep_s_mean sweep_cpu_s_best; do
    printf '| ALS sweep (both halves) (%s) |' "$f"
    for np in $nps; do printf ' %s |' "$(sl_field $f "${line[$np.als]}")"; done
    for np in $nps; do [ "$np" = "$first" ] || printf ' %s |' "$(sl_ratio "$(sl_field $f "${line[$first.als]}")" "$(sl_field $f "${line[$np.als]}")")"; done
    echo
done
printf '| two-tower epoch (train_seconds) |'
for np in $nps; do printf ' %s |' "$(sl_field train_seconds "${line[$np.twotower]}")"; done
for np in $nps; do [ "$np" = "$first" ] || printf ' %s |' "$(sl_ratio "$(sl_field train_seconds "${line[$first.twotower]}")" "$(sl_field train_seconds "${line[$np.twotower]}")")"; done
echo
echo
hdr "peak MB per rank"
for g in $stages; do
    printf '| rp-%s |' "$g"
    for np in $nps; do printf ' %s |' "${mem[$np.$g]}"; done
    for np in $nps; do [ "$np" = "$first" ] || printf ' |'; done
    echo
done
echo
echo "Bytes exchanged (summary lines): ALS per sweep, two-tower per step (dense allreduce / sparse):"
echo
for np in $nps; do
    echo "- np $np: ALS $(sl_field exchange_bytes_per_sweep "${line[$np.als]}") ($(sl_field exchange "${line[$np.als]}")), two-tower" \
         "$(sl_field allreduce_bytes_per_step "${line[$np.twotower]}") / $(sl_field sparse_bytes_per_step "${line[$np.twotower]}")"
done
} > "$out.tmp" && mv -f "$out.tmp" "$out"
cat "$out"
echo "bench: table in $out (logs in $root/logs-np*)" >&2
