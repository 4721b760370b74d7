/* hybrid_blend.c - late fusion: ridge regression of the validation targets on the component
 * predictions, normal equations summed exactly over ranks, solved with LAPACKE. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hybrid.h"
#include "rp_err.h"
#include "rp_mpi.h"

#define MAXK 8

void hyb_blend_predict(int k, const double *w, float *const *p, int64_t n, float *out)
{
    for (int64_t x = 0; x < n; x++) {
        double z = w[0];
        for (int c = 0; c < k; c++) z += w[c + 1] * p[c][x];
        out[x] = (float)(z < 0.0 ? 0.0 : (z > 1.0 ? 1.0 : z));
    }
}

/* Sums of [1, p] [1, p]^T and [1, p] y over all ranks' pairs: acc holds the (k+1)^2 Gram
 * entries, then k+1 right-hand sides. Exact, so any rank count gives the same system. */
static int normal_equations(MPI_Comm comm, int k, float *const *p, const float *y, int64_t n,
                            double *G, double *b)
{
    int rc = RP_OK, m = k + 1;
    int64_t acc[(MAXK + 1) * (MAXK + 2)] = {0};
    double row[MAXK + 1], sums[(MAXK + 1) * (MAXK + 2)];
    for (int64_t x = 0; x < n; x++) {
        row[0] = 1.0;
        for (int c = 0; c < k; c++) row[c + 1] = p[c][x];
        for (int r = 0; r < m; r++) {
            for (int c = r; c < m; c++) acc[r * m + c] += hyb_fixed(row[r] * row[c]);
            acc[m * m + r] += hyb_fixed(row[r] * y[x]);
        }
    }
    RP_CALL(hyb_exact_sum(comm, acc, m * m + m, sums));
    for (int r = 0; r < m; r++) {
        for (int c = r; c < m; c++) G[r * m + c] = G[c * m + r] = sums[r * m + c];
        b[r] = sums[m * m + r];
    }
cleanup:
    return rc;
}

/* Sum of squared errors of the blend (slot 0) and of each input (slots 1..k). */
static int validation_sse(MPI_Comm comm, int k, const double *w, float *const *p, const float *y,
                          int64_t n, double *sse)
{
    int rc = RP_OK;
    int64_t acc[MAXK + 1] = {0};
    float *blend = NULL;
    RP_ALLOC(blend = malloc((size_t)(n > 0 ? n : 1) * sizeof *blend));
    hyb_blend_predict(k, w, p, n, blend);
    for (int64_t x = 0; x < n; x++) {
        double e = (double)blend[x] - y[x];
        acc[0] += hyb_fixed(e * e);
        for (int c = 0; c < k; c++) {
            double ec = (double)p[c][x] - y[x];
            acc[c + 1] += hyb_fixed(ec * ec);
        }
    }
cleanup:
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK) rc = hyb_exact_sum(comm, acc, k + 1, sse);
    free(blend);
    return rc;
}

int hyb_blend_fit(MPI_Comm comm, int k, float *const *p, const float *y, int64_t n, double ridge,
                  double *w, double *rmse, double *rmse_in, int *fallback)
{
    int rc = RP_OK, m = k + 1;
    double G[(MAXK + 1) * (MAXK + 1)], b[MAXK + 1], sse[MAXK + 1];
    int64_t total = n;
    RP_REQUIRE(k >= 1 && k <= MAXK && ridge >= 0.0, RP_ERR_INTERNAL, "blend: k=%d ridge=%g", k,
               ridge);
    RP_CALL(rp_mpi_sum_i64(comm, &total, 1));
    if (total == 0) RP_FAIL_USER0(RP_ERR_DATA, "blend: the validation split has no pairs");
    RP_CALL(normal_equations(comm, k, p, y, n, G, b));
    /* Mean form (divide by the pair count) so --ridge means the same at any data size; the
     * intercept is not shrunk. A tiny jitter keeps the system positive definite when an input
     * is constant. */
    for (int r = 0; r < m * m; r++) G[r] /= (double)total;
    for (int r = 0; r < m; r++) b[r] /= (double)total;
    for (int r = 1; r < m; r++) G[r * m + r] += ridge + 1e-12;
    G[0] += 1e-12;
    RP_LAPACK(LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', m, 1, G, m, b, 1));
    memcpy(w, b, (size_t)m * sizeof *w);
    RP_CALL(validation_sse(comm, k, w, p, y, n, sse));
    int best = 0;
    for (int c = 0; c < k; c++) {
        rmse_in[c] = sqrt(sse[c + 1] / (double)total);
        if (sse[c + 1] < sse[best + 1]) best = c;
    }
    *rmse = sqrt(sse[0] / (double)total);
    *fallback = -1;
    if (sse[0] > sse[best + 1]) {
        /* Ridge shrinkage (or clamping) lost to one input: use that input alone, which scores
         * exactly its own predictions (they are already in [0, 1]). */
        for (int r = 0; r < m; r++) w[r] = 0.0;
        w[best + 1] = 1.0;
        *rmse = rmse_in[best];
        *fallback = best;
    }
cleanup:
    return rp_mpi_agree(comm, rc);
}
