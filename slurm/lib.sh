# slurm/lib.sh - sourced by the batch scripts (pipeline.sbatch, stage.sbatch): run one make goal
# of the pipeline inside the allocation, forward Slurm's warning signal to the MPI program, and
# requeue the job when the program stopped at a checkpoint (exit 75).
#
# How an interruption flows: the job is submitted with --signal=B:USR1@120 --requeue, so 120 s
# before its time limit Slurm sends USR1 to this batch shell only. The trap below sets a flag;
# the wait loop then signals the job's steps (the srun-launched MPI ranks) with
# `scancel --signal=USR1` every half second until make ends, so a stage that was still starting
# gets it too. rp-als / rp-twotower write a checkpoint at the next iteration boundary and exit
# 75; the make recipe records "<stage> 75" in $RP_STATUS_FILE; we call `scontrol requeue`, and
# the rerun (SLURM_RESTART_COUNT > 0) passes RESUME=1 so make adds --resume. Steps are
# signalled, not the make process: make would die of USR1. (A program still inside MPI_Init has
# no handler yet and dies of the signal; with 120 s of warning that window is tiny.)

# rp_slurm_enter - cd to the recpipe checkout the job was submitted from.
rp_slurm_enter() {
    cd "${RECPIPE_DIR:-${SLURM_SUBMIT_DIR:-.}}" ||
        { echo "recpipe: cannot cd to the checkout" >&2; exit 66; }
    [ -f mk/dag.mk ] ||
        { echo "recpipe: $(pwd) is not a recpipe checkout (set RECPIPE_DIR)" >&2; exit 66; }
}

# rp_slurm_make GOAL [VAR=value ...] - run `make GOAL` with srun as the launcher and the job's
# task count as NP (both overridable by VAR=value arguments). Exits with make's status, or
# requeues the job after an interruption at a checkpoint.
rp_slurm_make() {
    local status pid rc signalled=0 resume=()
    status=$(mktemp "${TMPDIR:-/tmp}/recpipe-status.XXXXXX")
    [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ] && resume=(RESUME=1)
    trap 'signalled=1; echo "recpipe: job ${SLURM_JOB_ID:-?} got USR1: checkpointing" >&2' USR1
    echo "recpipe: job ${SLURM_JOB_ID:-?} on $(hostname): make $* (restart ${SLURM_RESTART_COUNT:-0})" >&2
    RP_STATUS_FILE=$status make --no-print-directory LAUNCH=srun NP="${SLURM_NTASKS:-1}" \
        "${resume[@]}" "$@" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$signalled" = 1 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
            scancel --signal=USR1 "$SLURM_JOB_ID" 2>/dev/null || true
        fi
        sleep 0.5 & wait $! # (a trapped signal interrupts wait at once, not sleep)
    done
    wait "$pid"
    rc=$?
    trap - USR1
    if [ "$rc" != 0 ] && grep -q ' 75$' "$status"; then
        echo "recpipe: $(awk '$2 == 75 {print $1}' "$status") stopped at a checkpoint;" \
             "requeueing job ${SLURM_JOB_ID:-?}" >&2
        rm -f "$status"
        if [ -n "${SLURM_JOB_ID:-}" ] && scontrol requeue "$SLURM_JOB_ID"; then
            sleep 300 # Slurm ends this shell as it requeues the job
        fi
        echo "recpipe: requeue failed; resubmit with RESUME=1" >&2
        exit 75
    fi
    # Report the failing program's own exit code (64, 65, ...) rather than make's 2.
    if [ "$rc" != 0 ]; then
        rc=$(awk -v rc="$rc" '$2 != 0 {rc = $2} END {print rc}' "$status")
    fi
    rm -f "$status"
    exit "$rc"
}
