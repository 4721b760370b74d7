/* hybrid_fixture.c - planted shards.h5 and model files for rp-hybrid/rp-recommend tests. */
#include "hybrid_fixture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_h5.h"
#include "rp_rng.h"
#include "rp_schema.h"

static double factor(uint64_t seed, const char *side, int64_t row, int k)
{
    return rp_rng_normal(seed, rp_rng_stream(side), (uint64_t)(row * 16 + k));
}

/* pred = 0.5 + 0.2 * a_u . b_i / sqrt(d): mostly inside [0, 1]. */
double hyb_fixture_truth(int64_t u, int64_t i, uint64_t seed)
{
    double s = 0.0;
    for (int k = 0; k < HYB_FX_D; k++)
        s += factor(seed, "fx.user", u, k) * factor(seed, "fx.item", i, k);
    double z = 0.5 + 0.2 * s / sqrt((double)HYB_FX_D);
    return z < 0.0 ? 0.0 : (z > 1.0 ? 1.0 : z);
}

/* Split of pair (u, i): 0 train, 1 valid, 2 test, 3 unobserved. */
static int split_of(int64_t u, int64_t i, int64_t ni, double p_train, uint64_t seed)
{
    double r = rp_rng_uniform(seed, rp_rng_stream("fx.split"), (uint64_t)(u * ni + i));
    if (r < p_train) return 0;
    if (r < p_train + 0.1) return 1;
    if (r < p_train + 0.2) return 2;
    return 3;
}

/* The planted factors, computed once (full-size benchmark fixtures have 77M pairs). */
typedef struct fx_ctx {
    int64_t nu, ni;
    double p_train;
    uint64_t seed;
    double *A, *B; /* [nu, HYB_FX_D], [ni, HYB_FX_D] */
} fx_ctx;

static double fx_value(const fx_ctx *c, int64_t u, int64_t i)
{
    double s = 0.0;
    for (int k = 0; k < HYB_FX_D; k++) s += c->A[u * HYB_FX_D + k] * c->B[i * HYB_FX_D + k];
    double v = 0.5 + 0.2 * s / sqrt((double)HYB_FX_D);
    v = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
    v += 0.02 * rp_rng_normal(c->seed, rp_rng_stream("fx.noise"), (uint64_t)(u * c->ni + i));
    return v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
}

/* One CSR (by_user) or CSC (by_item) of split `which`: count, then fill (bounded memory). */
static int write_csr(MPI_Comm comm, hid_t f, const char *grp, const fx_ctx *c, int by_item,
                     int which)
{
    int rc = RP_OK;
    int64_t nrows = by_item ? c->ni : c->nu, ncols = by_item ? c->nu : c->ni;
    int64_t *off = NULL, nnz = 0;
    int32_t *idx = NULL;
    float *val = NULL;
    char ds[256];
    RP_ALLOC(off = calloc((size_t)nrows + 1, sizeof *off));
    for (int pass = 0; pass < 2; pass++) {
        nnz = 0;
        for (int64_t r = 0; r < nrows; r++) {
            for (int64_t col = 0; col < ncols; col++) {
                int64_t u = by_item ? col : r, i = by_item ? r : col;
                if (split_of(u, i, c->ni, c->p_train, c->seed) != which) continue;
                if (pass == 1) {
                    idx[nnz] = (int32_t)col;
                    val[nnz] = (float)fx_value(c, u, i);
                }
                nnz++;
            }
            off[r + 1] = nnz;
        }
        if (pass == 0) {
            RP_ALLOC(idx = malloc((size_t)(nnz + 1) * sizeof *idx));
            RP_ALLOC(val = malloc((size_t)(nnz + 1) * sizeof *val));
        }
    }
    int64_t n1 = nrows + 1;
    snprintf(ds, sizeof ds, "%s/offsets", grp);
    RP_CALL(rp_h5_write_replicated(comm, f, ds, RP_I64, 1, &n1, off));
    snprintf(ds, sizeof ds, "%s/%s", grp, by_item ? "user" : "item");
    RP_CALL(rp_h5_write_replicated(comm, f, ds, RP_I32, 1, &nnz, idx));
    snprintf(ds, sizeof ds, "%s/value", grp);
    RP_CALL(rp_h5_write_replicated(comm, f, ds, RP_F32, 1, &nnz, val));
    if (!by_item) {
        snprintf(ds, sizeof ds, "%s/watch_ratio", grp);
        RP_CALL(rp_h5_write_replicated(comm, f, ds, RP_F32, 1, &nnz, val));
    }
cleanup:
    free(off);
    free(idx);
    free(val);
    return rc;
}

int hyb_fixture_shards(MPI_Comm comm, const char *path, int64_t nu, int64_t ni, double p_train,
                       uint64_t seed)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    int64_t *ur = NULL, *ir = NULL;
    const char *splits[3] = {RP_SPLIT_TRAIN, RP_SPLIT_VALID, RP_SPLIT_TEST};
    char grp[64];
    fx_ctx c = {nu, ni, p_train, seed, NULL, NULL};
    RP_ALLOC(ur = malloc((size_t)nu * sizeof *ur));
    RP_ALLOC(ir = malloc((size_t)ni * sizeof *ir));
    for (int64_t u = 0; u < nu; u++) ur[u] = 10 * u + 3;
    for (int64_t i = 0; i < ni; i++) ir[i] = 7 * i + 1;
    RP_CALL(rp_h5_create(comm, path, &f));
    RP_CALL(rp_h5_attr_write_str(f, "/", "schema", RP_SCHEMA_SHARDS));
    RP_CALL(rp_h5_attr_write(f, "/", "n_users", RP_I64, 1, &nu));
    RP_CALL(rp_h5_attr_write(f, "/", "n_items", RP_I64, 1, &ni));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_USER_RAW, RP_I64, 1, &nu, ur));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_ITEM_RAW, RP_I64, 1, &ni, ir));
    RP_ALLOC(c.A = malloc((size_t)(nu * HYB_FX_D) * sizeof *c.A));
    RP_ALLOC(c.B = malloc((size_t)(ni * HYB_FX_D) * sizeof *c.B));
    for (int64_t u = 0; u < nu; u++)
        for (int k = 0; k < HYB_FX_D; k++) c.A[u * HYB_FX_D + k] = factor(seed, "fx.user", u, k);
    for (int64_t i = 0; i < ni; i++)
        for (int k = 0; k < HYB_FX_D; k++) c.B[i * HYB_FX_D + k] = factor(seed, "fx.item", i, k);
    for (int s = 0; s < 3; s++) {
        snprintf(grp, sizeof grp, "%s/by_user", splits[s]);
        RP_CALL(write_csr(comm, f, grp, &c, 0, s));
        snprintf(grp, sizeof grp, "%s/by_item", splits[s]);
        RP_CALL(write_csr(comm, f, grp, &c, 1, s));
    }
cleanup:
    free(c.A);
    free(c.B);
    free(ur);
    free(ir);
    return rp_h5_commit(comm, &f, path, rc);
}

int hyb_fixture_model(MPI_Comm comm, const char *path, const char *schema, int64_t nu,
                      int64_t ni, int extra, double noise, uint64_t seed)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    int64_t d = HYB_FX_D + extra;
    double *U = NULL, *V = NULL, scale = 0.2 / sqrt((double)HYB_FX_D), shift = 0.5;
    RP_ALLOC(U = malloc((size_t)(nu * d) * sizeof *U));
    RP_ALLOC(V = malloc((size_t)(ni * d) * sizeof *V));
    uint64_t ns = rp_rng_stream(schema);
    for (int64_t u = 0; u < nu; u++)
        for (int64_t k = 0; k < d; k++)
            U[u * d + k] = (k < HYB_FX_D ? factor(seed, "fx.user", u, (int)k) : 0.0) +
                           noise * rp_rng_normal(seed, ns, (uint64_t)(u * d + k));
    for (int64_t i = 0; i < ni; i++)
        for (int64_t k = 0; k < d; k++)
            V[i * d + k] = k < HYB_FX_D ? factor(seed, "fx.item", i, (int)k)
                                        : rp_rng_normal(seed, ns + 1, (uint64_t)(i * d + k));
    int64_t ud[2] = {nu, d}, id[2] = {ni, d};
    RP_CALL(rp_h5_create(comm, path, &f));
    RP_CALL(rp_h5_attr_write_str(f, "/", "schema", schema));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_SCORE_USER, RP_F64, 2, ud, U));
    RP_CALL(rp_h5_write_replicated(comm, f, RP_DS_SCORE_ITEM, RP_F64, 2, id, V));
    RP_CALL(rp_h5_attr_write_str(f, RP_GRP_SCORE, "post", "identity"));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "scale", RP_F64, 1, &scale));
    RP_CALL(rp_h5_attr_write(f, RP_GRP_SCORE, "shift", RP_F64, 1, &shift));
cleanup:
    free(U);
    free(V);
    return rp_h5_commit(comm, &f, path, rc);
}

int hyb_fixture_poke_last(MPI_Comm comm, const char *path, const char *name, int64_t v)
{
    int rank = 0, ok = 1;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) { /* the serial driver: one writer, no collective calls to match */
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t d = f < 0 ? H5I_INVALID_HID : H5Dopen2(f, name, H5P_DEFAULT);
        hid_t fs = d < 0 ? H5I_INVALID_HID : H5Dget_space(d);
        hid_t ms = H5Screate_simple(1, (hsize_t[]){1}, NULL);
        hsize_t n = 0, one = 1;
        ok = fs >= 0 && H5Sget_simple_extent_dims(fs, &n, NULL) == 1 && n > 0;
        hsize_t last = n > 0 ? n - 1 : 0;
        ok = ok && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &last, NULL, &one, NULL) >= 0 &&
             H5Dwrite(d, H5T_NATIVE_INT64, ms, fs, H5P_DEFAULT, &v) >= 0;
        H5Sclose(ms);
        if (fs >= 0) H5Sclose(fs);
        if (d >= 0) H5Dclose(d);
        if (f >= 0) H5Fclose(f);
    }
    MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
    return ok;
}
