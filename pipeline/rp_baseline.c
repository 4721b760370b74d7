/* rp_baseline.c - baselines fitted on /train of shards.h5 as dot-form rp_models (global, user,
 * video mean, bias; the linear regression is rp_linreg.c). Used by rp-eval, rp-hybrid and
 * rp-recommend. Rank-count independence: per-row sums are made by the row's owner in file order
 * and gathered in row order. */
#include "rp_baseline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_csr.h"
#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_schema.h"
#include "rp_shards.h"

static int shards_dims(hid_t shards, int64_t *n_users, int64_t *n_items)
{
    int rc = RP_OK;
    char fname[1024];
    rp_h5_filename(shards, fname, sizeof fname);
    RP_CALL(rp_shards_read_header(shards, fname, n_users, n_items));
cleanup:
    return rc;
}

/* full[r] for every global row r from my rows' local[0 .. nr), in row order. Collective. */
static int gather_rows(MPI_Comm comm, const rp_csr_block *b, const double *local, double *full)
{
    int rc = RP_OK, size = 1;
    int *counts = NULL, *displs = NULL;
    RP_MPI(MPI_Comm_size(comm, &size));
    counts = rp_malloc((size_t)size * sizeof *counts);
    displs = rp_malloc((size_t)size * sizeof *displs);
    RP_AGREE_LOCAL(comm, counts == NULL || displs == NULL);
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
static int row_sums(MPI_Comm comm, const rp_csr_block *b, double **sums)
{
    int rc = RP_OK;
    double *local = NULL, *full = NULL;
    local = rp_malloc((size_t)(b->nr > 0 ? b->nr : 1) * sizeof *local);
    full = rp_malloc((size_t)b->nrows * sizeof *full);
    RP_AGREE_LOCAL(comm, local == NULL || full == NULL);
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
static double mean_of(const rp_csr_block *b, const double *sums)
{
    double s = 0.0;
    for (int64_t r = 0; r < b->nrows; r++) s += sums[r];
    int64_t nnz = b->offsets[b->nrows];
    return nnz > 0 ? s / (double)nnz : 0.0;
}

/* Per-user sums from /train/by_user and mu. Out: *b (caller clears), *sums, *mu. */
static int user_stats(MPI_Comm comm, hid_t shards, int want_idx, rp_csr_block *b, double **sums,
                      double *mu)
{
    int rc = RP_OK;
    int64_t n_users = 0, n_items = 0;
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(rp_csr_block_read(comm, shards, RP_SPLIT_TRAIN "/by_user", want_idx ? "item" : NULL,
                       n_items, n_users, b));
    RP_CALL(row_sums(comm, b, sums));
    *mu = mean_of(b, *sums);
cleanup:
    return rp_mpi_agree(comm, rc);
}

int rp_baseline_bias_terms(MPI_Comm comm, const char *path, double reg, rp_model **m,
                           const double **U, const double **V, double *mu)
{
    int rc = RP_OK;
    hid_t f = H5I_INVALID_HID;
    int64_t d = 0;
    rp_post post = RP_POST_IDENTITY;
    double scale = 1.0;
    *m = NULL;
    RP_CALL(rp_h5_open(comm, path, &f));
    RP_CALL(rp_baseline_bias(comm, f, reg, m));
    RP_CALL(rp_model_dot_parts(*m, &d, U, V, &post, &scale, mu));
    RP_REQUIRE(d == 2 && post == RP_POST_IDENTITY && scale == 1.0, RP_ERR_INTERNAL,
               "bias model is not in the [b_u, 1] . [1, b_i] form (d=%lld)", (long long)d);
cleanup:
    rp_h5_close(&f);
    rc = rp_mpi_agree(comm, rc);
    if (rc != RP_OK) rp_model_destroy(m);
    return rc;
}

int rp_baseline_train_mean(MPI_Comm comm, hid_t shards, double *mu)
{
    int rc = RP_OK;
    rp_csr_block b = {0};
    double *sums = NULL;
    RP_CALL(user_stats(comm, shards, 0, &b, &sums, mu));
cleanup:
    free(sums);
    rp_csr_block_clear(&b);
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
static void row_means(const rp_csr_block *b, const double *sums, double mu, double *out)
{
    for (int64_t r = 0; r < b->nrows; r++) {
        int64_t n = b->offsets[r + 1] - b->offsets[r];
        out[r] = n > 0 ? sums[r] / (double)n : mu;
    }
}

int rp_baseline_user_mean(MPI_Comm comm, hid_t shards, rp_model **m)
{
    int rc = RP_OK;
    rp_csr_block b = {0};
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
    rp_csr_block_clear(&b);
    return rp_mpi_agree(comm, rc);
}

/* Per-item sums from /train/by_item. Out: *b (caller clears), *sums. */
static int item_stats(MPI_Comm comm, hid_t shards, rp_csr_block *b, double **sums)
{
    int rc = RP_OK;
    int64_t n_users = 0, n_items = 0;
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(rp_csr_block_read(comm, shards, RP_SPLIT_TRAIN "/by_item", NULL, n_users, n_items, b));
    RP_CALL(row_sums(comm, b, sums));
cleanup:
    return rp_mpi_agree(comm, rc);
}

int rp_baseline_item_mean(MPI_Comm comm, hid_t shards, rp_model **m)
{
    int rc = RP_OK;
    rp_csr_block bi = {0};
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
    rp_csr_block_clear(&bi);
    return rp_mpi_agree(comm, rc);
}

/* b_u for my users from their train rows and the replicated item biases bi. */
static void user_biases(const rp_csr_block *bu, const double *bi, double mu, double reg,
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
    rp_csr_block bu = {0}, bi = {0};
    int64_t n_users = 0, n_items = 0;
    double mu = 0.0, *usum = NULL, *isum = NULL, *local = NULL, *U = NULL, *V = NULL;
    RP_REQUIRE(reg >= 0.0, RP_ERR_INTERNAL, "bias baseline: reg=%g < 0", reg);
    RP_CALL(shards_dims(shards, &n_users, &n_items));
    RP_CALL(user_stats(comm, shards, 1, &bu, &usum, &mu));
    RP_CALL(item_stats(comm, shards, &bi, &isum));
    /* U = [b_u, 1], V = [1, b_i]: item biases first (they need only mu), then users. */
    U = rp_malloc((size_t)(2 * n_users) * sizeof *U);
    V = rp_malloc((size_t)(2 * n_items) * sizeof *V);
    local = rp_malloc((size_t)(n_users > n_items ? n_users : n_items) * sizeof *local);
    RP_AGREE_LOCAL(comm, U == NULL || V == NULL || local == NULL);
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
    rp_csr_block_clear(&bu);
    rp_csr_block_clear(&bi);
    return rp_mpi_agree(comm, rc);
}
