#!/usr/bin/env bash
# slurm.sh - slurm/ on a real one-node Slurm cluster (slurmctld + slurmd + munge) that this test
# starts and stops itself (tools/slurm-local.sh): slurm/submit.sh runs the pipeline on tiny data
# and every job ends COMPLETED (JobState, not sbatch's exit code) with valid outputs; a failing
# stage cancels its dependents; an als job interrupted by Slurm's warning signal checkpoints,
# requeues itself and resumes to the same factors as an uninterrupted run while its dependents
# wait; slurm/pipeline.sbatch runs `make run` in one job. Skips (77) when Slurm cannot be started
# here.
set -u
. "$RP_TOP/tests/env.sh"
rp_need_pipeline
[ "$(id -u)" = 0 ] || { echo "skip: starting slurmd and munged needs root"; exit 77; }
for t in sbatch scontrol scancel slurmctld slurmd munged h5dump; do
    command -v $t >/dev/null 2>&1 || [ -x /usr/sbin/$t ] ||
        { echo "skip: $t not installed (apt-get install slurm-wlm munge hdf5-tools)"; exit 77; }
done

# Our own cluster: state in TMPDIR, ports of our own so a cluster already running is not hit.
export SLURM_LOCAL_DIR=$TMPDIR/slurm
export SLURM_LOCAL_CTLD_PORT=$((20000 + $$ % 20000)) SLURM_LOCAL_D_PORT=$((40000 + $$ % 20000))
export SLURM_CONF=$SLURM_LOCAL_DIR/slurm.conf
stop_cluster() { "$RP_TOP/tools/slurm-local.sh" stop >/dev/null 2>&1; }
trap stop_cluster EXIT
trap 'exit 143' TERM INT
if ! "$RP_TOP/tools/slurm-local.sh" start > "$TMPDIR/slurm-start.log" 2>&1; then
    cat "$TMPDIR/slurm-start.log"
    tail -n 5 "$SLURM_LOCAL_DIR"/*.log 2>/dev/null
    echo "skip: could not start a local Slurm cluster: $(tail -n 1 "$TMPDIR/slurm-start.log")"
    exit 77
fi
echo "slurm up: $SLURM_CONF"

fails=0
FAIL_GO_ON=1 # fail (tests/env.sh) counts; the script ends with the total
ok() { echo "ok: $*"; }
schema() { h5dump -a /schema "$1" 2>/dev/null | sed -n 's/.*(0): "\(.*\)".*/\1/p'; }
jobfield() { scontrol show job "$1" 2>/dev/null | grep -o "\b$2=[^ ]*" | head -n 1 | cut -d= -f2; }
# wait_jobs ID...: until none is pending, running or requeued (at most 240 s).
wait_jobs() {
    local j st busy
    for _ in $(seq 1 480); do
        busy=0
        for j in "$@"; do
            st=$(jobfield "$j" JobState)
            case $st in PENDING|RUNNING|CONFIGURING|COMPLETING|REQUEUED|SUSPENDED|"") busy=1 ;; esac
            case $(jobfield "$j" Reason) in PartitionConfig|BadConstraints|PartitionTimeLimit|ReqNodeNotAvail*)
                echo "job $j can never run:"; scontrol show job "$j" | head -n 4; return 1 ;;
            esac
        done
        [ $busy = 0 ] && return 0
        sleep 0.5
    done
    echo "jobs still busy after 240 s:"; for j in "$@"; do scontrol show job "$j" | head -n 4; done
    return 1
}
submit() { "$RP_TOP/slurm/submit.sh" --no-build -n 2 -t 00:10:00 -T 00:10:00 BIN="$RP_BIN" SCALE=0.02 "$@"; }
id_of() { awk -v s="$1" '$1 == s {print $2}' "$2"; }
show_logs() { for f in "$1"/logs/*.out; do echo "== $f"; tail -n 15 "$f"; done; }

run=$TMPDIR/run
# 1. the whole pipeline, one job per stage
submit RUN="$run" > "$TMPDIR/jobs1" 2> "$TMPDIR/submit1.err" || { cat "$TMPDIR/submit1.err"; fail "submit.sh failed"; exit 1; }
cat "$TMPDIR/jobs1"
[ "$(awk '{print $1}' "$TMPDIR/jobs1" | tr '\n' ' ')" = "synth shard features als twotower hybrid eval recommend " ] ||
    fail "submit.sh did not print one '<stage> <jobid>' line per stage"
wait_jobs $(awk '{print $2}' "$TMPDIR/jobs1") || fail "pipeline jobs did not finish"
bad=0
while read -r s j; do
    st=$(jobfield "$j" JobState)
    [ "$st" = COMPLETED ] || { fail "job $s ($j) ended $st"; bad=1; }
done < "$TMPDIR/jobs1"
[ $bad = 0 ] || show_logs "$run"
for f in shards features als twotower hybrid eval recs; do
    want=recpipe.$f
    [ "$(schema "$run/$f.h5")" = "$want" ] || fail "$run/$f.h5 is not a valid $want file"
done
[ -s "$run/report/report.md" ] || fail "no report.md"
while read -r s j; do
    case $s in als|twotower|hybrid) want=1 ;; *) want=0 ;; esac
    [ "$(jobfield "$j" Requeue)" = $want ] || fail "job $s: Requeue=$(jobfield "$j" Requeue), want $want"
done < "$TMPDIR/jobs1"
[ $bad = 0 ] && ok "pipeline of 8 chained jobs COMPLETED, outputs valid"

# 2. a failing stage cancels what depends on it (and only that)
submit RUN="$run" --stages "als twotower hybrid eval recommend" ALS_ARGS=--no-such-option > "$TMPDIR/jobs2" 2>&1 ||
    fail "submit.sh (failing als) failed"
wait_jobs $(awk '{print $2}' "$TMPDIR/jobs2") || fail "failing-stage jobs did not finish"
st=$(jobfield "$(id_of als "$TMPDIR/jobs2")" JobState)
[ "$st" = FAILED ] || fail "the failing als job ended $st, not FAILED"
[ "$(jobfield "$(id_of als "$TMPDIR/jobs2")" ExitCode)" = 64:0 ] ||
    fail "the failing als job's exit code is $(jobfield "$(id_of als "$TMPDIR/jobs2")" ExitCode), not rp-als's 64"
[ "$(jobfield "$(id_of twotower "$TMPDIR/jobs2")" JobState)" = COMPLETED ] || fail "twotower (independent of als) did not complete"
for s in hybrid eval recommend; do
    j=$(id_of $s "$TMPDIR/jobs2")
    st=$(jobfield "$j" JobState)
    [ "$st" = CANCELLED ] || fail "$s after a failed als ended $st, not CANCELLED"
    [ "$(jobfield "$j" Reason)" = DependencyNeverSatisfied ] || fail "$s: reason $(jobfield "$j" Reason)"
done
[ ! -e "$run/als.h5" ] || fail "the failed als left als.h5"
ok "failing als: FAILED (exit 64), hybrid/eval/recommend CANCELLED, twotower COMPLETED"

# interrupt JOB LOG: once rp-als logs an iteration in LOG, send USR1 to the job's batch shell (as
# Slurm does 120 s before the limit), then release the requeued job without Slurm's two-minute
# hold (after 2 s: slurmd rejects a relaunch within the second its credential was revoked).
interrupt() {
    local j=$1 log=$2 signalled=0 st restarts
    for _ in $(seq 1 1200); do
        if grep -q 'rp-als.*iter [0-9]' "$log" 2>/dev/null; then
            scancel --batch --signal=USR1 "$j" && signalled=1
            break
        fi
        case $(jobfield "$j" JobState) in COMPLETED|FAILED|CANCELLED|TIMEOUT) break ;; esac
        sleep 0.1
    done
    [ $signalled = 1 ] || { fail "job $j never reached an ALS iteration to signal"; return 1; }
    for _ in $(seq 1 600); do
        st=$(jobfield "$j" JobState) restarts=$(jobfield "$j" Restarts)
        if [ "${restarts:-0}" -ge 1 ] && [ "$st" = PENDING ]; then
            sleep 2; scontrol update JobId="$j" StartTime=now; return 0
        fi
        case $st in COMPLETED|FAILED|CANCELLED|TIMEOUT) break ;; esac
        sleep 0.2
    done
    fail "job $j was not requeued (state $st)"
}

# 3. a training job interrupted by Slurm's warning signal: the als job (new parameters) checkpoints,
# exits 75, requeues itself, resumes with --resume; hybrid, eval and recommend wait for it and
# complete; the factors equal an uninterrupted run's.
iters=60
# rp-als sleeps this long after each iteration (the job inherits the environment): at SCALE=0.02
# its whole grid takes a fraction of a second, less than the signal's way through Slurm
export RP_ALS_TEST_DELAY_MS=200
submit RUN="$run" --stages "als hybrid eval recommend" ALS_ITERS=$iters ALS_CHECKPOINT_EVERY=1 > "$TMPDIR/jobs3" 2>&1 ||
    fail "submit.sh (als ...) failed"
j=$(id_of als "$TMPDIR/jobs3")
log=$run/logs/als-$j.out
interrupt "$j" "$log"
wait_jobs $(awk '{print $2}' "$TMPDIR/jobs3") || fail "jobs after the requeued als did not finish"
while read -r s jj; do
    [ "$(jobfield "$jj" JobState)" = COMPLETED ] || fail "job $s ($jj) after the requeue ended $(jobfield "$jj" JobState)"
done < "$TMPDIR/jobs3"
[ "$(jobfield "$j" Restarts)" = 1 ] || fail "als job restarts: $(jobfield "$j" Restarts), want 1"
grep -q 'als stopped at a checkpoint; requeueing' "$log" || fail "no requeue message in $log"
grep -q "srun --mpi=pmix -n 2 $RP_BIN/rp-als .*--resume" "$log" || fail "the requeued run did not pass --resume via srun"
grep -q 'rp-als.*resumed from .* after iteration [1-9]' "$log" || fail "rp-als did not resume from a checkpoint"
for f in als hybrid eval recs; do
    [ "$(schema "$run/$f.h5")" = "recpipe.$f" ] || fail "$run/$f.h5 invalid after the requeued run"
done
unset RP_ALS_TEST_DELAY_MS
mpirun -n 1 "$RP_BIN/rp-als" --shards "$run/shards.h5" --out "$TMPDIR/als-ref.h5" --iters $iters \
    --seed 42 > /dev/null 2>&1 || fail "reference rp-als failed"
for d in /user_factors /item_factors /user_bias /item_bias; do
    [ "$(h5dump -d $d "$run/als.h5" | sed 1d)" = "$(h5dump -d $d "$TMPDIR/als-ref.h5" | sed 1d)" ] ||
        fail "resumed als.h5 $d differs from an uninterrupted run"
done
[ $fails = 0 ] && ok "als job: USR1 -> checkpoint, exit 75, requeue, --resume, identical factors; dependents COMPLETED"
[ $fails = 0 ] || { echo "== als log"; cat "$log"; }

# 4. slurm/pipeline.sbatch: `make run` in one job with srun as the launcher, on the run above with
# another recommendation size, so only rp-recommend reruns (keeps the test short)
j=$(cd "$RP_TOP" && RECPIPE_DIR=$RP_TOP sbatch --parsable --ntasks=2 --time=00:10:00 \
    --output="$run/logs/pipeline-%j.out" slurm/pipeline.sbatch RUN="$run" BIN="$RP_BIN" SCALE=0.02 \
    ALS_ITERS=$iters ALS_CHECKPOINT_EVERY=1 RECS_K=7) || fail "sbatch pipeline.sbatch failed"
wait_jobs "$j" || fail "pipeline job did not finish"
plog=$run/logs/pipeline-$j.out
[ "$(jobfield "$j" JobState)" = COMPLETED ] || { fail "pipeline job ended $(jobfield "$j" JobState)"; tail -n 20 "$plog"; }
[ "$(sed -n 's/^recpipe: \[\([a-z]*\)\].*/\1/p' "$plog" | tr '\n' ' ')" = "recommend " ] ||
    fail "pipeline.sbatch ran other stages than recommend: $(grep '^recpipe: \[' "$plog")"
grep -q "srun --mpi=pmix -n 2 $RP_BIN/rp-recommend" "$plog" || fail "pipeline.sbatch did not launch with srun"
h5dump -H -d /items "$run/recs.h5" | grep -q 'SIMPLE { ( [0-9]*, 7 )' || fail "recs.h5 /items is not K=7 wide"
ok "pipeline.sbatch: make run in one job"

[ $fails = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "slurm: all checks passed"
