#!/usr/bin/env bash
# bench-seqrec.sh - rp-seqrec training throughput at np 1 and 2 against the same architecture in
# PyTorch (bench/seqrec_torch.py train: same windows per user, MSE, Adam, dropout; CPU) with 1
# and 2 threads, on the same data and cores. Samples = predicted positions; both time the
# training steps only (no validation).
# Data: $SHARDS + $FEATURES if set, else rp-synth --scale $SCALE (1 = full KuaiRec size) ->
# rp-shard -> rp-features in the bench folder (kept for reruns).
# Variables: EPOCHS (1), WINDOWS (2 per user), NPS ("1 2"), THREADS ("1 2"), SCALE (1),
# BENCH_DIR (temp dir), PYTHON (/usr/bin/python3), BIND (none: ranks not pinned), SEQ_OPTS
# (extra rp-seqrec options, also given to PyTorch when they exist there). Timings are noisy on
# a shared machine.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/env.sh"
EPOCHS=${EPOCHS:-1} WINDOWS=${WINDOWS:-2} NPS=${NPS:-1 2} THREADS=${THREADS:-1 2}
SCALE=${SCALE:-1} PYTHON=${PYTHON:-/usr/bin/python3}
dir=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bench-seqrec.XXXXXX")}
mkdir -p "$dir"
[ -x "$top/bin/rp-seqrec" ] || { echo "build first: make" >&2; exit 1; }
if [ -n "${SHARDS:-}" ] && [ -n "${FEATURES:-}" ]; then
    shards=$SHARDS features=$FEATURES data="given: $SHARDS"
else
    shards=$dir/shards.h5 features=$dir/features.h5 data="rp-synth --scale $SCALE"
    if [ ! -e "$features" ]; then
        rp_mpirun 2 "$top/bin/rp-synth" --out "$dir/data" --scale "$SCALE" > /dev/null
        rp_mpirun 2 "$top/bin/rp-shard" --big "$dir/data/big_matrix.csv" \
            --small "$dir/data/small_matrix.csv" --out "$shards" --outlier clip > /dev/null
        rp_mpirun 2 "$top/bin/rp-features" --data "$dir/data" --shards "$shards" \
            --out "$features" > /dev/null
    fi
fi
# Ranks are not pinned (PyTorch's threads are not either): Open MPI pins rank 0 of every job with
# at most one rank per core to core 0, so on a shared machine rank 0 competed with every other
# job's rank 0 (found by the rp-twotower bench). BIND=core restores Open MPI's default.
export OMPI_MCA_mpi_yield_when_idle=1 OMP_WAIT_POLICY=PASSIVE
export OMPI_MCA_hwloc_base_binding_policy=${BIND:-none}
common=(--shards "$shards" --features "$features" --epochs "$EPOCHS" --early-stop 0
        --windows-per-user "$WINDOWS" --no-fallback)
echo "rp-seqrec benchmark: $data; epochs=$EPOCHS windows/user=$WINDOWS;" \
    "$(getconf _NPROCESSORS_ONLN) cores; $(date -u)"
echo "host load: $(cut -d' ' -f1-3 /proc/loadavg)"
fmt='%-24s %12s %10s %13s %18s\n'
printf "$fmt" run samples/s s/epoch peak_MB/rank allreduce_B/step
for np in $NPS; do
    out=$dir/seq-np$np.h5
    rm -f "$out" "$out.ckpt"
    line=$(RP_LOG=0 rp_mpirun "$np" "$top/bin/rp-seqrec" "${common[@]}" ${SEQ_OPTS:-} \
           --out "$out" | tail -n 1)
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$line"; }
    sps=$(get samples_per_s) ts=$(get train_seconds)
    declare "rp_$np=$sps"
    printf "$fmt" "rp-seqrec np=$np" "$sps" "$(awk -v t="$ts" -v e="$EPOCHS" \
        'BEGIN{printf "%.1f", t/e}')" "$(get peak_rss_mb_per_rank)" \
        "$(get allreduce_bytes_per_step)"
done
if "$PYTHON" -c 'import torch, h5py' 2> /dev/null; then
    for th in $THREADS; do
        js=$("$PYTHON" "$top/bench/seqrec_torch.py" train --shards "$shards" \
             --features "$features" --epochs "$EPOCHS" --windows-per-user "$WINDOWS" \
             --threads "$th" | tail -n 1)
        val() { sed -n "s/.*\"$1\": \([0-9.e+-]*\).*/\1/p" <<< "$js"; }
        declare "pt_$th=$(val samples_per_s)"
        printf "$fmt" "PyTorch $th thread(s)" "$(val samples_per_s | cut -d. -f1)" \
            "$(val seconds_per_epoch | cut -c1-6)" "$(val peak_rss_mb | cut -d. -f1)" "-"
    done
else
    echo "note: $PYTHON has no torch/h5py: PyTorch rows skipped"
fi
# The ratios the targets are stated in (only those whose two runs were made).
ratio() { [ -n "${!2:-}" ] && [ -n "${!3:-}" ] &&
          awk -v a="${!2}" -v b="${!3}" -v w="$1" 'BEGIN{printf "%s: %.2fx\n", w, a / b}' || true; }
ratio "np 2 / np 1" rp_2 rp_1
ratio "np 1 / PyTorch 1 thread" rp_1 pt_1
ratio "np 2 / PyTorch 2 threads" rp_2 pt_2
