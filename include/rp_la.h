/* rp_la.h - thin checked wrappers over CBLAS (OpenBLAS) and LAPACKE: the only file that calls
 * them (rp-als normal equations, rp_mlp layers, rp_model scoring, rp-seqrec, rp-hybrid blend,
 * benchmark rooflines). Matrices are row-major unless a name says otherwise. BLAS has no status:
 * the wrappers check dimensions and return RP_ERR_INTERNAL on nonsense; LAPACK failures
 * (info != 0) likewise. Each wrapper makes exactly the one CBLAS/LAPACKE call it names, so
 * routing a call through it keeps the bits. */
#ifndef RP_LA_H
#define RP_LA_H

#include <stdint.h>

/* rp_la_init - pin OpenBLAS to nthreads threads (1 inside an MPI rank). Local. */
void rp_la_init(int nthreads);

/* rp_la_dsyrk_tn / rp_la_ssyrk_tn - upper triangle of C (n x n, ldc) = A^T A, A m x n (lda).
 * The strictly lower triangle of C is left untouched. m may be 0 (C = 0).
 * Returns RP_OK or RP_ERR_INTERNAL (bad dimensions). */
int rp_la_dsyrk_tn(int m, int n, const double *a, int lda, double *c, int ldc);
int rp_la_ssyrk_tn(int m, int n, const float *a, int lda, float *c, int ldc);

/* rp_la_dgemm / rp_la_sgemm - C (m x n) = alpha * op(A) op(B) + beta * C, op = transpose when
 * ta / tb is nonzero. Returns RP_OK or RP_ERR_INTERNAL (bad dimensions). */
int rp_la_dgemm(int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda,
                const double *b, int ldb, double beta, double *c, int ldc);
int rp_la_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                const float *b, int ldb, float beta, float *c, int ldc);

/* rp_la_sger - A (m x n, lda) += alpha * x y^T, x (m, stride incx), y (n, stride incy).
 * Returns RP_OK or RP_ERR_INTERNAL (bad dimensions or a zero stride). */
int rp_la_sger(int m, int n, float alpha, const float *x, int incx, const float *y, int incy,
               float *a, int lda);

/* rp_la_dposv_upper / rp_la_sposv_upper - solve A x = b in place for symmetric positive
 * definite A (n x n, lda) of which only the row-major upper triangle is read (as written by
 * rp_la_*syrk_tn); A is overwritten by its Cholesky factor, b (n) by x.
 * Returns RP_OK, RP_ERR_INTERNAL (bad dimensions, or A not positive definite: LAPACK info). */
int rp_la_dposv_upper(int n, double *a, int lda, double *b);
int rp_la_sposv_upper(int n, float *a, int lda, float *b);

/* rp_la_dposv_info - solve A x = b in place, A (n x n, row-major, dense) symmetric positive
 * definite, upper triangle read (no copy of A is made; A is overwritten); b (n) becomes x. LAPACK's own info reaches the caller, which
 * reports a non-positive-definite A (*info > 0) in its own words. Returns RP_OK (with *info, 0
 * on success) or RP_ERR_INTERNAL (bad dimensions, or *info < 0: a bad argument). */
int rp_la_dposv_info(int64_t n, double *a, double *b, int *info);

/* rp_la_gemm_rate - a roofline: GFLOP/s of a square n x n x n GEMM (fp64 when dbl, else fp32)
 * on this process, best of reps runs after a warm-up, timed in wall seconds, or in this
 * process's CPU seconds when cpu is nonzero (steadier on a shared machine). Local. Returns the
 * rate, or 0 on allocation failure. */
double rp_la_gemm_rate(int n, int dbl, int reps, int cpu);

#endif
