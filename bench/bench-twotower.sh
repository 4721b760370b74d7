#!/usr/bin/env bash
# bench-twotower.sh - rp-twotower throughput at np 1 and 2 against the same architecture in
# PyTorch (bench/twotower_torch.py, Debian's python3-torch) on the same data and cores.
# Data: $SHARDS + $FEATURES if set, else a full-size-shaped synthetic set (KuaiRec big matrix:
# 7,176 users, 10,728 videos, ~10M training interactions; feature widths like the real ones).
# Variables: EPOCHS (2), BATCH (8192), NPS ("1 2"), THREADS ("1 2"; empty: no PyTorch runs),
# BENCH_DIR (temp dir), PYTHON (/usr/bin/python3), BIND (none). Timings are noisy on a shared
# machine; cpu_s is rp-twotower's train_cpu_seconds (CPU time of the training steps, the
# maximum over ranks, including the time a rank polls in MPI while it waits). Both sides train
# the same model (rp-twotower's default architecture and schedule) without weight decay and
# with bias terms starting at 0 (PyTorch's SparseAdam has no decay; the script has no
# bias-model start).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/env.sh"
EPOCHS=${EPOCHS:-2} BATCH=${BATCH:-8192} NPS=${NPS:-1 2} THREADS=${THREADS-1 2}
PYTHON=${PYTHON:-/usr/bin/python3}
dir=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bench-twotower.XXXXXX")}
mkdir -p "$dir"
[ -x "$top/bin/rp-twotower" ] || { echo "build first: make" >&2; exit 1; }
if [ -n "${SHARDS:-}" ] && [ -n "${FEATURES:-}" ]; then
    shards=$SHARDS features=$FEATURES data="given: $SHARDS"
else
    shards=$dir/shards.h5 features=$dir/features.h5
    data="synthetic full-size-shaped (bench/twotower_fixture.sh)"
    if [ ! -e "$shards" ]; then
        bash "$top/bench/twotower_fixture.sh" 1 "$shards" "$features" users=7176 items=10728 \
            train=1400 valid=150 ucat=22 unum=5 icat=3 inum=3 taglen=4 ucard=30 icard=500 \
            tagcard=31 seed=11
    fi
fi
# Ranks that wait in MPI yield the core (Open MPI only does so by itself when it sees more ranks
# than cores); on a shared, loaded machine a spinning rank steals time from its partner. The
# PyTorch runs get the matching OMP_WAIT_POLICY=PASSIVE below. Ranks are not pinned (PyTorch's
# threads are not either): Open MPI pins rank 0 of every job with at most one rank per core to
# core 0, so on the shared VM rank 0 (and an np 1 run) competed with everybody else's rank 0
# (measured: an epoch's compute took 13.9 s on rank 0 against 8.2 s on rank 1 of the same run).
# BIND=core restores Open MPI's default.
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_hwloc_base_binding_policy=${BIND:-none}
common=(--shards "$shards" --features "$features" --epochs "$EPOCHS" --batch "$BATCH"
        --weight-decay 0 --emb-weight-decay 0 --no-bias-init --early-stop 0)
echo "rp-twotower benchmark: $data; epochs=$EPOCHS batch=$BATCH;" \
    "$(getconf _NPROCESSORS_ONLN) cores; $(date -u)"
echo "host load: $(cut -d' ' -f1-3 /proc/loadavg)"
fmt='%-22s %12s %10s %10s %12s %14s %14s %11s\n'
printf "$fmt" run samples/s s/epoch cpu_s peak_MB/rank allreduce_B/step sparse_B/step valid_rmse
for np in $NPS; do
    out=$dir/tt-np$np.h5
    rm -f "$out" "$out.ckpt"
    line=$(RP_LOG=0 rp_mpirun "$np" "$top/bin/rp-twotower" "${common[@]}" --out "$out" |
           tail -n 1)
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$line"; }
    spe=$(h5dump -d /history/seconds "$out" | awk '/\(0\)/ {gsub(/.*\):/, "");
          n = split($0, a, ","); s = 0; for (i = 1; i <= n; i++) s += a[i]; printf "%.1f", s / n}')
    mae=$(h5dump -d /history/valid_rmse "$out" | awk '/\(0\)/ {gsub(/.*\):/, "");
          n = split($0, a, ","); printf "%.5f", a[n]}')
    sps[$np]=$(get samples_per_s)
    phases[$np]="compute $(get compute_seconds) s, exchange $(get exchange_seconds) s, wait $(get wait_seconds) s, update $(get update_seconds) s"
    printf "$fmt" "rp-twotower np=$np" "$(get samples_per_s)" "$spe" \
        "$(get train_cpu_seconds)" "$(get peak_rss_mb_per_rank)" "$(get allreduce_bytes_per_step)" \
        "$(get sparse_bytes_per_step)" "$mae"
done
# where a rank's training time went (rp-twotower's summary line, docs/stages/twotower.md)
for np in $NPS; do echo "phases np=$np: ${phases[$np]}"; done
# strong scaling against the first rank count measured (np 2 / np 1 is the issue's figure)
first=${NPS%% *}
for np in $NPS; do
    [ "$np" = "$first" ] || awk -v a="${sps[$np]}" -v b="${sps[$first]}" -v n="$np" -v f="$first" \
        'BEGIN { if (a > 0 && b > 0) printf "np %s / np %s samples/s: %.2f\n", n, f, a / b }'
done
if ! "$PYTHON" -c "import torch, h5py" 2> /dev/null; then
    echo "PyTorch part skipped: apt-get install -y python3-torch python3-h5py"
    exit 0
fi
for th in $THREADS; do
    # passive OpenMP waiting: spinning threads on a loaded shared machine slow torch 10-30x
    js=$(OMP_NUM_THREADS=$th OMP_WAIT_POLICY=PASSIVE "$PYTHON" \
        "$top/bench/twotower_torch.py" --shards "$shards" --features "$features" \
        --epochs "$EPOCHS" --batch "$BATCH" --threads "$th")
    echo "$js" > "$dir/torch-$th.json"
    "$PYTHON" - "$th" "$js" <<'EOF'
import json, sys
r = json.loads(sys.argv[2])
print("%-22s %12.0f %10.1f %10s %12.0f %14s %14s %11.5f" % ("pytorch threads=" + sys.argv[1],
      r["samples_per_s"], r["seconds_per_epoch"], "-", r["peak_rss_mb"], "-", "-",
      r["history"][-1]["valid_rmse"]))
EOF
done
echo "raw results in $dir"
