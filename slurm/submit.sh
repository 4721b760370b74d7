#!/usr/bin/env bash
# slurm/submit.sh - submit the pipeline as one Slurm job per stage, chained with
# --dependency=afterok (and --kill-on-invalid-dep=yes, so a failed stage cancels everything
# downstream instead of leaving it pending forever). Prints "<stage> <jobid>" per line.
#
#   slurm/submit.sh [options] [VAR=value ...]
#   slurm/submit.sh -n 8 -p compute -t 00:30:00 -T 04:00:00 RUN=runs/k64 ALS_K=64
#   slurm/submit.sh DATA="/data/KuaiRec 2.0/data" RUN=runs/real
#
# Options (each also read from the environment variable in brackets):
#   -n, --np N            MPI ranks per job [NP, default 2]
#   -p, --partition P     partition [SLURM_PARTITION, default: the cluster's]
#   -A, --account A       account [SLURM_ACCOUNT]
#   -t, --time T          time limit of the data stages [STAGE_TIME, default 01:00:00]
#   -T, --train-time T    time limit of als, twotower, hybrid [TRAIN_TIME, default 04:00:00]
#       --mem-per-cpu M   memory per rank, e.g. 4G [MEM_PER_CPU]
#       --signal-time S   seconds before the limit at which training jobs checkpoint
#                         [SIGNAL_TIME, default 120]
#       --stages "LIST"   stages to submit, in pipeline order [STAGES, default: all; synth is
#                         left out when DATA= is given]. Outputs of stages not listed must exist.
#       --sbatch "ARGS"   extra sbatch arguments for every job [SBATCH_EXTRA]
#       --no-build        do not run `make all` first (bin/ must be up to date)
#       --dry-run         print the sbatch commands instead of submitting
# VAR=value arguments are make variables (RUN, DATA, CONFIG, SCALE, ALS_K, ...; README.md)
# passed to every job. Job logs: $RUN/logs/<stage>-<jobid>.out.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
np=${NP:-2} partition=${SLURM_PARTITION:-} account=${SLURM_ACCOUNT:-}
stage_time=${STAGE_TIME:-01:00:00} train_time=${TRAIN_TIME:-04:00:00}
mem=${MEM_PER_CPU:-} signal_time=${SIGNAL_TIME:-120} stages=${STAGES:-}
extra=${SBATCH_EXTRA:-} build=1 dry=0
vars=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case $1 in
    -n|--np) np=$2; shift ;;
    -p|--partition) partition=$2; shift ;;
    -A|--account) account=$2; shift ;;
    -t|--time) stage_time=$2; shift ;;
    -T|--train-time) train_time=$2; shift ;;
    --mem-per-cpu) mem=$2; shift ;;
    --signal-time) signal_time=$2; shift ;;
    --stages) stages=$2; shift ;;
    --sbatch) extra=$2; shift ;;
    --no-build) build=0 ;;
    --dry-run) dry=1 ;;
    -h|--help) usage 0 ;;
    *=*) vars+=("$1") ;;
    *) echo "submit.sh: unknown argument '$1' (see --help)" >&2; exit 64 ;;
    esac
    shift
done
case $np in ''|*[!0-9]*|0) echo "submit.sh: --np must be a positive integer, got '$np'" >&2; exit 64 ;; esac
command -v sbatch >/dev/null || { echo "submit.sh: sbatch not found (is Slurm installed?)" >&2; exit 66; }
cd "$top"

# The run folder, DATA and the recommended model, as make will see them (command line, then
# CONFIG, then environment): ask make itself.
mk() { make --no-print-directory -s "${vars[@]+"${vars[@]}"}" "$@"; }
run=$(mk rp-print-RUN)
data=$(mk rp-print-DATA)
recs_model=$(mk rp-print-RECS_MODEL)
if [ -z "$stages" ]; then
    stages="shard features als twotower hybrid eval recommend"
    [ -n "$data" ] || stages="synth $stages"
fi
[ "$build" = 0 ] || [ "$dry" = 1 ] || make -s all >&2
mkdir -p "$run/logs"

# deps STAGE: the stages it reads from (only those submitted now become dependencies).
deps() {
    case $1 in
    synth) ;;
    shard) echo synth ;;
    features) echo synth shard ;;
    als) echo shard ;;
    twotower) echo shard features ;;
    hybrid) echo shard features als twotower ;;
    eval) echo synth shard features als twotower hybrid ;;
    recommend) echo shard "$(case $recs_model in bias) echo als ;; *) echo "$recs_model" ;; esac)" ;;
    *) echo "submit.sh: unknown stage '$1'" >&2; exit 64 ;;
    esac
}

declare -A job=()
export RECPIPE_DIR=$top
for s in $stages; do
    args=(--parsable --job-name="recpipe-$s" --ntasks="$np" --chdir="$top"
          --output="$run/logs/$s-%j.out" --open-mode=append)
    [ -n "$partition" ] && args+=(--partition="$partition")
    [ -n "$account" ] && args+=(--account="$account")
    [ -n "$mem" ] && args+=(--mem-per-cpu="$mem")
    case $s in
    als|twotower|hybrid) args+=(--time="$train_time" --signal="B:USR1@$signal_time" --requeue) ;;
    *) args+=(--time="$stage_time" --no-requeue) ;;
    esac
    dep=
    for d in $(deps "$s"); do
        [ -n "${job[$d]:-}" ] && dep="$dep:${job[$d]}"
    done
    [ -n "$dep" ] && args+=(--dependency="afterok$dep" --kill-on-invalid-dep=yes)
    # shellcheck disable=SC2206 # extra is a list of words on purpose
    [ -n "$extra" ] && args+=($extra)
    cmd=(sbatch "${args[@]}" "$top/slurm/stage.sbatch" "$s" "${vars[@]+"${vars[@]}"}")
    if [ "$dry" = 1 ]; then
        printf '%q ' "${cmd[@]}"; echo
        job[$s]=DRY-$s
        continue
    fi
    id=$("${cmd[@]}") || { echo "submit.sh: sbatch failed for stage $s" >&2; exit 70; }
    id=${id%%;*}
    job[$s]=$id
    echo "$s $id"
done
