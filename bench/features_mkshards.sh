#!/usr/bin/env bash
# features_mkshards.sh OUT NU NI NNZ - a synthetic shards.h5 for bench-features.sh holding what
# rp-features reads (ids, /train/by_item/{offsets,user,value}, root attributes): NU users, NI
# videos with raw ids 0.., NNZ train interactions spread unevenly over videos, written by
# bin/bench-features_mkshards (bench/tools/features_mkshards.c; run `make` first).
set -eu
out=$1 nu=$2 ni=$3 nnz=$4
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/bin/bench-features_mkshards" "$out" "$nu" "$ni" "$nnz"
