/* als_gram.c - bin/bench-als_gram: the ALS normal-equation kernel (als_gram_*) and the batched
 * Cholesky (als_chol_batch_*) alone, on rows of random columns of a random factor table, against
 * the GEMM roofline of bench-als.sh (flops counted as rp-als counts them). CPU seconds, best of 3.
 * Usage: bench-als_gram [K [ENTRIES_PER_ROW [TABLE_ROWS [ROWS]]]] (defaults 32 860 10728 2000) */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "als.h"
#include "rp_la.h"
#include "rp_rng.h"

/* argv[i] as a whole number in [lo, hi], or def when absent; -1 after a one-line error. */
static long arg_num(int argc, char **argv, int i, const char *name, long def, long lo, long hi)
{
    if (argc <= i) return def;
    char *end = NULL;
    long v = strtol(argv[i], &end, 10);
    if (end == argv[i] || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "bench-als_gram: %s '%s': want a whole number in %ld..%ld\n", name,
                argv[i], lo, hi);
        return -1;
    }
    return v;
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* best of 3: seconds of the kernel over all rows (gram) and of the solves (chol) */
static void run(int dbl, int k, int64_t n, int ntab, int rows, const int32_t *lcol,
                const float *val, double out[2])
{
    size_t kk = (size_t)k + 2, es = dbl ? 8 : 4, batch = dbl ? ALS_BATCH_D : ALS_BATCH_S;
    size_t sq = kk * kk + kk, scr = (als_gram_scratch(k, dbl) * es + 63) / 64 * 64;
    char *tab = malloc((size_t)ntab * (k + 1) * es), *scratch = aligned_alloc(64, scr);
    char *eq = aligned_alloc(64, (batch * sq * es + 63) / 64 * 64);
    char *l = aligned_alloc(64, ((size_t)(k + 1) * (k + 1) * batch * es + 63) / 64 * 64);
    char *y = aligned_alloc(64, ((size_t)(k + 1) * batch * es + 63) / 64 * 64);
    for (size_t i = 0; i < (size_t)ntab * (k + 1); i++) {
        double v = 0.3 * rp_rng_normal(9, 1, i);
        if (dbl) ((double *)tab)[i] = v;
        else ((float *)tab)[i] = (float)v;
    }
    out[0] = out[1] = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = cpu_now(), tg = 0.0;
        for (int r = 0; r < rows; r += (int)batch) {
            double g0 = cpu_now();
            void *c[16], *b[16];
            int nb = rows - r < (int)batch ? rows - r : (int)batch;
            for (int q = 0; q < nb; q++) {
                c[q] = eq + q * sq * es;
                b[q] = (char *)c[q] + kk * kk * es;
                const int32_t *lc = lcol + (size_t)(r + q) * n;
                const float *vl = val + (size_t)(r + q) * n;
                als_gram_row row = {.k = k, .n = n, .lcol = lc, .val = vl, .mu = 0.5,
                                    .next = r + q + 1 < rows ? lc + n : NULL, .nnext = n};
                if (dbl) als_gram_d(&row, (double *)tab, (double *)scratch, c[q], b[q]);
                else als_gram_s(&row, (float *)tab, (float *)scratch, c[q], b[q]);
                for (int j = 0; j <= k; j++) { /* the ridge, as rp-als adds it */
                    if (dbl) ((double *)c[q])[j * kk + j] += 1.0;
                    else ((float *)c[q])[j * kk + j] += 1.0f;
                }
            }
            tg += cpu_now() - g0;
            if (dbl) als_chol_batch_d(k + 1, (int)kk, (double *const *)c, (double *const *)b, nb,
                                      (double *)l, (double *)y);
            else als_chol_batch_s(k + 1, (int)kk, (float *const *)c, (float *const *)b, nb,
                                  (float *)l, (float *)y);
        }
        double tt = cpu_now() - t0;
        out[0] = tg < out[0] ? tg : out[0];
        out[1] = tt - tg < out[1] ? tt - tg : out[1];
    }
    free(tab);
    free(scratch);
    free(eq);
    free(l);
    free(y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        printf("usage: bench-als_gram [K [ENTRIES_PER_ROW [TABLE_ROWS [ROWS]]]] (defaults 32 860 "
               "10728 2000): the ALS normal-equation kernel and batched Cholesky alone\n");
        MPI_Finalize();
        return 0;
    }
    long kl = arg_num(argc, argv, 1, "K", 32, 1, 1024);
    long nl = arg_num(argc, argv, 2, "ENTRIES_PER_ROW", 860, 1, 1L << 20);
    long ntabl = arg_num(argc, argv, 3, "TABLE_ROWS", 10728, 1, 1L << 24);
    long rowsl = arg_num(argc, argv, 4, "ROWS", 2000, 1, 1L << 20);
    if (kl < 0 || nl < 0 || ntabl < 0 || rowsl < 0 || argc > 5) {
        if (argc > 5) fprintf(stderr, "bench-als_gram: at most 4 arguments (--help)\n");
        MPI_Finalize();
        return 64;
    }
    if (!als_gram_available()) {
        fprintf(stderr, "bench-als_gram: no AVX-512 here (or RP_ALS_NO_AVX512 set)\n");
        MPI_Finalize();
        return 1;
    }
    int k = (int)kl, ntab = (int)ntabl, rows = (int)rowsl;
    int64_t n = nl;
    rp_la_init(1);
    int32_t *lcol = malloc((size_t)rows * n * sizeof *lcol);
    float *val = malloc((size_t)rows * n * sizeof *val);
    if (lcol == NULL || val == NULL) {
        fprintf(stderr, "bench-als_gram: out of memory for %d rows x %lld entries\n", rows,
                (long long)n);
        MPI_Finalize();
        return 70;
    }
    for (size_t e = 0; e < (size_t)rows * n; e++) {
        rp_rng g;
        rp_rng_init(&g, 9, 2, e);
        lcol[e] = (int32_t)rp_rng_next_below(&g, (uint64_t)ntab);
        val[e] = (float)rp_rng_uniform(9, 3, e);
    }
    double kk = k + 2.0, k1 = k + 1.0;
    double gflop = rows * (n * kk * (kk + 1.0)) / 1e9; /* as rp-als counts: SYRK on [n, k+2] */
    double cflop = rows * (k1 * k1 * k1 / 3.0 + 2.0 * k1 * k1) / 1e9; /* and the solve */
    for (int dbl = 1; dbl >= 0; dbl--) {
        double t[2], roof = rp_la_gemm_rate(1024, dbl, 3, 1);
        run(dbl, k, n, ntab, rows, lcol, val, t);
        printf("%s k=%d n=%lld table=%d rows=%d: gram %.4f s %.1f GFLOP/s (%.2fx of %s %.1f), "
               "%.1f ns/entry; chol %.4f s (%.1f%% of both), %.2f us/row\n",
               dbl ? "fp64" : "fp32", k, (long long)n, ntab, rows, t[0], gflop / t[0],
               (t[0] + t[1]) * roof / (gflop + cflop), dbl ? "dgemm" : "sgemm", roof,
               1e9 * t[0] / ((double)rows * (double)n), t[1], 100.0 * t[1] / (t[0] + t[1]),
               1e6 * t[1] / rows);
    }
    free(lcol);
    free(val);
    MPI_Finalize();
    return 0;
}
