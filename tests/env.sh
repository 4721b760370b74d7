# tests/env.sh - environment for running MPI programs in tests and benchmarks (sourced).
# Open MPI refuses root without these; tests oversubscribe 4 ranks on small machines; BLAS
# threads would fight the ranks for cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export HDF5_USE_FILE_LOCKING=FALSE
: "${MPIEXEC:=mpiexec}"
# rp_mpirun NP cmd... : run cmd under NP ranks.
rp_mpirun() { local np=$1; shift; $MPIEXEC -n "$np" "$@"; }
# fail MSG...: an e2e check failed: print "FAIL: MSG" and exit 1, or, in a script that checks on
# (FAIL_GO_ON=1), count it in $fails and let the script end with [ $fails = 0 ].
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); [ "${FAIL_GO_ON:-0}" = 1 ] || exit 1; }
# rp_need_pipeline: for a test that drives the make DAG: clear the make and DAG variables the
# caller's environment may pass in, and skip (exit 77) unless every stage program is built.
rp_need_pipeline() {
    unset MAKEFLAGS MAKELEVEL MFLAGS RUN DATA NP LAUNCH CONFIG SCALE
    local s
    for s in synth shard features als twotower hybrid eval recommend; do
        [ -x "$RP_BIN/rp-$s" ] || { echo "skip: $RP_BIN/rp-$s is not built yet"; exit 77; }
    done
}
# rp_expect_exit CODE OUT NP PROG ARGS...: run PROG on NP ranks (stderr in err.txt); fail unless
# it exits CODE and, when CODE is not 0, printed an error and left neither OUT nor OUT.partial.
rp_expect_exit() {
    local want=$1 out=$2 np=$3
    shift 3
    rm -f "$out"
    rp_mpirun "$np" "$@" > /dev/null 2> err.txt
    local st=$?
    [ "$st" = "$want" ] || fail "exit $st, want $want for: $* ($(head -n 2 err.txt))"
    [ "$want" = 0 ] || [ ! -e "$out" ] || fail "output $out left after failure"
    [ ! -e "$out.partial" ] || fail "partial $out.partial left"
    [ "$want" = 0 ] || [ -s err.txt ] || fail "no error message for: $*"
}
# rp_signal_resume NP SIGNAL TARGET FULL OUT "OBJS" PROG ARGS...: run PROG ARGS --out OUT on NP
# ranks, send SIGNAL to mpiexec (TARGET mpiexec) or to its ranks (rank) once OUT.ckpt exists;
# require exit 75, a checkpoint and no output; rerun with --resume and require the datasets OBJS
# of OUT equal to FULL's (the uninterrupted run). RP_SIGNAL_LATE_OK=1: a run that ended before
# the signal arrived (exit 0) is a note, not a failure.
rp_signal_resume() {
    local np=$1 sig=$2 target=$3 full=$4 out=$5 objs=$6 obj
    shift 6
    rm -f "$out" "$out.ckpt"
    $MPIEXEC -n "$np" "$@" --out "$out" > /dev/null 2>&1 &
    local pid=$! n=0
    # stop waiting when the run has ended: a fast run can write and remove its checkpoint
    # between two looks, which used to cost the whole 120 s
    while [ ! -e "$out.ckpt" ] && kill -0 "$pid" 2> /dev/null && [ $n -lt 1200 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    if [ "$target" = rank ]; then kill -"$sig" $(pgrep -P "$pid") 2> /dev/null
    else kill -"$sig" "$pid"; fi
    wait "$pid"
    local st=$?
    if [ "$st" = 0 ] && [ "${RP_SIGNAL_LATE_OK:-0}" = 1 ]; then
        echo "note: $sig came after the last epoch"
        return
    fi
    [ "$st" = 75 ] || fail "$sig to $target: exit $st, want 75"
    [ ! -e "$out" ] || fail "$sig: output written although interrupted"
    [ -e "$out.ckpt" ] || fail "$sig: no checkpoint"
    rp_mpirun "$np" "$@" --out "$out" --resume > /dev/null || fail "$sig: resume failed"
    for obj in $objs; do
        h5diff "$full" "$out" "$obj" "$obj" > /dev/null || fail "$sig: resumed run differs in $obj"
    done
}
