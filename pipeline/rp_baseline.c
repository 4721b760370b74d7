/* rp_baseline.c - baselines fitted on /train of shards.h5 as dot-form rp_models (global, user,
 * video mean, bias). Used by rp-eval, rp-hybrid and rp-recommend. Rank-count independence:
 * per-row sums are made by the row's owner in file order and gathered in row order. */
#include "rp_baseline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_schema.h"

/* This rank's contiguous block of rows of one CSR/CSC of /train. */
typedef struct rows_block {
    int64_t nrows;    /* global rows */
    int64_t *offsets; /* [nrows + 1], replicated */
    int64_t *cuts;    /* [size + 1]: rank p owns rows [cuts[p], cuts[p+1]) */
    int64_t r0, nr;   /* my rows */
    int32_t *idx;     /* my nonzeros' other index (user or item), NULL unless asked */
    double *val;      /* my nonzeros' normalised values */
} rows_block;

static void rows_block_clear(rows_block *b)
{
    free(b->offsets);
    free(b->cuts);
    free(b->idx);
    free(b->val);
    memset(b, 0, sizeof *b);
}

static int shards_dims(hid_t shards, int64_t *n_users, int64_t *n_items)
{
    int rc = RP_OK;
    char fname[1024];
    RP_CALL(rp_h5_attr_read(shards, "/", "n_users", RP_I64, 1, n_users));
    RP_CALL(rp_h5_attr_read(shards, "/", "n_items", RP_I64, 1, n_items));
    rp_h5_filename(shards, fname, sizeof fname);
    if (*n_users <= 0 || *n_items <= 0 || *n_users > INT32_MAX || *n_items > INT32_MAX)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: n_users=%lld n_items=%lld out of range", fname,
                      (long long)*n_users, (long long)*n_items);
cleanup:
    return rc;
}

/* Check that offsets are a valid CSR offset vector over nnz entries. */
static int check_offsets(hid_t f, const char *name, const int64_t *off, int64_t n, int64_t nnz)
{
    int rc = RP_OK;
    char fname[1024];
    rp_h5_filename(f, fname, sizeof fname);
    if (off[0] != 0 || off[n] != nnz)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s runs from %lld to %lld, expected 0 to nnz=%lld", fname,
                      name, (long long)off[0], (long long)off[n], (long long)nnz);
    for (int64_t r = 0; r < n; r++)
        if (off[r + 1] < off[r])
            RP_FAIL_USER0(RP_ERR_DATA, "%s: %s decreases at row %lld", fname, name, (long long)r);
cleanup:
    return rc;
}

/* Read my block of rows of grp ("/train/by_item") with nrows rows; idx_name ("user"/"item")
 * is read too when idx_name != NULL and checked against idx_bound. Collective. */
static int read_block(MPI_Comm comm, hid_t f, const char *grp, const char *idx_name,
                      int64_t idx_bound, int64_t nrows, rows_block *b)
{
    int rc = RP_OK, rank = 0, size = 1, nd = 0;
    char ds[256], fname[1024];
    int64_t vd[2], od[2];
    memset(b, 0, sizeof *b);
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    b->nrows = nrows;
    snprintf(ds, sizeof ds, "%s/offsets", grp);
    RP_CALL(rp_h5_read_all(f, ds, RP_I64, (void **)&b->offsets, &nd, od));
    rp_h5_filename(f, fname, sizeof fname);
    if (od[0] != nrows + 1)
        RP_FAIL_USER0(RP_ERR_DATA, "%s: %s has %lld entries, expected %lld", fname, ds,
                      (long long)od[0], (long long)(nrows + 1));
    snprintf(ds, sizeof ds, "%s/value", grp);
    RP_CALL(rp_h5_dims(f, ds, &nd, vd));
    RP_CALL(check_offsets(f, ds, b->offsets, nrows, vd[0]));
    RP_ALLOC(b->cuts = malloc((size_t)(size + 1) * sizeof *b->cuts));
    rp_part_weighted(b->offsets, nrows, size, 1.0, b->cuts);
    b->r0 = b->cuts[rank];
    b->nr = b->cuts[rank + 1] - b->r0;
    int64_t z0 = b->offsets[b->r0], nz = b->offsets[b->r0 + b->nr] - z0;
    RP_ALLOC(b->val = malloc((size_t)(nz > 0 ? nz : 1) * sizeof *b->val));
    RP_CALL(rp_h5_read(f, ds, RP_F64, z0, nz, b->val));
    if (idx_name != NULL) {
        snprintf(ds, sizeof ds, "%s/%s", grp, idx_name);
        RP_ALLOC(b->idx = malloc((size_t)(nz > 0 ? nz : 1) * sizeof *b->idx));
        RP_CALL(rp_h5_read(f, ds, RP_I32, z0, nz, b->idx));
        for (int64_t z = 0; z < nz; z++)
            if (b->idx[z] < 0 || b->idx[z] >= idx_bound)
                RP_FAIL_USER(RP_ERR_DATA, "%s: %s[%lld] = %d outside [0, %lld)", fname, ds,
                             (long long)(z0 + z), b->idx[z], (long long)idx_bound);
    }
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc != RP_OK) rows_block_clear(b);
    return rc;
}

/* full[r] for every global row r from my rows' local[0 .. nr), in row order. Collective. */
static int gather_rows(MPI_Comm comm, const rows_block *b, const double *local, double *full)
{
    int rc = RP_OK, size = 1;
    int *counts = NULL, *displs = NULL;
    RP_MPI(MPI_Comm_size(comm, &size));
    RP_ALLOC(counts = malloc((size_t)size * sizeof *counts));
    RP_ALLOC(displs = malloc((size_t)size * sizeof *displs));
    for (int p = 0; p < size; p++) {
        RP_CALL(rp_int_cast(b->cuts[p + 1] - b->cuts[p], &counts[p]));
        RP_CALL(rp_int_cast(b->cuts[p], &displs[p]));
    }
    int mine = 0;
    RP_MPI(MPI_Comm_rank(comm, &mine));
    RP_MPI(MPI_Allgatherv(local, counts[mine], MPI_DOUBLE, full, counts, displs, MPI_DOUBLE, comm));
cleanup:
    free(counts);
    free(displs);
    return rc;
}

/* Per-row sums of values (sequential, file order), gathered for every row. Out: *sums [nrows]. */
static int row_sums(MPI_Comm comm, const rows_block *b, double **sums)
{
    int rc = RP_OK;
    double *local = NULL, *full = NULL;
    RP_ALLOC(local = malloc((size_t)(b->nr > 0 ? b->nr : 1) * sizeof *local));
    RP_ALLOC(full = malloc((size_t)b->nrows * sizeof *full));
    int64_t z0 = b->offsets[b->r0];
    for (int64_t r = 0; r < b->nr; r++) {
        double s = 0.0;
        for (int64_t z = b->offsets[b->r0 + r]; z < b->offsets[b->r0 + r + 1]; z++)
            s += b->val[z - z0];
        local[r] = s;
    }
    RP_CALL(gather_rows(comm, b, local, full));
    *sums = full;
    full = NULL;
cleanup:
    free(local);
    free(full);
    return rp_mpi_agree(comm, rc);
}

/* mu = sum over users, in user order, of per-user sums / nnz. */
static double mean_of(const rows_block *b, const double *sums)
{
    double s = 0.0;
    for (int64_t r = 0; r < b->nrows; r++) s += sums[r];
    int64_t nnz = b->offsets[b->nrows];
    return nnz > 0 ? s / (double)nnz : 0.0;
}

/* Per-user sums from /train/by_user and mu. Out: *b (caller clears), *sums, *mu. */
static int user_stats(MPI_Comm comm, hid_t shards, int want_idx, rows_block *b, double **sums,
                      double *mu)
{
    int rc = RP_OK;
    int64_t n_users = 0, n_items = 0;
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(read_block(comm, shards, RP_SPLIT_TRAIN "/by_user", want_idx ? "item" : NULL,
                       n_items, n_users, b));
    RP_CALL(row_sums(comm, b, sums));
    *mu = mean_of(b, *sums);
cleanup:
    return rp_mpi_agree(comm, rc);
}

int rp_baseline_train_mean(MPI_Comm comm, hid_t shards, double *mu)
{
    int rc = RP_OK;
    rows_block b = {0};
    double *sums = NULL;
    RP_CALL(user_stats(comm, shards, 0, &b, &sums, mu));
cleanup:
    free(sums);
    rows_block_clear(&b);
    return rc;
}

static int fill(double **x, int64_t n, double v)
{
    int rc = RP_OK;
    RP_ALLOC(*x = malloc((size_t)(n > 0 ? n : 1) * sizeof **x));
    for (int64_t k = 0; k < n; k++) (*x)[k] = v;
cleanup:
    return rc;
}

int rp_baseline_global_mean(MPI_Comm comm, hid_t shards, rp_model **m)
{
    int rc = RP_OK;
    int64_t n_users = 0, n_items = 0;
    double mu = 0.0, *U = NULL, *V = NULL;
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(rp_baseline_train_mean(comm, shards, &mu));
    RP_CALL(fill(&U, n_users, 1.0));
    RP_CALL(fill(&V, n_items, 0.0));
    RP_CALL(rp_model_from_dot(RP_BASELINE_GLOBAL_MEAN, n_users, n_items, 1, U, V,
                              RP_POST_IDENTITY, 1.0, mu, m));
cleanup:
    free(U);
    free(V);
    return rp_mpi_agree(comm, rc);
}

/* Mean per row (mu for empty rows). */
static void row_means(const rows_block *b, const double *sums, double mu, double *out)
{
    for (int64_t r = 0; r < b->nrows; r++) {
        int64_t n = b->offsets[r + 1] - b->offsets[r];
        out[r] = n > 0 ? sums[r] / (double)n : mu;
    }
}

int rp_baseline_user_mean(MPI_Comm comm, hid_t shards, rp_model **m)
{
    int rc = RP_OK;
    rows_block b = {0};
    int64_t n_users = 0, n_items = 0;
    double mu = 0.0, *sums = NULL, *U = NULL, *V = NULL;
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(user_stats(comm, shards, 0, &b, &sums, &mu));
    RP_CALL(fill(&U, n_users, 0.0));
    RP_CALL(fill(&V, n_items, 1.0));
    row_means(&b, sums, mu, U);
    RP_CALL(rp_model_from_dot(RP_BASELINE_USER_MEAN, n_users, n_items, 1, U, V,
                              RP_POST_IDENTITY, 1.0, 0.0, m));
cleanup:
    free(sums);
    free(U);
    free(V);
    rows_block_clear(&b);
    return rp_mpi_agree(comm, rc);
}

/* Per-item sums from /train/by_item. Out: *b (caller clears), *sums. */
static int item_stats(MPI_Comm comm, hid_t shards, rows_block *b, double **sums)
{
    int rc = RP_OK;
    int64_t n_users = 0, n_items = 0;
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(read_block(comm, shards, RP_SPLIT_TRAIN "/by_item", NULL, n_users, n_items, b));
    RP_CALL(row_sums(comm, b, sums));
cleanup:
    return rp_mpi_agree(comm, rc);
}

int rp_baseline_item_mean(MPI_Comm comm, hid_t shards, rp_model **m)
{
    int rc = RP_OK;
    rows_block bi = {0};
    int64_t n_users = 0, n_items = 0;
    double mu = 0.0, *sums = NULL, *U = NULL, *V = NULL;
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(rp_baseline_train_mean(comm, shards, &mu));
    RP_CALL(item_stats(comm, shards, &bi, &sums));
    RP_CALL(fill(&U, n_users, 1.0));
    RP_CALL(fill(&V, n_items, 0.0));
    row_means(&bi, sums, mu, V);
    RP_CALL(rp_model_from_dot(RP_BASELINE_ITEM_MEAN, n_users, n_items, 1, U, V,
                              RP_POST_IDENTITY, 1.0, 0.0, m));
cleanup:
    free(sums);
    free(U);
    free(V);
    rows_block_clear(&bi);
    return rp_mpi_agree(comm, rc);
}

/* b_u for my users from their train rows and the replicated item biases bi. */
static void user_biases(const rows_block *bu, const double *bi, double mu, double reg,
                        double *local)
{
    int64_t z0 = bu->offsets[bu->r0];
    for (int64_t r = 0; r < bu->nr; r++) {
        int64_t a = bu->offsets[bu->r0 + r], e = bu->offsets[bu->r0 + r + 1];
        double s = 0.0;
        for (int64_t z = a; z < e; z++) s += bu->val[z - z0] - mu - bi[bu->idx[z - z0]];
        double den = reg + (double)(e - a);
        local[r] = den > 0.0 ? s / den : 0.0; /* reg = 0 and no rows: no bias */
    }
}

int rp_baseline_bias(MPI_Comm comm, hid_t shards, double reg, rp_model **m)
{
    int rc = RP_OK;
    rows_block bu = {0}, bi = {0};
    int64_t n_users = 0, n_items = 0;
    double mu = 0.0, *usum = NULL, *isum = NULL, *local = NULL, *U = NULL, *V = NULL;
    RP_REQUIRE(reg >= 0.0, RP_ERR_INTERNAL, "bias baseline: reg=%g < 0", reg);
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(user_stats(comm, shards, 1, &bu, &usum, &mu));
    RP_CALL(item_stats(comm, shards, &bi, &isum));
    /* U = [b_u, 1], V = [1, b_i]: item biases first (they need only mu), then users. */
    RP_ALLOC(U = malloc((size_t)(2 * n_users) * sizeof *U));
    RP_ALLOC(V = malloc((size_t)(2 * n_items) * sizeof *V));
    RP_ALLOC(local = malloc((size_t)(n_users > n_items ? n_users : n_items) * sizeof *local));
    double *b_item = isum; /* overwritten in place: sum -> bias */
    for (int64_t i = 0; i < n_items; i++) {
        double n = (double)(bi.offsets[i + 1] - bi.offsets[i]);
        b_item[i] = (isum[i] - n * mu) / (reg + n > 0.0 ? reg + n : 1.0);
    }
    user_biases(&bu, b_item, mu, reg, local);
    double *b_user = usum;
    RP_CALL(gather_rows(comm, &bu, local, b_user));
    for (int64_t u = 0; u < n_users; u++) {
        U[2 * u] = b_user[u];
        U[2 * u + 1] = 1.0;
    }
    for (int64_t i = 0; i < n_items; i++) {
        V[2 * i] = 1.0;
        V[2 * i + 1] = b_item[i];
    }
    RP_CALL(rp_model_from_dot(RP_BASELINE_BIAS, n_users, n_items, 2, U, V, RP_POST_IDENTITY, 1.0,
                              mu, m));
cleanup:
    free(usum);
    free(isum);
    free(local);
    free(U);
    free(V);
    rows_block_clear(&bu);
    rows_block_clear(&bi);
    return rp_mpi_agree(comm, rc);
}
