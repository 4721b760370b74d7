/* recommend_probe.c - rp-recommend's probe items: a few items likely to score high for most
 * users, scored first for a whole user block, give each user a safe lower bound on its K-th best
 * score, so the fused top-K skips most items from the first tile on (a running threshold alone
 * lets about K ln(n/K) candidates through). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "recommend.h"
#include "rp_err.h"
#include "rp_la.h"

void rec_probe_clear(rec_probe *p)
{
    free(p->items);
    free(p->Vp);
    free(p->vnorm);
    free(p->key);
    memset(p, 0, sizeof *p);
}

static const double *probe_key; /* qsort context of pick_items */

/* Probe order: higher key first, then the lower index. */
static int probe_better(const double *key, int32_t x, int32_t y)
{
    return key[x] > key[y] || (key[x] == key[y] && x < y);
}

static int cmp_probe(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return probe_better(probe_key, x, y) ? -1 : probe_better(probe_key, y, x);
}

/* Min-heap on probe_better (the root is the worst kept): sift h[p] down. */
static void probe_sift(int32_t *h, int64_t n, const double *key, int64_t p)
{
    for (;;) {
        int64_t l = 2 * p + 1, r = l + 1, w = p;
        if (l < n && probe_better(key, h[w], h[l])) w = l;
        if (r < n && probe_better(key, h[w], h[r])) w = r;
        if (w == p) return;
        int32_t t = h[p];
        h[p] = h[w];
        h[w] = t;
        p = w;
    }
}

/* The n items with the highest key = sign * (mean user) . v, ties to the lower index: a
 * deterministic choice from the replicated model, the same on every rank. A heap of the n best
 * (every rank pays this once: sorting all the items took ~1.5 ms). */
static int pick_items(rec_probe *p, int64_t n_users, int64_t n_items, const double *U,
                      const double *V, int sign)
{
    int rc = RP_OK;
    int64_t d = p->d, n = p->n;
    double *ubar = NULL, *key = NULL;
    int32_t *h = p->items;
    RP_ALLOC(ubar = calloc((size_t)d, sizeof *ubar));
    RP_ALLOC(key = malloc((size_t)n_items * sizeof *key));
    for (int64_t u = 0; u < n_users; u++)
        for (int64_t j = 0; j < d; j++) ubar[j] += U[u * d + j];
    for (int64_t i = 0; i < n_items; i++) {
        double s = 0.0;
        for (int64_t j = 0; j < d; j++) s += ubar[j] * V[i * d + j];
        key[i] = isnan(s) ? -INFINITY : sign * s;
        if (i < n) {
            h[i] = (int32_t)i;
            if (i == n - 1)
                for (int64_t q = n / 2 - 1; q >= 0; q--) probe_sift(h, n, key, q);
        } else if (probe_better(key, (int32_t)i, h[0])) {
            h[0] = (int32_t)i;
            probe_sift(h, n, key, 0);
        }
    }
    probe_key = key;
    qsort(h, (size_t)n, sizeof *h, cmp_probe);
cleanup:
    free(ubar);
    free(key);
    return rc;
}

int rec_probe_create(const rp_model *m, int k, rec_probe *p)
{
    int rc = RP_OK;
    int64_t d = 0, n = (int64_t)k + 128;
    const double *U = NULL, *V = NULL;
    const float *Vf = NULL;
    rp_post post;
    double scale, shift;
    memset(p, 0, sizeof *p);
    int sign = rp_model_dot_monotone(m);
    /* Worth it only when the probes are few next to the items. */
    if (sign == 0 || n > m->n_items / 4) goto cleanup;
    RP_CALL(rp_model_dot_parts(m, &d, &U, &V, &post, &scale, &shift));
    RP_CALL(rp_model_dot_floats(m, &p->Uf, &Vf));
    p->n = n;
    p->d = d;
    size_t nd = (size_t)(n * d);
    RP_ALLOC(p->items = malloc((size_t)n * sizeof *p->items));
    RP_ALLOC(p->Vp = malloc((nd ? nd : 1) * sizeof *p->Vp));
    RP_ALLOC(p->vnorm = malloc((size_t)n * sizeof *p->vnorm));
    RP_ALLOC(p->key = malloc((size_t)(n + 15) / 16 * 16 * sizeof *p->key));
    RP_CALL(pick_items(p, m->n_users, m->n_items, U, V, sign));
    /* The float factors the model's GEMM uses, and their norms. */
    for (int64_t x = 0; x < n; x++) {
        double s = 0.0;
        for (int64_t j = 0; j < d; j++) {
            p->Vp[x * d + j] = Vf[(int64_t)p->items[x] * d + j];
            s += (double)p->Vp[x * d + j] * p->Vp[x * d + j];
        }
        p->vnorm[x] = sqrt(s);
    }
cleanup:
    if (rc != RP_OK) rec_probe_clear(p);
    return rc;
}

int rec_probe_block(const rec_probe *p, int64_t u0, int64_t nu, float *raw)
{
    int rc = RP_OK;
    RP_REQUIRE(nu >= 0 && nu <= RP_MODEL_USER_BLOCK, RP_ERR_INTERNAL, "probe block of %lld users",
               (long long)nu);
    if (p->n == 0 || nu == 0) goto cleanup;
    RP_CALL(rp_la_sgemm(0, 1, (int)nu, (int)p->n, (int)p->d, 1.0f, p->Uf + u0 * p->d, (int)p->d,
                        p->Vp, (int)p->d, 0.0f, raw, (int)p->n));
cleanup:
    return rc;
}

/* Floats in order as unsigned integers (finite values and infinities). */
static uint32_t ord_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}

static float float_of(uint32_t o)
{
    uint32_t u = (o & 0x80000000u) ? o & 0x7fffffffu : ~o;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The k-th largest of key[0..n) (0 < k, n padded with zeros to a multiple of 16): the largest t
 * with at least k keys >= t, found bit by bit from the top. Branch-free counting: a quickselect
 * of these ~180 keys mispredicted about as long as the user's whole GEMM took. */
static uint32_t kth_largest_key(const uint32_t *key, int64_t n, int64_t k)
{
    uint32_t t = 0;
    for (int bit = 31; bit >= 0; bit--) {
        uint32_t c = t | (uint32_t)1 << bit;
        int64_t below = 0;
#ifdef __SSE2__
        /* Unsigned key >= c as signed after flipping the top bit: n - #(c > key); four
         * accumulators keep the adds independent. */
        __m128i flip = _mm_set1_epi32((int)0x80000000u);
        __m128i cv = _mm_set1_epi32((int)(c ^ 0x80000000u));
        __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t x = 0; x < n; x += 16) {
            const __m128i *q = (const __m128i *)(key + x);
            a0 = _mm_sub_epi32(a0, _mm_cmpgt_epi32(cv, _mm_xor_si128(_mm_loadu_si128(q), flip)));
            a1 = _mm_sub_epi32(a1, _mm_cmpgt_epi32(cv, _mm_xor_si128(_mm_loadu_si128(q + 1), flip)));
            a2 = _mm_sub_epi32(a2, _mm_cmpgt_epi32(cv, _mm_xor_si128(_mm_loadu_si128(q + 2), flip)));
            a3 = _mm_sub_epi32(a3, _mm_cmpgt_epi32(cv, _mm_xor_si128(_mm_loadu_si128(q + 3), flip)));
        }
        int32_t lane[4];
        _mm_storeu_si128((__m128i *)lane, _mm_add_epi32(_mm_add_epi32(a0, a1), _mm_add_epi32(a2, a3)));
        below = (int64_t)lane[0] + lane[1] + lane[2] + lane[3];
#else
        for (int64_t x = 0; x < n; x++) below += key[x] < c;
#endif
        if (n - below >= k) t = c;
    }
    return t;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* kth_largest_key with 16 keys per compare and a popcount: the same answer (integer counts). */
__attribute__((target("avx512f,popcnt"))) static uint32_t kth_largest_avx512(const uint32_t *key,
                                                                          int64_t n, int64_t k)
{
    uint32_t t = 0;
    for (int bit = 31; bit >= 0; bit--) {
        uint32_t c = t | (uint32_t)1 << bit;
        __m512i cv = _mm512_set1_epi32((int)c);
        int64_t ge = 0;
        for (int64_t x = 0; x < n; x += 16)
            ge += __builtin_popcount(_mm512_cmpge_epu32_mask(_mm512_loadu_si512(key + x), cv));
        if (ge >= k) t = c;
    }
    return t;
}

static uint32_t kth_largest(const uint32_t *key, int64_t n, int64_t k)
{
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx512f") != 0;
    }
    return have ? kth_largest_avx512(key, n, k) : kth_largest_key(key, n, k);
}
#else
#define kth_largest kth_largest_key
#endif

/* The largest key whose score is below L (score non-decreasing in the key, score(b) >= L), or
 * NaN when even -inf scores L or more: bisection over the ordered floats. The answer is usually
 * a few floats below b (unless the clamp flattens the score there), so the search first
 * gallops down from b: ~4 finishes instead of ~31 for a bisection from -inf. Invariant:
 * score(lo) < L <= score(hi); the boundary is unique, so the answer is the bisection's. */
static float cut_below(const rp_model *m, int sign, float b, float L)
{
    uint32_t lo = ord_of(-INFINITY), hi = ord_of(b);
    if (!(rp_model_dot_finish(m, sign < 0 ? INFINITY : -INFINITY) < L)) return NAN;
    for (uint32_t step = 1; hi - lo > step; step *= 2) {
        uint32_t mid = hi - step;
        float x = float_of(mid);
        if (rp_model_dot_finish(m, sign < 0 ? -x : x) < L) {
            lo = mid;
            break;
        }
        hi = mid;
    }
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        float x = float_of(mid);
        if (rp_model_dot_finish(m, sign < 0 ? -x : x) < L) lo = mid;
        else hi = mid;
    }
    return float_of(lo);
}

/* The cut from the probes' keys p->key[0 .. n) (0: no bound): padded to 16, the K-th largest
 * key b. k non-excluded items have a key >= b, so the K-th best score is at least
 * L = score(b): keys scoring below L can never enter, whatever their index. NaN: no cut. */
static float cut_from_keys(rec_probe *p, const rp_model *m, int sign, int k)
{
    int64_t np16 = (p->n + 15) / 16 * 16;
    for (int64_t x = p->n; x < np16; x++) p->key[x] = 0;
    uint32_t kb = kth_largest(p->key, np16, k);
    if (kb == 0) return NAN; /* fewer than k bounds */
    float b = float_of(kb);
    float L = rp_model_dot_finish(m, sign < 0 ? -b : b);
    if (isnan(L)) return NAN;
    return cut_below(m, sign, b, L);
}

float rec_probe_cut(rec_probe *p, const float *raw, int64_t u, const uint16_t *excl,
                    const rp_model *m, int sign, int k)
{
    if (p->n < k) return NAN;
    const float *uf = p->Uf + u * p->d;
    double un = 0.0;
    for (int64_t j = 0; j < p->d; j++) un += (double)uf[j] * uf[j];
    /* Any two float evaluations of a d-term dot product (order, FMA) differ by at most
     * 2 gamma_d sum |u_j v_j| <= (2d + 4) eps ||u|| ||v||, plus underflow: the tile GEMM's
     * product of a probe is at least its probe product minus this margin.
     * The last FLT_EPSILON term covers the rounding of the bound itself to float. */
    double rel = (2.0 * (double)p->d + 4.0) * FLT_EPSILON * sqrt(un);
    double abs_tiny = (double)p->d * FLT_MIN;
    /* Key 0 is below every float's order: excluded, padding, no finite bound. Branch-free: the
     * probes are popular items, so whether the user watched one is a coin toss for the branch
     * predictor. */
    for (int64_t x = 0; x < p->n; x++) {
        int32_t i = p->items[x];
        uint32_t ex = excl != NULL ? (uint32_t)(excl[i >> 4] >> (i & 15)) & 1u : 0u;
        double v = sign * (double)raw[x], margin = rel * p->vnorm[x] + abs_tiny;
        double lo = v - margin - FLT_EPSILON * (fabs(v) + margin);
        uint32_t key = ord_of((float)lo), ok = (uint32_t)(isfinite(lo) != 0) & (ex ^ 1u);
        p->key[x] = key & (0u - ok);
    }
    return cut_from_keys(p, m, sign, k);
}

float rec_probe_cut_exact(rec_probe *p, const float *raw, const uint16_t *excl,
                          const rp_model *m, int sign, int k)
{
    if (p->n < k) return NAN;
    /* A probe's key is the very key the run will see for its item: no rounding margin. Only
     * finite keys count (key 0: excluded, padding, not finite), as in rec_probe_cut. */
    for (int64_t x = 0; x < p->n; x++) {
        int32_t i = p->items[x];
        uint32_t ex = excl != NULL ? (uint32_t)(excl[i >> 4] >> (i & 15)) & 1u : 0u;
        float key = sign < 0 ? -raw[x] : raw[x];
        uint32_t ok = (uint32_t)(isfinite(key) != 0) & (ex ^ 1u);
        p->key[x] = ord_of(key) & (0u - ok);
    }
    return cut_from_keys(p, m, sign, k);
}
