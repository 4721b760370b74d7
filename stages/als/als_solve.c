/* als_solve.c - rp-als half-sweeps: the factor exchange (alltoallv on the routing tables or an
 * all-gather), per-row normal equations (AVX-512 or BLAS-3 SYRK) and Cholesky solves (batched with
 * AVX-512, else LAPACK), metrics, objective. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "als.h"
#include "rp_fault.h"
#include "rp_la.h"
#include "rp_mpi.h"

#define REAL double
#define FN(name) name##_d
#define SYRK rp_la_dsyrk_tn
#define POSV rp_la_dposv_upper
#define GRAM als_gram_d
#define DOT als_dot_d
#define CHOL als_chol_batch_d
#define BATCH ALS_BATCH_D
#include "als_kernel.inc"
#undef REAL
#undef FN
#undef SYRK
#undef POSV
#undef GRAM
#undef DOT
#undef CHOL
#undef BATCH
#define REAL float
#define FN(name) name##_s
#define SYRK rp_la_ssyrk_tn
#define POSV rp_la_sposv_upper
#define GRAM als_gram_s
#define DOT als_dot_s
#define CHOL als_chol_batch_s
#define BATCH ALS_BATCH_S
#include "als_kernel.inc"
#undef REAL
#undef FN
#undef SYRK
#undef POSV
#undef GRAM
#undef DOT
#undef CHOL
#undef BATCH

int als_exchange(als_state *st, int s)
{
    int rc = RP_OK, k = st->k, nloc = 0;
    const als_side *so = &st->side[1 - s];
    als_side *sd = &st->side[s];
    als_route *r = &sd->route;
    size_t rb = (size_t)(k + 1) * (st->dbl ? sizeof(double) : sizeof(float));
    char *sendbuf = NULL;
    if (r->allgather) {
        RP_CALL(rp_int_cast(so->nrows, &nloc));
        RP_MPI(MPI_Allgatherv(so->fac, nloc, st->row_type, sd->table, r->recvcounts, r->rdispls,
                              st->row_type, st->comm));
    } else {
        /* pack the requested own rows in the order the requester listed them */
        sendbuf = rp_malloc((size_t)(r->n_send + 1) * rb);
        RP_AGREE_LOCAL(st->comm, sendbuf == NULL);
        for (int64_t j = 0; j < r->n_send; j++)
            memcpy(sendbuf + (size_t)j * rb, (const char *)so->fac + (size_t)r->send_rows[j] * rb,
                   rb);
        RP_MPI(MPI_Alltoallv(sendbuf, r->sendcounts, r->sdispls, st->row_type, sd->table,
                             r->recvcounts, r->rdispls, st->row_type, st->comm));
    }
cleanup:
    free(sendbuf);
    return rc;
}

int als_solve_side(als_state *st, int s)
{
    return st->dbl ? solve_side_d(st, s) : solve_side_s(st, s);
}

int als_half_sweep(als_state *st, int s)
{
    int rc = RP_OK;
    RP_CALL(als_exchange(st, s));
    RP_AGREE(st->comm, rc);
    rc = als_solve_side(st, s);
    RP_AGREE(st->comm, rc);
cleanup:
    return rc;
}

int als_solve_row_dense(int k, int penalty, double lambda, double lambda_bias, double mu,
                        int64_t n, const double *y, const float *r, double *out)
{
    int rc = RP_OK;
    int32_t *lcol = NULL;
    double *work = NULL;
    size_t kk = (size_t)k + 2;
    RP_ALLOC(lcol = malloc((size_t)(n + 1) * sizeof *lcol));
    size_t len = (size_t)n * kk + kk * kk + 3 * kk + als_gram_scratch(k, 1) + 8;
    RP_ALLOC(work = malloc(len * sizeof *work)); /* + 8: room to align the kernel's scratch */
    for (int64_t e = 0; e < n; e++) lcol[e] = (int32_t)e;
    RP_CALL(solve_row_d(k, als_ridge(penalty, lambda, n), lambda_bias, mu, n, lcol, r, y, work,
                        out));
cleanup:
    free(lcol);
    free(work);
    return rc;
}

/* Sum per-row (se, ae) pairs over rows in global row order on rank 0, broadcast. */
static int ordered_sum(als_state *st, const als_side *sd, const double *rows, int width,
                       double *tot)
{
    int rc = RP_OK, nloc = 0;
    int *counts = NULL, *displs = NULL;
    double *all = NULL;
    /* Local steps agree before the gather: a rank failing alone must not leave the others in it. */
    counts = rp_calloc((size_t)st->size, sizeof *counts);
    displs = rp_calloc((size_t)st->size, sizeof *displs);
    all = rp_malloc((size_t)(st->rank == 0 ? sd->n_global * width + 1 : 1) * sizeof *all);
    int nomem = counts == NULL || displs == NULL || all == NULL;
    for (int p = 0; p < st->size && !nomem && rc == RP_OK; p++) {
        rc = rp_int_cast((sd->cuts[p + 1] - sd->cuts[p]) * width, &counts[p]);
        if (rc == RP_OK) rc = rp_int_cast(sd->cuts[p] * width, &displs[p]);
    }
    if (rc == RP_OK) rc = rp_int_cast(sd->nrows * width, &nloc);
    RP_AGREE_LOCAL(st->comm, nomem);
    RP_MPI(MPI_Gatherv(rows, nloc, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, st->comm));
    for (int w = 0; w < width; w++) tot[w] = 0.0;
    if (st->rank == 0)
        for (int64_t i = 0; i < sd->n_global * width; i++) tot[i % width] += all[i];
    RP_MPI(MPI_Bcast(tot, width, MPI_DOUBLE, 0, st->comm));
cleanup:
    free(counts);
    free(displs);
    free(all);
    return rc;
}

/* Per video (this side's rows): its validation errors' means, and 1 when it has any, so the
 * ordered sum gives the item-balanced means (every video's pairs weigh 1 in total). */
static void item_means(const als_side *sd, double *rows, int width)
{
    for (int64_t i = 0; i < sd->nrows; i++) {
        int64_t n = sd->valid.off[i + 1] - sd->valid.off[i];
        double *r = rows + i * width;
        r[4] = n > 0 ? r[2] / (double)n : 0.0;
        r[5] = n > 0 ? r[3] / (double)n : 0.0;
        r[6] = n > 0;
    }
}

/* calibrate - with the log target: the gain of the current iterate from the validation
 * pairs' per-video sums, in video order (np-independent), into st->gamma. Collective. */
static int calibrate(als_state *st)
{
    int rc = RP_OK;
    const als_side *sd = &st->side[ALS_ITEM];
    double *rows = NULL, tot[2];
    rows = rp_calloc((size_t)(sd->nrows + 1) * 2, sizeof *rows);
    RP_AGREE_LOCAL(st->comm, rows == NULL);
    if (st->dbl) calib_rows_d(st, sd, rows, 2);
    else calib_rows_s(st, sd, rows, 2);
    RP_CALL(ordered_sum(st, sd, rows, 2, tot));
    st->gamma = rp_log_gain(tot[0], tot[1]);
cleanup:
    free(rows);
    return rc;
}

int als_metrics(als_state *st, double *train_rmse, double *train_mae, double *valid_rmse,
                double *valid_mae)
{
    int rc = RP_OK;
    const als_side *sd = &st->side[ALS_ITEM];
    enum { W = 7 }; /* train se, ae; valid se, ae; per-video mean se, ae; has valid pairs */
    double *rows = NULL, tot[W];
    int tmode = st->log_target ? ALS_ERR_LOG : ALS_ERR_PLAIN;
    int vmode = st->log_target ? ALS_ERR_CALIB : ALS_ERR_PLAIN;
    if (st->log_target) RP_CALL(calibrate(st));
    rows = rp_calloc((size_t)(sd->nrows + 1) * W, sizeof *rows);
    RP_AGREE_LOCAL(st->comm, rows == NULL); /* ordered_sum is a collective */
    if (st->dbl) {
        row_errors_d(st, sd, &sd->train, rows, W, tmode);
        row_errors_d(st, sd, &sd->valid, rows + 2, W, vmode);
    } else {
        row_errors_s(st, sd, &sd->train, rows, W, tmode);
        row_errors_s(st, sd, &sd->valid, rows + 2, W, vmode);
    }
    item_means(sd, rows, W);
    RP_CALL(ordered_sum(st, sd, rows, W, tot));
    double nt = (double)st->nnz_train, nv = (double)st->nnz_valid;
    *train_rmse = nt > 0 ? sqrt(tot[0] / nt) : NAN;
    *train_mae = nt > 0 ? tot[1] / nt : NAN;
    st->last_valid_plain = nv > 0 ? sqrt(tot[2] / nv) : NAN;
    *valid_rmse = st->last_valid_plain;
    *valid_mae = nv > 0 ? tot[3] / nv : NAN;
    if (st->valid_item) {
        *valid_rmse = tot[6] > 0 ? sqrt(tot[4] / tot[6]) : NAN;
        *valid_mae = tot[6] > 0 ? tot[5] / tot[6] : NAN;
    }
cleanup:
    free(rows);
    return rp_mpi_agree(st->comm, rc);
}

int als_objective(als_state *st, int s, double *obj)
{
    int rc = RP_OK;
    double t[3];
    if (st->dbl) objective_d(st, s, &t[0], &t[1], &t[2]);
    else objective_s(st, s, &t[0], &t[1], &t[2]);
    RP_CALL(rp_mpi_sum_f64(st->comm, t, 3));
    *obj = t[0] + t[1] + t[2];
cleanup:
    return rc;
}
