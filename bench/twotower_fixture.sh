#!/usr/bin/env bash
# twotower_fixture.sh - write a planted synthetic shards.h5 + features.h5 (schema of
# include/rp_schema.h) with twotower_fixture_write() from build/libstage_twotower.a; used by
# tests/e2e/twotower*.sh and bench/bench-twotower.sh.
# Usage: twotower_fixture.sh NP SHARDS FEATURES [key=value ...]
#   keys: users items train valid ucat unum icat inum taglen ucard icard tagcard seed noise
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
np=$1 shards=$2 features=$3
shift 3
work=$(mktemp -d "${TMPDIR:-/tmp}/ttfix.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat > "$work/ttfix.c" <<'CEOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rp_h5.h"
#include "twotower.h"
int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    rp_h5_init();
    tt_fixture fx;
    twotower_fixture_default(&fx);
    for (int k = 3; k < argc; k++) {
        char *eq = strchr(argv[k], '=');
        if (eq == NULL) return 64;
        *eq = '\0';
        double v = atof(eq + 1);
        const char *n = argv[k];
        if (!strcmp(n, "users")) fx.n_users = (int64_t)v;
        else if (!strcmp(n, "items")) fx.n_items = (int64_t)v;
        else if (!strcmp(n, "train")) fx.train_per_user = (int64_t)v;
        else if (!strcmp(n, "valid")) fx.valid_per_user = (int64_t)v;
        else if (!strcmp(n, "ucat")) fx.n_ucat = (int)v;
        else if (!strcmp(n, "unum")) fx.n_unum = (int)v;
        else if (!strcmp(n, "icat")) fx.n_icat = (int)v;
        else if (!strcmp(n, "inum")) fx.n_inum = (int)v;
        else if (!strcmp(n, "taglen")) fx.tag_len = (int)v;
        else if (!strcmp(n, "ucard")) fx.ucard = (int32_t)v;
        else if (!strcmp(n, "icard")) fx.icard = (int32_t)v;
        else if (!strcmp(n, "tagcard")) fx.tag_card = (int32_t)v;
        else if (!strcmp(n, "seed")) fx.seed = (uint64_t)v;
        else if (!strcmp(n, "noise")) fx.noise = v;
        else { fprintf(stderr, "ttfix: unknown key %s\n", n); return 64; }
    }
    int rc = twotower_fixture_write(MPI_COMM_WORLD, &fx, argv[1], argv[2]);
    MPI_Finalize();
    return rc;
}
CEOF
hdf5_pc=${HDF5_PC:-hdf5-openmpi}
${MPICC:-mpicc} -std=c17 -D_GNU_SOURCE -O2 -I"$top/include" -I"$top/stages/twotower" \
    $(pkg-config --cflags "$hdf5_pc" 2>/dev/null) -o "$work/ttfix" "$work/ttfix.c" \
    "$top/build/libstage_twotower.a" "$top/build/librecpipe.a" \
    $(pkg-config --libs "$hdf5_pc" 2>/dev/null || echo -lhdf5) -llapacke \
    $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas) -lm
. "$top/tests/env.sh"
rp_mpirun "$np" "$work/ttfix" "$shards" "$features" "$@"
