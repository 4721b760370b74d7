/* test_als.c - rp-als and rp_la on one process: BLAS/LAPACK wrappers, one row's solve against a
 * direct dense solve, planted low-rank recovery, monotone objective, bad inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "als.h"
#include "als_fixture.h"
#include "rp_err.h"
#include "rp_h5.h"
#include "rp_la.h"
#include "rp_rng.h"
#include "rp_test.h"

int test_als_register(void);

/* Gaussian elimination with partial pivoting on a dense n x n system (test reference). */
static void dense_solve(int n, double *a, double *b)
{
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[p * n + c])) p = r;
        for (int j = 0; j < n; j++) {
            double t = a[c * n + j];
            a[c * n + j] = a[p * n + j];
            a[p * n + j] = t;
        }
        double t = b[c];
        b[c] = b[p];
        b[p] = t;
        for (int r = c + 1; r < n; r++) {
            double f = a[r * n + c] / a[c * n + c];
            for (int j = c; j < n; j++) a[r * n + j] -= f * a[c * n + j];
            b[r] -= f * b[c];
        }
    }
    for (int r = n - 1; r >= 0; r--) {
        for (int j = r + 1; j < n; j++) b[r] -= a[r * n + j] * b[j];
        b[r] /= a[r * n + r];
    }
}

static void la_wrappers(void)
{
    double a[6] = {1, 2, 3, 4, 5, 6}, c[4] = {0, 0, -7, 0}; /* A 3 x 2 */
    CU_ASSERT_EQUAL(rp_la_dsyrk_tn(3, 2, a, 2, c, 2), RP_OK);
    CU_ASSERT_DOUBLE_EQUAL(c[0], 35.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(c[1], 44.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(c[3], 56.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(c[2], -7.0, 0.0); /* lower triangle untouched */
    double spd[4] = {4, 2, 0, 3}, b[2] = {2, 1}; /* upper: [[4,2],[2,3]] x = [2,1] */
    CU_ASSERT_EQUAL(rp_la_dposv_upper(2, spd, 2, b), RP_OK);
    CU_ASSERT_DOUBLE_EQUAL(b[0], 0.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(b[1], 0.0, 1e-12);
    double bad[4] = {-1, 0, 0, 1}, bb[2] = {1, 1};
    CU_ASSERT_EQUAL(rp_la_dposv_upper(2, bad, 2, bb), RP_ERR_INTERNAL);
    CU_ASSERT_EQUAL(rp_la_dsyrk_tn(3, 2, a, 1, c, 2), RP_ERR_INTERNAL);
    float fa[6] = {1, 2, 3, 4, 5, 6}, fc[4] = {0};
    CU_ASSERT_EQUAL(rp_la_ssyrk_tn(3, 2, fa, 2, fc, 2), RP_OK);
    CU_ASSERT_DOUBLE_EQUAL(fc[1], 44.0, 1e-5);
    double g[4] = {0};
    CU_ASSERT_EQUAL(rp_la_dgemm(1, 0, 2, 2, 3, 1.0, a, 2, a, 2, 0.0, g, 2), RP_OK);
    CU_ASSERT_DOUBLE_EQUAL(g[2], 44.0, 1e-12);
    CU_ASSERT(rp_la_gemm_rate(64, 1, 1, 0) > 0.0);
    CU_ASSERT(rp_la_gemm_rate(64, 0, 1, 1) > 0.0);
}

/* One row's normal-equation solve equals (Y~^T Y~ + lambda n I) x = Y~^T t solved densely,
 * Y~ = [y, 1], t = r - mu - bias(y). */
/* The factors get the weighted ridge lambda * n, the bias its own lambda_bias (not scaled by
 * n): the solve equals a dense reference solve with that diagonal. */
static void row_solve_matches_dense(void)
{
    int k = 5, kk = k + 1;
    int64_t n = 37;
    double lambda = 0.3, lambda_bias = 2.5, mu = 0.4, *y = malloc((size_t)n * kk * sizeof *y), x[6];
    float *r = malloc((size_t)n * sizeof *r);
    double a[36] = {0}, b[6] = {0};
    for (int64_t e = 0; e < n; e++) {
        for (int j = 0; j < kk; j++) y[e * kk + j] = rp_rng_normal(3, 1, (uint64_t)(e * kk + j));
        r[e] = (float)rp_rng_uniform(3, 2, (uint64_t)e);
        double z[6], t = (double)r[e] - mu - y[e * kk + k];
        memcpy(z, y + e * kk, (size_t)k * sizeof *z);
        z[k] = 1.0;
        for (int i = 0; i < kk; i++) {
            for (int j = 0; j < kk; j++) a[i * kk + j] += z[i] * z[j];
            b[i] += z[i] * t;
        }
    }
    for (int i = 0; i < k; i++) a[i * kk + i] += lambda * (double)n;
    a[k * kk + k] += lambda_bias;
    dense_solve(kk, a, b);
    for (int path = 0; path < 2; path++) { /* gather + SYRK, then the automatic choice */
        als_gram_enable(path);
        CU_ASSERT_EQUAL_FATAL(
            als_solve_row_dense(k, ALS_PEN_WR, lambda, lambda_bias, mu, n, y, r, x), RP_OK);
        for (int j = 0; j < kk; j++) CU_ASSERT(rp_test_close(x[j], b[j], 1e-10));
        /* the constant penalty with lambda' = lambda * n is the same system */
        CU_ASSERT_EQUAL_FATAL(als_solve_row_dense(k, ALS_PEN_CONST, lambda * (double)n,
                                                  lambda_bias, mu, n, y, r, x), RP_OK);
        for (int j = 0; j < kk; j++) CU_ASSERT(rp_test_close(x[j], b[j], 1e-10));
    }
    /* the bias penalty is its own: a huge factor ridge zeroes the factors, while the bias is
     * the mean residual shrunk only by lambda_bias: sum(t) / (n + lambda_bias) */
    CU_ASSERT_EQUAL_FATAL(als_solve_row_dense(k, ALS_PEN_WR, 1e9, lambda_bias, mu, n, y, r, x),
                          RP_OK);
    double tsum = 0.0;
    for (int64_t e = 0; e < n; e++) tsum += (double)r[e] - mu - y[e * kk + k];
    for (int j = 0; j < k; j++) CU_ASSERT(fabs(x[j]) < 1e-6);
    CU_ASSERT(rp_test_close(x[k], tsum / ((double)n + lambda_bias), 1e-6));
    CU_ASSERT_EQUAL(als_solve_row_dense(k, ALS_PEN_CONST, lambda, lambda_bias, mu, 0, y, r, x),
                    RP_OK);
    CU_ASSERT_DOUBLE_EQUAL(x[0], 0.0, 0.0);
    free(y);
    free(r);
}

/* The two penalties against the closed-form ridge: with the other side's rows [q, c] taken
 * from (+-1, +-1) m times each, Y~^T Y~ = n I (n = 4m), so each factor is
 * (Y^T t)_j / (n + ridge) and the bias sum(t) / (n + lambda_bias), where the ridge is lambda
 * (const) or lambda * n (wr): the constant ridge shrinks a row with more data less. */
static void penalty_closed_form(void)
{
    enum { K = 2, MAXN = 16 };
    double y[MAXN * (K + 1)], x[K + 1], lambda = 3.0, lambda_bias = 0.5, mu = 0.25;
    float r[MAXN];
    for (int m = 1; m <= 4; m *= 4) {
        int64_t n = 4 * m;
        double s[K + 1] = {0};
        for (int64_t e = 0; e < n; e++) {
            y[e * (K + 1)] = (e & 1) ? 1.0 : -1.0;
            y[e * (K + 1) + 1] = (e & 2) ? 1.0 : -1.0;
            y[e * (K + 1) + 2] = 0.01 * (double)(e % 3); /* the other side's bias */
            r[e] = (float)(0.1 * (double)(e % 5) + 0.05 * (double)(e % 2));
            double t = (double)r[e] - mu - y[e * (K + 1) + 2];
            s[0] += y[e * (K + 1)] * t;
            s[1] += y[e * (K + 1) + 1] * t;
            s[K] += t;
        }
        for (int pen = ALS_PEN_WR; pen <= ALS_PEN_CONST; pen++) {
            double ridge = pen == ALS_PEN_CONST ? lambda : lambda * (double)n;
            CU_ASSERT_DOUBLE_EQUAL(als_ridge(pen, lambda, n), ridge, 0.0);
            CU_ASSERT_EQUAL_FATAL(
                als_solve_row_dense(K, pen, lambda, lambda_bias, mu, n, y, r, x), RP_OK);
            for (int j = 0; j < K; j++)
                CU_ASSERT(rp_test_close(x[j], s[j] / ((double)n + ridge), 1e-12));
            CU_ASSERT(rp_test_close(x[K], s[K] / ((double)n + lambda_bias), 1e-12));
        }
    }
}

/* The AVX-512 normal equations equal a plain loop for ranks that do and do not fill whole
 * vectors and column blocks, and entry counts that do not fill whole groups. */
/* The batched Cholesky (AVX-512) against LAPACK on random SPD systems of order 33 (k = 32):
 * within a scaled residual; a system's bits are the same in any lane of any batch; a matrix
 * that is not positive definite, or NaN, fails. */
static void chol_batch_matches_lapack(void)
{
    if (!als_gram_available()) {
        fprintf(stderr, "batched Cholesky: no AVX-512 here, LAPACK solves every row\n");
        return;
    }
    enum { N = 33, LD = 34, B = ALS_BATCH_D };
    double A[B][LD * LD], rhs[B][LD], x[B][LD], l[N * N * B], y[N * B];
    double *c[B], *b[B];
    int bad = 0;
    for (int s = 0; s < B; s++) {
        double g[N * N];
        for (int x0 = 0; x0 < N * N; x0++) g[x0] = rp_rng_uniform(31, (uint64_t)s, (uint64_t)x0) - 0.5;
        for (int i = 0; i < N; i++) /* A = G G^T + i-dependent diagonal, upper triangle */
            for (int j = i; j < N; j++) {
                double d = 0.0;
                for (int q = 0; q < N; q++) d += g[i * N + q] * g[j * N + q];
                A[s][i * LD + j] = d + (i == j ? 0.01 * (1 + i) : 0.0);
            }
        for (int i = 0; i < N; i++) rhs[s][i] = rp_rng_uniform(32, (uint64_t)s, (uint64_t)i);
    }
    double Cs[B][LD * LD], bs[B][LD];
    for (int s = 0; s < B; s++) {
        memcpy(Cs[s], A[s], sizeof Cs[s]);
        memcpy(bs[s], rhs[s], sizeof bs[s]);
        c[s] = Cs[s];
        b[s] = bs[s];
    }
    CU_ASSERT_EQUAL_FATAL(als_chol_batch_d(N, LD, c, b, B, l, y), 0);
    for (int s = 0; s < B; s++) {
        double a2[LD * LD], x2[LD];
        memcpy(a2, A[s], sizeof a2);
        memcpy(x2, rhs[s], sizeof x2);
        CU_ASSERT_EQUAL_FATAL(rp_la_dposv_upper(N, a2, LD, x2), RP_OK);
        double num = 0.0, den = 0.0;
        for (int i = 0; i < N; i++) {
            num += (bs[s][i] - x2[i]) * (bs[s][i] - x2[i]);
            den += x2[i] * x2[i];
        }
        bad += !(sqrt(num / den) < 1e-10); /* condition ~1e4: both within eps * cond */
        memcpy(x[s], bs[s], sizeof x[s]);
    }
    /* System 3 alone in lane 0 of a batch of one: the same bits. */
    double C1[LD * LD], b1[LD], *c1 = C1, *p1 = b1;
    memcpy(C1, A[3], sizeof C1);
    memcpy(b1, rhs[3], sizeof b1);
    CU_ASSERT_EQUAL(als_chol_batch_d(N, LD, &c1, &p1, 1, l, y), 0);
    CU_ASSERT(memcmp(b1, x[3], N * sizeof(double)) == 0);
    /* Not positive definite (a negative diagonal), then NaN: fail. */
    memcpy(C1, A[3], sizeof C1);
    C1[5 * LD + 5] = -1.0;
    CU_ASSERT_EQUAL(als_chol_batch_d(N, LD, &c1, &p1, 1, l, y), -1);
    memcpy(C1, A[3], sizeof C1);
    C1[0] = NAN;
    CU_ASSERT_EQUAL(als_chol_batch_d(N, LD, &c1, &p1, 1, l, y), -1);
    /* Single precision, 16 lanes: the same systems solve to float accuracy. */
    float Af[ALS_BATCH_S][LD * LD], bf[ALS_BATCH_S][LD], lf[N * N * ALS_BATCH_S], yf[N * ALS_BATCH_S];
    float *cf[ALS_BATCH_S], *pf[ALS_BATCH_S];
    for (int s = 0; s < ALS_BATCH_S; s++) {
        for (int x0 = 0; x0 < LD * LD; x0++) Af[s][x0] = (float)A[s % B][x0];
        for (int i = 0; i < LD; i++) bf[s][i] = (float)rhs[s % B][i];
        cf[s] = Af[s];
        pf[s] = bf[s];
    }
    CU_ASSERT_EQUAL_FATAL(als_chol_batch_s(N, LD, cf, pf, ALS_BATCH_S, lf, yf), 0);
    for (int s = 0; s < ALS_BATCH_S; s++) {
        double num = 0.0, den = 0.0;
        for (int i = 0; i < N; i++) {
            num += ((double)bf[s][i] - x[s % B][i]) * ((double)bf[s][i] - x[s % B][i]);
            den += x[s % B][i] * x[s % B][i];
        }
        bad += !(sqrt(num / den) < 1e-2);
        if (s >= B) bad += memcmp(bf[s], bf[s - B], N * sizeof(float)) != 0; /* same system */
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static als_opts small_opts(const char *shards, int k, double lambda)
{
    return (als_opts){.shards = shards, .out = rp_test_path("u_als.h5"), .precision = "fp64",
                      .exchange = "auto", .k = k, .lambda = lambda, .penalty = "wr", .iters = 1,
                      .seed = 42};
}

/* Reference of one row's normal equations: the scalar sequences the kernel promises (one
 * fma chain per entry in entry order, plain sums of y and t) in double (fp64) or float (fp32),
 * and the exact sums in double (naive). */
typedef struct gram_ref {
    double *exact, *bexact; /* naive double: upper triangle (ld k + 2), rhs */
    double *fd, *bd;        /* fma chain, double */
    float *ff, *bf;         /* fma chain, float, on the float table */
} gram_ref;

static void gram_reference(int k, int64_t n, const int32_t *lcol, const float *val, double mu,
                           const double *tab, const float *tabf, gram_ref *g)
{
    int kk = k + 2;
    double sd = 0.0;
    float sf = 0.0f;
    for (int64_t e = 0; e < n; e++) {
        const double *y = tab + (size_t)lcol[e] * (k + 1);
        const float *yf = tabf + (size_t)lcol[e] * (k + 1);
        double t = (double)val[e] - mu - y[k];
        float tf = (float)((double)val[e] - mu - (double)yf[k]);
        for (int i = 0; i < k; i++) {
            for (int j = i; j < k; j++) {
                g->exact[i * kk + j] += y[i] * y[j];
                g->fd[i * kk + j] = fma(y[i], y[j], g->fd[i * kk + j]);
                g->ff[i * kk + j] = fmaf(yf[i], yf[j], g->ff[i * kk + j]);
            }
            g->exact[i * kk + k] += y[i];
            g->fd[i * kk + k] += y[i];
            g->ff[i * kk + k] += yf[i];
            g->bexact[i] += t * y[i];
            g->bd[i] = fma(t, y[i], g->bd[i]);
            g->bf[i] = fmaf(tf, yf[i], g->bf[i]);
        }
        g->bexact[k] += t;
        sd += t;
        sf += tf;
    }
    g->exact[k * kk + k] = g->fd[k * kk + k] = (double)n;
    g->ff[k * kk + k] = (float)n;
    g->bd[k] = sd;
    g->bf[k] = sf;
}

/* The AVX-512 register-tiled kernel on random rows of odd sizes (1, 7, 17, 33 entries, and
 * 150: several panels) and ranks that do and do not fill whole vectors and tiles: within a
 * scaled tolerance of the exact sums in double, and bit for bit the scalar fma sequence in its
 * own precision (so the tiling and the panel size do not change the bits). */
static void gram_kernel_matches_reference(void)
{
    if (!als_gram_available()) {
        fprintf(stderr, "gram kernel: no AVX-512 here, only the SYRK path runs\n");
        return;
    }
    static const int ks[] = {1, 8, 17, 32, 33, 64, 70};
    static const int64_t ns[] = {1, 7, 17, 33, 150};
    int n_tab = 300, far = 0, bits = 0;
    double mu = 0.3;
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        int k = ks[t], kk = k + 2;
        size_t sq = (size_t)kk * kk;
        double *tab = malloc((size_t)n_tab * (k + 1) * sizeof *tab);
        float *tabf = malloc((size_t)n_tab * (k + 1) * sizeof *tabf);
        double *sd = aligned_alloc(64, (als_gram_scratch(k, 1) * 8 + 63) / 64 * 64);
        float *sf = aligned_alloc(64, (als_gram_scratch(k, 0) * 4 + 63) / 64 * 64);
        double *c = calloc(sq + kk, 8), *exact = calloc(sq + kk, 8), *fd = calloc(sq + kk, 8);
        float *cf = calloc(sq + kk, 4), *ff = calloc(sq + kk, 4);
        for (int i = 0; i < n_tab * (k + 1); i++)
            tabf[i] = (float)(tab[i] = rp_rng_normal(5, 6, (uint64_t)i));
        for (size_t q = 0; q < sizeof ns / sizeof ns[0]; q++) {
            int64_t n = ns[q];
            int32_t lcol[150];
            float val[150];
            for (int64_t e = 0; e < n; e++) {
                rp_rng g;
                rp_rng_init(&g, 5, (uint64_t)(7 + q), (uint64_t)e);
                lcol[e] = (int32_t)rp_rng_next_below(&g, (uint64_t)n_tab);
                val[e] = (float)rp_rng_uniform(5, 8 + q, (uint64_t)e);
            }
            memset(exact, 0, (sq + kk) * 8);
            memset(fd, 0, (sq + kk) * 8);
            memset(ff, 0, (sq + kk) * 4);
            gram_ref g = {exact, exact + sq, fd, fd + sq, ff, ff + sq};
            gram_reference(k, n, lcol, val, mu, tab, tabf, &g);
            als_gram_row row = {.k = k, .n = n, .lcol = lcol, .val = val, .mu = mu,
                                .next = lcol, .nnext = n};
            als_gram_d(&row, tab, sd, c, c + sq);
            als_gram_s(&row, tabf, sf, cf, cf + sq);
            /* entries are sums of n products of N(0, 1) draws: scale the tolerance by n */
            double tol_d = 1e-14 * (double)n, tol_s = 1e-6 * (double)n;
            for (int i = 0; i <= k; i++) {
                for (int j = i; j <= k; j++) {
                    size_t a = (size_t)i * kk + j;
                    far += fabs(c[a] - exact[a]) > tol_d * (1.0 + fabs(exact[a]));
                    far += fabs(cf[a] - exact[a]) > tol_s * (1.0 + fabs(exact[a]));
                    bits += memcmp(&c[a], &fd[a], 8) != 0;
                    bits += memcmp(&cf[a], &ff[a], 4) != 0;
                }
                double be = exact[sq + i];
                far += fabs(c[sq + i] - be) > tol_d * (1.0 + fabs(be));
                far += fabs(cf[sq + i] - be) > tol_s * (1.0 + fabs(be));
                bits += memcmp(&c[sq + i], &fd[sq + i], 8) != 0;
                bits += memcmp(&cf[sq + i], &ff[sq + i], 4) != 0;
            }
            if (far || bits)
                fprintf(stderr, "gram kernel: k=%d n=%lld: %d far, %d bits differ\n", k,
                        (long long)n, far, bits);
        }
        free(tab); free(tabf); free(sd); free(sf);
        free(c); free(exact); free(fd); free(cf); free(ff);
    }
    CU_ASSERT_EQUAL(far, 0);
    CU_ASSERT_EQUAL(bits, 0);
}

/* The portable path (gather + SYRK + LAPACK), forced by $RP_ALS_NO_AVX512 or
 * als_gram_enable(0), gives the AVX-512 path's factors within rounding: a half-sweep of each
 * side from the same state, fp64 and fp32 (the two differ in operation order only). */
static void portable_path_matches(void)
{
    char path[1200]; /* rp_test_path's buffers rotate */
    snprintf(path, sizeof path, "%s", rp_test_path("paths.h5"));
    als_fixture fx = als_fixture_default(70, 50);
    fx.density = 0.3;
    CU_ASSERT_EQUAL_FATAL(als_fixture_write(MPI_COMM_SELF, path, &fx), RP_OK);
    int have = als_gram_available();
    setenv("RP_ALS_NO_AVX512", "1", 1);
    als_gram_enable(1); /* the automatic choice reads the variable again */
    CU_ASSERT_EQUAL(als_gram_available(), 0);
    unsetenv("RP_ALS_NO_AVX512");
    als_gram_enable(1);
    CU_ASSERT_EQUAL(als_gram_available(), have);
    if (!have) {
        fprintf(stderr, "portable path: no AVX-512 here, nothing to compare with\n");
        return;
    }
    for (int prec = 0; prec < 2; prec++) {
        double worst = 0.0;
        for (int s = 0; s < 2; s++) {
            als_state st[2] = {{0}, {0}};
            for (int p = 0; p < 2; p++) { /* p = 0: AVX-512, 1: portable */
                als_gram_enable(p == 0);
                als_opts opt = small_opts(path, 33, 0.05);
                opt.precision = prec ? "fp32" : "fp64";
                CU_ASSERT_EQUAL_FATAL(als_load(MPI_COMM_SELF, &opt, &st[p]), RP_OK);
                if (s == ALS_ITEM) CU_ASSERT_EQUAL(als_half_sweep(&st[p], ALS_USER), RP_OK);
                CU_ASSERT_EQUAL(als_half_sweep(&st[p], s), RP_OK);
            }
            const als_side *a = &st[0].side[s], *b = &st[1].side[s];
            size_t m = (size_t)a->nrows * 34;
            for (size_t i = 0; i < m; i++) {
                double x = prec ? ((const float *)a->fac)[i] : ((const double *)a->fac)[i];
                double y = prec ? ((const float *)b->fac)[i] : ((const double *)b->fac)[i];
                worst = fmax(worst, fabs(x - y) / (1.0 + fabs(y)));
            }
            als_state_clear(&st[0]);
            als_state_clear(&st[1]);
        }
        fprintf(stderr, "portable path: %s largest difference %.2e\n", prec ? "fp32" : "fp64",
                worst);
        CU_ASSERT(worst < (prec ? 1e-4 : 1e-11));
        CU_ASSERT(worst > 0.0 || prec == 0); /* fp32: the paths really are two */
    }
    als_gram_enable(1);
}

/* Train on a planted rank-4 model with noise 0.02: predictions approach the noise-free truth
 * well below the noise level and validation RMSE sits at the noise level. */
static void planted_recovered(void)
{
    const char *path = rp_test_path("planted.h5");
    als_fixture fx = als_fixture_default(240, 160);
    fx.density = 0.6; /* the sparsest users still see ~6% of 160 items */
    CU_ASSERT_EQUAL_FATAL(als_fixture_write(MPI_COMM_SELF, path, &fx), RP_OK);
    als_opts opt = small_opts(path, 4, 0.002);
    als_state st = {0};
    CU_ASSERT_EQUAL_FATAL(als_load(MPI_COMM_SELF, &opt, &st), RP_OK);
    double m[4] = {0};
    for (int it = 0; it < 20; it++) {
        CU_ASSERT_EQUAL(als_half_sweep(&st, ALS_USER), RP_OK);
        CU_ASSERT_EQUAL(als_half_sweep(&st, ALS_ITEM), RP_OK);
    }
    CU_ASSERT_EQUAL(als_metrics(&st, &m[0], &m[1], &m[2], &m[3]), RP_OK);
    CU_ASSERT(m[2] < 1.15 * fx.sigma); /* valid RMSE at the noise level */
    CU_ASSERT(m[0] < fx.sigma);        /* train RMSE below it (fitted noise) */
    /* error against the truth over every pair, observed or not */
    const double *P = st.side[ALS_USER].fac, *Q = st.side[ALS_ITEM].fac;
    double se = 0.0;
    for (int64_t u = 0; u < fx.n_users; u++)
        for (int64_t i = 0; i < fx.n_items; i++) {
            double p = st.mu + P[u * 5 + 4] + Q[i * 5 + 4];
            for (int j = 0; j < 4; j++) p += P[u * 5 + j] * Q[i * 5 + j];
            double d = p - als_fixture_truth(&fx, u, i);
            se += d * d;
        }
    double truth_rmse = sqrt(se / (double)(fx.n_users * fx.n_items));
    CU_ASSERT(truth_rmse < 0.6 * fx.sigma);
    fprintf(stderr, "planted: valid_rmse=%.5f train_rmse=%.5f truth_rmse=%.5f sigma=%.3f\n",
            m[2], m[0], truth_rmse, fx.sigma);
    als_state_clear(&st);
}

/* Each half-sweep minimises the objective exactly over one side: it never increases. */
static void objective_monotone(void)
{
    const char *path = rp_test_path("mono.h5");
    als_fixture fx = als_fixture_default(90, 70);
    fx.density = 0.15;
    CU_ASSERT_EQUAL_FATAL(als_fixture_write(MPI_COMM_SELF, path, &fx), RP_OK);
    for (int run = 0; run < 4; run++) { /* fp64, fp32; then both again on the SYRK path */
        int prec = run % 2;
        als_gram_enable(run < 2);
        als_opts opt = small_opts(path, 6, 0.05);
        opt.precision = prec ? "fp32" : "fp64";
        als_state st = {0};
        CU_ASSERT_EQUAL_FATAL(als_load(MPI_COMM_SELF, &opt, &st), RP_OK);
        double prev = INFINITY, obj = 0.0;
        int ok = 1;
        for (int h = 0; h < 12; h++) {
            int s = h % 2;
            CU_ASSERT_EQUAL(als_half_sweep(&st, s), RP_OK);
            CU_ASSERT_EQUAL(als_objective(&st, s, &obj), RP_OK);
            /* fp32 solves round: allow its epsilon relative to the objective */
            if (obj > prev * (1.0 + (prec ? 1e-5 : 1e-12))) ok = 0;
            prev = obj;
        }
        CU_ASSERT(ok);
        CU_ASSERT(isfinite(obj) && obj > 0.0);
        als_state_clear(&st);
    }
    als_gram_enable(1);
}

/* Damaged inputs are refused with the documented codes. */
static void bad_inputs(void)
{
    als_opts opt = small_opts(rp_test_path("missing.h5"), 4, 0.1);
    als_state st = {0};
    CU_ASSERT_EQUAL(als_load(MPI_COMM_SELF, &opt, &st), RP_ERR_NOINPUT);
    als_state_clear(&st);
    const char *txt = rp_test_path("text.h5");
    rp_test_write_file(txt, "not hdf5\n");
    opt.shards = txt;
    CU_ASSERT_EQUAL(als_load(MPI_COMM_SELF, &opt, &st), RP_ERR_DATA);
    als_state_clear(&st);
    /* wrong schema */
    const char *ws = rp_test_path("schema.h5");
    hid_t f = H5I_INVALID_HID;
    CU_ASSERT_EQUAL_FATAL(rp_h5_create(MPI_COMM_SELF, ws, &f), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_attr_write_str(f, "/", "schema", "recpipe.als"), RP_OK);
    CU_ASSERT_EQUAL(rp_h5_commit(MPI_COMM_SELF, &f, ws, RP_OK), RP_OK);
    opt.shards = ws;
    CU_ASSERT_EQUAL(als_load(MPI_COMM_SELF, &opt, &st), RP_ERR_DATA);
    als_state_clear(&st);
    /* an item index out of range */
    const char *bad = rp_test_path("badidx.h5");
    als_fixture fx = als_fixture_default(20, 10);
    CU_ASSERT_EQUAL_FATAL(als_fixture_write(MPI_COMM_SELF, bad, &fx), RP_OK);
    CU_ASSERT_EQUAL_FATAL(rp_h5_open(MPI_COMM_SELF, bad, &f), RP_OK); /* read-only: reopen rw */
    rp_h5_close(&f);
    hid_t raw = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(raw >= 0);
    hid_t d = H5Dopen2(raw, "/train/by_user/item", H5P_DEFAULT);
    int32_t big = 99;
    hsize_t one = 1, at = 3;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &one, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &one, NULL);
    CU_ASSERT(H5Dwrite(d, H5T_NATIVE_INT32, ms, fs, H5P_DEFAULT, &big) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    H5Fclose(raw);
    opt.shards = bad;
    CU_ASSERT_EQUAL(als_load(MPI_COMM_SELF, &opt, &st), RP_ERR_DATA);
    als_state_clear(&st);
}

int test_als_register(void)
{
    RP_ADD_SUITE("als", RP_T(la_wrappers), RP_T(row_solve_matches_dense),
                 RP_T(penalty_closed_form), RP_T(gram_kernel_matches_reference),
                 RP_T(portable_path_matches),
                 RP_T(chol_batch_matches_lapack), RP_T(planted_recovered), RP_T(objective_monotone), RP_T(bad_inputs));
    return 0;
}
