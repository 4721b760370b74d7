/* als_fixture.c - planted-model shards.h5 for the rp-als tests and benchmark. Membership,
 * split and noise of a pair come from rp_rng keyed by the pair, so the CSR (by user) and CSC
 * (by item) halves are generated independently by any number of ranks and agree. */
#include "als_fixture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_rng.h"
#include "rp_schema.h"

als_fixture als_fixture_default(int64_t n_users, int64_t n_items)
{
    return (als_fixture){.n_users = n_users, .n_items = n_items, .density = 0.3, .k_true = 4,
                         .signal = 0.05, .sigma = 0.02, .mu = 0.5, .valid_frac = 0.1,
                         .test_frac = 0.05, .seed = 7};
}

static double planted(const als_fixture *fx, const char *what, int64_t row, int j)
{
    return rp_rng_normal(fx->seed, rp_rng_stream(what), (uint64_t)row * 64u + (uint64_t)j);
}

double als_fixture_truth(const als_fixture *fx, int64_t u, int64_t i)
{
    double d = 0.0, s = fx->signal / sqrt((double)fx->k_true);
    for (int j = 0; j < fx->k_true; j++)
        d += planted(fx, "fx.p", u, j) * planted(fx, "fx.q", i, j) * s;
    return fx->mu + fx->signal * (planted(fx, "fx.bu", u, 0) + planted(fx, "fx.bi", i, 0)) + d;
}

/* -1: not observed; else split 0 train, 1 valid, 2 test. Activity varies per user and item
 * (0.25x .. 1.75x) so nnz-balanced blocks differ from even ones. */
static int pair_split(const als_fixture *fx, int64_t u, int64_t i)
{
    double au = 0.25 + 1.5 * rp_rng_uniform(fx->seed, rp_rng_stream("fx.au"), (uint64_t)u);
    double ai = 0.25 + 1.5 * rp_rng_uniform(fx->seed, rp_rng_stream("fx.ai"), (uint64_t)i);
    uint64_t key = (uint64_t)u * (uint64_t)fx->n_items + (uint64_t)i;
    if (rp_rng_uniform(fx->seed, 11, key) >= fx->density * au * ai) return -1;
    double s = rp_rng_uniform(fx->seed, 12, key);
    return s < fx->valid_frac ? 1 : (s < fx->valid_frac + fx->test_frac ? 2 : 0);
}

static float pair_value(const als_fixture *fx, int64_t u, int64_t i)
{
    uint64_t key = (uint64_t)u * (uint64_t)fx->n_items + (uint64_t)i;
    return (float)(als_fixture_truth(fx, u, i) + fx->sigma * rp_rng_normal(fx->seed, 13, key));
}

typedef struct fx_csr {
    int64_t *off; /* nrows + 1, local */
    int32_t *col;
    float *val;
    int64_t nnz, cap;
} fx_csr;

static int fx_push(fx_csr *c, int32_t col, float v)
{
    int rc = RP_OK;
    if (c->nnz == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        RP_ALLOC(c->col = realloc(c->col, (size_t)c->cap * sizeof *c->col));
        RP_ALLOC(c->val = realloc(c->val, (size_t)c->cap * sizeof *c->val));
    }
    c->col[c->nnz] = col;
    c->val[c->nnz++] = v;
cleanup:
    return rc;
}

/* write_csr - one split's CSR of this rank's rows [r0, r0 + n) of n_global rows. */
static int write_csr(MPI_Comm comm, hid_t f, const char *split, int by_item, int64_t r0,
                     int64_t n, int64_t n_global, const fx_csr *c)
{
    int rc = RP_OK, rank, size;
    int64_t start = 0, total = c->nnz, *goff = NULL;
    double *ts = NULL;
    float *wr = NULL;
    char name[128];
    const char *grp = by_item ? "by_item" : "by_user";
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    RP_CALL(rp_mpi_exscan_i64(comm, c->nnz, &start));
    RP_CALL(rp_mpi_sum_i64(comm, &total, 1));
    RP_ALLOC(goff = malloc((size_t)(n + 1) * sizeof *goff));
    for (int64_t i = 0; i <= n; i++) goff[i] = c->off[i] + start;
    int last = rank == size - 1;
    snprintf(name, sizeof name, "%s/%s/offsets", split, grp);
    RP_CALL(rp_h5_write_1d(f, name, RP_I64, n_global + 1, r0, n + (last ? 1 : 0), goff));
    snprintf(name, sizeof name, "%s/%s/%s", split, grp, by_item ? "user" : "item");
    RP_CALL(rp_h5_write_1d(f, name, RP_I32, total, start, c->nnz, c->col));
    snprintf(name, sizeof name, "%s/%s/value", split, grp);
    RP_CALL(rp_h5_write_1d(f, name, RP_F32, total, start, c->nnz, c->val));
    if (!by_item) {
        RP_ALLOC(wr = malloc((size_t)(c->nnz + 1) * sizeof *wr));
        RP_ALLOC(ts = malloc((size_t)(c->nnz + 1) * sizeof *ts));
        for (int64_t j = 0; j < c->nnz; j++) {
            wr[j] = c->val[j] * 3.0f;
            ts[j] = 1.6e9 + (double)(start + j);
        }
        snprintf(name, sizeof name, "%s/by_user/watch_ratio", split);
        RP_CALL(rp_h5_write_1d(f, name, RP_F32, total, start, c->nnz, wr));
        snprintf(name, sizeof name, "%s/by_user/timestamp", split);
        RP_CALL(rp_h5_write_1d(f, name, RP_F64, total, start, c->nnz, ts));
    }
    snprintf(name, sizeof name, "%s", split);
    RP_CALL(rp_h5_attr_write(f, name, "nnz", RP_I64, 1, &total));
cleanup:
    free(goff);
    free(wr);
    free(ts);
    return rc;
}

/* write_side - both halves (CSR by user, CSC by item) of all three splits for this rank's
 * even block of rows; columns visited in ascending order. */
static int write_side(MPI_Comm comm, hid_t f, const als_fixture *fx, int by_item)
{
    static const char *const splits[3] = {RP_SPLIT_TRAIN, RP_SPLIT_VALID, RP_SPLIT_TEST};
    int rc = RP_OK, rank, size;
    fx_csr c[3];
    memset(c, 0, sizeof c);
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int64_t n_rows = by_item ? fx->n_items : fx->n_users, n_cols = by_item ? fx->n_users
                                                                          : fx->n_items;
    int64_t r0, n;
    rp_part_even(n_rows, size, rank, &r0, &n);
    for (int s = 0; s < 3; s++) RP_ALLOC(c[s].off = calloc((size_t)n + 1, sizeof(int64_t)));
    for (int64_t r = 0; r < n; r++) {
        for (int64_t j = 0; j < n_cols; j++) {
            int64_t u = by_item ? j : r0 + r, i = by_item ? r0 + r : j;
            int s = pair_split(fx, u, i);
            if (s >= 0) RP_CALL(fx_push(&c[s], (int32_t)j, pair_value(fx, u, i)));
        }
        for (int s = 0; s < 3; s++) c[s].off[r + 1] = c[s].nnz;
    }
    for (int s = 0; s < 3; s++)
        RP_CALL(write_csr(comm, f, splits[s], by_item, r0, n, n_rows, &c[s]));
cleanup:
    for (int s = 0; s < 3; s++) {
        free(c[s].off);
        free(c[s].col);
        free(c[s].val);
    }
    return rc;
}

static int write_ids(MPI_Comm comm, hid_t f, const char *name, int64_t n)
{
    int rc = RP_OK, rank, size;
    int64_t r0, cnt, *ids = NULL;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    rp_part_even(n, size, rank, &r0, &cnt);
    RP_ALLOC(ids = malloc((size_t)(cnt + 1) * sizeof *ids));
    for (int64_t i = 0; i < cnt; i++) ids[i] = (r0 + i) * 3 + 1;
    RP_CALL(rp_h5_write_1d(f, name, RP_I64, n, r0, cnt, ids));
cleanup:
    free(ids);
    return rc;
}

int als_fixture_write(MPI_Comm comm, const char *path, const als_fixture *fx)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    double nmin = 0.0, nmax = 3.0;
    RP_CALL(rp_h5_create(comm, path, &f));
    RP_CALL(rp_h5_attr_write_str(f, "/", "schema", RP_SCHEMA_SHARDS));
    RP_CALL(rp_h5_attr_write(f, "/", "n_users", RP_I64, 1, &fx->n_users));
    RP_CALL(rp_h5_attr_write(f, "/", "n_items", RP_I64, 1, &fx->n_items));
    RP_CALL(rp_h5_attr_write(f, "/", "norm_min", RP_F64, 1, &nmin));
    RP_CALL(rp_h5_attr_write(f, "/", "norm_max", RP_F64, 1, &nmax));
    RP_CALL(write_ids(comm, f, RP_DS_USER_RAW, fx->n_users));
    RP_CALL(write_ids(comm, f, RP_DS_ITEM_RAW, fx->n_items));
    RP_CALL(write_side(comm, f, fx, 0));
    RP_CALL(write_side(comm, f, fx, 1));
cleanup:
    return rp_h5_commit(comm, &f, path, rc);
}
