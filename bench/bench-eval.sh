#!/usr/bin/env bash
# bench/bench-eval.sh - rp-eval at KuaiRec scale on synthetic inputs (bench/eval_gen.sh):
# 7,176 users x 10,728 videos, 1,746 train rows per user (12.5 M), 1,411 test users x 3,314
# videos (4.68 M test pairs), dot-form models of width 64; run at np 1 and 2 (BENCH_NPS).
# Prints wall time and peak memory per run. Timings on a shared machine are noisy.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
export RP_TOP=$top RP_BIN=$top/bin
source "$top/tests/env.sh"
source "$top/bench/eval_gen.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-eval.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
eval_gen_build ./eval_gen
mkdir -p data
t0=$(date +%s.%N)
./eval_gen data "${NU:-7176}" "${NI:-10728}" "${TRAIN_PER_USER:-1746}" "${TEST_USERS:-1411}" \
    "${TEST_PER_USER:-3314}" "${DIM:-64}" 1
echo "generate: $(echo "$(date +%s.%N) - $t0" | bc) s ($(du -sh data | cut -f1))"
for np in ${BENCH_NPS:-1 2}; do
    mkdir -p "r$np"
    t0=$(date +%s.%N)
    rp_mpirun "$np" "$RP_BIN/rp-eval" --shards data/shards.h5 --features data/features.h5 \
        --als data/als.h5 --twotower data/twotower.h5 --truth data/truth.h5 \
        --out "r$np/eval.h5" 2> "r$np/stderr.txt" | tail -n 1
    echo "np=$np wall=$(echo "$(date +%s.%N) - $t0" | bc) s"
done
if [ -e r1/eval.h5 ] && [ -e r2/eval.h5 ]; then
    h5dump -d /metrics r1/eval.h5 | sed 1d > a.txt
    h5dump -d /metrics r2/eval.h5 | sed 1d > b.txt
    cmp -s a.txt b.txt && echo "np 1 and np 2: /metrics identical" \
        || echo "np 1 and np 2: /metrics DIFFER"
fi
cat r1/report.md
