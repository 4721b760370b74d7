/* test_twotower.c - rp-twotower's model: analytic gradients against central finite
 * differences (every head, both losses, both id paths, with and without bias terms), the /score
 * convention reproducing predictions (the schedule and the best-epoch rule: test_rp_trainer.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_rng.h"
#include "rp_test.h"
#include "twotower.h"

int test_twotower_register(void);

#define NS 8 /* samples */

/* A tiny in-memory data set: users with 2 categoricals + 1 numeric, items with 1 categorical,
 * a 3-wide tag bag (some pads) and 1 numeric. */
static void tiny_data(tt_data *d)
{
    static int32_t ucat[6 * 2], icat[5], tags[5 * 3], ucard[2] = {3, 4}, icard[1] = {4};
    static float unum[6], inum[5];
    memset(d, 0, sizeof *d);
    d->n_users = 6;
    d->n_items = 5;
    for (int k = 0; k < 12; k++) ucat[k] = (int32_t)(k * 7 % ucard[k % 2]);
    for (int k = 0; k < 5; k++) icat[k] = (int32_t)(k * 3 % 4);
    for (int k = 0; k < 15; k++) tags[k] = (k % 3 == 2 && k % 2) ? 0 : 1 + (k * 5 % 6);
    for (int k = 0; k < 6; k++) unum[k] = (float)(0.3 * k - 0.7);
    for (int k = 0; k < 5; k++) inum[k] = (float)(0.5 - 0.25 * k);
    tt_side *u = &d->side[TT_USER], *it = &d->side[TT_ITEM];
    u->n = 6, u->ncat = 2, u->cat = ucat, u->card = ucard, u->nnum = 1, u->num = unum;
    it->n = 5, it->ncat = 1, it->cat = icat, it->card = icard, it->nnum = 1, it->num = inum;
    it->tag_len = 3, it->tags = tags, it->tag_rows = 7;
    d->train_mean = 0.4;
}

static const int32_t users[NS] = {0, 1, 2, 3, 4, 5, 1, 3};
static const int32_t items[NS] = {0, 1, 2, 3, 4, 0, 2, 2};
static const float ys[NS] = {0.1f, 0.9f, 0.5f, 0.3f, 0.7f, 0.2f, 0.95f, 0.05f};

static double loss_at(const tt_model *m, tt_ws *ws, tt_grad *scratch)
{
    double sse = 0, sae = 0;
    twotower_grad_reset(scratch, m);
    return twotower_loss_grad(m, users, items, ys, NS, 1.0f, ws, scratch, &sse, &sae);
}

/* Compare d loss / d p for parameter *p with the analytic value; returns 1 if close. */
static int check_param(const tt_model *m, tt_ws *ws, tt_grad *scratch, float *p, double analytic,
                       const char *what, int64_t idx)
{
    const float h = 1e-3f;
    float keep = *p;
    *p = keep + h;
    double lp = loss_at(m, ws, scratch);
    *p = keep - h;
    double lm = loss_at(m, ws, scratch);
    *p = keep;
    double fd = (lp - lm) / (2.0 * (double)h);
    int ok = fabs(fd - analytic) <= 1e-3 + 3e-2 * fmax(fabs(fd), fabs(analytic));
    if (!ok) fprintf(stderr, "gradcheck %s[%lld]: analytic %g, finite difference %g\n", what,
                     (long long)idx, analytic, fd);
    return ok;
}

static void gradcheck(const char *head, const char *loss, const char *id_path, int bias)
{
    tt_data d;
    tt_opts o;
    tt_model m;
    tt_ws ws;
    tt_grad g, scratch;
    tiny_data(&d);
    twotower_opts_default(&o);
    o.head = head;
    o.loss = loss;
    o.id_path = id_path;
    o.bias = bias;
    o.huber_delta = 0.1;
    o.dim = 4;
    o.emb_dim = 3;
    o.hidden = "5,4";
    o.seed = 3;
    CU_ASSERT_EQUAL_FATAL(twotower_model_init(&m, &o, &d), RP_OK);
    /* Larger head scale so the head is not flat, and biases away from the ReLU kinks. */
    m.dense[m.head_off] = 2.0f;
    for (int t = 0; t < 2; t++)
        for (int l = 0; l < m.tw[t].nlayers; l++)
            for (int k = 0; k < m.tw[t].dims[l + 1]; k++) m.dense[m.tw[t].b_off[l] + k] = 0.1f;
    for (int64_t k = 0; k < m.n_rows * m.E; k++) m.emb[k] *= 10.0f;
    /* Non-zero bias terms (they start at 0). */
    for (int t = 0; t < 2 && bias; t++) {
        const tt_tower *tw = &m.tw[t];
        for (int64_t r = 0; r < tw->f->n; r++)
            m.emb[(tw->id_base + r * tw->id_span) * m.E + (tw->id_add ? m.D : 0)] =
                0.05f * (float)(r % 3) - 0.04f;
    }
    CU_ASSERT_EQUAL_FATAL(twotower_ws_init(&ws, &m, NS), RP_OK);
    CU_ASSERT_EQUAL_FATAL(twotower_grad_init(&g, &m, NS), RP_OK);
    CU_ASSERT_EQUAL_FATAL(twotower_grad_init(&scratch, &m, NS), RP_OK);
    double sse = 0, sae = 0;
    twotower_grad_reset(&g, &m);
    twotower_loss_grad(&m, users, items, ys, NS, 1.0f, &ws, &g, &sse, &sae);
    int bad = 0, checked = 0;
    /* Every head parameter, the rest sampled; the dot head's scale is fixed (gradient 0). */
    for (int64_t k = 0; k < m.n_dense; k += k >= m.head_off ? 1 : 1 + k % 3, checked++) {
        if (m.head == TT_HEAD_DOT && k == m.head_off) {
            CU_ASSERT_EQUAL(g.dense[k], 0.0f);
            continue;
        }
        bad += !check_param(&m, &ws, &scratch, m.dense + k, g.dense[k], "dense", k);
    }
    /* Every touched embedding row, every component; untouched rows have zero gradient. */
    for (int64_t s = 0; s < g.nrows; s++)
        for (int q = 0; q < m.E; q++, checked++)
            bad += !check_param(&m, &ws, &scratch, m.emb + (int64_t)g.rows[s] * m.E + q,
                                g.vals[s * m.E + q], "emb", (int64_t)g.rows[s] * m.E + q);
    int32_t untouched = -1;
    for (int64_t r = 0; r < m.n_rows && untouched < 0; r++)
        if (g.slot[r] < 0) untouched = (int32_t)r;
    if (untouched >= 0)
        CU_ASSERT(check_param(&m, &ws, &scratch, m.emb + (int64_t)untouched * m.E, 0.0, "emb0",
                              untouched));
    /* The id blocks (id vectors and bias terms) are among the checked rows. */
    int id_rows = 0;
    for (int64_t s = 0; s < g.nrows; s++)
        id_rows += g.rows[s] >= m.tw[TT_USER].id_base &&
                   g.rows[s] < m.tw[TT_USER].id_base + 6 * m.tw[TT_USER].id_span;
    CU_ASSERT_EQUAL(id_rows, m.tw[TT_USER].id_span * 6); /* all 6 users appear in the batch */
    CU_ASSERT(!bias || m.tw[TT_ITEM].id_span > 0);
    CU_ASSERT(checked > 100);
    CU_ASSERT(g.nrows > 10);
    CU_ASSERT_EQUAL(bad, 0);
    twotower_grad_clear(&g);
    twotower_grad_clear(&scratch);
    twotower_ws_clear(&ws);
    twotower_model_clear(&m);
}

static void gradcheck_dot_mse(void) { gradcheck("dot", "mse", "add", 1); }
static void gradcheck_dot_huber(void) { gradcheck("dot", "huber", "add", 1); }
static void gradcheck_dot_mlp_bias(void) { gradcheck("dot", "mse", "mlp", 1); }
static void gradcheck_cosine_mse(void) { gradcheck("cosine", "mse", "add", 1); }
static void gradcheck_sigmoid_mse(void) { gradcheck("sigmoid", "mse", "add", 1); }
static void gradcheck_cosine_huber(void) { gradcheck("cosine", "huber", "mlp", 0); }
static void gradcheck_sigmoid_huber(void) { gradcheck("sigmoid", "huber", "mlp", 0); }

/* pred = clamp01(post(scale * dot(score_user, score_item) + shift)) is the model's prediction:
 * rp-twotower's validation metrics use exactly this, and it agrees with the training forward
 * pass (a different sgemm batching) to float rounding. Every head, with and without bias
 * columns, both id paths. */
static void score_convention(void)
{
    static const char *heads[3] = {"dot", "sigmoid", "cosine"};
    for (int cfg = 0; cfg < 6; cfg++) {
        tt_data d;
        tt_opts o;
        tt_model m;
        tt_ws ws;
        tiny_data(&d);
        twotower_opts_default(&o);
        o.head = heads[cfg % 3];
        o.bias = cfg < 3;
        o.id_path = cfg < 3 ? "add" : "mlp";
        o.dim = 5;
        CU_ASSERT_EQUAL_FATAL(twotower_model_init(&m, &o, &d), RP_OK);
        int S = m.S, sig = 0;
        CU_ASSERT_EQUAL(S, o.bias ? 7 : 5);
        if (m.head != TT_HEAD_DOT) m.dense[m.head_off] = 1.7f;
        for (int64_t k = 0; k < m.n_rows * m.E; k++) m.emb[k] += 0.01f * (float)(k % 7) - 0.03f;
        CU_ASSERT_EQUAL_FATAL(twotower_ws_init(&ws, &m, NS), RP_OK);
        float su[6 * 7], si[5 * 7], raw[6 * 5];
        CU_ASSERT_EQUAL(twotower_embed_all(&m, TT_USER, su, raw), RP_OK);
        CU_ASSERT_EQUAL(twotower_embed_all(&m, TT_ITEM, si, NULL), RP_OK);
        CU_ASSERT_EQUAL(twotower_predict(&m, users, items, NS, &ws), RP_OK);
        double a = 0, c = 0, sae = 0, sse = 0;
        twotower_score_attrs(&m, &sig, &a, &c);
        CU_ASSERT_EQUAL(sig, m.head == TT_HEAD_SIGMOID);
        int far = 0;
        for (int k = 0; k < NS; k++) {
            double dot = 0;
            for (int q = 0; q < S; q++) dot += (double)su[users[k] * S + q] * si[items[k] * S + q];
            double z = a * dot + c, p = fmin(fmax(sig ? 1.0 / (1.0 + exp(-z)) : z, 0), 1);
            far += fabs(p - fmin(fmax(ws.pred[k], 0), 1)) > 1e-6;
            sae += fabs(p - ys[k]);
            sse += (p - ys[k]) * (p - ys[k]);
        }
        CU_ASSERT_EQUAL(far, 0);
        tt_split sp = {NS, (int32_t *)users, (int32_t *)items, (float *)ys};
        double rmse = 0, mae = 0;
        CU_ASSERT_EQUAL(twotower_evaluate(MPI_COMM_SELF, &m, &sp, &rmse, &mae), RP_OK);
        CU_ASSERT(fabs(mae - sae / NS) < 1e-9);
        CU_ASSERT(fabs(rmse - sqrt(sse / NS)) < 1e-9);
        /* bias columns: users [.., b_u, 1], videos [.., 1, b_i], b from the id block */
        if (o.bias) {
            const tt_tower *tu = &m.tw[TT_USER];
            CU_ASSERT_EQUAL(su[2 * S + S - 1], 1.0f);
            CU_ASSERT_EQUAL(si[3 * S + S - 2], 1.0f);
            CU_ASSERT_EQUAL(su[2 * S + S - 2], m.emb[(tu->id_base + 2 * tu->id_span) * m.E + 5]);
        }
        /* cosine scores are unit vectors (scaled by a in the bias layout); raw outputs are not */
        double n0 = 0, r0 = 0;
        for (int q = 0; q < 5; q++) n0 += (double)si[q] * si[q], r0 += (double)raw[q] * raw[q];
        CU_ASSERT(m.head != TT_HEAD_COSINE || fabs(n0 - 1.0) < 1e-5);
        CU_ASSERT(m.head != TT_HEAD_COSINE || fabs(r0 - 1.0) > 1e-3);
        twotower_ws_clear(&ws);
        twotower_model_clear(&m);
    }
}

/* The rows one training pair's forward pass reads (id block or id slot, and with features
 * the categorical rows and its distinct tags), marked in seen[n_rows]: counted pair by pair,
 * independently of twotower_row_prior's per-entity sums. */
static void rows_of_pair(const tt_model *m, int32_t u, int32_t i, int features, char *seen)
{
    const int32_t ent[2] = {u, i};
    memset(seen, 0, (size_t)m->n_rows);
    for (int t = 0; t < 2; t++) {
        const tt_tower *tw = &m->tw[t];
        const tt_side *f = tw->f;
        int e = ent[t], k0 = tw->use_id ? 1 : 0;
        for (int s = 0; s < tw->id_span; s++) seen[tw->id_base + (int64_t)e * tw->id_span + s] = 1;
        if (tw->use_id) seen[tw->slot_base[0] + e] = 1;
        if (!features) continue;
        for (int j = 0; j < f->ncat; j++) seen[tw->slot_base[k0 + j] + f->cat[e * f->ncat + j]] = 1;
        for (int k = 0; k < f->tag_len; k++)
            if (f->tags[e * f->tag_len + k] != 0)
                seen[tw->slot_base[k0 + f->ncat] + f->tags[e * f->tag_len + k]] = 1;
    }
}

/* --row-l2: each row's weight is L / (N q_r), q_r = 1 - (1 - n_r/N)^B, n_r the training pairs
 * reading it; rows nobody reads and (without --row-l2-features) feature rows get 0. */
static void row_prior_weights(void)
{
    for (int variant = 0; variant < 3; variant++) {
        tt_data d;
        tt_opts o;
        tt_model m;
        float *w = NULL;
        tiny_data(&d);
        d.train.n = NS;
        d.train.user = (int32_t *)users;
        d.train.item = (int32_t *)items;
        twotower_opts_default(&o);
        o.dim = 4;
        o.emb_dim = 3;
        o.train.batch = 4;
        o.row_l2 = 3.0;
        o.row_l2_features = variant != 1;
        o.id_path = variant == 2 ? "mlp" : "add";
        CU_ASSERT_EQUAL_FATAL(twotower_model_init(&m, &o, &d), RP_OK);
        CU_ASSERT_EQUAL_FATAL(twotower_row_prior(&o, &d, &m, &w), RP_OK);
        CU_ASSERT_PTR_NOT_NULL_FATAL(w);
        double *cnt = calloc((size_t)m.n_rows, sizeof *cnt);
        char *seen = malloc((size_t)m.n_rows);
        for (int k = 0; k < NS; k++) {
            rows_of_pair(&m, users[k], items[k], o.row_l2_features, seen);
            for (int64_t r = 0; r < m.n_rows; r++) cnt[r] += seen[r];
        }
        int zero = 0, nonzero = 0;
        for (int64_t r = 0; r < m.n_rows; r++) {
            double q = 1.0 - pow(1.0 - cnt[r] / NS, 4.0);
            double want = cnt[r] > 0 ? 3.0 / (NS * q) : 0.0;
            CU_ASSERT_DOUBLE_EQUAL(w[r], want, 1e-6 * want);
            zero += w[r] == 0.0f;
            nonzero += w[r] > 0.0f;
        }
        CU_ASSERT(zero > 0 && nonzero > 0); /* unread rows (item 4's cat, unused tags) exist */
        /* user 1 has 2 of the 8 pairs: q = 1 - 0.75^4 */
        int64_t r1 = m.tw[TT_USER].id_span > 0 ? m.tw[TT_USER].id_base + m.tw[TT_USER].id_span
                                               : m.tw[TT_USER].slot_base[0] + 1;
        CU_ASSERT_DOUBLE_EQUAL(w[r1], 3.0 / (8.0 * (1.0 - pow(0.75, 4.0))), 1e-6);
        free(cnt);
        free(seen);
        free(w);
        twotower_model_clear(&m);
    }
    tt_data d;
    tt_opts o;
    tt_model m;
    float *w = (float *)&d;
    tiny_data(&d);
    twotower_opts_default(&o);
    o.row_l2 = 0.0;
    CU_ASSERT_EQUAL_FATAL(twotower_model_init(&m, &o, &d), RP_OK);
    CU_ASSERT_EQUAL(twotower_row_prior(&o, &d, &m, &w), RP_OK);
    CU_ASSERT_PTR_NULL(w); /* --row-l2 0: no prior */
    twotower_model_clear(&m);
}

/* The log target by hand: the filter keeps watch ratios in [0.4, 3) as log(wr) and their mean;
 * the gain is sum g r / sum g^2 (0 when not positive); the calibrated rows give the bias model
 * plus gamma exp(b_u + b_i) (u . v). */
/* Row owners: a user's id rows (span 2 here, from row 10) go to the rank of the user's class
 * (user mod 8, class c on rank c mod 3), every other row round-robin; the receive buffer is
 * sized from the rows the rank then owns (3 of the 8 classes on rank 0: more than a third). */
static void sparse_owners_follow_user_classes(void)
{
    for (int rank = 0; rank < 3; rank++) {
        tt_sparse sp;
        tt_sparse_shape sh = {.rank = rank, .size = 3, .E = 8, .n_rows = 100, .cap = 40,
                              .ubase = 10, .nurows = 60, .uspan = 2, .nclass = 8};
        CU_ASSERT_EQUAL_FATAL(twotower_sparse_init(&sp, &sh), RP_OK);
        int64_t own = 0;
        for (int64_t r = 0; r < 100; r++) {
            int want = r >= 10 && r < 70 ? (int)((r - 10) / 2 % 8 % 3) : (int)(r % 3);
            CU_ASSERT_EQUAL(twotower_sparse_owner(&sp, r), want);
            own += want == rank;
        }
        CU_ASSERT_EQUAL(sp.grecv_cap, (own < 40 ? own : 40) * 2 * 9);
        twotower_sparse_clear(&sp);
    }
    tt_sparse one; /* no id block (span 0): plain round-robin */
    tt_sparse_shape sh1 = {.rank = 1, .size = 2, .E = 8, .n_rows = 50, .cap = 50, .ubase = 10,
                           .nclass = 8};
    CU_ASSERT_EQUAL_FATAL(twotower_sparse_init(&one, &sh1), RP_OK);
    for (int64_t r = 0; r < 50; r++) CU_ASSERT_EQUAL(twotower_sparse_owner(&one, r), (int)(r % 2));
    twotower_sparse_clear(&one);
}

static void log_filter_and_calibration(void)
{
    tt_data d;
    memset(&d, 0, sizeof d);
    d.lr = (rp_log_range){0.0, 3.0, 0.4, 3.0};
    int32_t u[5] = {0, 1, 2, 3, 4}, it[5] = {0, 0, 1, 1, 2};
    float v[5] = {0.1f, 0.2f, 1.0f, 0.5f, 0.0f};
    d.train = (tt_split){5, u, it, v};
    twotower_log_filter(&d);
    CU_ASSERT(d.train.n == 2 && d.train_all == 5);
    CU_ASSERT(d.train.user[0] == 1 && d.train.user[1] == 3 && d.train.item[1] == 1);
    CU_ASSERT_DOUBLE_EQUAL(d.train.value[0], log(3.0 * (double)0.2f), 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(d.train.value[1], log(1.5), 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(d.train_mean, 0.5 * (log(0.6) + log(1.5)), 1e-6);
    int64_t s1[2] = {3, 6}, s2[2] = {-3, 6}, s3[2] = {3, 0};
    CU_ASSERT_DOUBLE_EQUAL(rp_log_gain((double)s1[0], (double)s1[1]), 0.5, 1e-15);
    CU_ASSERT_EQUAL(rp_log_gain((double)s2[0], (double)s2[1]), 0.0);
    CU_ASSERT_EQUAL(rp_log_gain((double)s3[0], (double)s3[1]), 0.0);
    tt_model m;
    memset(&m, 0, sizeof m);
    m.D = 2, m.S = 4;
    double cu[1] = {0.1}, ci[1] = {-0.05};
    d.n_users = 1, d.n_items = 1, d.cu = cu, d.ci = ci, d.cmu = 0.6;
    float su[4] = {1.0f, 2.0f, 0.2f, 1.0f}, si[4] = {0.5f, -1.0f, 1.0f, -0.1f};
    tt_dot dot;
    twotower_calib_rows(&m, &d, 0.3, su, si, &dot);
    CU_ASSERT(dot.S == 4 && !dot.sigmoid && dot.scale == 1.0 && dot.shift == 0.6);
    CU_ASSERT(su[2] == 0.1f && su[3] == 1.0f && si[2] == 1.0f && si[3] == -0.05f);
    double want = 0.6 + 0.1 - 0.05 + 0.3 * exp(0.2 - 0.1) * (0.5 - 2.0);
    CU_ASSERT_DOUBLE_EQUAL(twotower_dot_pred(&dot, su, si), want, 1e-6);
}

int test_twotower_register(void)
{
    RP_ADD_SUITE("twotower", RP_T(sparse_owners_follow_user_classes), RP_T(gradcheck_dot_mse), RP_T(gradcheck_dot_huber),
                 RP_T(gradcheck_dot_mlp_bias), RP_T(gradcheck_cosine_mse),
                 RP_T(gradcheck_sigmoid_mse), RP_T(gradcheck_cosine_huber),
                 RP_T(gradcheck_sigmoid_huber), RP_T(score_convention),
                 RP_T(row_prior_weights), RP_T(log_filter_and_calibration));
    return 0;
}
