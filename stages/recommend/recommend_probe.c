/* recommend_probe.c - rp-recommend's probe items: a few items likely to score high for most
 * users, scored first for a whole user block, give each user a safe lower bound on its K-th best
 * score, so the fused top-K skips most items from the first tile on (a running threshold alone
 * lets about K ln(n/K) candidates through). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "recommend.h"
#include "rp_err.h"
#include "rp_la.h"

void rec_probe_clear(rec_probe *p)
{
    free(p->items);
    free(p->Vp);
    free(p->vnorm);
    free(p->Uf);
    free(p->unorm);
    free(p->raw);
    free(p->tmp);
    memset(p, 0, sizeof *p);
}

static const double *probe_key; /* qsort context of pick_items */

static int cmp_probe(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    double kx = probe_key[x], ky = probe_key[y];
    if (kx != ky) return kx > ky ? -1 : 1;
    return (x > y) - (x < y);
}

/* The n items with the highest key = sign * (mean user) . v, ties to the lower index: a
 * deterministic choice from the replicated model, the same on every rank. */
static int pick_items(rec_probe *p, int64_t n_users, int64_t n_items, const double *U,
                      const double *V, int sign)
{
    int rc = RP_OK;
    int64_t d = p->d;
    double *ubar = NULL, *key = NULL;
    int32_t *all = NULL;
    RP_ALLOC(ubar = calloc((size_t)d, sizeof *ubar));
    RP_ALLOC(key = malloc((size_t)n_items * sizeof *key));
    RP_ALLOC(all = malloc((size_t)n_items * sizeof *all));
    for (int64_t u = 0; u < n_users; u++)
        for (int64_t j = 0; j < d; j++) ubar[j] += U[u * d + j];
    for (int64_t i = 0; i < n_items; i++) {
        double s = 0.0;
        for (int64_t j = 0; j < d; j++) s += ubar[j] * V[i * d + j];
        key[i] = isnan(s) ? -INFINITY : sign * s;
        all[i] = (int32_t)i;
    }
    probe_key = key;
    qsort(all, (size_t)n_items, sizeof *all, cmp_probe);
    memcpy(p->items, all, (size_t)p->n * sizeof *all);
cleanup:
    free(ubar);
    free(key);
    free(all);
    return rc;
}

int rec_probe_create(const rp_model *m, int k, rec_probe *p)
{
    int rc = RP_OK;
    int64_t d = 0, n = (int64_t)k + 128;
    const double *U = NULL, *V = NULL;
    rp_post post;
    double scale, shift;
    memset(p, 0, sizeof *p);
    int sign = rp_model_dot_monotone(m);
    /* Worth it only when the probes are few next to the items. */
    if (sign == 0 || n > m->n_items / 4) goto cleanup;
    RP_CALL(rp_model_dot_parts(m, &d, &U, &V, &post, &scale, &shift));
    p->n = n;
    p->d = d;
    size_t nd = (size_t)(n * d), ud = (size_t)(m->n_users * d);
    RP_ALLOC(p->items = malloc((size_t)n * sizeof *p->items));
    RP_ALLOC(p->Vp = malloc((nd ? nd : 1) * sizeof *p->Vp));
    RP_ALLOC(p->vnorm = malloc((size_t)n * sizeof *p->vnorm));
    RP_ALLOC(p->Uf = malloc((ud ? ud : 1) * sizeof *p->Uf));
    RP_ALLOC(p->unorm = malloc((size_t)(m->n_users > 0 ? m->n_users : 1) * sizeof *p->unorm));
    RP_ALLOC(p->raw = malloc((size_t)(RP_MODEL_USER_BLOCK * n) * sizeof *p->raw));
    RP_ALLOC(p->tmp = malloc((size_t)n * sizeof *p->tmp));
    RP_CALL(pick_items(p, m->n_users, m->n_items, U, V, sign));
    /* The float factors the model's GEMM uses (the same casts), and their norms. */
    for (int64_t u = 0; u < m->n_users; u++) {
        double s = 0.0;
        for (int64_t j = 0; j < d; j++) {
            p->Uf[u * d + j] = (float)U[u * d + j];
            s += (double)p->Uf[u * d + j] * p->Uf[u * d + j];
        }
        p->unorm[u] = sqrt(s);
    }
    for (int64_t x = 0; x < n; x++) {
        double s = 0.0;
        for (int64_t j = 0; j < d; j++) {
            p->Vp[x * d + j] = (float)V[(int64_t)p->items[x] * d + j];
            s += (double)p->Vp[x * d + j] * p->Vp[x * d + j];
        }
        p->vnorm[x] = sqrt(s);
    }
cleanup:
    if (rc != RP_OK) rec_probe_clear(p);
    return rc;
}

int rec_probe_block(rec_probe *p, int64_t u0, int64_t nu)
{
    int rc = RP_OK;
    RP_REQUIRE(nu >= 0 && nu <= RP_MODEL_USER_BLOCK, RP_ERR_INTERNAL, "probe block of %lld users",
               (long long)nu);
    if (p->n == 0 || nu == 0) goto cleanup;
    RP_CALL(rp_la_sgemm(0, 1, (int)nu, (int)p->n, (int)p->d, 1.0f, p->Uf + u0 * p->d, (int)p->d,
                        p->Vp, (int)p->d, 0.0f, p->raw, (int)p->n));
cleanup:
    return rc;
}

/* The k-th largest of a[0..n) (0 < k <= n, no NaN); reorders a. */
static float kth_largest(float *a, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1, want = k - 1;
    while (hi > lo) {
        float x = a[lo], y = a[(lo + hi) / 2], z = a[hi];
        float piv = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] > piv) i++;
            while (a[j] < piv) j--;
            if (i <= j) {
                float t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else break;
    }
    return a[want];
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

/* The largest key whose score is below L (score non-decreasing in the key, score(b) >= L), or
 * NaN when even -inf scores L or more: bisection over the ordered floats. */
static float cut_below(const rp_model *m, int sign, float b, float L)
{
    uint32_t lo = ord_of(-INFINITY), hi = ord_of(b);
    if (!(rp_model_dot_finish(m, sign < 0 ? INFINITY : -INFINITY) < L)) return NAN;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        float x = float_of(mid);
        if (rp_model_dot_finish(m, sign < 0 ? -x : x) < L) lo = mid;
        else hi = mid;
    }
    return float_of(lo);
}

float rec_probe_cut(rec_probe *p, int64_t row, int64_t u, const uint16_t *excl, const rp_model *m,
                    int sign, int k)
{
    if (p->n < k) return NAN;
    const float *r = p->raw + row * p->n;
    int64_t c = 0;
    /* Any two float evaluations of a d-term dot product (order, FMA) differ by at most
     * 2 gamma_d sum |u_j v_j| <= (2d + 4) eps ||u|| ||v||, plus underflow: the tile GEMM's
     * product of a probe is at least its probe product minus this margin.
     * The last FLT_EPSILON term covers the rounding of the bound itself to float. */
    double rel = (2.0 * (double)p->d + 4.0) * FLT_EPSILON * p->unorm[u];
    double abs_tiny = (double)p->d * FLT_MIN;
    for (int64_t x = 0; x < p->n; x++) {
        int32_t i = p->items[x];
        if (excl != NULL && (excl[i >> 4] >> (i & 15) & 1u)) continue;
        double v = sign * (double)r[x], margin = rel * p->vnorm[x] + abs_tiny;
        double lo = v - margin - FLT_EPSILON * (fabs(v) + margin);
        if (!isfinite(lo)) continue;
        p->tmp[c++] = (float)lo;
    }
    if (c < k) return NAN;
    /* k non-excluded items have a key >= b, so the K-th best score is at least L = score(b):
     * keys scoring below L can never enter, whatever their index. */
    float b = kth_largest(p->tmp, c, k);
    float L = rp_model_dot_finish(m, sign < 0 ? -b : b);
    if (isnan(L)) return NAN;
    return cut_below(m, sign, b, L);
}
