/* als_gram.c - rp-als normal equations in AVX-512 register tiles (als_gram.inc) and the batched
 * Cholesky solves, chosen at run time (__builtin_cpu_supports); als_solve.c falls back to
 * gather + SYRK and LAPACK elsewhere. Both paths give the same bits for any number of ranks. */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "als.h"

/* gathered rows per panel (L1: 48 KB on the machines we measured) */
#define PANEL_BYTES 16384



/* eight values as doubles (the dot products of the metrics accumulate in double) */
static inline __attribute__((always_inline, target("avx512f"))) __m512d widen_d(const double *p)
{
    return _mm512_loadu_pd(p);
}

static inline __attribute__((always_inline, target("avx512f"))) __m512d widen_s(const float *p)
{
    return _mm512_cvtps_pd(_mm256_loadu_ps(p));
}

#define REAL double
#define VEC __m512d
#define MASK __mmask8
#define VW 8
#define GN(name) name##_d
#define VLOADM(m, p) _mm512_maskz_loadu_pd((m), (p))
#define VLOAD(p) _mm512_loadu_pd(p)
#define VSTORE(p, v) _mm512_storeu_pd((p), (v))
#define VSTOREM(p, m, v) _mm512_mask_storeu_pd((p), (m), (v))
#define VSET1(x) _mm512_set1_pd(x)
#define VFMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define VADD(a, b) _mm512_add_pd((a), (b))
#define VMUL(a, b) _mm512_mul_pd((a), (b))
#define VDIV(a, b) _mm512_div_pd((a), (b))
#define VSQRT(a) _mm512_sqrt_pd(a)
#define VFNMA(a, b, c) _mm512_fnmadd_pd((a), (b), (c))
#define VCMPGT(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_GT_OQ)
#include "als_gram.inc"
#undef REAL
#undef VEC
#undef MASK
#undef VW
#undef GN
#undef VLOADM
#undef VLOAD
#undef VSTORE
#undef VSTOREM
#undef VSET1
#undef VFMA
#undef VADD
#undef VMUL
#undef VDIV
#undef VSQRT
#undef VFNMA
#undef VCMPGT
#define REAL float
#define VEC __m512
#define MASK __mmask16
#define VW 16
#define GN(name) name##_s
#define VLOADM(m, p) _mm512_maskz_loadu_ps((m), (p))
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VSTOREM(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define VSET1(x) _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VADD(a, b) _mm512_add_ps((a), (b))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VDIV(a, b) _mm512_div_ps((a), (b))
#define VSQRT(a) _mm512_sqrt_ps(a)
#define VFNMA(a, b, c) _mm512_fnmadd_ps((a), (b), (c))
#define VCMPGT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ)
#include "als_gram.inc"

static int have = -1; /* -1: not yet decided */

void als_gram_enable(int on)
{
    have = -1;
    if (!on) have = 0;
    else (void)als_gram_available();
}

int als_gram_available(void)
{
    if (have < 0) {
        const char *off = getenv("RP_ALS_NO_AVX512");
        have = (off == NULL || *off == '\0') && __builtin_cpu_supports("avx512f");
    }
    return have;
}

size_t als_gram_scratch(int k, int dbl) { return dbl ? gram_scratch_d(k) : gram_scratch_s(k); }

void als_gram_d(const als_gram_row *r, const double *table, double *scratch, double *c, double *b)
{
    gram_d(r, table, scratch, c, b);
}

void als_gram_s(const als_gram_row *r, const float *table, float *scratch, float *c, float *b)
{
    gram_s(r, table, scratch, c, b);
}

int als_chol_batch_d(int n, int ld, double *const *c, double *const *b, int nsys, double *l,
                     double *y)
{
    return chol_batch_d(n, ld, c, b, nsys, l, y);
}

int als_chol_batch_s(int n, int ld, float *const *c, float *const *b, int nsys, float *l,
                     float *y)
{
    return chol_batch_s(n, ld, c, b, nsys, l, y);
}

double als_dot_d(int k, const double *x, const double *y) { return dot_d(k, x, y); }
double als_dot_s(int k, const float *x, const float *y) { return dot_s(k, x, y); }
