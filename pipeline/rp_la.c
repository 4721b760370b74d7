/* rp_la.c - checked CBLAS / LAPACKE wrappers: the one place recpipe calls BLAS or LAPACK. */
#include "rp_la.h"

#include <cblas.h>
#include <lapacke.h>
#include <mpi.h>
#include <stdlib.h>
#include <time.h>

#include "rp_err.h"

void rp_la_init(int nthreads) { openblas_set_num_threads(nthreads > 0 ? nthreads : 1); }

int rp_la_dsyrk_tn(int m, int n, const double *a, int lda, double *c, int ldc)
{
    int rc = RP_OK;
    RP_REQUIRE(m >= 0 && n > 0 && lda >= n && ldc >= n, RP_ERR_INTERNAL,
               "dsyrk: bad dimensions m=%d n=%d lda=%d ldc=%d", m, n, lda, ldc);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, m, 1.0, a, lda, 0.0, c, ldc);
cleanup:
    return rc;
}

int rp_la_ssyrk_tn(int m, int n, const float *a, int lda, float *c, int ldc)
{
    int rc = RP_OK;
    RP_REQUIRE(m >= 0 && n > 0 && lda >= n && ldc >= n, RP_ERR_INTERNAL,
               "ssyrk: bad dimensions m=%d n=%d lda=%d ldc=%d", m, n, lda, ldc);
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, n, m, 1.0f, a, lda, 0.0f, c, ldc);
cleanup:
    return rc;
}

/* Leading dimensions a row-major op(X) (rows x cols) needs. */
static int gemm_dims_ok(int ta, int tb, int m, int n, int k, int lda, int ldb, int ldc)
{
    if (m < 0 || n < 0 || k < 0) return 0;
    if (lda < (ta ? m : k) || lda < 1) return 0;
    if (ldb < (tb ? k : n) || ldb < 1) return 0;
    return ldc >= n && ldc >= 1;
}

int rp_la_dgemm(int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda,
                const double *b, int ldb, double beta, double *c, int ldc)
{
    int rc = RP_OK;
    RP_REQUIRE(gemm_dims_ok(ta, tb, m, n, k, lda, ldb, ldc), RP_ERR_INTERNAL,
               "dgemm: bad dimensions m=%d n=%d k=%d", m, n, k);
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
cleanup:
    return rc;
}

int rp_la_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                const float *b, int ldb, float beta, float *c, int ldc)
{
    int rc = RP_OK;
    RP_REQUIRE(gemm_dims_ok(ta, tb, m, n, k, lda, ldb, ldc), RP_ERR_INTERNAL,
               "sgemm: bad dimensions m=%d n=%d k=%d", m, n, k);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
cleanup:
    return rc;
}

int rp_la_sger(int m, int n, float alpha, const float *x, int incx, const float *y, int incy,
               float *a, int lda)
{
    int rc = RP_OK;
    RP_REQUIRE(m >= 0 && n >= 0 && incx != 0 && incy != 0 && lda >= (n > 1 ? n : 1),
               RP_ERR_INTERNAL, "sger: bad dimensions m=%d n=%d lda=%d", m, n, lda);
    cblas_sger(CblasRowMajor, m, n, alpha, x, incx, y, incy, a, lda);
cleanup:
    return rc;
}

/* The row-major upper triangle is the column-major lower one: call LAPACK column-major with 'L'
 * so LAPACKE does not transpose the matrix on every small solve. The _work entry points skip
 * LAPACKE's NaN scan of the inputs (a third of the time of a 33 x 33 solve); a NaN still makes
 * potrf fail or propagates to the solution. */
int rp_la_dposv_upper(int n, double *a, int lda, double *b)
{
    int rc = RP_OK;
    RP_REQUIRE(n > 0 && lda >= n, RP_ERR_INTERNAL, "dposv: bad dimensions n=%d lda=%d", n, lda);
    RP_LAPACK(LAPACKE_dposv_work(LAPACK_COL_MAJOR, 'L', n, 1, a, lda, b, n));
cleanup:
    return rc;
}

int rp_la_dposv_info(int64_t n, double *a, double *b, int *info)
{
    int rc = RP_OK;
    RP_REQUIRE(n > 0 && n <= INT32_MAX, RP_ERR_INTERNAL, "dposv: bad dimension n=%lld",
               (long long)n);
    /* The call LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', ...) makes, without its transposed n x n
     * copy (141 MB for rp-eval's linear regression): transpose in place, then column-major 'U'
     * on the same upper triangle, so the same bits. A holds the factor afterwards. */
    for (int64_t r = 0; r < n; r++)
        for (int64_t c = r + 1; c < n; c++) {
            double t = a[r * n + c];
            a[r * n + c] = a[c * n + r];
            a[c * n + r] = t;
        }
    *info = (int)LAPACKE_dposv_work(LAPACK_COL_MAJOR, 'U', (lapack_int)n, 1, a, (lapack_int)n, b,
                                    (lapack_int)n);
    RP_REQUIRE(*info >= 0, RP_ERR_INTERNAL, "dposv: LAPACK info=%d", *info);
cleanup:
    return rc;
}

int rp_la_sposv_upper(int n, float *a, int lda, float *b)
{
    int rc = RP_OK;
    RP_REQUIRE(n > 0 && lda >= n, RP_ERR_INTERNAL, "sposv: bad dimensions n=%d lda=%d", n, lda);
    RP_LAPACK(LAPACKE_sposv_work(LAPACK_COL_MAJOR, 'L', n, 1, a, lda, b, n));
cleanup:
    return rc;
}

static double seconds(int cpu)
{
    struct timespec ts;
    if (!cpu) return MPI_Wtime();
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double rp_la_gemm_rate(int n, int dbl, int reps, int cpu)
{
    size_t es = dbl ? sizeof(double) : sizeof(float), nn = (size_t)n * (size_t)n;
    char *a = malloc(nn * es), *b = malloc(nn * es), *c = malloc(nn * es);
    double best = 0.0;
    if (a == NULL || b == NULL || c == NULL) goto cleanup;
    for (size_t i = 0; i < nn; i++) {
        double v = (double)((i * 7919u) % 1000u) / 1000.0 - 0.5;
        if (dbl) ((double *)a)[i] = ((double *)b)[i] = v;
        else ((float *)a)[i] = ((float *)b)[i] = (float)v;
    }
    for (int r = 0; r <= reps; r++) { /* r == 0 is the warm-up */
        double t = seconds(cpu);
        if (dbl)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, (double *)a, n,
                        (double *)b, n, 0.0, (double *)c, n);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, (float *)a, n,
                        (float *)b, n, 0.0f, (float *)c, n);
        t = seconds(cpu) - t;
        double rate = 2.0 * (double)n * (double)n * (double)n / (t > 0 ? t : 1e-9) / 1e9;
        if (r > 0 && rate > best) best = rate;
    }
cleanup:
    free(a);
    free(b);
    free(c);
    return best;
}
