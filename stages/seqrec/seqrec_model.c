/* seqrec_model.c - forward and backward of rp-seqrec's causal transformer (pre-LayerNorm blocks
 * of multi-head self-attention and a ReLU feed-forward layer) over a batch of windows. The rows
 * of all windows are stacked [nrows, d] row-major, so every dense layer is one GEMM over the
 * batch; attention is hand-written per window and head (seqrec_attn.c). Float32, sgemm through
 * rp_la. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_err.h"
#include "rp_la.h"
#include "rp_rng.h"
#include "seqrec_model.h"

/* row-major GEMM: C = alpha op(A) op(B) + beta C, nothing for an empty C. */
static int gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m == 0 || n == 0) return RP_OK;
    return rp_la_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

sr_boff seqrec_block_offsets(int d, int f)
{
    sr_boff o;
    int64_t k = 0;
    o.ln1_g = k; k += d;
    o.ln1_b = k; k += d;
    o.wqkv = k; k += (int64_t)d * 3 * d;
    o.bqkv = k; k += 3 * d;
    o.wo = k; k += (int64_t)d * d;
    o.bo = k; k += d;
    o.ln2_g = k; k += d;
    o.ln2_b = k; k += d;
    o.w1 = k; k += (int64_t)d * f;
    o.b1 = k; k += f;
    o.w2 = k; k += (int64_t)f * d;
    o.b2 = k; k += d;
    o.size = k;
    return o;
}

/* Layout: sparse tables first (item, author, tag, user vectors, user bias, item bias), then
 * the dense part every step touches (bucket and position tables, blocks, final LN). */
static void make_layout(const sr_config *c, sr_layout *l, sr_boff *bo)
{
    int64_t k = 0, d = c->d;
    *bo = seqrec_block_offsets(c->d, c->ffn);
    l->item = k; k += c->n_items * d;
    l->author = k; k += c->n_authors * d;
    l->tag = k; k += c->tag_rows * d;
    l->user = k; k += c->user_vec ? c->n_users * d : 0;
    l->user_bias = k; k += c->n_users;
    l->item_bias = k; k += c->n_items;
    l->dense0 = k;
    l->bucket = k; k += (int64_t)c->buckets * d;
    l->pos = k; k += (int64_t)c->T * d;
    l->block_size = bo->size;
    for (int b = 0; b < c->blocks; b++) {
        l->block[b] = k;
        k += bo->size;
    }
    l->lnf_g = k; k += d;
    l->lnf_b = k; k += d;
    l->n = k;
}

static void init_uniform(float *w, int64_t off, int64_t n, double a, uint64_t seed)
{
    uint64_t s = rp_rng_stream("seqrec.init");
    for (int64_t k = 0; k < n; k++)
        w[off + k] = (float)(a * (2.0 * rp_rng_uniform(seed, s, (uint64_t)(off + k)) - 1.0));
}

int seqrec_model_init(sr_model *m, const sr_config *c, uint64_t seed)
{
    int rc = RP_OK;
    memset(m, 0, sizeof *m);
    RP_REQUIRE(c->d >= 1 && c->d <= 1024 && c->heads >= 1 && c->heads <= SR_MAX_HEADS &&
               c->d % c->heads == 0 && c->blocks >= 0 && c->blocks <= SR_MAX_BLOCKS &&
               c->ffn >= 1 && c->T >= 1 && c->buckets >= 1 && c->buckets <= 256 &&
               c->dropout >= 0.0f && c->dropout < 1.0f && c->tag_len <= 64 &&
               c->n_users >= 1 && c->n_items >= 1 && c->n_authors >= 0 && c->tag_rows >= 0,
               RP_ERR_USAGE, "seqrec: bad architecture (d <= 1024, d %% heads == 0, blocks <= "
               "%d, dropout < 1)", SR_MAX_BLOCKS);
    m->c = *c;
    make_layout(c, &m->l, &m->bo);
    RP_ALLOC(m->w = calloc((size_t)m->l.n, sizeof *m->w));
    const sr_layout *l = &m->l;
    int64_t d = c->d, f = c->ffn;
    init_uniform(m->w, l->item, l->user_bias - l->item, 0.05, seed);
    init_uniform(m->w, l->bucket, (c->buckets + (int64_t)c->T) * d, 0.05, seed);
    if (c->tag_rows > 0) memset(m->w + l->tag, 0, (size_t)d * sizeof(float)); /* pad row */
    for (int b = 0; b < c->blocks; b++) {
        int64_t o = l->block[b];
        const sr_boff *q = &m->bo;
        for (int64_t j = 0; j < d; j++) m->w[o + q->ln1_g + j] = m->w[o + q->ln2_g + j] = 1.0f;
        init_uniform(m->w, o + q->wqkv, d * 3 * d, sqrt(6.0 / (double)(d + d)), seed);
        init_uniform(m->w, o + q->wo, d * d, sqrt(6.0 / (double)(d + d)), seed);
        init_uniform(m->w, o + q->w1, d * f, sqrt(6.0 / (double)(d + f)), seed);
        init_uniform(m->w, o + q->w2, f * d, sqrt(6.0 / (double)(d + f)), seed);
    }
    /* The final LN gain stays 0 (calloc): the first states are the user vectors alone (with
     * --init, rp-als's: the first predictions are ALS's), not plus a random dot product of sd
     * ~0.3 that training spends its first epochs undoing. */
cleanup:
    return rc;
}

void seqrec_model_clear(sr_model *m)
{
    free(m->w);
    memset(m, 0, sizeof *m);
}

uint8_t seqrec_bucket(float value, int buckets)
{
    int b = (int)(value * (float)buckets);
    b = b < 0 ? 0 : b >= buckets ? buckets - 1 : b;
    return (uint8_t)b;
}

float seqrec_dropout_scale(uint64_t seed, uint64_t key, int site, int t, int j, float p)
{
    /* one 64-bit hash gives the 16-bit uniforms of four consecutive elements */
    uint64_t idx = (((uint64_t)site << 20) + (uint64_t)t) << 20 | (uint64_t)(j >> 2);
    uint64_t bits = rp_rng_hash(seed, key, idx) >> (16 * (j & 3)) & 0xFFFFu;
    return ((float)bits + 0.5f) * (1.0f / 65536.0f) < p ? 0.0f : 1.0f / (1.0f - p);
}

/* Tags of item i that are not padding: count, and the table rows in rows[]. */
static int item_tags(const sr_model *m, int32_t i, int32_t *rows)
{
    int n = 0;
    if (m->tags == NULL || m->c.tag_rows == 0) return 0;
    for (int q = 0; q < m->c.tag_len; q++) {
        int32_t t = m->tags[(int64_t)i * m->c.tag_len + q];
        if (t > 0) rows[n++] = t;
    }
    return n;
}

void seqrec_item_vector(const sr_model *m, int32_t i, float *v)
{
    int d = m->c.d, nt;
    int32_t rows[64];
    const float *e = m->w + m->l.item + (int64_t)i * d;
    for (int j = 0; j < d; j++) v[j] = e[j];
    if (m->author != NULL && m->c.n_authors > 0) {
        const float *a = m->w + m->l.author + (int64_t)m->author[i] * d;
        for (int j = 0; j < d; j++) v[j] += a[j];
    }
    nt = item_tags(m, i, rows);
    for (int q = 0; q < nt; q++) {
        const float *t = m->w + m->l.tag + (int64_t)rows[q] * d;
        float s = 1.0f / (float)nt;
        for (int j = 0; j < d; j++) v[j] += s * t[j];
    }
}

/* Record a touched sparse span [off, off + len) of the gradient (once per reset). */
static void touch(sr_grad *g, int64_t off, int32_t len)
{
    if (seqrec_bit_set(g->mark, off)) return;
    g->span_off[g->nspans] = off;
    g->span_len[g->nspans++] = len;
}

/* Add dv (the gradient of an item content vector) to the tables it came from. */
static void item_vector_grad(const sr_model *m, int32_t i, const float *dv, sr_grad *g)
{
    int d = m->c.d, nt;
    int32_t rows[64];
    int64_t o = m->l.item + (int64_t)i * d;
    if (!m->frozen_static) {
        touch(g, o, d);
        for (int j = 0; j < d; j++) g->g[o + j] += dv[j];
    }
    if (m->author != NULL && m->c.n_authors > 0) {
        o = m->l.author + (int64_t)m->author[i] * d;
        touch(g, o, d);
        for (int j = 0; j < d; j++) g->g[o + j] += dv[j];
    }
    nt = item_tags(m, i, rows);
    for (int q = 0; q < nt; q++) {
        float s = 1.0f / (float)nt;
        o = m->l.tag + (int64_t)rows[q] * d;
        touch(g, o, d);
        for (int j = 0; j < d; j++) g->g[o + j] += s * dv[j];
    }
}

/* LayerNorm of n rows: xhat and (mean, rstd) saved, y = xhat * gain + shift. */
static void layer_norm(const float *x, int64_t n, int d, const float *gain, const float *shift,
                       float *xhat, float *st, float *y)
{
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * d;
        float mean = 0.0f, var = 0.0f;
#pragma omp simd reduction(+ : mean)
        for (int j = 0; j < d; j++) mean += xr[j];
        mean /= (float)d;
#pragma omp simd reduction(+ : var)
        for (int j = 0; j < d; j++) var += (xr[j] - mean) * (xr[j] - mean);
        float rstd = 1.0f / sqrtf(var / (float)d + SR_LN_EPS);
        st[2 * r] = mean;
        st[2 * r + 1] = rstd;
        for (int j = 0; j < d; j++) {
            float h = (xr[j] - mean) * rstd;
            xhat[r * d + j] = h;
            y[r * d + j] = h * gain[j] + shift[j];
        }
    }
}

/* LayerNorm backward: dx (+)= d(xhat)/dx^T (dy * gain); gain/shift gradients into dg, db. */
static void layer_norm_back(const float *dy, int64_t n, int d, const float *gain,
                            const float *xhat, const float *st, float *dg, float *db, float *dx,
                            int accumulate)
{
    for (int64_t r = 0; r < n; r++) {
        const float *dyr = dy + r * d, *h = xhat + r * d;
        float s1 = 0.0f, s2 = 0.0f, rstd = st[2 * r + 1];
#pragma omp simd reduction(+ : s1, s2)
        for (int j = 0; j < d; j++) {
            float dh = dyr[j] * gain[j];
            s1 += dh;
            s2 += dh * h[j];
            dg[j] += dyr[j] * h[j];
            db[j] += dyr[j];
        }
        s1 /= (float)d;
        s2 /= (float)d;
        for (int j = 0; j < d; j++) {
            float v = rstd * (dyr[j] * gain[j] - s1 - h[j] * s2);
            dx[r * d + j] = accumulate ? dx[r * d + j] + v : v;
        }
    }
}

static void add_bias(float *y, int64_t n, int w, const float *b)
{
    for (int64_t r = 0; r < n; r++)
        for (int j = 0; j < w; j++) y[r * w + j] += b[j];
}

static void col_sums(const float *dy, int64_t n, int w, float *db)
{
    for (int64_t r = 0; r < n; r++)
        for (int j = 0; j < w; j++) db[j] += dy[r * w + j];
}

/* Dropout scales of one site for every row (as seqrec_dropout_scale, four per hash). */
static void make_mask(const sr_model *m, const sr_batch *b, uint64_t seed, int site, float *mask)
{
    int d = m->c.d;
    float p = m->c.dropout, keep = 1.0f / (1.0f - p);
    for (int w = 0; w < b->nwin; w++)
        for (int t = 0; t < b->len[w]; t++) {
            float *mr = mask + (b->start[w] + t) * d;
            for (int j0 = 0; j0 < d; j0 += 4) {
                uint64_t idx = (((uint64_t)site << 20) + (uint64_t)t) << 20 | (uint64_t)(j0 >> 2);
                uint64_t h = rp_rng_hash(seed, b->drop_key[w], idx);
                for (int j = j0; j < j0 + 4 && j < d; j++) {
                    uint64_t bits = h >> (16 * (j & 3)) & 0xFFFFu;
                    mr[j] = ((float)bits + 0.5f) * (1.0f / 65536.0f) < p ? 0.0f : keep;
                }
            }
        }
}

static void apply_mask(float *x, const float *mask, int64_t n)
{
    for (int64_t k = 0; k < n; k++) x[k] *= mask[k];
}

/* Causal softmax attention of every window and head (seqrec_attn.c). */
static void attention(const sr_model *m, const sr_batch *b, const float *qkv, float *p,
                      float *ctx, int64_t cap, float *scratch)
{
    int d = m->c.d, H = m->c.heads, dh = d / H, ld = 3 * d, ldp = (int)SR_ATTN_LDP(m->c.T);
    for (int w = 0; w < b->nwin; w++) {
        int64_t s = b->start[w];
        for (int h = 0; h < H; h++) {
            const float *q = qkv + s * ld + h * dh;
            seqrec_attn_forward(q, q + d, q + 2 * d, ld, b->len[w], dh,
                                p + ((int64_t)h * cap + s) * ldp, ldp, ctx + s * d + h * dh, d,
                                scratch);
        }
    }
}

/* Backward of attention(): dctx -> dqkv (overwritten). */
static void attention_back(const sr_model *m, const sr_batch *b, const float *qkv,
                           const float *p, const float *dctx, float *dqkv, float *scratch,
                           int64_t cap)
{
    int d = m->c.d, H = m->c.heads, dh = d / H, ld = 3 * d, ldp = (int)SR_ATTN_LDP(m->c.T);
    for (int w = 0; w < b->nwin; w++) {
        int64_t s = b->start[w];
        for (int h = 0; h < H; h++) {
            const float *q = qkv + s * ld + h * dh;
            float *dq = dqkv + s * ld + h * dh;
            seqrec_attn_backward(q, q + d, q + 2 * d, ld, b->len[w], dh,
                                 p + ((int64_t)h * cap + s) * ldp, ldp, dctx + s * d + h * dh, d,
                                 dq, dq + d, dq + 2 * d, scratch);
        }
    }
}

/* Does row r's target come back as the next row's input (same window)? Then its content
 * vector is the one the embedding computed, and their gradients go to the tables once. */
static int target_is_next(const sr_batch *b, int w, int t)
{
    int64_t r = b->start[w] + t;
    return t + 1 < b->len[w] && b->target[r] == b->item[r + 1];
}

/* Input embeddings: content vector of the viewed item (kept in cv) + position + observed
 * bucket. */
static void embed(const sr_model *m, const sr_batch *b, float *cv, float *x)
{
    int d = m->c.d;
    for (int w = 0; w < b->nwin; w++)
        for (int t = 0; t < b->len[w]; t++) {
            int64_t r = b->start[w] + t;
            float *xr = x + r * d, *cr = cv + r * d;
            const float *pe = m->w + m->l.pos + (int64_t)t * d;
            const float *be = m->w + m->l.bucket + (int64_t)b->bucket[r] * d;
            seqrec_item_vector(m, b->item[r], cr);
            for (int j = 0; j < d; j++) xr[j] = cr[j] + pe[j] + be[j];
        }
}

static int block_forward(const sr_model *m, const sr_batch *b, sr_ws *ws, int l)
{
    int rc = RP_OK, d = m->c.d, f = m->c.ffn;
    int64_t n = b->nrows;
    const float *W = m->w + m->l.block[l];
    const sr_boff *o = &m->bo;
    layer_norm(ws->x[l], n, d, W + o->ln1_g, W + o->ln1_b, ws->ln1[l], ws->st1[l], ws->a1[l]);
    RP_CALL(gemm(0, 0, (int)n, 3 * d, d, 1.0f, ws->a1[l], d, W + o->wqkv, 3 * d, 0.0f,
                 ws->qkv[l], 3 * d));
    add_bias(ws->qkv[l], n, 3 * d, W + o->bqkv);
    attention(m, b, ws->qkv[l], ws->p[l], ws->ctx[l], ws->cap, ws->gp);
    float *x1 = ws->x1[l];
    RP_CALL(gemm(0, 0, (int)n, d, d, 1.0f, ws->ctx[l], d, W + o->wo, d, 0.0f, x1, d));
    add_bias(x1, n, d, W + o->bo);
    if (ws->drop_on) apply_mask(x1, ws->m_att[l], n * d);
    for (int64_t k = 0; k < n * d; k++) x1[k] += ws->x[l][k];
    layer_norm(x1, n, d, W + o->ln2_g, W + o->ln2_b, ws->ln2[l], ws->st2[l], ws->a2[l]);
    RP_CALL(gemm(0, 0, (int)n, f, d, 1.0f, ws->a2[l], d, W + o->w1, f, 0.0f, ws->h1[l], f));
    add_bias(ws->h1[l], n, f, W + o->b1);
    for (int64_t k = 0; k < n * f; k++) ws->h1[l][k] = ws->h1[l][k] > 0.0f ? ws->h1[l][k] : 0.0f;
    float *y = ws->x[l + 1];
    RP_CALL(gemm(0, 0, (int)n, d, f, 1.0f, ws->h1[l], f, W + o->w2, d, 0.0f, y, d));
    add_bias(y, n, d, W + o->b2);
    if (ws->drop_on) apply_mask(y, ws->m_ffn[l], n * d);
    for (int64_t k = 0; k < n * d; k++) y[k] += x1[k];
cleanup:
    return rc;
}

/* o_t += e_u: the user's vector carries the taste its whole training history shows, which a
 * window of recent views alone recovers poorly (the transformer then models what changes). */
static void add_user_vectors(const sr_model *m, const sr_batch *b, float *o)
{
    int d = m->c.d;
    for (int w = 0; w < b->nwin; w++) {
        const float *e = m->w + m->l.user + (int64_t)b->user[w] * d;
        for (int t = 0; t < b->len[w]; t++) {
            float *orow = o + (b->start[w] + t) * d;
            for (int q = 0; q < d; q++) orow[q] += e[q];
        }
    }
}

/* d(o) -> d(e_u): the sum over the window's rows. */
static void user_vector_grad(const sr_model *m, const sr_batch *b, const float *dout, sr_grad *g)
{
    int d = m->c.d;
    if (m->frozen_static) return;
    for (int w = 0; w < b->nwin; w++) {
        int64_t off = m->l.user + (int64_t)b->user[w] * d;
        touch(g, off, d);
        for (int t = 0; t < b->len[w]; t++) {
            const float *dr = dout + (b->start[w] + t) * d;
            for (int q = 0; q < d; q++) g->g[off + q] += dr[q];
        }
    }
}

int seqrec_forward(const sr_model *m, const sr_batch *b, sr_ws *ws, int train, uint64_t seed)
{
    int rc = RP_OK, d = m->c.d, B = m->c.blocks;
    int64_t n = b->nrows;
    ws->drop_on = train && m->c.dropout > 0.0f;
    if (ws->drop_on) {
        make_mask(m, b, seed, 0, ws->m_emb);
        for (int l = 0; l < B; l++) {
            make_mask(m, b, seed, 1 + 2 * l, ws->m_att[l]);
            make_mask(m, b, seed, 2 + 2 * l, ws->m_ffn[l]);
        }
    }
    embed(m, b, ws->cv, ws->x[0]);
    if (ws->drop_on) apply_mask(ws->x[0], ws->m_emb, n * d);
    for (int l = 0; l < B; l++) RP_CALL(block_forward(m, b, ws, l));
    layer_norm(ws->x[B], n, d, m->w + m->l.lnf_g, m->w + m->l.lnf_b, ws->lnf, ws->stf, ws->o);
    if (m->c.user_vec) add_user_vectors(m, b, ws->o);
    for (int w = 0; w < b->nwin; w++) {
        double ub = m->w[m->l.user_bias + b->user[w]];
        for (int t = 0; t < b->len[w]; t++) {
            int64_t r = b->start[w] + t;
            int32_t j = b->target[r];
            if (j < 0) {
                ws->pred[r] = NAN;
                continue;
            }
            float *tv = ws->tv + r * d;
            if (target_is_next(b, w, t))
                memcpy(tv, ws->cv + (r + 1) * d, (size_t)d * sizeof(float));
            else
                seqrec_item_vector(m, j, tv);
            double dot = 0.0;
#pragma omp simd reduction(+ : dot)
            for (int q = 0; q < d; q++) dot += (double)ws->o[r * d + q] * tv[q];
            ws->pred[r] = dot + ub + m->w[m->l.item_bias + j] + m->mu;
        }
    }
cleanup:
    return rc;
}

/* df = dx masked by a dropout site's scales (a copy), or dx itself without dropout. */
static const float *masked(const sr_ws *ws, const float *dx, const float *mask, float *df,
                           int64_t n)
{
    if (!ws->drop_on) return dx;
    for (int64_t k = 0; k < n; k++) df[k] = dx[k] * mask[k];
    return df;
}

/* Backward of one block: dx (the gradient of its output) becomes that of its input, in place
 * (each residual adds its branch's gradient to it). */
static int block_backward(const sr_model *m, const sr_batch *b, sr_ws *ws, int l, float *dx,
                          float *G)
{
    int rc = RP_OK, d = m->c.d, f = m->c.ffn;
    int64_t n = b->nrows;
    const float *W = m->w + m->l.block[l];
    float *GW = G + m->l.block[l];
    const sr_boff *o = &m->bo;
    float *dh = ws->gh, *da = ws->g1;
    /* x[l+1] = x1 + mask * (relu(a2 W1 + b1) W2 + b2) */
    const float *df = masked(ws, dx, ws->m_ffn[l], ws->g0, n * d);
    RP_CALL(gemm(1, 0, f, d, (int)n, 1.0f, ws->h1[l], f, df, d, 1.0f, GW + o->w2, d));
    col_sums(df, n, d, GW + o->b2);
    RP_CALL(gemm(0, 1, (int)n, f, d, 1.0f, df, d, W + o->w2, d, 0.0f, dh, f));
    for (int64_t k = 0; k < n * f; k++) dh[k] = ws->h1[l][k] > 0.0f ? dh[k] : 0.0f;
    RP_CALL(gemm(1, 0, d, f, (int)n, 1.0f, ws->a2[l], d, dh, f, 1.0f, GW + o->w1, f));
    col_sums(dh, n, f, GW + o->b1);
    RP_CALL(gemm(0, 1, (int)n, d, f, 1.0f, dh, f, W + o->w1, f, 0.0f, da, d));
    layer_norm_back(da, n, d, W + o->ln2_g, ws->ln2[l], ws->st2[l], GW + o->ln2_g, GW + o->ln2_b,
                    dx, 1); /* dx is now d(x1) */
    /* x1 = x + mask * (ctx Wo + bo) */
    df = masked(ws, dx, ws->m_att[l], ws->g0, n * d);
    RP_CALL(gemm(1, 0, d, d, (int)n, 1.0f, ws->ctx[l], d, df, d, 1.0f, GW + o->wo, d));
    col_sums(df, n, d, GW + o->bo);
    RP_CALL(gemm(0, 1, (int)n, d, d, 1.0f, df, d, W + o->wo, d, 0.0f, da, d)); /* dctx */
    attention_back(m, b, ws->qkv[l], ws->p[l], da, ws->gqkv, ws->gp, ws->cap);
    RP_CALL(gemm(1, 0, d, 3 * d, (int)n, 1.0f, ws->a1[l], d, ws->gqkv, 3 * d, 1.0f,
                 GW + o->wqkv, 3 * d));
    col_sums(ws->gqkv, n, 3 * d, GW + o->bqkv);
    RP_CALL(gemm(0, 1, (int)n, d, 3 * d, 1.0f, ws->gqkv, 3 * d, W + o->wqkv, 3 * d, 0.0f, da, d));
    layer_norm_back(da, n, d, W + o->ln1_g, ws->ln1[l], ws->st1[l], GW + o->ln1_g, GW + o->ln1_b,
                    dx, 1);
cleanup:
    return rc;
}

/* Head backward: dpred -> d(user bias), d(item bias), d(o) into dout, and d(target vectors):
 * into the tables, or, for a target that is the next row's input, into dtv[r] for
 * embed_backward to add to that row's gradient. */
static void head_backward(const sr_model *m, const sr_batch *b, sr_ws *ws, const double *dp,
                          float *dout, float *dtv, sr_grad *g)
{
    int d = m->c.d;
    for (int w = 0; w < b->nwin; w++)
        for (int t = 0; t < b->len[w]; t++) {
            int64_t r = b->start[w] + t;
            float *dor = dout + r * d, *dv = dtv + r * d;
            int next = target_is_next(b, w, t);
            if (dp[r] == 0.0) {
                memset(dor, 0, (size_t)d * sizeof(float));
                if (next) memset(dv, 0, (size_t)d * sizeof(float));
                continue;
            }
            int32_t j = b->target[r];
            float gpr = (float)dp[r];
            int64_t ub = m->l.user_bias + b->user[w], ib = m->l.item_bias + j;
            if (!m->frozen_static) {
                touch(g, ub, 1);
                touch(g, ib, 1);
                g->g[ub] += gpr;
                g->g[ib] += gpr;
            }
            for (int q = 0; q < d; q++) {
                dor[q] = gpr * ws->tv[r * d + q];
                dv[q] = gpr * ws->o[r * d + q];
            }
            if (!next) item_vector_grad(m, j, dv, g);
        }
}

/* Embedding backward: d(x0) (plus the head's d(target vector) of the row before, when that
 * target is this row's input) -> item content tables, position and bucket rows. */
static void embed_backward(const sr_model *m, const sr_batch *b, const float *dx,
                           const float *dtv, sr_grad *g)
{
    int d = m->c.d;
    float sum[1024];
    for (int w = 0; w < b->nwin; w++)
        for (int t = 0; t < b->len[w]; t++) {
            int64_t r = b->start[w] + t;
            const float *dr = dx + r * d;
            float *gp = g->g + m->l.pos + (int64_t)t * d;
            float *gb = g->g + m->l.bucket + (int64_t)b->bucket[r] * d;
            for (int j = 0; j < d; j++) {
                gp[j] += dr[j];
                gb[j] += dr[j];
            }
            if (t > 0 && target_is_next(b, w, t - 1)) {
                const float *dv = dtv + (r - 1) * d;
                for (int j = 0; j < d; j++) sum[j] = dr[j] + dv[j];
                dr = sum;
            }
            item_vector_grad(m, b->item[r], dr, g);
        }
}

double seqrec_loss_grad(const sr_model *m, const sr_batch *b, sr_ws *ws, sr_grad *g,
                        uint64_t seed, int train, double *sse, double *cnt)
{
    int d = m->c.d, B = m->c.blocks;
    int64_t n = b->nrows;
    double loss = 0.0, se = 0.0, c = 0.0;
    if (seqrec_forward(m, b, ws, train, seed) != RP_OK) return NAN;
    double *dp = ws->pred + ws->cap; /* second half of pred: d(loss)/d(pred) per row */
    for (int64_t r = 0; r < n; r++) {
        dp[r] = 0.0;
        if (b->target[r] < 0 || b->weight[r] == 0.0f) continue;
        double e = ws->pred[r] - b->y[r], pc = ws->pred[r];
        if (!m->log_target) pc = pc < 0.0 ? 0.0 : pc > 1.0 ? 1.0 : pc;
        loss += b->weight[r] * e * e;
        dp[r] = 2.0 * b->weight[r] * e;
        se += (pc - b->y[r]) * (pc - b->y[r]);
        c += 1.0;
    }
    /* target vectors are not needed after the head, input content vectors after the forward */
    float *dout = ws->g0, *dx = ws->tv, *dtv = ws->cv;
    head_backward(m, b, ws, dp, dout, dtv, g);
    if (m->c.user_vec) user_vector_grad(m, b, dout, g);
    layer_norm_back(dout, n, d, m->w + m->l.lnf_g, ws->lnf, ws->stf, g->g + m->l.lnf_g,
                    g->g + m->l.lnf_b, dx, 0);
    for (int l = B - 1; l >= 0; l--)
        if (block_backward(m, b, ws, l, dx, g->g) != RP_OK) return NAN;
    if (ws->drop_on) apply_mask(dx, ws->m_emb, n * d);
    embed_backward(m, b, dx, dtv, g);
    *sse = se;
    *cnt = c;
    return loss;
}

int seqrec_ws_init(sr_ws *ws, const sr_model *m, int64_t cap)
{
    int rc = RP_OK;
    int d = m->c.d, f = m->c.ffn, T = m->c.T, H = m->c.heads, B = m->c.blocks;
    size_t nd = (size_t)cap * d, nf = (size_t)cap * f, sz = sizeof(float);
    memset(ws, 0, sizeof *ws);
    ws->cap = cap;
    ws->T = T;
    ws->d = d;
    ws->f = f;
    ws->H = H;
    for (int l = 0; l <= B; l++) RP_ALLOC(ws->x[l] = malloc(nd * sz));
    for (int l = 0; l < B; l++) {
        RP_ALLOC(ws->ln1[l] = malloc(nd * sz));
        RP_ALLOC(ws->ln2[l] = malloc(nd * sz));
        RP_ALLOC(ws->a1[l] = malloc(nd * sz));
        RP_ALLOC(ws->a2[l] = malloc(nd * sz));
        RP_ALLOC(ws->st1[l] = malloc((size_t)cap * 2 * sz));
        RP_ALLOC(ws->st2[l] = malloc((size_t)cap * 2 * sz));
        RP_ALLOC(ws->qkv[l] = malloc(3 * nd * sz));
        RP_ALLOC(ws->ctx[l] = malloc(nd * sz));
        RP_ALLOC(ws->x1[l] = malloc(nd * sz));
        RP_ALLOC(ws->h1[l] = malloc(nf * sz));
        RP_ALLOC(ws->p[l] = malloc((size_t)(H * cap * SR_ATTN_LDP(T)) * sz));
        RP_ALLOC(ws->m_att[l] = malloc(nd * sz));
        RP_ALLOC(ws->m_ffn[l] = malloc(nd * sz));
    }
    RP_ALLOC(ws->m_emb = malloc(nd * sz));
    RP_ALLOC(ws->lnf = malloc(nd * sz));
    RP_ALLOC(ws->stf = malloc((size_t)cap * 2 * sz));
    RP_ALLOC(ws->o = malloc(nd * sz));
    RP_ALLOC(ws->tv = malloc(nd * sz));
    RP_ALLOC(ws->cv = malloc(nd * sz));
    RP_ALLOC(ws->pred = malloc((size_t)cap * 2 * sizeof(double)));
    RP_ALLOC(ws->g0 = malloc(nd * sz));
    RP_ALLOC(ws->g1 = malloc(nd * sz));
    RP_ALLOC(ws->gqkv = malloc(3 * nd * sz));
    RP_ALLOC(ws->gh = malloc(nf * sz));
    RP_ALLOC(ws->gp = malloc((size_t)SR_ATTN_SCRATCH(d, T) * sz)); /* dh <= d */
cleanup:
    return rc;
}

void seqrec_ws_clear(sr_ws *ws)
{
    for (int l = 0; l <= SR_MAX_BLOCKS; l++) free(ws->x[l]);
    for (int l = 0; l < SR_MAX_BLOCKS; l++) {
        free(ws->ln1[l]);
        free(ws->ln2[l]);
        free(ws->a1[l]);
        free(ws->a2[l]);
        free(ws->st1[l]);
        free(ws->st2[l]);
        free(ws->qkv[l]);
        free(ws->ctx[l]);
        free(ws->x1[l]);
        free(ws->h1[l]);
        free(ws->p[l]);
        free(ws->m_att[l]);
        free(ws->m_ffn[l]);
    }
    free(ws->m_emb);
    free(ws->lnf);
    free(ws->stf);
    free(ws->o);
    free(ws->tv);
    free(ws->cv);
    free(ws->pred);
    free(ws->g0);
    free(ws->g1);
    free(ws->gqkv);
    free(ws->gh);
    free(ws->gp);
    memset(ws, 0, sizeof *ws);
}

int seqrec_grad_init(sr_grad *g, const sr_model *m, int64_t cap_rows)
{
    int rc = RP_OK;
    /* biases, input and target content, and at most one user vector per row */
    int64_t per_row = 3 + 2 * (2 + m->c.tag_len);
    memset(g, 0, sizeof *g);
    g->cap_spans = cap_rows * per_row + 16;
    RP_ALLOC(g->g = calloc((size_t)m->l.n, sizeof *g->g));
    RP_ALLOC(g->mark = calloc((size_t)SR_BITS_WORDS(m->l.n), sizeof *g->mark));
    RP_ALLOC(g->span_off = malloc((size_t)g->cap_spans * sizeof *g->span_off));
    RP_ALLOC(g->span_len = malloc((size_t)g->cap_spans * sizeof *g->span_len));
cleanup:
    return rc;
}

void seqrec_grad_clear(sr_grad *g)
{
    free(g->g);
    free(g->mark);
    free(g->span_off);
    free(g->span_len);
    memset(g, 0, sizeof *g);
}

void seqrec_grad_reset(sr_grad *g, const sr_model *m)
{
    for (int64_t s = 0; s < g->nspans; s++) {
        memset(g->g + g->span_off[s], 0, (size_t)g->span_len[s] * sizeof(float));
        seqrec_bit_clear(g->mark, g->span_off[s]);
    }
    g->nspans = 0;
    memset(g->g + m->l.dense0, 0, (size_t)(m->l.n - m->l.dense0) * sizeof(float));
}
