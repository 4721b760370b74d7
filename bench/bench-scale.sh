#!/usr/bin/env bash
# bench-scale.sh - how the pipeline's cost grows with the data (`make bench-scale`; not a test).
# Runs the pipeline DAG twice in one invocation, at rp-synth --scale $SCALE_BASE (1 = KuaiRec's
# size) and then at $SCALE_BIG (3.16: 3.16^2 = 10x the interactions, ~22,700 users x 33,900
# videos, ~13 GB of CSV), both at $SCALE_NP ranks: synth, shard, features, ALS at a given K and
# lambda (no grid search: it multiplies the time) for a fixed number of iterations, two-tower
# for one epoch, recommend (from $SCALE_RECS_MODEL), hybrid and eval, as `make run` runs them;
# then seqrec for one epoch at both scales (last: it is the slowest stage and optional).
# The table is rewritten after every stage of the big run, so a run stopped by hand (a time
# limit) still reports the stages it finished.
# Reports per stage the wall seconds and the peak MB per rank (from each program's summary line)
# at both scales and their ratios; then the time per ALS sweep and per training epoch against
# the number of train interactions: factor = (t_big / t_base) / (nnz_big / nnz_base), where
# 1.00 is linear (the target is <= 1.15). Writes the table to $SCALE_RUN/scale.md and prints it.
#
# Env (mk/bench.mk passes the make variables of the same names):
#   SCALE_RUN     folder of the run folders, logs and table (outside the tree for real runs;
#                 default runs/scale; the big run needs ~1.6 GB per 1x of interactions)
#   SCALE_BASE    the reference scale [1]      SCALE_BIG  the large scale [3.16]
#   SCALE_NP      ranks [2]                     SCALE_KEEP 1: keep the run folders [0]
#   SCALE_ALS_K [32]  SCALE_ALS_LAMBDA [0.01]  SCALE_ALS_ITERS [5]  (no early stop; --penalty wr,
#                 the ridge the published figures were measured with)
#   SCALE_RECS_MODEL  the model rp-recommend scores [als] (hybrid: the MLP path, ~4x the CPU)
#   SCALE_SEQREC      1: also seqrec at both scales, after the rest [1]
#   SCALE_STAGES      the stages before seqrec, in DAG order [synth shard features als twotower
#                 recommend hybrid eval]; "synth shard features als" measures only seqrec's pair
#                 (its inputs: ALS is its --init) without the hour the rest takes at 10x
# The machine may be shared: wall times are inflated by load (reported); the ratios within one
# invocation are what counts.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/tests/env.sh"
source "$top/bench/scale_lib.sh"
root=${SCALE_RUN:-runs/scale}
case $root in /*) ;; *) root=$top/$root ;; esac
base=${SCALE_BASE:-1} big=${SCALE_BIG:-3.16} np=${SCALE_NP:-2} keep=${SCALE_KEEP:-0}
als_k=${SCALE_ALS_K:-32} als_lambda=${SCALE_ALS_LAMBDA:-0.01} als_iters=${SCALE_ALS_ITERS:-5}
recs_model=${SCALE_RECS_MODEL:-als} seqrec=${SCALE_SEQREC:-1}
out=$root/scale.md
mkdir -p "$root" || exit 74
all_stages="synth shard features als twotower recommend hybrid eval"
main_stages=${SCALE_STAGES:-$all_stages}
stages="$all_stages seqrec" # the table's rows (stages not run show "-")
declare -A wall cpu mem line nnz users items

# run_scale LABEL SCALE STAGES...: those pipeline stages at one scale in $root/s<SCALE>.
run_scale() {
    local label=$1 s=$2 run=$root/s$2 g
    shift 2
    local vars=(SCALE="$s" ALS_K="$als_k" ALS_LAMBDA="$als_lambda" ALS_PENALTY=wr ALS_ITERS="$als_iters"
                ALS_EARLY_STOP=0 ALS_CHECKPOINT_EVERY=0 TT_EPOCHS=1 SEQ_EPOCHS=1
                RECS_MODEL="$recs_model")
    echo "bench: scale $s, $* (run folder $run, np $np, load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    for g in "$@"; do
        sl_make "$root/logs-s$s" "$run" "$np" "$g" "${vars[@]}" || return 1
        wall[$label.$g]=$SL_WALL
        cpu[$label.$g]=$SL_CPU
        mem[$label.$g]=$(sl_field peak_rss_mb_per_rank "$SL_LINE")
        line[$label.$g]=$SL_LINE
        if [ "$g" = shard ]; then
            nnz[$label]=$(sl_nnz "$run/shards.h5")
            users[$label]=$(h5dump -A -a n_users "$run/shards.h5" | awk '/\(0\)/ { print $2 }')
            items[$label]=$(h5dump -A -a n_items "$run/shards.h5" | awk '/\(0\)/ { print $2 }')
        fi
        # the table so far: a big run stopped by hand (time) still leaves its finished stages
        if [ "$label" = big ]; then write_table; fi
    done
    echo "bench: scale $s done, $(du -sh "$run" | cut -f1) on disk" >&2
}

# check_room: will the big run fit in the memory and on the disk left? Estimates from the base
# run: peak per rank x np x (interaction ratio), and the base run folder's size x the ratio.
check_room() {
    local r peak=0 g need_mb avail_mb disk_mb free_mb
    r=$(awk -v a="$base" -v b="$big" 'BEGIN { printf "%.3f", (b / a) ^ 2 }')
    for g in $main_stages; do
        [ "${mem[base.$g]%.*}" -gt "$peak" ] && peak=${mem[base.$g]%.*}
    done
    need_mb=$(awk -v p="$peak" -v r="$r" -v n="$np" 'BEGIN { printf "%d", p * r * n }')
    avail_mb=$(awk '/MemAvailable/ { printf "%d", $2 / 1024 }' /proc/meminfo)
    disk_mb=$(du -sm "$root/s$base" | cut -f1)
    disk_mb=$(awk -v d="$disk_mb" -v r="$r" 'BEGIN { printf "%d", d * r }')
    free_mb=$(df -Pm "$root" | awk 'NR == 2 { print $4 }')
    echo "bench: scale $big estimate: peak memory ~${need_mb} MB over $np ranks (available" \
         "${avail_mb} MB), disk ~${disk_mb} MB (free ${free_mb} MB)" >&2
    if [ "$disk_mb" -gt "$free_mb" ]; then
        echo "bench: not enough disk in $root for scale $big (need ~${disk_mb} MB)" >&2
        return 1
    fi
    if [ "$need_mb" -gt 24576 ]; then
        echo "bench: scale $big would need ~${need_mb} MB, more than 24 GiB" >&2
        return 1
    fi
    [ "$need_mb" -gt "$avail_mb" ] && echo "bench: warning: less memory available than the estimate" >&2
    return 0
}


# write_table: $out from the figures so far (missing ones are "-").
write_table() {
    # Per-iteration times: ALS (mean wall per sweep, user + item half, and the best CPU seconds, steadier under
    # load); two-tower and seqrec: training seconds of their one epoch and samples per second (an
    # epoch's samples: every train interaction for two-tower, --windows-per-user windows per user
    # for seqrec; the rates give the factor with more digits than the seconds).
    per_iter() { # per_iter LABEL -> "als_wall als_cpu tt_s tt_rate seq_s seq_rate"
        local a=${line[$1.als]:-} t=${line[$1.twotower]:-} q=${line[$1.seqrec]:-}
        # "-" for a stage not run: read would shift the later fields into its place
        fd() { local v; v=$(sl_field "$1" "$2"); echo "${v:--}"; }
        echo "$(fd sweep_s_mean "$a") $(fd sweep_cpu_s_best "$a")" \
             "$(fd train_seconds "$t") $(fd samples_per_s "$t")" \
             "$(fd train_seconds "$q") $(fd samples_per_s "$q")"
    }
    local a1 c1 t1 tr1 q1 qr1 a2 c2 t2 tr2 q2 qr2 rn ru g tr cr l
    read -r a1 c1 t1 tr1 q1 qr1 <<< "$(per_iter base)"
    read -r a2 c2 t2 tr2 q2 qr2 <<< "$(per_iter big)"
    rn=$(sl_ratio "${nnz[big]:-}" "${nnz[base]:-}")
    ru=$(sl_ratio "${users[big]:-}" "${users[base]:-}")
    factor() { sl_ratio "$(sl_ratio "$2" "$1")" "$3"; } # factor T_BASE T_BIG DATA_RATIO
    {
    echo "# recpipe scale benchmark $(date -u +%FT%TZ)"
    echo
    echo "$(hostname), $sl_cores cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), np $np;" \
         "load average $load0 at the start, $load1 at the end; $(( $(date +%s) - t_start )) s in all."
    echo "ALS --k $als_k --lambda $als_lambda --iters $als_iters --early-stop 0 (no grid); two-tower and seqrec 1 epoch;" \
         "rp-recommend --model $recs_model; other options at their defaults."
    echo
    echo "| scale | users | videos | train interactions |"
    echo "|---:|---:|---:|---:|"
    echo "| $base | ${users[base]:-} | ${items[base]:-} | ${nnz[base]:-} |"
    echo "| $big | ${users[big]:-} | ${items[big]:-} | ${nnz[big]:-} |"
    echo "| ratio | $ru | $(sl_ratio "${items[big]:-}" "${items[base]:-}") | $rn |"
    echo
    echo "Per stage: wall seconds (launch included), CPU seconds of all ranks (user + system; steadier"
    echo "under load), peak MB per rank; ratios big / base, and the time ratios over the interaction ratio"
    echo "(1.00 = cost linear in the interactions)."
    echo
    echo "| stage | s @$base | CPU s @$base | MB/rank @$base | s @$big | CPU s @$big | MB/rank @$big | time ratio | CPU ratio | memory ratio | time ratio / nnz ratio | CPU ratio / nnz ratio |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for g in $stages; do
        tr=$(sl_ratio "${wall[big.$g]:-}" "${wall[base.$g]:-}")
        cr=$(sl_ratio "${cpu[big.$g]:-}" "${cpu[base.$g]:-}")
        echo "| rp-$g | ${wall[base.$g]:-} | ${cpu[base.$g]:-} | ${mem[base.$g]:-} | ${wall[big.$g]:-} | ${cpu[big.$g]:-} |" \
             "${mem[big.$g]:-} | $tr | $cr | $(sl_ratio "${mem[big.$g]:-}" "${mem[base.$g]:-}") |" \
             "$(sl_ratio "$tr" "$rn") | $(sl_ratio "$cr" "$rn") |"
    done
    echo
    echo "Per iteration (factor = time ratio / interaction ratio; 1.00 = linear, target <= 1.15):"
    echo
    echo "| per iteration | s @$base | s @$big | time ratio | factor |"
    echo "|---|---:|---:|---:|---:|"
    echo "| ALS sweep (both halves), mean wall | $a1 | $a2 | $(sl_ratio "$a2" "$a1") | $(factor "$a1" "$a2" "$rn") |"
    echo "| ALS sweep (both halves), best CPU | $c1 | $c2 | $(sl_ratio "$c2" "$c1") | $(factor "$c1" "$c2" "$rn") |"
    echo "| two-tower epoch | $t1 | $t2 | $(sl_ratio "$t2" "$t1") | $(factor "$t1" "$t2" "$rn") |"
    echo "| two-tower, 1 / samples per s | 1/$tr1 | 1/$tr2 | $(sl_ratio "$tr1" "$tr2") x samples | $(sl_ratio "$tr1" "$tr2") |"
    echo "| seqrec epoch | $q1 | $q2 | $(sl_ratio "$q2" "$q1") | $(factor "$q1" "$q2" "$rn") |"
    echo
    echo "Two-tower: an epoch is every train interaction, so time ratio / interaction ratio equals the"
    echo "samples-per-second ratio (base / big), given with more digits in its row."
    echo "A seqrec epoch draws --windows-per-user windows per user: its work grows with the users"
    echo "(ratio $ru), not the interactions; its time ratio / user ratio is $(factor "$q1" "$q2" "$ru")"
    echo "(samples per second $qr1 -> $qr2)."
    echo
    echo "Summary lines:"
    echo
    echo '```'
    for l in base big; do for g in $stages; do echo "${line[$l.$g]:-}"; done; done
    echo '```'
    } > "$out.tmp" && mv -f "$out.tmp" "$out"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg) load1="(still running)"
t_start=$(date +%s)
rm -rf "$root/s$base" "$root/s$big"
run_scale base "$base" $main_stages || exit 1
check_room || exit 1
run_scale big "$big" $main_stages || exit 1
if [ "$seqrec" = 1 ]; then
    # (the base CSVs stay until here: seqrec's inputs hang on the generated data in the DAG)
    run_scale base "$base" seqrec || exit 1
    run_scale big "$big" seqrec || exit 1
fi
load1=$(cut -d' ' -f1-3 /proc/loadavg)
write_table
cat "$out"
[ "$keep" = 1 ] || rm -rf "$root/s$base" "$root/s$big"
echo "bench: table in $out (logs in $root/logs-s*)" >&2
