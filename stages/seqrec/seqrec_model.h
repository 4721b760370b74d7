/* seqrec_model.h - the SASRec-style causal transformer of rp-seqrec: parameter layout,
 * forward and backward over a batch of windows (each window = consecutive views of one user),
 * float32 with cblas GEMMs. Used by rp-seqrec, its tests and its benchmark. */
#ifndef SEQREC_MODEL_H
#define SEQREC_MODEL_H

#include <stdint.h>

#define SR_MAX_BLOCKS 8
#define SR_MAX_HEADS 16
#define SR_LN_EPS 1e-5f
#define SR_ATTN_MAX_DH 1024 /* a head's width: at most the model width */

/* Architecture (fixes the parameter layout). */
typedef struct sr_config {
    int d;          /* model width */
    int heads;      /* attention heads (d % heads == 0) */
    int blocks;     /* transformer blocks */
    int ffn;        /* feed-forward inner width */
    int T;          /* maximum window length (learned positions) */
    int buckets;    /* watch-ratio buckets of the input embedding */
    float dropout;  /* on the embedding sum, attention output and FFN output (training only) */
    int64_t n_users, n_items;
    int64_t n_authors;  /* author table rows (0 = no author embedding) */
    int64_t tag_rows;   /* tag table rows incl. the pad row 0 (0 = no tags) */
    int tag_len;
    int user_vec;       /* 1: a learned per-user vector is added to every output state */
} sr_config;

/* Offsets of every tensor in the flat parameter vector. Per block: see SR_B_* below. */
typedef struct sr_layout {
    int64_t item, author, tag, user, bucket, pos, user_bias, item_bias, lnf_g, lnf_b;
    int64_t block[SR_MAX_BLOCKS];
    int64_t block_size, dense0, n; /* dense0: first parameter every step touches */
} sr_layout;

/* Offsets inside one block, for width d and inner width f. */
typedef struct sr_boff {
    int64_t ln1_g, ln1_b, wqkv, bqkv, wo, bo, ln2_g, ln2_b, w1, b1, w2, b2, size;
} sr_boff;

/* The model: parameters plus borrowed item side information. */
typedef struct sr_model {
    sr_config c;
    sr_layout l;
    sr_boff bo;
    float *w;               /* [l.n] */
    const int32_t *author;  /* [n_items] author row, or NULL */
    const int32_t *tags;    /* [n_items, tag_len] tag row (0 = pad), or NULL */
    double mu;              /* global shift of every prediction */
    int log_target;         /* training errors unclamped (log scale) */
    int frozen_static;      /* item and user vectors and the biases get no gradient (--init
                             * --freeze-init): nothing to compute, exchange or update */
} sr_model;

/* A batch of windows. Rows (positions) of all windows are stacked: window w has rows
 * [start[w], start[w] + len[w]); row r is the view item[r] with observed bucket[r]; its output
 * predicts target[r] (-1: no target) whose normalised value is y[r]. */
typedef struct sr_batch {
    int nwin;
    int64_t nrows;
    int32_t *user;       /* [nwin] */
    int *len;            /* [nwin], 1..T */
    int64_t *start;      /* [nwin] */
    uint64_t *drop_key;  /* [nwin] dropout key (mask depends only on it and the position) */
    int32_t *item, *target;
    uint8_t *bucket;
    float *y;
    float *weight;       /* [nrows] loss weight of the row (0 = not in the loss) */
} sr_batch;

/* Forward/backward workspace for up to cap rows. */
typedef struct sr_ws {
    int64_t cap;
    int T, d, f, H;
    float *x[SR_MAX_BLOCKS + 1];      /* block inputs [cap, d]; x[blocks] = last block output */
    float *ln1[SR_MAX_BLOCKS], *ln2[SR_MAX_BLOCKS];     /* normalised (xhat) [cap, d] */
    float *a1[SR_MAX_BLOCKS], *a2[SR_MAX_BLOCKS];       /* LN outputs (gain, shift) [cap, d] */
    float *st1[SR_MAX_BLOCKS], *st2[SR_MAX_BLOCKS];     /* mean, rstd [cap, 2] */
    float *qkv[SR_MAX_BLOCKS], *ctx[SR_MAX_BLOCKS], *x1[SR_MAX_BLOCKS];
    float *h1[SR_MAX_BLOCKS];          /* FFN activation relu(a2 W1 + b1) [cap, f] */
    float *p[SR_MAX_BLOCKS];           /* attention probabilities [H, cap, SR_ATTN_LDP(T)] */
    float *m_emb, *m_att[SR_MAX_BLOCKS], *m_ffn[SR_MAX_BLOCKS]; /* dropout scales [cap, d] */
    float *lnf, *stf, *o;              /* final LN xhat, stats, output o [cap, d] */
    float *tv;                         /* target content vectors [cap, d] */
    float *cv;                         /* input content vectors [cap, d]; backward: d(tv) */
    double *pred;                      /* [cap] unclamped prediction (NaN: no target) */
    float *g0, *g1, *gqkv, *gh, *gp;  /* backward scratch */
    int drop_on;
} sr_ws;

/* Gradient accumulator: a full-size vector plus the list of sparse rows touched since the
 * last reset (rows of the item/author/tag tables and entries of the bias vectors). */
typedef struct sr_grad {
    float *g;           /* [l.n] */
    uint64_t *mark;     /* bitset over l.n: set at the first offset of a touched span */
    int64_t *span_off;
    int32_t *span_len;
    int64_t nspans, cap_spans;
} sr_grad;

/* seqrec_exp_nonpos_n - y[k] = exp(x[k]) for x[k] <= 0, k < n: the softmax's exp
 * (seqrec_attn.c; Cephes' expf in 8-float vectors, within 2 ulp of libm). Inputs below -87
 * give exp(-87) (1.6e-38, the smallest with 2^n normal), 0 to a softmax's sum. */
void seqrec_exp_nonpos_n(const float *x, float *y, int64_t n);
/* seqrec_attn_forward - causal softmax attention of one window (L rows) and one head of width
 * dh (seqrec_attn.c): P[i][j] = softmax_j(q_i . k_j / sqrt(dh)) for j <= i, 0 for the rest of
 * the row up to SR_ATTN_LDP(L) (row stride ldp >= that); ctx_i = sum_j P_ij v_j.
 * q, k, v: rows of stride ld. scratch: SR_ATTN_SCRATCH(dh, L) floats. */
void seqrec_attn_forward(const float *q, const float *k, const float *v, int ld, int L, int dh,
                         float *P, int ldp, float *ctx, int ldc, float *scratch);
/* seqrec_attn_backward - from P and d(ctx), d(q), d(k), d(v) (overwritten, stride ld). */
void seqrec_attn_backward(const float *q, const float *k, const float *v, int ld, int L, int dh,
                          const float *P, int ldp, const float *dc, int ldc, float *dq, float *dk,
                          float *dv, float *scratch);
#define SR_ATTN_LDP(T) (((int64_t)(T) + 7) & ~(int64_t)7)
#define SR_ATTN_SCRATCH(dh, T) (4 * (int64_t)(dh) * SR_ATTN_LDP(T) + 5 * SR_ATTN_LDP(T) + (dh))

/* Bitsets over parameter offsets (touched spans): 78 KB for the default model, so the marks
 * stay in the L2 cache where a byte per parameter (621 KB) missed it on every lookup. */
static inline int seqrec_bit_set(uint64_t *bits, int64_t i)
{
    uint64_t m = (uint64_t)1 << (i & 63), old = bits[i >> 6];
    bits[i >> 6] = old | m;
    return (old & m) != 0;
}
static inline void seqrec_bit_clear(uint64_t *bits, int64_t i)
{
    bits[i >> 6] &= ~((uint64_t)1 << (i & 63));
}
#define SR_BITS_WORDS(n) (((int64_t)(n) + 63) / 64)

/* seqrec_block_offsets - per-block layout for width d and FFN width f. Pure. */
sr_boff seqrec_block_offsets(int d, int f);
/* seqrec_model_init - layout and initial weights: a pure function of c and seed (Xavier-uniform
 * matrices, N(0, 0.05)-like uniform embeddings keyed by index, LN gains 1, biases 0).
 * Returns RP_OK, RP_ERR_USAGE (bad config), RP_ERR_NOMEM. */
int seqrec_model_init(sr_model *m, const sr_config *c, uint64_t seed);
void seqrec_model_clear(sr_model *m);
int seqrec_ws_init(sr_ws *ws, const sr_model *m, int64_t cap);
void seqrec_ws_clear(sr_ws *ws);
int seqrec_grad_init(sr_grad *g, const sr_model *m, int64_t cap_rows);
void seqrec_grad_clear(sr_grad *g);
/* seqrec_grad_reset - zero the dense part and every touched span; forget the spans. */
void seqrec_grad_reset(sr_grad *g, const sr_model *m);

/* seqrec_dropout_scale - the dropout multiplier (0 or 1/(1-p)) of element j of position t at
 * site s for a window key: a pure function, so any rank computes the same mask. */
float seqrec_dropout_scale(uint64_t seed, uint64_t key, int site, int t, int j, float p);

/* seqrec_forward - outputs ws->o [nrows, d] and ws->pred for rows with a target.
 * train: dropout on (masks keyed by seed and drop_key), else off. Local. Returns RP_OK, or
 * RP_ERR_INTERNAL (a GEMM shape rp_la refuses: a bug, logged). */
int seqrec_forward(const sr_model *m, const sr_batch *b, sr_ws *ws, int train, uint64_t seed);
/* seqrec_loss_grad - forward (train) + backward of loss = sum_r weight[r] * (pred_r - y_r)^2,
 * gradient added to g. Returns the loss, NaN if a GEMM failed (see seqrec_forward). *sse gets
 * the sum of squared errors of the clamped predictions over rows with weight > 0, *cnt their
 * number. Local. */
double seqrec_loss_grad(const sr_model *m, const sr_batch *b, sr_ws *ws, sr_grad *g,
                        uint64_t seed, int train, double *sse, double *cnt);
/* seqrec_item_vector - the content vector of item i (video + author + mean of tags) into v[d]:
 * what a user state is dotted with. */
void seqrec_item_vector(const sr_model *m, int32_t i, float *v);
/* seqrec_bucket - the watch-ratio bucket of a normalised value. */
uint8_t seqrec_bucket(float value, int buckets);

#endif
