# bench/scale_lib.sh - helpers of bench-scale.sh and bench-weak.sh (sourced, not run).
# Both drive the pipeline DAG (mk/dag.mk) goal by goal, so each stage runs exactly as `make run`
# runs it, and read each program's summary line ("rp-<stage>: ok ... seconds=S
# peak_rss_mb_per_rank=M nprocs=N") for the figures.

# The inner makes get only the variables given here: an outer `make bench-scale NP=4` must not
# reach them through MAKEFLAGS (the benchmark chooses NP itself).
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

sl_cores=$(env -u OMP_NUM_THREADS nproc)

# sl_field NAME LINE: the value of NAME=value in a summary line (empty when absent).
sl_field() { printf '%s\n' "$2" | grep -o " $1=[^ ]*" | head -n 1 | cut -d= -f2; }

# sl_ratio A B: A / B with 2 decimals, "-" when either is empty or B is 0.
sl_ratio() {
    if [ -z "$1" ] || [ -z "$2" ] || [ "$1" = - ] || [ "$2" = - ]; then echo -; return; fi
    awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'
}

# sl_make LOGDIR RUN NP GOAL VAR=value...: run `make GOAL` for run folder RUN at NP ranks and
# the given make variables; stdout and stderr in LOGDIR/GOAL.{out,err}. Sets SL_WALL (seconds,
# launch included), SL_CPU (user + system CPU seconds of make, mpirun and every rank: the ranks
# are reaped by mpirun, so their usage reaches it; steadier than wall time when other jobs share
# the cores, though ranks that spin while waiting in MPI count too) and SL_LINE (the program's
# summary line). A goal must run exactly one stage
# (the earlier ones are up to date): otherwise the figures would mix stages, and it fails.
sl_make() {
    local logdir=$1 run=$2 np=$3 goal=$4 t0 t1 t2 nrun
    shift 4
    mkdir -p "$logdir"
    local TIMEFORMAT='%R %U %S' st
    { time make -C "$top" --no-print-directory RUN="$run" NP="$np" "$@" "$goal" \
        > "$logdir/$goal.out" 2> "$logdir/$goal.err"; } 2> "$logdir/$goal.time"
    st=$?
    read -r t0 t1 t2 < "$logdir/$goal.time"
    SL_WALL=$(awk -v a="$t0" 'BEGIN { printf "%.1f", a }')
    SL_CPU=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", a + b }')
    SL_LINE=$(grep -m 1 "^rp-$goal: ok " "$logdir/$goal.out")
    if [ $st != 0 ] || [ -z "$SL_LINE" ]; then
        echo "bench: make $goal (RUN=$run NP=$np) failed (exit $st): $(tail -n 3 "$logdir/$goal.err")" >&2
        return 1
    fi
    nrun=$(grep -c '^recpipe: \[' "$logdir/$goal.err")
    if [ "$nrun" != 1 ]; then
        echo "bench: make $goal ran $nrun stages, expected 1 (see $logdir/$goal.err)" >&2
        return 1
    fi
    echo "bench: $goal np=$np ${SL_WALL}s (CPU ${SL_CPU}s) peak $(sl_field peak_rss_mb_per_rank "$SL_LINE") MB/rank" >&2
}

# sl_nnz SHARDS: train interactions of a shards.h5 (the /train/nnz attribute).
sl_nnz() { h5dump -A -a /train/nnz "$1" 2>/dev/null | awk '/\(0\)/ { print $2; exit }'; }
