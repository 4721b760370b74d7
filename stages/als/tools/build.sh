#!/usr/bin/env bash
# build.sh NAME OUT_BINARY - compile stages/als/tools/als_NAME.c (fixture | roofline) against the
# built libraries (run `make` first). Used by tests/e2e/als*.sh and bench/bench-als.sh.
set -eu
top=$(cd "$(dirname "$0")/../../.." && pwd)
name=$1 out=$2
hdf5_pc=${HDF5_PC:-hdf5-openmpi}
src="$top/stages/als/tools/als_${name}_main.c"
[ -e "$src" ] || src="$top/stages/als/tools/als_${name}.c"
${MPICC:-mpicc} -std=c17 -D_GNU_SOURCE -O2 -I"$top/include" -I"$top/stages/als" \
    $(pkg-config --cflags "$hdf5_pc" 2>/dev/null) "$src" "$top/build/libstage_als.a" \
    "$top/build/librecpipe.a" $(pkg-config --libs "$hdf5_pc" 2>/dev/null || echo -lhdf5) \
    -llapacke $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas) -lm -o "$out"
