#!/usr/bin/env bash
# build.sh OUT_BINARY - compile the als-fixture tool against the built libraries (run `make`
# first). Used by tests/e2e/als*.sh and bench/bench-als.sh.
set -eu
top=$(cd "$(dirname "$0")/../../.." && pwd)
out=$1
hdf5_pc=${HDF5_PC:-hdf5-openmpi}
${MPICC:-mpicc} -std=c17 -D_GNU_SOURCE -O2 -I"$top/include" -I"$top/stages/als" \
    $(pkg-config --cflags "$hdf5_pc" 2>/dev/null) \
    "$top/stages/als/tools/als_fixture_main.c" "$top/build/libstage_als.a" \
    "$top/build/librecpipe.a" $(pkg-config --libs "$hdf5_pc" 2>/dev/null || echo -lhdf5) \
    -llapacke $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas) -lm -o "$out"
