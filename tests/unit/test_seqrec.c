/* test_seqrec.c - rp-seqrec's transformer: gradients of every parameter group (embedding tables,
 * positions, buckets, LayerNorms, attention, FFN, biases, head) against central finite
 * differences with dropout on, the causal mask, and dropout masks keyed only by their key. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_rng.h"
#include "rp_test.h"
#include "seqrec.h"
#include "seqrec_model.h"

int test_seqrec_register(void);

#define NI 9
#define NU 3
#define TL 3

static int32_t g_author[NI] = {0, 1, 2, 3, 0, 1, 2, 3, 1};
static int32_t g_tags[NI * TL] = {1, 2, 0, 3, 0, 0, 0, 0, 0, 4, 5, 1, 2, 0, 0,
                                  5, 5, 3, 1, 0, 0, 2, 3, 4, 0, 0, 0};

typedef struct fixture {
    sr_model m;
    sr_batch b;
    int32_t user[3], item[16], target[16];
    int len[3];
    int64_t start[3];
    uint64_t key[3];
    uint8_t bucket[16];
    float y[16], weight[16];
} fixture;

/* Three windows (lengths 1, 6, 5) of a tiny model with every parameter set to a random value
 * (so LN gains, biases and the pad-free tag rows all matter). */
static void make_fixture(fixture *fx, int heads, float dropout)
{
    sr_config c = {.d = 8, .heads = heads, .blocks = 2, .ffn = 12, .T = 6, .buckets = 4,
                   .dropout = dropout, .n_users = NU, .n_items = NI, .n_authors = 4,
                   .tag_rows = 6, .tag_len = TL, .user_vec = 1};
    memset(fx, 0, sizeof *fx);
    CU_ASSERT_FATAL(seqrec_model_init(&fx->m, &c, 7) == RP_OK);
    /* every other parameter keeps the value it had before user vectors existed (keyed by its
     * index in that layout: a draw whose FFN pre-activations stay clear of the ReLU kinks);
     * the user vectors come from a stream of their own */
    int64_t u0 = fx->m.l.user, nu = fx->m.l.user_bias - u0;
    for (int64_t k = 0; k < fx->m.l.n; k++) {
        int in_user = k >= u0 && k < u0 + nu;
        uint64_t key = (uint64_t)(in_user ? k - u0 : k < u0 ? k : k - nu);
        fx->m.w[k] = (float)(0.6 * (2.0 * rp_rng_uniform(3, in_user ? 10 : 9, key) - 1.0));
    }
    fx->m.author = g_author;
    fx->m.tags = g_tags;
    fx->m.mu = 0.4;
    int lens[3] = {1, 6, 5};
    int64_t r = 0;
    for (int w = 0; w < 3; w++) {
        fx->user[w] = w % NU;
        fx->len[w] = lens[w];
        fx->start[w] = r;
        fx->key[w] = 100 + (uint64_t)w;
        for (int t = 0; t < lens[w]; t++, r++) {
            fx->item[r] = (int32_t)((r * 5 + w) % NI);
            fx->target[r] = (r % 4 == 3) ? -1 : (int32_t)((r * 7 + 2) % NI);
            if (r % 4 != 3 && r % 3 != 1 && t + 1 < lens[w]) /* the next view (as in training) */
                fx->target[r] = (int32_t)(((r + 1) * 5 + w) % NI);
            fx->bucket[r] = (uint8_t)(r % 4);
            fx->y[r] = (float)rp_rng_uniform(5, 1, (uint64_t)r);
            fx->weight[r] = (r % 5 == 4) ? 0.0f : 0.5f;
        }
    }
    sr_batch b = {.nwin = 3, .nrows = r, .user = fx->user, .len = fx->len, .start = fx->start,
                  .drop_key = fx->key, .item = fx->item, .target = fx->target,
                  .bucket = fx->bucket, .y = fx->y, .weight = fx->weight};
    fx->b = b;
}

/* The loss; *pattern gets a hash of which FFN units are active (ReLU side of every row). */
static double loss_at(fixture *fx, sr_ws *ws, sr_grad *g, uint64_t *pattern)
{
    double sse = 0.0, cnt = 0.0;
    seqrec_grad_reset(g, &fx->m);
    double loss = seqrec_loss_grad(&fx->m, &fx->b, ws, g, 11, 1, &sse, &cnt);
    uint64_t h = 1469598103934665603ULL;
    for (int l = 0; l < fx->m.c.blocks; l++)
        for (int64_t k = 0; k < fx->b.nrows * fx->m.c.ffn; k++)
            h = (h ^ (uint64_t)(ws->h1[l][k] > 0.0f)) * 1099511628211ULL;
    *pattern = h;
    return loss;
}

/* Compare analytic and central-difference gradients over [off, off + n); returns the number of
 * mismatches and prints the worst. Float forward: h = 2e-3 keeps rounding noise ~1e-4. A
 * perturbation that moves a ReLU across its kink makes the difference meaningless: such entries
 * are skipped, and a group may skip at most a quarter of its entries. */
static int check_range(fixture *fx, sr_ws *ws, sr_grad *g, const float *ana, int64_t off,
                       int64_t n, const char *what, int *nonzero)
{
    int bad = 0, kinks = 0;
    double worst = 0.0;
    const double h = 2e-3;
    uint64_t pp = 0, pm = 0;
    for (int64_t k = off; k < off + n; k++) {
        float w0 = fx->m.w[k];
        fx->m.w[k] = (float)(w0 + h);
        double lp = loss_at(fx, ws, g, &pp);
        fx->m.w[k] = (float)(w0 - h);
        double lm = loss_at(fx, ws, g, &pm);
        fx->m.w[k] = w0;
        if (pp != pm) {
            kinks++;
            continue;
        }
        double num = (lp - lm) / ((double)(float)(w0 + h) - (double)(float)(w0 - h));
        double err = fabs(num - ana[k]) / (3e-3 + 3e-2 * fabs(num));
        if (fabs(ana[k]) > 1e-4) ++*nonzero;
        if (err > worst) worst = err;
        if (err > 1.0) bad++;
    }
    if (bad) printf("\n  %s: %d of %lld gradients off (worst scaled error %.2f)\n", what, bad,
                    (long long)n, worst);
    if (4 * kinks > n) printf("\n  %s: %d of %lld entries at a ReLU kink\n", what, kinks,
                              (long long)n);
    return bad + (4 * kinks > n);
}

static void gradcheck(int heads, float dropout)
{
    fixture fx;
    sr_ws ws;
    sr_grad g;
    make_fixture(&fx, heads, dropout);
    CU_ASSERT_FATAL(seqrec_ws_init(&ws, &fx.m, fx.b.nrows) == RP_OK);
    CU_ASSERT_FATAL(seqrec_grad_init(&g, &fx.m, fx.b.nrows) == RP_OK);
    uint64_t pat = 0;
    loss_at(&fx, &ws, &g, &pat);
    float *ana = malloc((size_t)fx.m.l.n * sizeof *ana);
    CU_ASSERT_FATAL(ana != NULL);
    memcpy(ana, g.g, (size_t)fx.m.l.n * sizeof *ana);
    const sr_layout *l = &fx.m.l;
    const sr_boff *o = &fx.m.bo;
    int d = fx.m.c.d, f = fx.m.c.ffn;
    struct { const char *name; int64_t off, n; } groups[] = {
        {"item table", l->item, (int64_t)NI * d},   {"author table", l->author, 4 * d},
        {"tag table", l->tag + d, 5 * d},           {"user bias", l->user_bias, NU},
        {"item bias", l->item_bias, NI},            {"bucket table", l->bucket, 4 * d},
        {"user vectors", l->user, (int64_t)NU * d},
        {"positions", l->pos, 6 * d},               {"final LayerNorm", l->lnf_g, 2 * d},
    };
    for (size_t k = 0; k < sizeof groups / sizeof groups[0]; k++) {
        int nz = 0;
        CU_ASSERT(check_range(&fx, &ws, &g, ana, groups[k].off, groups[k].n, groups[k].name,
                              &nz) == 0);
        CU_ASSERT(nz > 0); /* the group is exercised */
    }
    for (int b = 0; b < fx.m.c.blocks; b++) {
        int64_t B = l->block[b];
        struct { const char *name; int64_t off, n; } parts[] = {
            {"LayerNorm 1", B + o->ln1_g, 2 * d}, {"attention Wqkv", B + o->wqkv, 3 * d * d},
            {"attention bqkv", B + o->bqkv, 3 * d}, {"attention Wo", B + o->wo, d * d},
            {"attention bo", B + o->bo, d},       {"LayerNorm 2", B + o->ln2_g, 2 * d},
            {"FFN W1", B + o->w1, d * f},         {"FFN b1", B + o->b1, f},
            {"FFN W2", B + o->w2, f * d},         {"FFN b2", B + o->b2, d},
        };
        for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
            int nz = 0;
            CU_ASSERT(check_range(&fx, &ws, &g, ana, parts[k].off, parts[k].n, parts[k].name,
                                  &nz) == 0);
            CU_ASSERT(nz > 0);
        }
    }
    /* the pad row of the tag table is never read, so never gets a gradient */
    for (int j = 0; j < d; j++) CU_ASSERT(ana[l->tag + j] == 0.0f);
    free(ana);
    seqrec_grad_clear(&g);
    seqrec_ws_clear(&ws);
    seqrec_model_clear(&fx.m);
}

static void gradcheck_one_head_dropout(void) { gradcheck(1, 0.3f); }
static void gradcheck_two_heads_no_dropout(void) { gradcheck(2, 0.0f); }
static void gradcheck_four_heads_dropout(void) { gradcheck(4, 0.2f); }

/* Causal: the output at position t must not change when a later view of the window changes,
 * and must change when an earlier one does. Windows are independent of each other. */
static void causal_mask(void)
{
    fixture fx;
    sr_ws ws;
    make_fixture(&fx, 2, 0.0f);
    CU_ASSERT_FATAL(seqrec_ws_init(&ws, &fx.m, fx.b.nrows) == RP_OK);
    int64_t n = fx.b.nrows, d = fx.m.c.d, s = fx.start[1];
    float *o0 = malloc((size_t)(n * d) * sizeof *o0);
    CU_ASSERT_FATAL(o0 != NULL);
    CU_ASSERT_EQUAL(seqrec_forward(&fx.m, &fx.b, &ws, 0, 1), RP_OK);
    memcpy(o0, ws.o, (size_t)(n * d) * sizeof *o0);
    fx.item[s + 3] = (fx.item[s + 3] + 1) % NI; /* window 1, position 3 */
    fx.bucket[s + 3] = (uint8_t)((fx.bucket[s + 3] + 1) % 4);
    CU_ASSERT_EQUAL(seqrec_forward(&fx.m, &fx.b, &ws, 0, 1), RP_OK);
    for (int64_t r = 0; r < n; r++) {
        int changed = memcmp(o0 + r * d, ws.o + r * d, (size_t)d * sizeof(float)) != 0;
        int should = r >= s + 3 && r < s + fx.len[1];
        CU_ASSERT(changed == should);
    }
    free(o0);
    seqrec_ws_clear(&ws);
    seqrec_model_clear(&fx.m);
}

/* Dropout: about p of the elements are dropped, the rest scaled by 1/(1-p); the mask is a pure
 * function of (seed, key, site, position, element). Evaluation (train = 0) uses no mask. */
static void dropout_masks(void)
{
    int zeros = 0, n = 0;
    for (int t = 0; t < 50; t++)
        for (int j = 0; j < 64; j++, n++) {
            float s = seqrec_dropout_scale(1, 77, 2, t, j, 0.25f);
            CU_ASSERT(s == 0.0f || fabsf(s - 1.0f / 0.75f) < 1e-6f);
            zeros += s == 0.0f;
            CU_ASSERT(s == seqrec_dropout_scale(1, 77, 2, t, j, 0.25f));
        }
    CU_ASSERT(zeros > n / 5 && zeros < n * 3 / 10);
    fixture fx;
    sr_ws ws;
    make_fixture(&fx, 1, 0.5f);
    CU_ASSERT_FATAL(seqrec_ws_init(&ws, &fx.m, fx.b.nrows) == RP_OK);
    CU_ASSERT_EQUAL(seqrec_forward(&fx.m, &fx.b, &ws, 0, 1), RP_OK);
    double p0 = ws.pred[2];
    fx.m.c.dropout = 0.0f;
    CU_ASSERT_EQUAL(seqrec_forward(&fx.m, &fx.b, &ws, 1, 1), RP_OK);
    CU_ASSERT(ws.pred[2] == p0);
    fx.m.c.dropout = 0.5f;
    CU_ASSERT_EQUAL(seqrec_forward(&fx.m, &fx.b, &ws, 1, 1), RP_OK);
    CU_ASSERT(ws.pred[2] != p0);
    seqrec_ws_clear(&ws);
    seqrec_model_clear(&fx.m);
}

/* The head: pred = o . (item + author + mean tags of the target) + user bias + item bias + mu. */
static void head_dot_form(void)
{
    fixture fx;
    sr_ws ws;
    float v[8];
    make_fixture(&fx, 2, 0.0f);
    CU_ASSERT_FATAL(seqrec_ws_init(&ws, &fx.m, fx.b.nrows) == RP_OK);
    CU_ASSERT_EQUAL(seqrec_forward(&fx.m, &fx.b, &ws, 0, 1), RP_OK);
    for (int64_t r = 0; r < fx.b.nrows; r++) {
        if (fx.target[r] < 0) {
            CU_ASSERT(isnan(ws.pred[r]));
            continue;
        }
        seqrec_item_vector(&fx.m, fx.target[r], v);
        int w = r < fx.start[1] ? 0 : r < fx.start[2] ? 1 : 2;
        double dot = fx.m.mu + fx.m.w[fx.m.l.user_bias + fx.user[w]] +
                     fx.m.w[fx.m.l.item_bias + fx.target[r]];
        for (int j = 0; j < 8; j++) dot += (double)ws.o[r * 8 + j] * v[j];
        CU_ASSERT(fabs(dot - ws.pred[r]) < 1e-9);
    }
    /* the state is the final LayerNorm's output plus the window's user vector */
    float *o1 = malloc((size_t)fx.b.nrows * 8 * sizeof *o1);
    CU_ASSERT_FATAL(o1 != NULL);
    memcpy(o1, ws.o, (size_t)fx.b.nrows * 8 * sizeof *o1);
    fx.m.c.user_vec = 0;
    CU_ASSERT_EQUAL(seqrec_forward(&fx.m, &fx.b, &ws, 0, 1), RP_OK);
    for (int64_t r = 0; r < fx.b.nrows; r++) {
        int w = r < fx.start[1] ? 0 : r < fx.start[2] ? 1 : 2;
        const float *eu = fx.m.w + fx.m.l.user + (int64_t)fx.user[w] * 8;
        for (int j = 0; j < 8; j++) CU_ASSERT(o1[r * 8 + j] == ws.o[r * 8 + j] + eu[j]);
    }
    fx.m.c.user_vec = 1;
    free(o1);
    seqrec_item_vector(&fx.m, 1, v); /* item 1: tag 3 only (pads skipped), author 1 */
    const float *e = fx.m.w + fx.m.l.item + 8, *a = fx.m.w + fx.m.l.author + 8;
    const float *t3 = fx.m.w + fx.m.l.tag + 3 * 8;
    for (int j = 0; j < 8; j++) CU_ASSERT(fabsf(v[j] - (e[j] + a[j] + t3[j])) < 1e-6f);
    seqrec_ws_clear(&ws);
    seqrec_model_clear(&fx.m);
}

/* The log target's pieces by hand: the interaction e^(b_u + b_i) (o . content), the bias
 * model's base, the least-squares gain (0 when not positive); rows the log loss skips
 * (weight 0) leave the loss and its gradient alone. */
static void log_target_pieces(void)
{
    fixture fx;
    make_fixture(&fx, 2, 0.0f);
    float o[8], v[8];
    double dot = 0.0;
    for (int j = 0; j < 8; j++) {
        o[j] = 0.1f * (float)(j - 3);
        v[j] = 0.05f * (float)(j + 1);
        dot += (double)o[j] * v[j];
    }
    double bu = fx.m.w[fx.m.l.user_bias + 1], bi = fx.m.w[fx.m.l.item_bias + 2];
    CU_ASSERT_DOUBLE_EQUAL(seqrec_interaction(&fx.m, 1, 2, o, v), exp(bu + bi) * dot, 1e-12);
    sr_data d;
    memset(&d, 0, sizeof d);
    double cu[2] = {0.1, -0.2}, ci[3] = {0.0, 0.05, 0.3};
    d.cmu = 0.5, d.cu = cu, d.ci = ci;
    CU_ASSERT_DOUBLE_EQUAL(seqrec_base(&d, 1, 2), 0.5 - 0.2 + 0.3, 1e-15);
    int64_t s1[2] = {3, 12}, s2[2] = {-3, 12}, s3[2] = {3, 0};
    CU_ASSERT_DOUBLE_EQUAL(rp_log_gain((double)s1[0], (double)s1[1]), 0.25, 1e-15);
    CU_ASSERT_EQUAL(rp_log_gain((double)s2[0], (double)s2[1]), 0.0);
    CU_ASSERT_EQUAL(rp_log_gain((double)s3[0], (double)s3[1]), 0.0);
    /* weight 0 on a row: the loss does not depend on its target value */
    sr_ws ws;
    sr_grad g;
    CU_ASSERT_FATAL(seqrec_ws_init(&ws, &fx.m, fx.b.nrows) == RP_OK);
    CU_ASSERT_FATAL(seqrec_grad_init(&g, &fx.m, fx.b.nrows) == RP_OK);
    int64_t r0 = 2;
    while (fx.target[r0] < 0) r0++;
    fx.weight[r0] = 0.0f;
    double sse = 0, cnt = 0, cnt2 = 0;
    seqrec_grad_reset(&g, &fx.m);
    double l1 = seqrec_loss_grad(&fx.m, &fx.b, &ws, &g, 1, 0, &sse, &cnt);
    fx.y[r0] += 5.0f;
    seqrec_grad_reset(&g, &fx.m);
    double l2 = seqrec_loss_grad(&fx.m, &fx.b, &ws, &g, 1, 0, &sse, &cnt2);
    CU_ASSERT(l1 == l2 && cnt == cnt2);
    seqrec_grad_clear(&g);
    seqrec_ws_clear(&ws);
    seqrec_model_clear(&fx.m);
}

/* The softmax's exp: within 2 ulp of libm's on (-87, 0], a pure function, and never 0 or
 * subnormal below (a row's largest score maps to exactly 1). */
static void exp_nonpos_accuracy(void)
{
    enum { N = 2000001 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), z[4];
    CU_ASSERT_FATAL(x != NULL && y != NULL);
    for (int k = 0; k < N; k++) x[k] = -87.0f * (float)k / 2000000.0f;
    seqrec_exp_nonpos_n(x, y, N);
    double worst = 0.0;
    for (int k = 0; k < N; k++) {
        double e = exp((double)x[k]), got = (double)y[k];
        double ulp = (double)nextafterf((float)e, INFINITY) - (double)(float)e;
        double err = fabs(got - e) / ulp;
        worst = err > worst ? err : worst;
    }
    CU_ASSERT(worst <= 2.0);
    const float special[4] = {0.0f, -1000.0f, -INFINITY, -1000.0f};
    seqrec_exp_nonpos_n(special, z, 4);
    CU_ASSERT_EQUAL(z[0], 1.0f);
    CU_ASSERT(z[1] > 0.0f && z[1] < 2e-38f);
    CU_ASSERT(z[2] == z[3]);
    free(x);
    free(y);
}

/* Attention of one window and head in double precision, the definition: P, ctx, and for a
 * given d(ctx) the gradients of q, k, v (all [L][dh], contiguous). */
static void attn_ref(const float *q, const float *k, const float *v, const float *dc, int L,
                     int dh, double *P, double *ctx, double *dq, double *dk, double *dv)
{
    double scale = 1.0 / sqrt((double)dh), *dp = malloc((size_t)L * sizeof *dp);
    memset(dk, 0, (size_t)(L * dh) * sizeof *dk);
    memset(dv, 0, (size_t)(L * dh) * sizeof *dv);
    for (int i = 0; i < L; i++) {
        double mx = -INFINITY, z = 0.0, dot = 0.0;
        for (int j = 0; j <= i; j++) {
            double s = 0.0;
            for (int c = 0; c < dh; c++) s += (double)q[i * dh + c] * k[j * dh + c];
            P[i * L + j] = s * scale;
            mx = fmax(mx, s * scale);
        }
        for (int j = 0; j <= i; j++) z += (P[i * L + j] = exp(P[i * L + j] - mx));
        for (int j = 0; j <= i; j++) P[i * L + j] /= z;
        for (int c = 0; c < dh; c++) {
            double s = 0.0;
            for (int j = 0; j <= i; j++) s += P[i * L + j] * v[j * dh + c];
            ctx[i * dh + c] = s;
        }
        for (int j = 0; j <= i; j++) {
            double s = 0.0;
            for (int c = 0; c < dh; c++) s += (double)dc[i * dh + c] * v[j * dh + c];
            dp[j] = s;
            dot += P[i * L + j] * s;
        }
        for (int c = 0; c < dh; c++) dq[i * dh + c] = 0.0;
        for (int j = 0; j <= i; j++) {
            double ds = P[i * L + j] * (dp[j] - dot) * scale;
            for (int c = 0; c < dh; c++) {
                dq[i * dh + c] += ds * k[j * dh + c];
                dk[j * dh + c] += ds * q[i * dh + c];
                dv[j * dh + c] += P[i * L + j] * dc[i * dh + c];
            }
        }
    }
    free(dp);
}

/* max |a - b| / (1 + |b|) over n entries, a float with stride (ld, cols), b contiguous. */
static double rel_err(const float *a, int ld, int rows, int cols, const double *b)
{
    double e = 0.0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            e = fmax(e, fabs((double)a[r * ld + c] - b[r * cols + c]) / (1.0 + fabs(b[r * cols + c])));
    return e;
}

/* The hand-written attention kernels (vector paths for head widths 8, 16, 32 and other
 * multiples of 8, scalar for the rest) against the double-precision definition, for window
 * lengths around the 8-float vector and 4-row block edges; P is 0 past the diagonal. */
static void attention_kernels(void)
{
    static const int dhs[] = {16, 8, 32, 24, 6, 3}, Ls[] = {1, 3, 4, 7, 8, 9, 33, 64, 70};
    for (size_t a = 0; a < sizeof dhs / sizeof *dhs; a++)
        for (size_t b = 0; b < sizeof Ls / sizeof *Ls; b++) {
            int dh = dhs[a], L = Ls[b], ld = 3 * dh + 5, ldp = (int)SR_ATTN_LDP(L) + 8;
            float *qkv = malloc((size_t)(L * ld) * sizeof *qkv), *dc = malloc((size_t)(L * dh) * sizeof *dc);
            float *P = malloc((size_t)(L * ldp) * sizeof *P), *ctx = malloc((size_t)(L * dh) * sizeof *ctx);
            float *g = malloc((size_t)(L * ld) * sizeof *g);
            float *sc = malloc((size_t)SR_ATTN_SCRATCH(dh, L) * sizeof *sc);
            float *q = malloc((size_t)(3 * L * dh) * sizeof *q), *k = q + L * dh, *v = k + L * dh;
            double *ref = malloc((size_t)(L * L + 4 * L * dh) * sizeof *ref);
            double *rc = ref + L * L, *rq = rc + L * dh, *rk = rq + L * dh, *rv = rk + L * dh;
            for (int r = 0; r < L; r++)
                for (int c = 0; c < ld; c++) {
                    float x = (float)(4.0 * rp_rng_uniform(7, (uint64_t)(a * 100 + b), (uint64_t)(r * ld + c)) - 2.0);
                    qkv[r * ld + c] = x;
                    if (c < 3 * dh) q[(c / dh) * L * dh + r * dh + c % dh] = x;
                }
            for (int r = 0; r < L * dh; r++)
                dc[r] = (float)(rp_rng_uniform(8, (uint64_t)(a * 100 + b), (uint64_t)r) - 0.5);
            for (int r = 0; r < L * ldp; r++) P[r] = NAN;
            attn_ref(q, k, v, dc, L, dh, ref, rc, rq, rk, rv);
            seqrec_attn_forward(qkv, qkv + dh, qkv + 2 * dh, ld, L, dh, P, ldp, ctx, dh, sc);
            seqrec_attn_backward(qkv, qkv + dh, qkv + 2 * dh, ld, L, dh, P, ldp, dc, dh, g,
                                 g + dh, g + 2 * dh, sc);
            double ep = 0.0;
            int zero_tail = 1;
            for (int i = 0; i < L; i++) {
                for (int j = 0; j <= i; j++) ep = fmax(ep, fabs((double)P[i * ldp + j] - ref[i * L + j]));
                for (int j = i + 1; j < (int)SR_ATTN_LDP(L); j++) zero_tail &= P[i * ldp + j] == 0.0f;
            }
            CU_ASSERT(ep < 1e-6);
            CU_ASSERT(zero_tail);
            CU_ASSERT(rel_err(ctx, dh, L, dh, rc) < 1e-5);
            CU_ASSERT(rel_err(g, ld, L, dh, rq) < 1e-5);
            CU_ASSERT(rel_err(g + dh, ld, L, dh, rk) < 1e-5);
            CU_ASSERT(rel_err(g + 2 * dh, ld, L, dh, rv) < 1e-5);
            free(qkv), free(dc), free(P), free(ctx), free(g), free(sc), free(q), free(ref);
        }
}

/* seqrec_fix_add: every entry (any position, so vector lanes and the scalar tail) gets
 * llrint(x 2^40) clamped to +-2^51, NaN 0; the sums are exact integers. */
static void fixed_point_add(void)
{
    enum { N = 4099 };
    static float x[N];
    static int64_t acc[N], want[N];
    for (int k = 0; k < N; k++) {
        double u = rp_rng_uniform(3, 1, (uint64_t)k), e = ldexp(1.0, (int)(k % 70) - 50);
        x[k] = (float)((2.0 * u - 1.0) * e);
        acc[k] = want[k] = (int64_t)k * 1000003 - 77;
    }
    x[5] = NAN, x[6] = INFINITY, x[7] = -INFINITY, x[8] = 3000.0f, x[9] = -0.0f;
    x[N - 1] = 1.5f * 0x1p-40f; /* a tie: to even (2 units) */
    for (int k = 0; k < N; k++) {
        double v = (double)x[k] * 0x1p40;
        v = isnan(v) ? 0.0 : fmax(-0x1p51, fmin(0x1p51, v));
        want[k] += llrint(v);
    }
    seqrec_fix_add(acc, x, N);
    int same = 1;
    for (int k = 0; k < N; k++) same &= acc[k] == want[k];
    CU_ASSERT(same);
    CU_ASSERT_EQUAL(acc[N - 1] - ((int64_t)(N - 1) * 1000003 - 77), 2);
    CU_ASSERT_EQUAL(acc[8] - (8 * 1000003 - 77), (int64_t)1 << 51);
}

int test_seqrec_register(void)
{
    RP_ADD_SUITE("seqrec", RP_T(gradcheck_one_head_dropout), RP_T(gradcheck_two_heads_no_dropout),
                 RP_T(gradcheck_four_heads_dropout), RP_T(causal_mask), RP_T(dropout_masks),
                 RP_T(head_dot_form), RP_T(log_target_pieces), RP_T(exp_nonpos_accuracy), RP_T(attention_kernels), RP_T(fixed_point_add));
    return 0;
}
