#!/usr/bin/env bash
# twotower_fixture.sh - write a planted synthetic shards.h5 + features.h5 (schema of
# include/rp_schema.h) with bin/test-twotower_fixture (tests/tools/twotower_fixture.c); used by
# tests/e2e/twotower*.sh and bench/bench-twotower.sh.
# Usage: twotower_fixture.sh NP SHARDS FEATURES [key=value ...]
#   keys: users items train valid ucat unum icat inum taglen ucard icard tagcard seed noise
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
np=$1 shards=$2 features=$3
shift 3
. "$top/tests/env.sh"
rp_mpirun "$np" "${RP_BIN:-$top/bin}/test-twotower_fixture" "$shards" "$features" "$@"
