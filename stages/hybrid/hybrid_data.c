/* hybrid_data.c - rp-hybrid's inputs: train and validation pairs from shards.h5, and the
 * validation folds, and the rank-count independent sums used for the blend's moments and every
 * RMSE. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hybrid.h"
#include "rp_csr.h"
#include "rp_err.h"
#include "rp_h5.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_rng.h"
#include "rp_schema.h"

void hyb_pairs_clear(hyb_pairs *p)
{
    free(p->u);
    free(p->i);
    free(p->y);
    memset(p, 0, sizeof *p);
}

void hyb_concat_result_clear(hyb_concat_result *r)
{
    rp_mlp_clear(&r->mlp);
    free(r->umean);
    free(r->uscale);
    free(r->imean);
    free(r->iscale);
    free(r->Fu);
    free(r->Fi);
    free(r->hist_train);
    free(r->hist_valid);
    memset(r, 0, sizeof *r);
}

void hyb_state_clear(hyb_state *st)
{
    hyb_pairs_clear(&st->valid);
    free(st->fold);
    st->fold = NULL;
    for (int c = 0; c < HYB_MAXCOMP; c++) rp_model_destroy(&st->comp[c]);
    hyb_concat_result_clear(&st->concat);
}

int hyb_fold_of(int64_t user, uint64_t seed, int nfolds)
{
    return (int)(rp_rng_hash(seed, rp_rng_stream("hybrid.fold"), (uint64_t)user) %
                 (uint64_t)nfolds);
}

/* Fixed point with 2^34 steps per unit: terms are at most a few units (squares and products of
 * numbers in [0, 1]) and at most ~2^26 of them, so sums stay far inside int64. */
#define HYB_FIXED_ONE 17179869184.0

int64_t hyb_fixed(double x) { return (int64_t)llround(x * HYB_FIXED_ONE); }

int hyb_exact_sum(MPI_Comm comm, int64_t *acc, int n, double *out)
{
    int rc = RP_OK;
    RP_CALL(rp_mpi_sum_i64(comm, acc, n));
    for (int x = 0; x < n; x++) out[x] = (double)acc[x] / HYB_FIXED_ONE;
cleanup:
    return rc;
}

/* Validate the pairs read from entry `base` on against the dimensions; messages give the
 * entry's index in the file, so they do not depend on the rank count. */
static int check_pairs(const char *path, const char *split, const hyb_pairs *p, int64_t base,
                       int64_t n_items)
{
    int rc = RP_OK;
    for (int64_t x = 0; x < p->n; x++) {
        if (p->i[x] < 0 || p->i[x] >= n_items)
            RP_FAIL_USER(RP_ERR_DATA, "%s: %s/%s entry %lld: item %d outside [0, %lld)", path,
                         split, RP_DS_BY_USER_ITEM, (long long)(base + x), p->i[x],
                         (long long)n_items);
        if (!(p->y[x] >= 0.0f && p->y[x] <= 1.0f))
            RP_FAIL_USER(RP_ERR_DATA, "%s: %s/%s entry %lld: value %g outside [0, 1]", path,
                         split, RP_DS_BY_USER_VALUE, (long long)(base + x), (double)p->y[x]);
    }
cleanup:
    return rc;
}

int hyb_read_pairs(MPI_Comm comm, hid_t f, const char *path, const char *split, int replicated,
                   int64_t n_users, int64_t n_items, hyb_pairs *p)
{
    int rc = RP_OK, rank = 0, size = 1;
    int64_t *off = NULL, *cuts = NULL, u0 = 0, nu = n_users;
    char ds[256];
    memset(p, 0, sizeof *p);
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    snprintf(ds, sizeof ds, "%s/by_user", split);
    RP_CALL(rp_csr_read_offsets(f, ds, "item", n_users, &off, NULL));
    cuts = rp_malloc((size_t)(size + 1) * sizeof *cuts);
    RP_AGREE_LOCAL(comm, cuts == NULL);
    if (!replicated) { /* blocks of whole users balanced by pairs: memory falls as 1 / size */
        rp_part_weighted(off, n_users, size, 1.0, cuts);
        u0 = cuts[rank];
        nu = cuts[rank + 1] - u0;
    }
    p->n = off[u0 + nu] - off[u0];
    size_t cap = (size_t)(p->n > 0 ? p->n : 1);
    p->u = rp_malloc(cap * sizeof *p->u);
    p->i = rp_malloc(cap * sizeof *p->i);
    p->y = rp_malloc(cap * sizeof *p->y);
    RP_AGREE_LOCAL(comm, p->u == NULL || p->i == NULL || p->y == NULL);
    for (int64_t u = u0; u < u0 + nu; u++)
        for (int64_t x = off[u]; x < off[u + 1]; x++) p->u[x - off[u0]] = (int32_t)u;
    snprintf(ds, sizeof ds, "%s/%s", split, RP_DS_BY_USER_ITEM);
    RP_CALL(rp_h5_read(f, ds, RP_I32, off[u0], p->n, p->i));
    snprintf(ds, sizeof ds, "%s/%s", split, RP_DS_BY_USER_VALUE);
    RP_CALL(rp_h5_read(f, ds, RP_F32, off[u0], p->n, p->y));
    RP_CALL(check_pairs(path, split, p, off[u0], n_items));
cleanup:
    free(off);
    free(cuts);
    rc = rp_mpi_agree(comm, rc);
    if (rc != RP_OK) hyb_pairs_clear(p);
    return rc;
}

int hyb_rmse(MPI_Comm comm, const rp_model *m, const hyb_pairs *p, double *rmse)
{
    int rc = RP_OK;
    float *pred = NULL;
    int64_t acc[2] = {0, hyb_fixed(1.0) * p->n}; /* the count in the same fixed point */
    RP_ALLOC(pred = malloc((size_t)(p->n > 0 ? p->n : 1) * sizeof *pred));
    RP_CALL(rp_model_score_pairs(m, p->u, p->i, p->n, pred));
    for (int64_t x = 0; x < p->n; x++) {
        double e = (double)pred[x] - p->y[x];
        acc[0] += hyb_fixed(e * e);
    }
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK) {
        double s[2] = {0.0, 0.0};
        rc = hyb_exact_sum(comm, acc, 2, s);
        *rmse = s[1] > 0 ? sqrt(s[0] / s[1]) : NAN;
    }
    free(pred);
    return rc;
}
