/* eval_metrics.c - per-user ranking metrics of rp-eval: NDCG@k with graded gains (clipped at
 * OUTLIER_MAX, and raw), precision and recall at k, AUC with ties counted as one half, and the
 * share of the bias-to-truth error gap. Pure functions over one user's test items. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "rp_err.h"

static int by_gain_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x > y ? -1 : (x < y);
}

/* The graded relevance of a watch ratio: min(wr, gain_max). With the raw watch ratio a
 * looping video (wr > 5, 0.5% of the test pairs) outweighs dozens of fully watched ones and
 * the ideal DCG is almost all loops; clipped at OUTLIER_MAX the gain is the training target. */
static float gain_of(float wr, double gain_max)
{
    return (double)wr < gain_max ? wr : (float)gain_max;
}

/* DCG of the first min(k, n) gains of g (ranked order, or descending for the ideal). */
static double dcg_at(const float *g, int64_t n, int k)
{
    double s = 0.0;
    for (int64_t r = 0; r < n && r < k; r++) s += g[r] / log2((double)r + 2.0);
    return s;
}

double eval_ndcg(const eval_item *ranked, int64_t n, int k, double gain_max, float *scratch)
{
    for (int64_t r = 0; r < n; r++) scratch[r] = gain_of(ranked[r].wr, gain_max);
    double dcg = dcg_at(scratch, n, k);
    qsort(scratch, (size_t)n, sizeof *scratch, by_gain_desc);
    double idcg = dcg_at(scratch, n, k);
    return idcg > 0.0 ? dcg / idcg : NAN;
}

double eval_auc(const eval_item *ranked, int64_t n, double thr)
{
    /* Walk groups of equal predictions from the lowest up: each liked item in a group beats
     * every non-liked item below it and ties half of the non-liked items in its group. */
    double wins = 0.0, neg_below = 0.0, pos = 0.0, neg = 0.0;
    int64_t hi = n;
    while (hi > 0) {
        int64_t lo = hi - 1;
        while (lo > 0 && ranked[lo - 1].pred == ranked[hi - 1].pred) lo--;
        double gp = 0.0, gn = 0.0;
        for (int64_t r = lo; r < hi; r++) {
            if (ranked[r].wr > thr) gp += 1.0; else gn += 1.0;
        }
        wins += gp * neg_below + 0.5 * gp * gn;
        neg_below += gn;
        pos += gp;
        neg += gn;
        hi = lo;
    }
    return pos > 0.0 && neg > 0.0 ? wins / (pos * neg) : NAN;
}

/* The largest min(kmax, n) gains in descending order into top (capacity kmax): one pass
 * with insertion into a short sorted buffer, since kmax (10-100) is far below n (3,327 per
 * user at full size) and most gains fall below the buffer's last. Equal gains are equal
 * values, so the DCG of the buffer is bit-identical to that of a full sort's prefix. */
static int64_t top_gains(const eval_item *items, int64_t n, double gain_max, int kmax,
                         float *top)
{
    int64_t m = 0;
    for (int64_t r = 0; r < n; r++) {
        float g = gain_of(items[r].wr, gain_max);
        if (m == kmax && !(g > top[m - 1])) continue;
        int64_t x = m < kmax ? m++ : m - 1;
        while (x > 0 && top[x - 1] < g) {
            top[x] = top[x - 1];
            x--;
        }
        top[x] = g;
    }
    return m;
}

/* NDCG at every cut-off for gains min(wr, gain_max), items in ranked order. The ideal order is
 * the same for every k: its top gains are selected once (in scratch, capacity kmax). */
static void ndcg_all(const eval_item *items, int64_t n, const eval_rank_opts *ro,
                     double gain_max, int kmax, float *scratch, double *out)
{
    int64_t m = top_gains(items, n, gain_max, kmax, scratch);
    for (int j = 0; j < ro->nk; j++) {
        double dcg = 0.0, idcg = dcg_at(scratch, m, ro->k[j]);
        for (int64_t r = 0; r < n && r < ro->k[j]; r++)
            dcg += gain_of(items[r].wr, gain_max) / log2((double)r + 2.0);
        out[j] = idcg > 0.0 ? dcg / idcg : NAN;
    }
}

/* Ranking key in ascending unsigned order = prediction descending (-0 as +0, so that the two
 * zeros tie, as they compare equal). */
static uint64_t desc_key(double p)
{
    uint64_t u;
    if (p == 0.0) p = 0.0;
    memcpy(&u, &p, sizeof u);
    u = (u >> 63) ? ~u : (u | (UINT64_C(1) << 63));
    return ~u;
}

/* Sort record: the 96-bit key (desc_key, item) and the item's position. */
typedef struct rkey {
    uint64_t k;
    uint32_t item, pos;
} rkey;

static unsigned key_byte(const rkey *r, int b)
{
    return (unsigned)((b < 4 ? (uint64_t)r->item >> (8 * b) : r->k >> (8 * (b - 4))) & 0xff);
}

/* Fill x from items; out: the bytes (0-3 item, 4-11 key) that differ between records, the
 * only passes needed (a float prediction leaves the low 3.5 bytes of its double constant). */
static int rkeys_of(const eval_item *items, int64_t n, rkey *x, int *vary)
{
    rkey any = {0, 0, 0}, all = {~UINT64_C(0), ~0u, 0};
    int nv = 0;
    for (int64_t r = 0; r < n; r++) {
        x[r] = (rkey){desc_key(items[r].pred), (uint32_t)items[r].item, (uint32_t)r};
        any.k |= x[r].k, any.item |= x[r].item;
        all.k &= x[r].k, all.item &= x[r].item;
    }
    for (int b = 0; b < 12; b++)
        if (key_byte(&any, b) != key_byte(&all, b)) vary[nv++] = b;
    return nv;
}

/* Stable counting passes over the varying bytes, least significant first; the histograms of
 * all passes come from one read. Returns the buffer (x or y) holding the sorted records. */
static rkey *radix_passes(rkey *x, rkey *y, int64_t n, const int *vary, int nv)
{
    int64_t cnt[12][256];
    memset(cnt, 0, sizeof cnt);
    for (int64_t r = 0; r < n; r++)
        for (int v = 0; v < nv; v++) cnt[v][key_byte(&x[r], vary[v])]++;
    for (int v = 0; v < nv; v++) {
        int64_t at = 0;
        for (int c = 0; c < 256; c++) {
            int64_t m = cnt[v][c];
            cnt[v][c] = at;
            at += m;
        }
        for (int64_t r = 0; r < n; r++) y[cnt[v][key_byte(&x[r], vary[v])]++] = x[r];
        rkey *t = x;
        x = y;
        y = t;
    }
    return x;
}

int eval_sort_ranked(eval_item *items, int64_t n)
{
    int rc = RP_OK, vary[12];
    rkey *x = NULL, *y = NULL;
    eval_item *copy = NULL;
    RP_ALLOC(x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x));
    RP_ALLOC(y = malloc((size_t)(n > 0 ? n : 1) * sizeof *y));
    RP_ALLOC(copy = malloc((size_t)(n > 0 ? n : 1) * sizeof *copy));
    int nv = rkeys_of(items, n, x, vary);
    const rkey *sorted = radix_passes(x, y, n, vary, nv);
    memcpy(copy, items, (size_t)n * sizeof *items);
    for (int64_t r = 0; r < n; r++) items[r] = copy[sorted[r].pos];
cleanup:
    free(x);
    free(y);
    free(copy);
    return rc;
}

static int max_k(const eval_rank_opts *ro)
{
    int m = 1;
    for (int j = 0; j < ro->nk; j++) m = ro->k[j] > m ? ro->k[j] : m;
    return m;
}

int eval_rank_user(eval_item *items, int64_t n, const eval_rank_opts *ro, eval_user_rank *out)
{
    int rc = RP_OK, kmax = max_k(ro);
    float *scratch = NULL;
    RP_ALLOC(scratch = malloc((size_t)kmax * sizeof *scratch));
    RP_CALL(eval_sort_ranked(items, n));
    int64_t liked = 0;
    for (int64_t r = 0; r < n; r++) liked += items[r].wr > ro->like_threshold;
    ndcg_all(items, n, ro, ro->gain_max, kmax, scratch, out->ndcg);
    ndcg_all(items, n, ro, INFINITY, kmax, scratch, out->ndcg_raw);
    for (int j = 0; j < ro->nk; j++) {
        int64_t top = n < ro->k[j] ? n : ro->k[j], hits = 0;
        for (int64_t r = 0; r < top; r++) hits += items[r].wr > ro->like_threshold;
        out->precision[j] = top > 0 ? (double)hits / (double)top : NAN;
        out->recall[j] = liked > 0 ? (double)hits / (double)liked : NAN;
    }
    out->auc = eval_auc(items, n, ro->like_threshold);
cleanup:
    free(scratch);
    return rc;
}

double eval_gap_share(double mse_bias, double mse_model, double mse_truth)
{
    double gap = mse_bias - mse_truth;
    if (!isfinite(mse_bias) || !isfinite(mse_model) || !isfinite(mse_truth) || !(gap > 0.0))
        return NAN;
    return (mse_bias - mse_model) / gap;
}
