#!/usr/bin/env bash
# features_mkshards.sh OUT NU NI NNZ - a synthetic shards.h5 for bench-features.sh holding what
# rp-features reads (ids, /train/by_item/{offsets,user,value}, root attributes): NU users, NI
# videos with raw ids 0.., NNZ train interactions spread unevenly over videos. Compiles a small
# C helper against build/librecpipe.a (run `make` first).
set -eu
out=$1 nu=$2 ni=$3 nnz=$4
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mkshards.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat > "$work/mk.c" <<'CEOF'
#include <stdio.h>
#include <stdlib.h>
#include "rp_h5.h"
#include "rp_schema.h"
int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    rp_h5_init();
    const char *out = argv[1];
    int64_t nu = atoll(argv[2]), ni = atoll(argv[3]), nnz = atoll(argv[4]);
    int64_t *u = malloc(nu * 8), *it = malloc(ni * 8), *off = malloc((ni + 1) * 8);
    for (int64_t i = 0; i < nu; i++) u[i] = i;
    for (int64_t i = 0; i < ni; i++) it[i] = i;
    /* Popular videos first: item i gets weight 1 / (1 + i / 50). */
    double wsum = 0;
    for (int64_t i = 0; i < ni; i++) wsum += 1.0 / (1.0 + i / 50.0);
    off[0] = 0;
    for (int64_t i = 0; i < ni; i++) off[i + 1] = off[i] + (int64_t)(nnz * (1.0 / (1.0 + i / 50.0)) / wsum);
    int64_t n = off[ni];
    int32_t *usr = malloc(n * 4 + 4);
    float *val = malloc(n * 4 + 4);
    uint64_t s = 88172645463325252ULL;
    for (int64_t k = 0; k < n; k++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        usr[k] = (int32_t)(s % (uint64_t)nu);
        val[k] = (float)((s >> 11) % 1000000) / 1e6f;
    }
    hid_t f;
    MPI_Comm c = MPI_COMM_WORLD;
    int rc = rp_h5_create(c, out, &f);
    int64_t n1 = ni + 1;
    double lo = 0, hi = 2;
    rc |= rp_h5_write_replicated(c, f, RP_DS_USER_RAW, RP_I64, 1, &nu, u);
    rc |= rp_h5_write_replicated(c, f, RP_DS_ITEM_RAW, RP_I64, 1, &ni, it);
    rc |= rp_h5_write_replicated(c, f, "/train/by_item/offsets", RP_I64, 1, &n1, off);
    rc |= rp_h5_write_replicated(c, f, "/train/by_item/user", RP_I32, 1, &n, usr);
    rc |= rp_h5_write_replicated(c, f, "/train/by_item/value", RP_F32, 1, &n, val);
    rc |= rp_h5_attr_write_str(f, "/", "schema", RP_SCHEMA_SHARDS);
    rc |= rp_h5_attr_write(f, "/", "n_users", RP_I64, 1, &nu);
    rc |= rp_h5_attr_write(f, "/", "n_items", RP_I64, 1, &ni);
    rc |= rp_h5_attr_write(f, "/", "norm_min", RP_F64, 1, &lo);
    rc |= rp_h5_attr_write(f, "/", "norm_max", RP_F64, 1, &hi);
    rc = rp_h5_commit(c, &f, out, rc);
    MPI_Finalize();
    return rc;
}
CEOF
hdf5=$(pkg-config --cflags --libs hdf5-openmpi 2>/dev/null || echo -lhdf5)
mpicc -O2 -std=c17 -D_GNU_SOURCE -I"$top/include" "$work/mk.c" "$top/build/librecpipe.a" $hdf5 -lm -o "$work/mk"
"$work/mk" "$out" "$nu" "$ni" "$nnz"
