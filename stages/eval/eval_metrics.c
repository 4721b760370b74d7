/* eval_metrics.c - per-user ranking metrics of rp-eval: NDCG@k with graded gains (clipped at
 * OUTLIER_MAX, and raw), precision and recall at k, AUC with ties counted as one half, and the
 * share of the bias-to-truth error gap. Pure functions over one user's test items. */
#include <math.h>
#include <stdlib.h>

#include "eval.h"
#include "rp_err.h"

/* Prediction descending, then item index ascending: a total, deterministic order. */
static int by_pred(const void *a, const void *b)
{
    const eval_item *x = a, *y = b;
    if (x->pred != y->pred) return x->pred > y->pred ? -1 : 1;
    return x->item < y->item ? -1 : (x->item > y->item);
}

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

/* NDCG at every cut-off for gains min(wr, gain_max), items in ranked order. The ideal order is
 * the same for every k: the gains are sorted once (in scratch). */
static void ndcg_all(const eval_item *items, int64_t n, const eval_rank_opts *ro,
                     double gain_max, float *scratch, double *out)
{
    for (int64_t r = 0; r < n; r++) scratch[r] = gain_of(items[r].wr, gain_max);
    qsort(scratch, (size_t)n, sizeof *scratch, by_gain_desc);
    for (int j = 0; j < ro->nk; j++) {
        double dcg = 0.0, idcg = dcg_at(scratch, n, ro->k[j]);
        for (int64_t r = 0; r < n && r < ro->k[j]; r++)
            dcg += gain_of(items[r].wr, gain_max) / log2((double)r + 2.0);
        out[j] = idcg > 0.0 ? dcg / idcg : NAN;
    }
}

int eval_rank_user(eval_item *items, int64_t n, const eval_rank_opts *ro, eval_user_rank *out)
{
    int rc = RP_OK;
    float *scratch = NULL;
    RP_ALLOC(scratch = malloc((size_t)(n > 0 ? n : 1) * sizeof *scratch));
    qsort(items, (size_t)n, sizeof *items, by_pred);
    int64_t liked = 0;
    for (int64_t r = 0; r < n; r++) liked += items[r].wr > ro->like_threshold;
    ndcg_all(items, n, ro, ro->gain_max, scratch, out->ndcg);
    ndcg_all(items, n, ro, INFINITY, scratch, out->ndcg_raw);
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
