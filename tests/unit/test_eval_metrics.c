/* test_eval_metrics.c - rp-eval's per-user ranking metrics against hand-computed values and a
 * brute-force O(n^2) reference (positions by counting, AUC over all pairs); NDCG with gains
 * clipped at OUTLIER_MAX; the share of the bias-to-truth gap. */
#include <math.h>
#include <stdint.h>
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
    eval_rank_opts ro = {k, 2, 2.0, INFINITY}; /* no clipping: raw and clipped agree */
    CU_ASSERT_EQUAL_FATAL(eval_rank_user(it, 4, &ro, &r), RP_OK);
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
    CU_ASSERT_DOUBLE_EQUAL(eval_ndcg(it, 4, 3, INFINITY, scratch), r.ndcg[1], 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(r.ndcg_raw[1], r.ndcg[1], 1e-12);
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
    eval_rank_opts ro = {k, 1, 2.0, 3.0};
    CU_ASSERT_EQUAL(eval_rank_user(zero, 2, &ro, &r), RP_OK);
    CU_ASSERT(isnan(r.ndcg[0]));   /* ideal DCG is 0 */
    CU_ASSERT(isnan(r.recall[0])); /* nothing liked */
    CU_ASSERT(isnan(r.auc));
    CU_ASSERT_DOUBLE_EQUAL(r.precision[0], 0.0, 1e-12); /* k > n: divide by n */
    CU_ASSERT_EQUAL(eval_rank_user(all_liked, 2, &ro, &r), RP_OK);
    CU_ASSERT(isnan(r.auc)); /* nothing disliked */
    CU_ASSERT_DOUBLE_EQUAL(r.precision[0], 1.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(r.ndcg[0], 1.0, 1e-12);
    CU_ASSERT_EQUAL(eval_rank_user(zero, 0, &ro, &r), RP_OK);
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
        if (x[b].wr > x[a].wr || (x[b].wr == x[a].wr && b < a)) p++;
    return p;
}

static void brute_force(const eval_item *x, int64_t n, int k, double thr, double *ndcg,
                        double *prec, double *rec, double *auc)
{
    double dcg = 0, idcg = 0, hits = 0, liked = 0, wins = 0, pos = 0, neg = 0;
    for (int64_t a = 0; a < n; a++) {
        int64_t p = bf_pos(x, n, a), q = bf_ideal_pos(x, n, a);
        if (p < k) dcg += x[a].wr / log2((double)p + 2);
        if (q < k) idcg += x[a].wr / log2((double)q + 2);
        int like = x[a].wr > thr;
        liked += like;
        if (p < k) hits += like;
        if (!like) continue;
        pos++;
        for (int64_t b = 0; b < n; b++) {
            if (x[b].wr > thr) continue;
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
            x[a].wr = (float)((s >> 8) % 9) * 0.5f;
            x[a].item = (int32_t)((a * 17 + user) % 97); /* distinct per user */
        }
        memcpy(y, x, sizeof x);
        eval_user_rank r;
        eval_rank_opts ro = {k, 3, 2.0, INFINITY};
        CU_ASSERT_EQUAL_FATAL(eval_rank_user(y, n, &ro, &r), RP_OK);
        for (int j = 0; j < 3; j++) {
            double nd, pr, rc, au;
            brute_force(x, n, k[j], 2.0, &nd, &pr, &rc, &au);
            bad += !same(nd, r.ndcg[j]) || !same(nd, r.ndcg_raw[j]) ||
                   !same(pr, r.precision[j]) || !same(rc, r.recall[j]) || !same(au, r.auc);
        }
        for (int64_t a = 0; a < n; a++) /* the top list is the brute-force order */
            bad += bf_pos(x, n, a) < n && y[bf_pos(x, n, a)].item != x[a].item;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static int by_pred_ref(const void *a, const void *b)
{
    const eval_item *x = a, *y = b;
    if (x->pred != y->pred) return x->pred > y->pred ? -1 : 1;
    return x->item < y->item ? -1 : (x->item > y->item);
}

/* The radix sort gives the comparison sort's order: doubles of both signs, +0 and -0 (equal),
 * ties, float-valued keys, item ids above 2^16 and 2^24; then NDCG at a k of 64 (the ideal
 * from the top-k buffer) equals eval_ndcg's (ideal from a full sort). */
static void radix_order_and_wide_k(void)
{
    uint64_t s = 0x2545F4914F6CDD1DULL;
    int bad = 0, k[2] = {64, 7};
    static eval_item x[700], y[700];
    float scratch[700];
    for (int user = 0; user < 200; user++) {
        int64_t n = user % 5 == 0 ? user % 3 : 1 + (int64_t)(user * 37 % 700);
        for (int64_t a = 0; a < n; a++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            int kind = (int)(s % 4);
            double v = ((double)((s >> 8) % 2001) - 1000.0) / 37.0;
            x[a].pred = kind == 0 ? (float)v : kind == 1 ? v : kind == 2 ? ((s >> 20) & 1 ? -0.0 : 0.0)
                                                                     : (double)((s >> 30) % 3);
            x[a].wr = (float)((s >> 40) % 13) * 0.75f;
            x[a].item = (int32_t)((a * 2654435761u + (uint32_t)user * 40503u) % 2147483647u);
        }
        memcpy(y, x, (size_t)n * sizeof *x);
        qsort(x, (size_t)n, sizeof *x, by_pred_ref);
        CU_ASSERT_EQUAL_FATAL(eval_sort_ranked(y, n), RP_OK);
        for (int64_t a = 0; a < n; a++) bad += x[a].item != y[a].item || !(x[a].pred == y[a].pred);
        eval_user_rank r;
        eval_rank_opts ro = {k, 2, 2.0, 3.0};
        memcpy(y, x, (size_t)n * sizeof *x);
        CU_ASSERT_EQUAL_FATAL(eval_rank_user(y, n, &ro, &r), RP_OK);
        for (int j = 0; j < 2; j++) {
            bad += !same(r.ndcg[j], eval_ndcg(x, n, k[j], 3.0, scratch));
            bad += !same(r.ndcg_raw[j], eval_ndcg(x, n, k[j], INFINITY, scratch));
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Gains clipped at 3, worked by hand. One user, five videos, ranked by prediction:
 *   rank 1: id 4, wr 1.0      gain 1
 *   rank 2: id 1, wr 12.0     gain 3  (a loop)
 *   rank 3: id 0, wr 2.5      gain 2.5
 *   rank 4: id 2, wr 3.2      gain 3
 *   rank 5: id 3, wr 0.0      gain 0
 * Discounts 1/log2(r + 1): 1, 1/log2(3) = 0.630930, 1/2, 1/log2(5) = 0.430677.
 * Clipped @3: DCG = 1 + 3 (0.630930) + 2.5 (0.5) = 4.142789; ideal gains 3, 3, 2.5:
 *   IDCG = 3 + 3 (0.630930) + 1.25 = 6.142789; NDCG = 0.674415.
 * Raw @3: DCG = 1 + 12 (0.630930) + 1.25 = 9.821157; ideal gains 12, 3.2, 2.5:
 *   IDCG = 12 + 3.2 (0.630930) + 1.25 = 15.268975; NDCG = 0.643210.
 * Clipped @5: DCG = 4.142789 + 3 (0.430677) = 5.434820; ideal adds 1 (0.430677) + 0:
 *   IDCG = 6.142789 + 0.430677 = 6.573466; NDCG = 0.826781. */
static void clipped_gains(void)
{
    eval_item it[5] = {{0.2, 2.5f, 0}, {0.8, 12.0f, 1}, {0.1, 3.2f, 2}, {0.0, 0.0f, 3},
                       {0.9, 1.0f, 4}};
    int k[2] = {3, 5};
    eval_rank_opts ro = {k, 2, 2.0, 3.0};
    eval_user_rank r;
    CU_ASSERT_EQUAL_FATAL(eval_rank_user(it, 5, &ro, &r), RP_OK);
    CU_ASSERT_DOUBLE_EQUAL(r.ndcg[0], 0.674415, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(r.ndcg_raw[0], 0.643210, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(r.ndcg[1], 0.826781, 1e-6);
    /* exact forms of the same */
    double l3 = 1 / log2(3.0), l5 = 1 / log2(5.0);
    CU_ASSERT_DOUBLE_EQUAL(r.ndcg[0], (1 + 3 * l3 + 1.25) / (3 + 3 * l3 + 1.25), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(r.ndcg_raw[0], (1 + 12 * l3 + 1.25) / (12 + (double)3.2f * l3 + 1.25),
                           1e-12); /* the stored gain is a float */
    CU_ASSERT_DOUBLE_EQUAL(r.ndcg[1], (1 + 3 * l3 + 1.25 + 3 * l5) / (3 + 3 * l3 + 1.25 + l5),
                           1e-12);
    float scratch[5];
    CU_ASSERT_DOUBLE_EQUAL(eval_ndcg(it, 5, 3, 3.0, scratch), r.ndcg[0], 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(eval_ndcg(it, 5, 3, INFINITY, scratch), r.ndcg_raw[0], 1e-12);
    /* like (wr > 2) is on the raw ratio: ids 1, 0, 2 liked, 2 of them in the top 3 */
    CU_ASSERT_DOUBLE_EQUAL(r.precision[0], 2.0 / 3, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(r.recall[0], 2.0 / 3, 1e-12);
    /* a predictor that puts the loop first is perfect on raw gains, not on clipped ones */
    eval_item loop_first[3] = {{0.9, 12.0f, 0}, {0.5, 1.0f, 1}, {0.1, 3.0f, 2}};
    int k1[1] = {2};
    eval_rank_opts r1 = {k1, 1, 2.0, 3.0};
    CU_ASSERT_EQUAL_FATAL(eval_rank_user(loop_first, 3, &r1, &r), RP_OK);
    CU_ASSERT_DOUBLE_EQUAL(r.ndcg_raw[0], (12 + 1 * l3) / (12 + 3 * l3), 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(r.ndcg[0], (3 + 1 * l3) / (3 + 3 * l3), 1e-12);
}

/* (mse_bias - mse_model) / (mse_bias - mse_truth), worked by hand. */
static void gap_share(void)
{
    CU_ASSERT_DOUBLE_EQUAL(eval_gap_share(0.04, 0.03, 0.02), 0.5, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(eval_gap_share(0.04, 0.04, 0.02), 0.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(eval_gap_share(0.04, 0.02, 0.02), 1.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(eval_gap_share(0.04, 0.05, 0.02), -0.5, 1e-12); /* worse than bias */
    /* the figures: bias rmse 0.1590, ALS 0.1541, truth 0.1466 */
    double b = 0.1590 * 0.1590, m = 0.1541 * 0.1541, t = 0.1466 * 0.1466;
    CU_ASSERT_DOUBLE_EQUAL(eval_gap_share(b, m, t), (b - m) / (b - t), 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(eval_gap_share(b, m, t), 0.40486, 1e-4);
    CU_ASSERT(isnan(eval_gap_share(0.02, 0.03, 0.02))); /* no gap */
    CU_ASSERT(isnan(eval_gap_share(0.01, 0.03, 0.02))); /* truth worse than bias */
    CU_ASSERT(isnan(eval_gap_share(NAN, 0.03, 0.02)));
    CU_ASSERT(isnan(eval_gap_share(0.04, 0.03, NAN)));
}

static void metric_names(void)
{
    eval_opts o = {0};
    o.nk = 2;
    o.k[0] = 10;
    o.k[1] = 50;
    const char *n[64];
    const char *want[] = {"mae", "rmse", "mae_raw", "rmse_raw", "ndcg@10", "ndcg@50",
                          "ndcg_raw@10", "ndcg_raw@50", "precision@10", "precision@50",
                          "recall@10", "recall@50", "auc", "coverage@10", "coverage@50",
                          "mae_vs_truth_raw", "rmse_vs_truth_raw", "gap_share"};
    int m = eval_metric_names(&o, n, 64);
    CU_ASSERT_EQUAL_FATAL(m, 18);
    for (int j = 0; j < m; j++) CU_ASSERT_STRING_EQUAL(n[j], want[j]);
}

/* Raw -> dense ids, by table (compact ids, negative ones too) and by search (spread ids): the
 * index in the sorted ids, -1 for anything else, including values far outside the range. */
static void idmap_table_and_search(void)
{
    const int64_t compact[] = {-3, -1, 0, 2, 5, 6, 9}, spread[] = {-7, 40, 1000000, INT64_MAX};
    const int64_t probes[] = {INT64_MIN, -7, -4, -3, -1, 0, 1, 2, 5, 6, 9, 10, 40, 1000000,
                              INT64_MAX - 1, INT64_MAX};
    for (int w = 0; w < 2; w++) {
        const int64_t *ids = w ? spread : compact;
        int64_t n = w ? 4 : 7;
        eval_idmap m;
        eval_idmap_init(&m, ids, n);
        CU_ASSERT_EQUAL(m.tab == NULL, w == 1);
        for (size_t p = 0; p < sizeof probes / sizeof *probes; p++) {
            int32_t want = -1;
            for (int64_t k = 0; k < n; k++)
                if (ids[k] == probes[p]) want = (int32_t)k;
            CU_ASSERT_EQUAL(eval_idmap_get(&m, probes[p]), want);
        }
        eval_idmap_clear(&m);
    }
}

int test_eval_metrics_register(void)
{
    RP_ADD_SUITE("eval_metrics", RP_T(hand_computed), RP_T(undefined_cases),
                 RP_T(against_brute_force), RP_T(radix_order_and_wide_k), RP_T(clipped_gains), RP_T(gap_share),
                 RP_T(metric_names), RP_T(idmap_table_and_search));
    return 0;
}
