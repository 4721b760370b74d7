/* hybrid_blend.c - late fusion: ridge regression of the validation targets on the centred
 * component predictions, the ridge chosen by k-fold cross-validation over validation users.
 * Moments are summed exactly over ranks (fixed point) and solved by LAPACK dposv (rp_la). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hybrid.h"
#include "rp_err.h"
#include "rp_la.h"
#include "rp_mpi.h"

#define MAXK HYB_MAXCOMP
#define MZ (MAXK + 2)       /* z = [1, x_0 .. x_{k-1}, t]: x, t the globally centred p, y */
#define NMOM (MZ * MZ)      /* one fold's moment matrix (upper triangle used) */

/* Relative ridges tried by --ridge auto: 0 first, so ties keep the plain least squares. */
static const double ridge_grid[] = {0.0, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0};
#define NGRID ((int)(sizeof ridge_grid / sizeof ridge_grid[0]))

void hyb_blend_predict(int k, const double *w, float *const *p, int64_t n, float *out)
{
    for (int64_t x = 0; x < n; x++) {
        double z = w[0];
        for (int c = 0; c < k; c++) z += w[c + 1] * p[c][x];
        out[x] = (float)(z < 0.0 ? 0.0 : (z > 1.0 ? 1.0 : z));
    }
}

/* Global means of the inputs and the target (slots 0..k-1, k) and the pair count. */
static int global_means(MPI_Comm comm, int k, float *const *p, const float *y, int64_t n,
                        double *mean, int64_t *total)
{
    int rc = RP_OK;
    int64_t acc[MAXK + 1] = {0};
    double sums[MAXK + 1];
    *total = n;
    RP_CALL(rp_mpi_sum_i64(comm, total, 1));
    for (int64_t x = 0; x < n; x++) {
        for (int c = 0; c < k; c++) acc[c] += hyb_fixed(p[c][x]);
        acc[k] += hyb_fixed(y[x]);
    }
    RP_CALL(hyb_exact_sum(comm, acc, k + 1, sums));
    for (int c = 0; c <= k; c++) mean[c] = *total > 0 ? sums[c] / (double)*total : 0.0;
cleanup:
    return rc;
}

/* Per-fold sums of z z^T with z = [1, p - mean, y - mean_y]: centring before the products keeps
 * the moments free of cancellation (the inputs vary by a few percent around ~0.3). Exact. */
static int fold_moments(MPI_Comm comm, int k, float *const *p, const float *y, const uint8_t *fold,
                        int64_t n, int nfolds, const double *mean, double *M)
{
    int rc = RP_OK, m = k + 2, nv = nfolds * NMOM;
    int64_t *acc = NULL;
    double z[MZ];
    RP_ALLOC(acc = calloc((size_t)nv, sizeof *acc));
    for (int64_t x = 0; x < n; x++) {
        int64_t *a = acc + (int64_t)fold[x] * NMOM;
        z[0] = 1.0;
        for (int c = 0; c < k; c++) z[c + 1] = (double)p[c][x] - mean[c];
        z[k + 1] = (double)y[x] - mean[k];
        for (int r = 0; r < m; r++)
            for (int c = r; c < m; c++) a[r * MZ + c] += hyb_fixed(z[r] * z[c]);
    }
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK) rc = hyb_exact_sum(comm, acc, nv, M);
    free(acc);
    return rc;
}

/* Ridge solution from summed moments S (upper triangle of z z^T over the fitting pairs):
 * centre within the fitting set, solve (C + ridge diag(C)) w = c, then the intercept in the
 * original scale. Returns 1 when S holds no pairs (nothing fitted), 0 on success, -1 if LAPACK
 * failed. */
static int solve_moments(int k, const double *S, const double *mean, double ridge, double *w)
{
    double cnt = S[0], mu[MZ], A[MAXK * MAXK], b[MAXK];
    if (cnt < 0.5) return 1;
    for (int r = 1; r < k + 2; r++) mu[r] = S[r] / cnt; /* residual means of x and t */
    for (int r = 0; r < k; r++) {
        for (int c = r; c < k; c++)
            A[r * k + c] = A[c * k + r] = S[(r + 1) * MZ + c + 1] / cnt - mu[r + 1] * mu[c + 1];
        b[r] = S[(r + 1) * MZ + k + 1] / cnt - mu[r + 1] * mu[k + 1];
    }
    /* Shrink each slope by its input's own variance (scale-free); the tiny absolute jitter
     * keeps the system positive definite when an input is constant. */
    for (int r = 0; r < k; r++) A[r * k + r] += ridge * A[r * k + r] + 1e-12;
    int info = 0;
    if (rp_la_dposv_info(k, A, b, &info) != RP_OK || info != 0) return -1;
    double w0 = mean[k] + mu[k + 1];
    for (int c = 0; c < k; c++) {
        w[c + 1] = b[c];
        w0 -= b[c] * (mean[c] + mu[c + 1]);
    }
    w[0] = w0;
    return 0;
}

/* Moments of every fold but `skip` (-1: all folds). */
static void moments_without(int nfolds, const double *M, int skip, double *S)
{
    memset(S, 0, NMOM * sizeof *S);
    for (int f = 0; f < nfolds; f++)
        if (f != skip)
            for (int x = 0; x < NMOM; x++) S[x] += M[f * NMOM + x];
}

/* Squared error per fold of the clamped blend with per-fold weights W [nfolds, k+1]
 * (acc[f]) and of each input alone (acc[nfolds + f * k + c]); summed exactly over ranks. */
static int fold_sse(MPI_Comm comm, int k, const double *W, float *const *p, const float *y,
                    const uint8_t *fold, int64_t n, int nfolds, double *sse)
{
    int rc = RP_OK, nv = nfolds * (k + 1);
    int64_t *acc = NULL;
    RP_ALLOC(acc = calloc((size_t)nv, sizeof *acc));
    for (int64_t x = 0; x < n; x++) {
        int f = fold[x];
        const double *w = W + f * (k + 1);
        double z = w[0];
        for (int c = 0; c < k; c++) z += w[c + 1] * p[c][x];
        z = z < 0.0 ? 0.0 : (z > 1.0 ? 1.0 : z);
        double e = (double)(float)z - y[x]; /* the float the model file will score */
        acc[f] += hyb_fixed(e * e);
        for (int c = 0; c < k; c++) {
            double ec = (double)p[c][x] - y[x];
            acc[nfolds + f * k + c] += hyb_fixed(ec * ec);
        }
    }
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK) rc = hyb_exact_sum(comm, acc, nv, sse);
    free(acc);
    return rc;
}

/* Out-of-fold SSE of one ridge: fold f is scored by the fit on the other folds (W [nfolds,
 * k+1]). Folds whose complement is empty keep the plain mean (w = [mean_y, 0...]). sse as in
 * fold_sse. */
static int cv_sse(MPI_Comm comm, int k, float *const *p, const float *y, const uint8_t *fold,
                  int64_t n, int nfolds, const double *M, const double *mean, double ridge,
                  double *sse, double *W)
{
    int rc = RP_OK;
    double S[NMOM];
    for (int f = 0; f < nfolds; f++) {
        double *w = W + f * (k + 1);
        moments_without(nfolds, M, f, S);
        int st = solve_moments(k, S, mean, ridge, w);
        RP_REQUIRE(st >= 0, RP_ERR_INTERNAL, "blend: singular system (ridge %g)", ridge);
        if (st == 1) {
            memset(w, 0, (size_t)(k + 1) * sizeof *w);
            w[0] = mean[k];
        }
    }
    RP_CALL(fold_sse(comm, k, W, p, y, fold, n, nfolds, sse));
cleanup:
    return rc;
}

static double sum_folds(const double *v, int nfolds, int stride)
{
    double s = 0.0;
    for (int f = 0; f < nfolds; f++) s += v[f * stride];
    return s;
}

/* Pairs per fold (from the moments' constant entry), for the per-fold RMSEs. */
static double fold_count(const double *M, int f) { return M[f * NMOM]; }

/* Try every ridge of the grid (or the given one) out of fold; keep the best. */
static int choose_ridge(MPI_Comm comm, int k, float *const *p, const float *y,
                        const uint8_t *fold, int64_t n, int nfolds, const double *M,
                        const double *mean, double ridge, int64_t total, hyb_blend *out,
                        double *best_sse)
{
    int rc = RP_OK;
    double sse[HYB_MAX_FOLDS * (MAXK + 1)], W[HYB_MAX_FOLDS * (MAXK + 1)];
    out->n_grid = ridge < 0.0 ? NGRID : 1;
    int best = 0;
    for (int g = 0; g < out->n_grid; g++) {
        out->grid[g] = ridge < 0.0 ? ridge_grid[g] : ridge;
        RP_CALL(cv_sse(comm, k, p, y, fold, n, nfolds, M, mean, out->grid[g], sse, W));
        double s = sum_folds(sse, nfolds, 1);
        out->grid_cv_rmse[g] = sqrt(s / (double)total);
        if (g == 0 || s < best_sse[0]) {
            best = g;
            best_sse[0] = s;
            best_sse[1] = sse[0]; /* fold 0 */
            memcpy(out->w_fold0, W, (size_t)(k + 1) * sizeof *W);
            for (int c = 0; c < k; c++) {
                best_sse[2 + c] = sum_folds(sse + nfolds + c, nfolds, k);
                best_sse[2 + k + c] = sse[nfolds + c]; /* input c on fold 0 */
            }
        }
    }
    out->ridge = out->grid[best];
cleanup:
    return rc;
}

/* In-sample SSE of the final weights and of each input over all pairs. */
static int final_sse(MPI_Comm comm, int k, const double *w, float *const *p, const float *y,
                     int64_t n, double *sse)
{
    int rc = RP_OK;
    uint8_t *zero = NULL;
    RP_ALLOC(zero = calloc((size_t)(n > 0 ? n : 1), 1));
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK) rc = fold_sse(comm, k, w, p, y, zero, n, 1, sse);
    free(zero);
    return rc;
}

int hyb_blend_fit(MPI_Comm comm, int k, float *const *p, const float *y, const uint8_t *fold,
                  int64_t n, int nfolds, double ridge, hyb_blend *out)
{
    int rc = RP_OK;
    double mean[MAXK + 1], *M = NULL, S[NMOM], cv[2 + 2 * MAXK], sse[MAXK + 1];
    int64_t total = 0;
    memset(out, 0, sizeof *out);
    RP_REQUIRE(k >= 1 && k <= MAXK && nfolds >= 1 && nfolds <= HYB_MAX_FOLDS, RP_ERR_INTERNAL,
               "blend: k=%d folds=%d", k, nfolds);
    M = rp_malloc((size_t)nfolds * NMOM * sizeof *M);
    RP_AGREE_LOCAL(comm, M == NULL); /* global_means is a collective */
    RP_CALL(global_means(comm, k, p, y, n, mean, &total));
    if (total == 0) RP_FAIL_USER0(RP_ERR_DATA, "blend: the validation split has no pairs");
    RP_CALL(fold_moments(comm, k, p, y, fold, n, nfolds, mean, M));
    RP_CALL(choose_ridge(comm, k, p, y, fold, n, nfolds, M, mean, ridge, total, out, cv));
    moments_without(nfolds, M, -1, S);
    RP_REQUIRE(solve_moments(k, S, mean, out->ridge, out->w) == 0, RP_ERR_INTERNAL,
               "blend: singular system (ridge %g)", out->ridge);
    RP_CALL(final_sse(comm, k, out->w, p, y, n, sse));
    double n0 = fold_count(M, 0);
    int best = 0;
    for (int c = 0; c < k; c++) {
        out->input_rmse[c] = sqrt(sse[1 + c] / (double)total);
        out->input_fold0_rmse[c] = n0 > 0 ? sqrt(cv[2 + k + c] / n0) : NAN;
        if (sse[1 + c] < sse[1 + best]) best = c;
    }
    out->rmse = sqrt(sse[0] / (double)total);
    out->cv_rmse = sqrt(cv[0] / (double)total);
    out->fold0_rmse = n0 > 0 ? sqrt(cv[1] / n0) : NAN;
    out->fallback = -1;
    /* The honest check is out of fold; the in-sample one keeps the contract that the written
     * blend is never worse than an input on validation. */
    if (sse[0] > sse[1 + best] || cv[0] > cv[2 + best]) {
        memset(out->w, 0, sizeof out->w);
        out->w[best + 1] = 1.0;
        out->rmse = out->input_rmse[best];
        out->cv_rmse = sqrt(cv[2 + best] / (double)total);
        out->fold0_rmse = out->input_fold0_rmse[best];
        out->fallback = best;
    }
cleanup:
    free(M);
    return rp_mpi_agree(comm, rc);
}
