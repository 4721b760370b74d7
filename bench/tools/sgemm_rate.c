/* sgemm_rate.c - bin/bench-sgemm_rate: single-core SGEMM rate at rp-recommend's scoring shape
 * (256 users x N videos x K factors), for bench/bench-recommend.sh. Prints "GFLOP/s pairs/s
 * pairs-per-CPU-s quiet-pairs/s": the mean over 2 s, per CPU second (steadier on a shared
 * machine), and the best 0.05 s window (the rate of a quiet core: the reference the target is
 * stated against; the first call, which touches fresh memory, is left out).
 * Usage: bench-sgemm_rate N K */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "rp_err.h"
#include "rp_la.h"

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench-sgemm_rate N K\n");
        return RP_ERR_USAGE;
    }
    int m = 256, n = atoi(argv[1]), k = atoi(argv[2]), reps = 0;
    float *a = malloc(sizeof(float) * (size_t)m * (size_t)k);
    float *b = malloc(sizeof(float) * (size_t)n * (size_t)k);
    float *c = malloc(sizeof(float) * (size_t)m * (size_t)n);
    if (a == NULL || b == NULL || c == NULL) return RP_ERR_NOMEM;
    for (long x = 0; x < (long)m * k; x++) a[x] = (float)(x % 7) * 0.1f;
    for (long x = 0; x < (long)n * k; x++) b[x] = (float)(x % 5) * 0.1f;
    rp_la_init(1);
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), t;
    double w0 = t0, best = 0.0;
    int wreps = -1; /* the first call is not counted in a window */
    do {
        if (rp_la_sgemm(0, 1, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n) != RP_OK) return RP_ERR_USAGE;
        reps++;
        double now = clock_s(CLOCK_MONOTONIC);
        if (++wreps > 0 && now - w0 >= 0.05) {
            double r = (double)m * n * wreps / (now - w0);
            best = r > best ? r : best;
            wreps = 0;
            w0 = now;
        } else if (wreps == 0) {
            w0 = now;
        }
    } while ((t = clock_s(CLOCK_MONOTONIC) - t0) < 2.0);
    double flops = 2.0 * m * n * k * reps / t, cs = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("%.3f %.4g %.4g %.4g\n", flops / 1e9, (double)m * n * reps / t, (double)m * n * reps / cs,
           best);
    int bad = c[1] < -1.0f;
    free(a);
    free(b);
    free(c);
    return bad;
}
