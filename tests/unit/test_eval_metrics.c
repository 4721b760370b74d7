/* test_eval_metrics.c - rp-eval's per-user ranking metrics against hand-computed values and a
 * brute-force O(n^2) reference (positions by counting, AUC over all pairs). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "rp_err.h"
#include "rp_test.h"

int test_eval_metrics_register(void);

/* Items a user saw: preds with ties, ids out of order, like = gain > 2.
 * Ranked (pred desc, id asc): id2 (0.5, gain 0), id7 (0.5, gain 3), id5 (0.1, 2.5) after
 * id3 (0.9, gain 1): order id3, id2, id7, id5. */
static void hand_computed(void)
{
    eval_item it[4] = {{0.9f, 1.0f, 3}, {0.5f, 3.0f, 7}, {0.5f, 0.0f, 2}, {0.1f, 2.5f, 5}};
    int k[2] = {2, 3};
    eval_user_rank r;
    CU_ASSERT_EQUAL_FATAL(eval_rank_user(it, 4, k, 2, 2.0, &r), RP_OK);
    CU_ASSERT_EQUAL(it[0].item, 3);
    CU_ASSERT_EQUAL(it[1].item, 2);
    CU_ASSERT_EQUAL(it[2].item, 7);
    CU_ASSERT_EQUAL(it[3].item, 5);
    double l3 = log2(3.0);
    /* @2: DCG = 1 + 0/log2(3); IDCG = 3 + 2.5/log2(3). */
    CU_ASSERT_DOUBLE_EQUAL(r.ndcg[0], 1.0 / (3.0 + 2.5 / l3), 1e-12);
    /* @3: DCG = 1 + 0 + 3/2; IDCG = 3 + 2.5/log2(3) + 1/2. */
    CU_ASSERT_DOUBLE_EQUAL(r.ndcg[1], 2.5 / (3.0 + 2.5 / l3 + 0.5), 1e-12);
    float scratch[4];
    CU_ASSERT_DOUBLE_EQUAL(eval_ndcg(it, 4, 3, scratch), r.ndcg[1], 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(r.precision[0], 0.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(r.precision[1], 1.0 / 3, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(r.recall[0], 0.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(r.recall[1], 0.5, 1e-12);
    /* liked: id7 (0.5), id5 (0.1); not: id3 (0.9), id2 (0.5). Pairs: 7>3 no, 7=2 half,
     * 5>3 no, 5>2 no: AUC = 0.5 / 4. */
    CU_ASSERT_DOUBLE_EQUAL(r.auc, 0.125, 1e-12);
}

static void undefined_cases(void)
{
    eval_item zero[2] = {{0.3f, 0.0f, 1}, {0.2f, 0.0f, 0}};
    eval_item all_liked[2] = {{0.3f, 5.0f, 1}, {0.2f, 4.0f, 0}};
    int k[1] = {10};
    eval_user_rank r;
    CU_ASSERT_EQUAL(eval_rank_user(zero, 2, k, 1, 2.0, &r), RP_OK);
    CU_ASSERT(isnan(r.ndcg[0]));   /* ideal DCG is 0 */
    CU_ASSERT(isnan(r.recall[0])); /* nothing liked */
    CU_ASSERT(isnan(r.auc));
    CU_ASSERT_DOUBLE_EQUAL(r.precision[0], 0.0, 1e-12); /* k > n: divide by n */
    CU_ASSERT_EQUAL(eval_rank_user(all_liked, 2, k, 1, 2.0, &r), RP_OK);
    CU_ASSERT(isnan(r.auc)); /* nothing disliked */
    CU_ASSERT_DOUBLE_EQUAL(r.precision[0], 1.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(r.ndcg[0], 1.0, 1e-12);
    CU_ASSERT_EQUAL(eval_rank_user(zero, 0, k, 1, 2.0, &r), RP_OK);
    CU_ASSERT(isnan(r.ndcg[0]) && isnan(r.precision[0]) && isnan(r.auc));
}

/* Position of item a in the ranking: how many items come before it. */
static int64_t bf_pos(const eval_item *x, int64_t n, int64_t a)
{
    int64_t p = 0;
    for (int64_t b = 0; b < n; b++)
        if (x[b].pred > x[a].pred || (x[b].pred == x[a].pred && x[b].item < x[a].item)) p++;
    return p;
}

/* Position in the ideal ranking (gain desc; equal gains by index: value-neutral). */
static int64_t bf_ideal_pos(const eval_item *x, int64_t n, int64_t a)
{
    int64_t p = 0;
    for (int64_t b = 0; b < n; b++)
        if (x[b].gain > x[a].gain || (x[b].gain == x[a].gain && b < a)) p++;
    return p;
}

static void brute_force(const eval_item *x, int64_t n, int k, double thr, double *ndcg,
                        double *prec, double *rec, double *auc)
{
    double dcg = 0, idcg = 0, hits = 0, liked = 0, wins = 0, pos = 0, neg = 0;
    for (int64_t a = 0; a < n; a++) {
        int64_t p = bf_pos(x, n, a), q = bf_ideal_pos(x, n, a);
        if (p < k) dcg += x[a].gain / log2((double)p + 2);
        if (q < k) idcg += x[a].gain / log2((double)q + 2);
        int like = x[a].gain > thr;
        liked += like;
        if (p < k) hits += like;
        if (!like) continue;
        pos++;
        for (int64_t b = 0; b < n; b++) {
            if (x[b].gain > thr) continue;
            wins += x[a].pred > x[b].pred ? 1.0 : (x[a].pred == x[b].pred ? 0.5 : 0.0);
        }
    }
    neg = (double)n - pos;
    *ndcg = idcg > 0 ? dcg / idcg : NAN;
    *prec = n > 0 ? hits / (double)(n < k ? n : k) : NAN;
    *rec = liked > 0 ? hits / liked : NAN;
    *auc = pos > 0 && neg > 0 ? wins / (pos * neg) : NAN;
}

static int same(double a, double b) { return (isnan(a) && isnan(b)) || fabs(a - b) < 1e-9; }

/* 300 random users: coarse predictions (many ties) and gains with repeats. */
static void against_brute_force(void)
{
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    int k[3] = {1, 5, 10}, bad = 0;
    eval_item x[40], y[40];
    for (int user = 0; user < 300; user++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        int64_t n = (int64_t)(s % 40);
        for (int64_t a = 0; a < n; a++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            x[a].pred = (float)(s % 7) / 6.0f;
            x[a].gain = (float)((s >> 8) % 9) * 0.5f;
            x[a].item = (int32_t)((a * 17 + user) % 97); /* distinct per user */
        }
        memcpy(y, x, sizeof x);
        eval_user_rank r;
        CU_ASSERT_EQUAL_FATAL(eval_rank_user(y, n, k, 3, 2.0, &r), RP_OK);
        for (int j = 0; j < 3; j++) {
            double nd, pr, rc, au;
            brute_force(x, n, k[j], 2.0, &nd, &pr, &rc, &au);
            bad += !same(nd, r.ndcg[j]) || !same(pr, r.precision[j]) || !same(rc, r.recall[j]) ||
                   !same(au, r.auc);
        }
        for (int64_t a = 0; a < n; a++) /* the top list is the brute-force order */
            bad += bf_pos(x, n, a) < n && y[bf_pos(x, n, a)].item != x[a].item;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void metric_names(void)
{
    eval_opts o = {0};
    o.nk = 2;
    o.k[0] = 10;
    o.k[1] = 50;
    const char *n[64];
    const char *want[] = {"mae", "rmse", "mae_raw", "rmse_raw", "ndcg@10", "ndcg@50",
                          "precision@10", "precision@50", "recall@10", "recall@50", "auc",
                          "coverage@10", "coverage@50", "mae_vs_truth_raw", "rmse_vs_truth_raw"};
    int m = eval_metric_names(&o, n, 64);
    CU_ASSERT_EQUAL_FATAL(m, 15);
    for (int j = 0; j < m; j++) CU_ASSERT_STRING_EQUAL(n[j], want[j]);
}

int test_eval_metrics_register(void)
{
    RP_ADD_SUITE("eval_metrics", RP_T(hand_computed), RP_T(undefined_cases),
                 RP_T(against_brute_force), RP_T(metric_names));
    return 0;
}
