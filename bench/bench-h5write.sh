#!/usr/bin/env bash
# bench-h5write.sh - the HDF5 write path of every stage (pipeline/rp_h5.c) against the raw file
# system, in one run: the same bytes (rp-shard-sized by default: 392 MB in 8 datasets, each
# rank one contiguous block of each) written through rp_h5, through HDF5 with independent
# transfers, through MPI-IO collective and independent, and with POSIX pwrite. Best of REPS
# per way, wall and CPU (the machine is shared: CPU seconds are steadier). Not a test.
# Usage: bench/bench-h5write.sh   (env: BENCH_NPS="1 2", BENCH_DIR (where files go, default a
#        temporary folder under TMPDIR), ENTRIES=12250000, DATASETS=8, REPS=3)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
source tests/env.sh
make -j2 all > /dev/null
work=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bench-h5write.XXXXXX")}
mkdir -p "$work"
fs=$(df -T "$work" | awk 'NR == 2 { print $2 }')
for np in ${BENCH_NPS:-1 2}; do
    echo "== bench-h5write: np $np, $work ($fs), $(getconf _NPROCESSORS_ONLN) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
    rp_mpirun "$np" "$top/bin/bench-h5write" "$work" "${ENTRIES:-12250000}" "${DATASETS:-8}" "${REPS:-3}"
done
echo "(MB/s_wall: aggregate over ranks; MB/cpu_s: bytes per CPU second summed over ranks)"
