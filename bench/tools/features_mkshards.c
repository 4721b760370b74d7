/* features_mkshards.c - bin/bench-features_mkshards: a synthetic shards.h5 for
 * bench/bench-features.sh (see bench/features_mkshards.sh).
 * Usage: bench-features_mkshards OUT NU NI NNZ */
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
