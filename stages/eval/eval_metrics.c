/* eval_metrics.c - per-user ranking metrics of rp-eval: NDCG@k with graded gains, precision and
 * recall at k, AUC with ties counted as one half. Pure functions over one user's test items. */
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

/* DCG of the first min(k, n) gains of g (ranked order, or descending for the ideal). */
static double dcg_at(const float *g, int64_t n, int k)
{
    double s = 0.0;
    for (int64_t r = 0; r < n && r < k; r++) s += g[r] / log2((double)r + 2.0);
    return s;
}

double eval_ndcg(const eval_item *ranked, int64_t n, int k, float *scratch)
{
    for (int64_t r = 0; r < n; r++) scratch[r] = ranked[r].gain;
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
            if (ranked[r].gain > thr) gp += 1.0; else gn += 1.0;
        }
        wins += gp * neg_below + 0.5 * gp * gn;
        neg_below += gn;
        pos += gp;
        neg += gn;
        hi = lo;
    }
    return pos > 0.0 && neg > 0.0 ? wins / (pos * neg) : NAN;
}

int eval_rank_user(eval_item *items, int64_t n, const int *k, int nk, double like_threshold,
                   eval_user_rank *out)
{
    int rc = RP_OK;
    float *scratch = NULL;
    RP_ALLOC(scratch = malloc((size_t)(n > 0 ? n : 1) * sizeof *scratch));
    qsort(items, (size_t)n, sizeof *items, by_pred);
    int64_t liked = 0;
    for (int64_t r = 0; r < n; r++) liked += items[r].gain > like_threshold;
    /* The ideal order is the same for every k: sort the gains once. */
    for (int64_t r = 0; r < n; r++) scratch[r] = items[r].gain;
    qsort(scratch, (size_t)n, sizeof *scratch, by_gain_desc);
    for (int j = 0; j < nk; j++) {
        int64_t top = n < k[j] ? n : k[j], hits = 0;
        double dcg = 0.0, idcg = dcg_at(scratch, n, k[j]);
        for (int64_t r = 0; r < top; r++) {
            hits += items[r].gain > like_threshold;
            dcg += items[r].gain / log2((double)r + 2.0);
        }
        out->ndcg[j] = idcg > 0.0 ? dcg / idcg : NAN;
        out->precision[j] = top > 0 ? (double)hits / (double)top : NAN;
        out->recall[j] = liked > 0 ? (double)hits / (double)liked : NAN;
    }
    out->auc = eval_auc(items, n, like_threshold);
cleanup:
    free(scratch);
    return rc;
}
