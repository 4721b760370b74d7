/* recommend_kernel.c - bin/bench-recommend_kernel: rp-recommend's fused AVX-512 kernel alone
 * (products and threshold compares of 256 users x N items x d, a threshold nothing passes, so no
 * candidate work) against single-core SGEMM of the same shape, each as its best 0.05 s window of
 * pairs per second (quiet-core rates; both measured in turn for 1 s). For tuning the kernel:
 * the stage's own rate is bench/bench-recommend.sh's.
 * Usage: bench-recommend_kernel N d */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recommend.h"
#include "rp_err.h"
#include "rp_la.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best 0.05 s window of pairs per second of one() (pairs per call) over 1 s. */
static double best_rate(void (*one)(void *), void *arg, double pairs)
{
    double t0 = now_s(), w0 = t0, best = 0.0;
    int w = 0;
    one(arg); /* touch */
    while (now_s() - t0 < 1.0) {
        one(arg);
        double t = now_s();
        if (++w > 0 && t - w0 >= 0.05) {
            best = fmax(best, pairs * w / (t - w0));
            w = 0;
            w0 = t;
        }
    }
    return best;
}

typedef struct job {
    rp_model *m;
    rec_fused fz;
    const float *Uf, *Vf;
    float *c, *ug;
    rec_topk_run run[REC_FUSED_USERS];
    rec_entry *ent;
    uint16_t *excl;
    int64_t nu, ni, d, nwords;
} job;

static void gemm_one(void *a)
{
    job *j = a;
    (void)rp_la_sgemm(0, 1, (int)j->nu, (int)j->ni, (int)j->d, 1.0f, j->Uf, (int)j->d, j->Vf,
                      (int)j->d, 0.0f, j->c, (int)j->ni);
}

static void fused_one(void *a)
{
    job *j = a;
    int64_t chunk = rec_fused_chunk(&j->fz);
    for (int64_t u0 = 0; u0 < j->nu; u0 += REC_FUSED_SPAN)
        for (int64_t p0 = 0; p0 < j->fz.npanel; p0 += chunk)
            for (int g = 0; g < REC_FUSED_SPAN; g += REC_FUSED_USERS) {
                for (int q = 0; q < REC_FUSED_USERS; q++) {
                    rec_topk_begin(&j->run[q], j->ent + q * REC_RUN_CAP(1), 1);
                    j->run[q].kthr = FLT_MAX; /* nothing passes */
                }
                rec_group grp = {j->Uf + (u0 + g) * j->d, REC_FUSED_USERS, j->run, j->excl,
                                 j->nwords, j->m, 1, 1};
                rec_fused_topk_range(&j->fz, &grp, p0, p0 + chunk);
            }
}

int main(int argc, char **argv)
{
    const char *usage = "usage: bench-recommend_kernel N d: the fused top-K kernel alone (N items "
                        ">= 16, d factors >= 1, 256 users) against SGEMM of the same shape\n";
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc != 3) {
        fputs(usage, stderr);
        return RP_ERR_USAGE;
    }
    job j = {0};
    j.nu = 256, j.ni = atoi(argv[1]), j.d = atoi(argv[2]);
    j.nwords = (j.ni + 15) / 16;
    if (j.ni < 16 || j.d < 1 || j.d > 4096) {
        fprintf(stderr, "bench-recommend_kernel: N '%s' must be >= 16 and d '%s' in 1..4096\n",
                argv[1], argv[2]);
        return RP_ERR_USAGE;
    }
    if (!rec_fused_available()) {
        fprintf(stderr, "bench-recommend_kernel: no AVX-512 (or RP_REC_NO_AVX512 set)\n");
        return RP_ERR_USAGE;
    }
    double *U = malloc(sizeof(double) * (size_t)(j.nu * j.d));
    double *V = malloc(sizeof(double) * (size_t)(j.ni * j.d));
    j.c = malloc(sizeof(float) * (size_t)(j.nu * j.ni));
    j.ent = malloc(sizeof(rec_entry) * REC_FUSED_USERS * REC_RUN_CAP(1));
    j.excl = calloc((size_t)(REC_FUSED_USERS * j.nwords), sizeof *j.excl);
    if (!U || !V || !j.c || !j.ent || !j.excl) return RP_ERR_NOMEM;
    for (int64_t x = 0; x < j.nu * j.d; x++) U[x] = (double)(x % 7) * 0.1;
    for (int64_t x = 0; x < j.ni * j.d; x++) V[x] = (double)(x % 5) * 0.1;
    rp_la_init(1);
    if (rp_model_from_dot("als", j.nu, j.ni, j.d, U, V, RP_POST_IDENTITY, 1, 0, &j.m) != RP_OK ||
        rp_model_dot_floats(j.m, &j.Uf, &j.Vf) != RP_OK || rec_fused_create(j.m, NULL, &j.fz))
        return RP_ERR_INTERNAL;
    double pairs = (double)j.nu * (double)j.ni;
    double g = best_rate(gemm_one, &j, pairs), f = best_rate(fused_one, &j, pairs);
    printf("256 x %lld x %lld: SGEMM %.4g pairs/s, fused kernel %.4g pairs/s (%.2fx)\n",
           (long long)j.ni, (long long)j.d, g, f, f / g);
    rec_fused_clear(&j.fz);
    rp_model_destroy(&j.m);
    free(U), free(V), free(j.c), free(j.ent), free(j.excl);
    return 0;
}
