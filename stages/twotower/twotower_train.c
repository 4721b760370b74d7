/* twotower_train.c - data-parallel training of the two-tower model: a global shuffle per epoch
 * (independent of the rank count), each rank computes the gradient of its share of every global
 * batch (the pairs of its user classes, train_step); dense gradients are summed with one
 * MPI_Iallreduce and every replica applies the same Adam update to them; each embedding row is
 * updated by the rank that owns it (twotower_sparse.c). The epoch loop is rp_trainer's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <immintrin.h>
#endif

#include "rp_fault.h"
#include "rp_fixed.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_rng.h"
#include "rp_trainer.h"
#include "twotower.h"

#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8f
/* the step's control word: ranks that saw a signal + TT_CTRL_FAILED x ranks that failed */
#define TT_CTRL_FAILED ((int64_t)1 << 32)


/* Per-step scratch that is not part of the model or the checkpoint. */
typedef struct tt_step {
    uint32_t *perm;
    int32_t *users, *items;
    float *y, *gbuf, *uvals;
    int64_t *ibuf;
    uint8_t *decay;
    int16_t *keep; /* [n_rows] the column of a bias term (not decayed), or -1 */
    float *prior;  /* twotower_row_prior's weights, NULL without --row-l2 */
    tt_ws ws;
    tt_grad g;     /* float gradient of one micro-batch */
    tt_sparse sp;  /* the embedding rows' sums and exchange */
    /* A step's pairs are dealt into nclass classes by user (train_step); this rank's, grouped by
     * class: cls_idx[cls_off[c] .. cls_off[c + 1]) (pair indices); tmp_* the unsorted deal. */
    int nclass;
    /* perm's entries are pair | class << cls_shift when both fit in 32 bits (cls_shift 32:
     * untagged, the class is read from the pair's user) */
    int cls_shift;
    int32_t *user_cls;       /* [n_users] a user's class, user mod nclass (no division per pair) */
    /* [n_train] each training pair in one word, value bits << 32 | user << item_bits | item, when
     * the ids fit in 32 bits (else NULL: the split's three arrays are read): a micro-batch gathers
     * random pairs, and one cache line per pair instead of three is most of that gather's cost */
    uint64_t *pairs;
    int item_bits;
    uint8_t *cls_mine;       /* [nclass] 1 for this rank's classes */
    int64_t mb_cap;          /* pairs in a micro-batch, at most */
    int64_t *cls_off;        /* [nclass + 1] */
    uint32_t *cls_idx, *tmp_idx; /* [batch] */
    int32_t *tmp_cls;        /* [batch] */
} tt_step;

/* The stage's side of rp_trainer_run (the ctx of its callbacks). */
typedef struct tt_loop {
    MPI_Comm comm;
    int rank, size;
    const tt_opts *o;
    const tt_data *d;
    tt_train *tr;
    tt_step st;
} tt_loop;

/* The epoch's permutation of the training interactions: Fisher-Yates keyed by (seed, epoch),
 * computed identically on every rank. Each pair index carries its user's class in the top bits
 * when they are free (st->cls_shift), so dealing a step reads the permutation alone instead of
 * a random user per pair on every rank (a cost no rank count divides). */
static void make_perm(uint64_t seed, int64_t epoch, const tt_split *s, tt_step *st)
{
    rp_rng r;
    uint32_t *perm = st->perm;
    int64_t n = s->n;
    rp_rng_init(&r, seed, rp_rng_stream("twotower.shuffle"), (uint64_t)epoch * (uint64_t)n);
    if (st->cls_shift < 32)
        for (int64_t k = 0; k < n; k++)
            perm[k] = (uint32_t)k | (uint32_t)st->user_cls[s->user[k]] << st->cls_shift;
    else
        for (int64_t k = 0; k < n; k++) perm[k] = (uint32_t)k;
    rp_rng_permute_u32(&r, perm, n);
}

/* Bits of the ids [0, n). */
static int id_bits(int64_t n)
{
    int b = 0;
    while (b < 63 && ((int64_t)1 << b) < n) b++;
    return b;
}

/* Bits above the pair indices [0, n) that hold a class number below nclass: 32 when they do
 * not fit (or RP_TT_CLASS_TAGS=0, for tests of the untagged path). */
static int class_shift(int64_t n, int nclass)
{
    const char *env = getenv("RP_TT_CLASS_TAGS");
    int bits = id_bits(nclass);
    if (env != NULL && strcmp(env, "0") == 0) return 32;
    if (bits == 0) return 32; /* one class: every pair is class 0 */
    return n <= ((int64_t)1 << (32 - bits)) ? 32 - bits : 32;
}

/* A step's Adam coefficients in float, computed once per step (not per row). */
typedef struct tt_adam {
    float b1, b2, c1, c2, ibc2, step;
} tt_adam;

/* Adam on n entries. AVX / SSE when available: the vector paths evaluate the scalar path's
 * expressions lane by lane (IEEE sqrt and division are correctly rounded, no contraction in ISO
 * C), so every path gives the same bits. Called for the dense vector and every touched
 * embedding row (E = 8 by default: one AVX iteration). */
static inline void adam_update(float *w, float *mo, float *ve, const float *g, int64_t n,
                               const tt_adam *a)
{
    int64_t k = 0;
#ifdef __AVX__
    __m256 wb1 = _mm256_set1_ps(a->b1), wc1 = _mm256_set1_ps(a->c1);
    __m256 wb2 = _mm256_set1_ps(a->b2), wc2 = _mm256_set1_ps(a->c2);
    __m256 wib = _mm256_set1_ps(a->ibc2), weps = _mm256_set1_ps(ADAM_EPS);
    __m256 wst = _mm256_set1_ps(a->step);
    for (; k + 8 <= n; k += 8) {
        __m256 gk = _mm256_loadu_ps(g + k);
        __m256 m = _mm256_add_ps(_mm256_mul_ps(wb1, _mm256_loadu_ps(mo + k)),
                                 _mm256_mul_ps(wc1, gk));
        __m256 v = _mm256_add_ps(_mm256_mul_ps(wb2, _mm256_loadu_ps(ve + k)),
                                 _mm256_mul_ps(_mm256_mul_ps(wc2, gk), gk));
        _mm256_storeu_ps(mo + k, m);
        _mm256_storeu_ps(ve + k, v);
        __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(v), wib), weps);
        _mm256_storeu_ps(w + k, _mm256_sub_ps(_mm256_loadu_ps(w + k),
                                              _mm256_div_ps(_mm256_mul_ps(wst, m), den)));
    }
#endif
#ifdef __SSE2__
    __m128 vb1 = _mm_set1_ps(a->b1), vc1 = _mm_set1_ps(a->c1), vb2 = _mm_set1_ps(a->b2);
    __m128 vc2 = _mm_set1_ps(a->c2), vib = _mm_set1_ps(a->ibc2), veps = _mm_set1_ps(ADAM_EPS);
    __m128 vst = _mm_set1_ps(a->step);
    for (; k + 4 <= n; k += 4) {
        __m128 gk = _mm_loadu_ps(g + k);
        __m128 m = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(mo + k)), _mm_mul_ps(vc1, gk));
        __m128 v = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(ve + k)),
                              _mm_mul_ps(_mm_mul_ps(vc2, gk), gk));
        _mm_storeu_ps(mo + k, m);
        _mm_storeu_ps(ve + k, v);
        __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(v), vib), veps);
        _mm_storeu_ps(w + k, _mm_sub_ps(_mm_loadu_ps(w + k), _mm_div_ps(_mm_mul_ps(vst, m), den)));
    }
#endif
    for (; k < n; k++) {
        mo[k] = a->b1 * mo[k] + a->c1 * g[k];
        ve[k] = a->b2 * ve[k] + a->c2 * g[k] * g[k];
        /* ve >= 0, so the builtin (no errno path) is exact sqrtf */
        w[k] -= a->step * mo[k] / (__builtin_sqrtf(ve[k]) * a->ibc2 + ADAM_EPS);
    }
}

/* The column of embedding row `row` that holds a bias term, or -1. Bias terms are not decayed:
 * coupled L2 on a batch-mean loss shrinks a row in proportion to how often it is touched, which
 * would pull every b_u, b_i towards 0 by a constant factor instead of acting like the bias
 * model's count-based regularisation. */
static int bias_column(const tt_model *m, int64_t row)
{
    for (int t = 0; t < 2; t++) {
        const tt_tower *tw = &m->tw[t];
        if (!tw->has_bias || row < tw->id_base || row >= tw->id_base + tw->f->n * tw->id_span)
            continue;
        int pos = tw->id_add ? m->D : 0;
        return (int)((row - tw->id_base) % tw->id_span) == pos / m->E ? pos % m->E : -1;
    }
    return -1;
}

/* Training pairs of every entity of side t ([f->n] doubles). */
static double *entity_counts(const tt_data *d, int t)
{
    int64_t n = d->side[t].n;
    const int32_t *ids = t == TT_USER ? d->train.user : d->train.item;
    double *c = rp_calloc((size_t)(n > 0 ? n : 1), sizeof *c);
    if (c != NULL)
        for (int64_t k = 0; k < d->train.n; k++) c[ids[k]] += 1.0;
    return c;
}

/* Add the pairs reading each row of tower tw (given its entities' counts ne) to cnt: the id
 * block (or the id slot), and with features the categorical and tag tables (a tag listed twice
 * by one entity is one read). */
static void tower_row_counts(const tt_tower *tw, const double *ne, int features, double *cnt)
{
    const tt_side *f = tw->f;
    int k0 = tw->use_id ? 1 : 0;
    for (int64_t e = 0; e < f->n; e++) {
        for (int s = 0; s < tw->id_span; s++) cnt[tw->id_base + e * tw->id_span + s] += ne[e];
        if (tw->use_id) cnt[tw->slot_base[0] + e] += ne[e];
        if (!features) continue;
        for (int j = 0; j < f->ncat; j++)
            cnt[tw->slot_base[k0 + j] + f->cat[e * f->ncat + j]] += ne[e];
        const int32_t *tg = f->tags + e * f->tag_len;
        for (int k = 0; k < f->tag_len; k++) {
            int dup = tg[k] == 0;
            for (int q = 0; q < k && !dup; q++) dup = tg[q] == tg[k];
            if (!dup) cnt[tw->slot_base[k0 + f->ncat] + tg[k]] += ne[e];
        }
    }
}

int twotower_row_prior(const tt_opts *o, const tt_data *d, const tt_model *m, float **w)
{
    *w = NULL;
    if (!(o->row_l2 > 0.0)) return RP_OK;
    double *cnt = rp_calloc((size_t)(m->n_rows > 0 ? m->n_rows : 1), sizeof *cnt);
    double *ne[2] = {entity_counts(d, TT_USER), entity_counts(d, TT_ITEM)};
    *w = rp_malloc((size_t)(m->n_rows > 0 ? m->n_rows : 1) * sizeof **w);
    int rc = cnt && ne[0] && ne[1] && *w ? RP_OK : RP_ERR_NOMEM;
    double n = (double)d->train.n, b = (double)o->train.batch;
    for (int t = 0; t < 2 && rc == RP_OK; t++)
        tower_row_counts(&m->tw[t], ne[t], o->row_l2_features, cnt);
    for (int64_t r = 0; r < m->n_rows && rc == RP_OK; r++) {
        /* q = 1 - (1 - n_r/N)^B without cancellation for rare rows */
        double q = cnt[r] >= n ? 1.0 : -expm1(b * log1p(-cnt[r] / n));
        (*w)[r] = q > 0.0 ? (float)(o->row_l2 / (n * q)) : 0.0f;
    }
    free(cnt);
    free(ne[0]);
    free(ne[1]);
    if (rc != RP_OK) {
        free(*w);
        *w = NULL;
    }
    return rc;
}

/* The step's Adam coefficients (bumps t): rate / bias correction 1, and 1/sqrt(correction 2). */
static void adam_coeffs(const tt_opts *o, const tt_data *d, tt_train *tr, tt_adam *a)
{
    int64_t steps_per_epoch = (d->train.n + o->train.batch - 1) / o->train.batch, t = ++tr->loop.t;
    double bc1 = 1.0 - pow(ADAM_B1, (double)t), bc2 = 1.0 - pow(ADAM_B2, (double)t);
    a->b1 = (float)ADAM_B1;
    a->b2 = (float)ADAM_B2;
    a->c1 = 1.0f - a->b1;
    a->c2 = 1.0f - a->b2;
    a->ibc2 = (float)(1.0 / sqrt(bc2));
    a->step = (float)(rp_train_lr_at(&o->train, t, steps_per_epoch * o->train.epochs) / bc1);
}

/* Coupled L2 weight decay (as torch.optim.Adam's weight_decay) then Adam on the dense vector
 * (gradient in st->gbuf), the same on every replica. */
static void dense_step(const tt_opts *o, tt_train *tr, tt_step *st, const tt_adam *a)
{
    tt_model *m = &tr->m;
    float wd = (float)o->weight_decay, *gd = st->gbuf;
    if (wd > 0.0f)
        for (int64_t k = 0; k < m->n_dense; k++)
            if (st->decay[k]) gd[k] += wd * m->dense[k];
    adam_update(m->dense, tr->m_dense, tr->v_dense, gd, m->n_dense, a);
}

/* Decay (with the row prior) then Adam on the embedding rows this rank owns (st->sp.sel: the
 * step's sums); each updated row is packed for the exchange while it is in cache. Rows are
 * updated only when a step touched them (lazy, as torch's SparseAdam). The rows are scattered
 * over three tables (weights and moments): each is prefetched a few rows ahead. */
static void rows_step(const tt_opts *o, tt_train *tr, tt_step *st, const tt_adam *a)
{
    enum { AHEAD = 8 };
    tt_model *m = &tr->m;
    const tt_fix *f = &st->sp.loc;
    const int32_t *sel = st->sp.sel;
    float wde = (float)o->emb_weight_decay, *gv = st->uvals;
    int E = m->E;
    for (int64_t k = 0; k < st->sp.nsel; k++) {
        if (k + AHEAD < st->sp.nsel) {
            size_t ra = (size_t)f->rows[sel[k + AHEAD]] * E;
            __builtin_prefetch(m->emb + ra, 1);
            __builtin_prefetch(tr->m_emb + ra, 1);
            __builtin_prefetch(tr->v_emb + ra, 1);
            __builtin_prefetch(f->vals + (size_t)sel[k + AHEAD] * E);
        }
        int32_t row = f->rows[sel[k]];
        size_t r = (size_t)row * E;
        const int64_t *sum = f->vals + (size_t)sel[k] * E;
        for (int q = 0; q < E; q++) gv[q] = (float)rp_fix_to(sum[q]);
        float wr = wde + (st->prior != NULL ? st->prior[row] : 0.0f);
        if (wr > 0.0f) {
            int keep = st->keep[row];
            for (int q = 0; q < E; q++)
                if (q != keep) gv[q] += wr * m->emb[r + q];
        }
        adam_update(m->emb + r, tr->m_emb + r, tr->v_emb + r, gv, E, a);
        twotower_sparse_put(&st->sp, row, m->emb + r);
    }
}

/* The users, items and targets of the training pairs idx[0..n) into st->users, items, y. */
static void gather_pairs(const tt_data *d, tt_step *st, const uint32_t *idx, int n)
{
    enum { AHEAD = 16 };
    if (st->pairs != NULL) {
        uint32_t imask = (1u << st->item_bits) - 1u;
        for (int i = 0; i < n; i++) {
            if (i + AHEAD < n) __builtin_prefetch(st->pairs + idx[i + AHEAD]);
            uint64_t w = st->pairs[idx[i]];
            uint32_t ids = (uint32_t)w, vb = (uint32_t)(w >> 32);
            st->users[i] = (int32_t)(ids >> st->item_bits);
            st->items[i] = (int32_t)(ids & imask);
            memcpy(&st->y[i], &vb, sizeof vb);
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        if (i + AHEAD < n) { /* the samples are scattered over three large arrays */
            uint32_t ka = idx[i + AHEAD];
            __builtin_prefetch(d->train.user + ka);
            __builtin_prefetch(d->train.item + ka);
            __builtin_prefetch(d->train.value + ka);
        }
        uint32_t k = idx[i];
        st->users[i] = d->train.user[k];
        st->items[i] = d->train.item[k];
        st->y[i] = d->train.value[k];
    }
}

/* Gradient of the micro-batch of the n training pairs idx[0..n), added to this rank's
 * fixed-point sums (dense into st->ibuf, rows into st->loc). RP_ERR_INTERNAL when the layer
 * engine refused a product (logged where it happened). */
static int micro_batch(const tt_data *d, const tt_model *m, tt_step *st, const uint32_t *idx,
                       int n, int64_t gbn)
{
    gather_pairs(d, st, idx, n);
    twotower_grad_reset(&st->g, m);
    double sse = 0.0, sae = 0.0;
    if (isnan(twotower_loss_grad(m, st->users, st->items, st->y, n, 1.0f / (float)gbn, &st->ws,
                                 &st->g, &sse, &sae))) {
        rp_log_error(__FILE__, __LINE__, "training loss is NaN (a refused layer product, logged "
                     "above, or a diverged model: lower --lr)");
        return RP_ERR_INTERNAL;
    }
    int64_t nd = m->n_dense;
    for (int64_t k = 0; k < nd; k++) st->ibuf[k] += rp_fix_of(st->g.dense[k]);
    st->ibuf[nd] += rp_fix_of(sse);
    st->ibuf[nd + 1] += rp_fix_of(sae);
    twotower_sparse_add(&st->sp, &st->g);
    return RP_OK;
}

/* The step's pairs at positions [p0, p0 + gbn) of the permutation that belong to this rank's
 * classes (tt_step), grouped by class in permutation order: class c's are
 * st->cls_idx[st->cls_off[c] .. st->cls_off[c + 1]). */
static void deal_classes(const tt_loop *l, int64_t p0, int64_t gbn)
{
    enum { AHEAD = 16 };
    const tt_step *st = &l->st;
    const int32_t *user = l->d->train.user;
    const uint32_t *perm = st->perm + p0;
    int C = st->nclass, n = 0, shift = st->cls_shift;
    uint32_t idx_mask = shift < 32 ? (1u << shift) - 1u : 0xffffffffu;
    int64_t *off = st->cls_off;
    for (int c = 0; c <= C; c++) off[c] = 0;
    for (int64_t q = 0; q < gbn; q++) {
        uint32_t v = perm[q], k = v & idx_mask;
        int c;
        if (shift < 32) {
            c = (int)(v >> shift);
        } else {
            if (q + AHEAD < gbn) __builtin_prefetch(user + perm[q + AHEAD]);
            c = st->user_cls[user[k]];
        }
        if (!st->cls_mine[c]) continue;
        st->tmp_idx[n] = k;
        st->tmp_cls[n++] = c;
        off[c + 1]++;
    }
    for (int c = 0; c < C; c++) off[c + 1] += off[c];
    for (int i = 0; i < n; i++) st->cls_idx[off[st->tmp_cls[i]]++] = st->tmp_idx[i];
    for (int c = C; c > 0; c--) off[c] = off[c - 1]; /* back to the starts */
    off[0] = 0;
}

/* One global step over positions [p0, p0 + gbn) of the permutation. Its pairs are dealt into
 * nclass classes by user (user mod nclass), class c to rank c mod P, and each class is cut
 * into micro-batches of at most st->mb_cap pairs in permutation order: what a micro-batch holds
 * does not depend on P (so neither do the bits), and a user's id rows are only touched by the
 * rank that owns them (twotower_sparse_owner), so they never travel. The dense allreduce runs
 * while the embedding rows are reduced, updated and shared. Returns RP_OK, or RP_ERR_INTERNAL on
 * every rank when one failed; *stop = 1 when any rank saw a signal (both carried in the
 * allreduce buffer). */
static int train_step(void *ctx, int64_t p0, int64_t gbn, int *stop)
{
    tt_loop *l = ctx;
    tt_train *tr = l->tr;
    tt_step *st = &l->st;
    int rc = RP_OK, size = l->size, nbuf = 0;
    tt_model *m = &tr->m;
    int64_t nd = m->n_dense;
    MPI_Request req = MPI_REQUEST_NULL;
    tt_adam adam;
    double t0 = MPI_Wtime(), t1, t2, t3, t4;
    memset(st->ibuf, 0, (size_t)(nd + 3) * sizeof *st->ibuf);
    twotower_sparse_begin(&st->sp);
    deal_classes(l, p0, gbn);
    for (int c = 0; c < st->nclass; c++) /* another rank's classes hold no pairs here */
        for (int64_t q = st->cls_off[c]; q < st->cls_off[c + 1] && rc == RP_OK; q += st->mb_cap) {
            int64_t n = st->cls_off[c + 1] - q < st->mb_cap ? st->cls_off[c + 1] - q : st->mb_cap;
            rc = micro_batch(l->d, m, st, st->cls_idx + q, (int)n, gbn);
        }
    if (rc == RP_OK && rp_fault_hit(RP_FAULT_STEP)) {
        rp_log_error(__FILE__, __LINE__, "training step failed (injected by RP_FAULT)");
        rc = RP_ERR_INTERNAL;
    }
    t1 = MPI_Wtime();
    /* A local failure travels in the control word (above the signal count), so the step needs
     * no agreement of its own: a failed rank still takes part in the exchange, and every rank
     * leaves after it. */
    st->ibuf[nd + 2] = (rp_signal_raised() ? 1 : 0) + (rc != RP_OK ? TT_CTRL_FAILED : 0);
    rc = RP_OK;
    RP_CALL(rp_int_cast(nd + 3, &nbuf));
    if (size > 1)
        RP_MPI(MPI_Iallreduce(MPI_IN_PLACE, st->ibuf, nbuf, MPI_INT64_T, MPI_SUM, l->comm, &req));
    tr->bytes_dense += (double)nbuf * sizeof(int64_t);
    adam_coeffs(l->o, l->d, tr, &adam);
    RP_CALL(twotower_sparse_reduce(l->comm, &st->sp, &tr->bytes_sparse));
    t2 = MPI_Wtime();
    rows_step(l->o, tr, st, &adam);
    t3 = MPI_Wtime();
    RP_CALL(twotower_sparse_share(l->comm, &st->sp, m->emb, &tr->bytes_sparse));
    RP_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
    t4 = MPI_Wtime();
    if (st->ibuf[nd + 2] >= TT_CTRL_FAILED) {
        rc = RP_ERR_INTERNAL; /* logged by the rank that failed */
        goto cleanup;
    }
    for (int64_t k = 0; k < nd; k++) st->gbuf[k] = (float)rp_fix_to(st->ibuf[k]);
    dense_step(l->o, tr, st, &adam);
    tr->phase_s[TT_PH_COMPUTE] += t1 - t0;
    tr->phase_s[TT_PH_EXCHANGE] += (t2 - t1) + (t4 - t3);
    tr->phase_s[TT_PH_UPDATE] += (t3 - t2) + (MPI_Wtime() - t4);
    tr->loop.ep_sse += rp_fix_to(st->ibuf[nd]);
    tr->loop.ep_sae += rp_fix_to(st->ibuf[nd + 1]);
    tr->loop.ep_n += (double)gbn;
    tr->loop.samples_done += (double)gbn;
    *stop = st->ibuf[nd + 2] % TT_CTRL_FAILED > 0;
cleanup:
    return rc;
}

int twotower_eval_scores(MPI_Comm comm, const tt_dot *dot, const tt_split *s, double *rmse,
                         double *mae)
{
    int rc = RP_OK, rank = 0, size = 1;
    int64_t acc[2] = {0, 0}, S = dot->S, off = 0, cnt = 0;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    rp_part_even(s->n, size, rank, &off, &cnt);
    for (int64_t k = off; k < off + cnt; k++) {
        double p = twotower_dot_pred(dot, dot->user + s->user[k] * S, dot->item + s->item[k] * S);
        double r = p - s->value[k];
        acc[0] += llrint(r * r * 4294967296.0);
        acc[1] += llrint(fabs(r) * 4294967296.0);
    }
    RP_CALL(rp_mpi_sum_i64(comm, acc, 2));
    *rmse = s->n > 0 ? sqrt((double)acc[0] / 4294967296.0 / (double)s->n) : NAN;
    *mae = s->n > 0 ? (double)acc[1] / 4294967296.0 / (double)s->n : NAN;
cleanup:
    return rc;
}

int twotower_evaluate(MPI_Comm comm, const tt_model *m, const tt_split *s, double *rmse,
                      double *mae)
{
    int rc = RP_OK;
    float *su = NULL, *si = NULL;
    int64_t S = m->S;
    tt_dot dot;
    /* Predictions come from the /score rows of every user and video, cheaper than a forward
     * pass per interaction and exactly what later stages will score. */
    RP_ALLOC(su = malloc((size_t)(m->tw[TT_USER].f->n * S) * sizeof(float)));
    RP_ALLOC(si = malloc((size_t)(m->tw[TT_ITEM].f->n * S) * sizeof(float)));
    RP_CALL(twotower_embed_all(m, TT_USER, su, NULL));
    RP_CALL(twotower_embed_all(m, TT_ITEM, si, NULL));
cleanup:
    rc = rp_mpi_agree(comm, rc);
    twotower_dot_of(m, su, si, &dot);
    if (rc == RP_OK) rc = twotower_eval_scores(comm, &dot, s, rmse, mae);
    free(su);
    free(si);
    return rc;
}

/* st->pairs when the ids fit in 32 bits (RP_TT_PACKED_PAIRS=0 keeps the three arrays, for the
 * tests of that path). */
static int pack_pairs(const tt_data *d, tt_step *st)
{
    int rc = RP_OK, ub = id_bits(d->n_users), ib = id_bits(d->n_items);
    const char *env = getenv("RP_TT_PACKED_PAIRS");
    const tt_split *s = &d->train;
    st->pairs = NULL;
    st->item_bits = ib;
    if (ub + ib > 32 || ib >= 32 || (env != NULL && strcmp(env, "0") == 0)) return RP_OK;
    RP_ALLOC(st->pairs = malloc((size_t)(s->n > 0 ? s->n : 1) * sizeof *st->pairs));
    for (int64_t k = 0; k < s->n; k++) {
        uint32_t vb;
        memcpy(&vb, &s->value[k], sizeof vb);
        st->pairs[k] = (uint64_t)vb << 32 | (uint32_t)s->user[k] << ib | (uint32_t)s->item[k];
    }
cleanup:
    return rc;
}

static int step_alloc(int rank, int size, const tt_opts *o, const tt_data *d, tt_train *tr,
                      tt_step *st)
{
    int rc = RP_OK;
    const tt_model *m = &tr->m;
    int M = o->train.micro_batch, E = m->E, B = o->train.batch;
    memset(st, 0, sizeof *st);
    RP_REQUIRE(E <= TT_MAX_EMB, RP_ERR_USAGE, "--emb-dim at most %d", TT_MAX_EMB);
    /* a class holds batch / nclass = M pairs on average; up to 1.5 M go in one micro-batch */
    st->nclass = (B + M - 1) / M;
    st->mb_cap = M + M / 2;
    st->cls_shift = class_shift(d->train.n, st->nclass);
    RP_ALLOC(st->user_cls = malloc((size_t)(d->n_users > 0 ? d->n_users : 1) * sizeof(int32_t)));
    for (int64_t u = 0; u < d->n_users; u++) st->user_cls[u] = tt_user_class(u, st->nclass);
    RP_CALL(pack_pairs(d, st));
    RP_ALLOC(st->cls_mine = malloc((size_t)st->nclass));
    for (int c = 0; c < st->nclass; c++) st->cls_mine[c] = tt_class_rank(c, size) == rank;
    RP_ALLOC(st->cls_off = malloc((size_t)(st->nclass + 1) * sizeof *st->cls_off));
    RP_ALLOC(st->cls_idx = malloc((size_t)B * sizeof *st->cls_idx));
    RP_ALLOC(st->tmp_idx = malloc((size_t)B * sizeof *st->tmp_idx));
    RP_ALLOC(st->tmp_cls = malloc((size_t)B * sizeof *st->tmp_cls));
    RP_ALLOC(st->perm = malloc((size_t)d->train.n * sizeof *st->perm));
    RP_ALLOC(st->users = malloc((size_t)st->mb_cap * sizeof(int32_t)));
    RP_ALLOC(st->items = malloc((size_t)st->mb_cap * sizeof(int32_t)));
    RP_ALLOC(st->y = malloc((size_t)st->mb_cap * sizeof(float)));
    RP_ALLOC(st->gbuf = malloc((size_t)(m->n_dense + 3) * sizeof(float)));
    RP_ALLOC(st->ibuf = malloc((size_t)(m->n_dense + 3) * sizeof(int64_t)));
    RP_ALLOC(st->uvals = malloc((size_t)E * sizeof(float)));
    RP_ALLOC(st->decay = calloc((size_t)m->n_dense, 1));
    for (int t = 0; t < 2; t++)
        for (int l = 0; l < m->tw[t].nlayers; l++)
            memset(st->decay + m->tw[t].w_off[l], 1,
                   (size_t)m->tw[t].dims[l] * m->tw[t].dims[l + 1]);
    RP_ALLOC(st->keep = malloc((size_t)(m->n_rows > 0 ? m->n_rows : 1) * sizeof *st->keep));
    for (int64_t r = 0; r < m->n_rows; r++) st->keep[r] = (int16_t)bias_column(m, r);
    RP_CALL(twotower_row_prior(o, d, m, &st->prior));
    RP_CALL(twotower_ws_init(&st->ws, m, (int)st->mb_cap));
    RP_CALL(twotower_grad_init(&st->g, m, (int)st->mb_cap));
    const tt_tower *tu = &m->tw[TT_USER];
    /* a rank's pairs of a step touch at most rows-per-pair x batch distinct rows */
    const tt_sparse_shape sh = {.rank = rank, .size = size, .E = E, .n_rows = m->n_rows,
                                .cap = twotower_rows_per_pair(m) * (int64_t)B,
                                .ubase = tu->id_base, .nurows = tu->f->n * tu->id_span,
                                .uspan = tu->id_span, .nclass = st->nclass};
    RP_CALL(twotower_sparse_init(&st->sp, &sh));
cleanup:
    return rc;
}

static void step_clear(tt_step *st)
{
    free(st->user_cls);
    free(st->pairs);
    free(st->cls_mine);
    free(st->cls_off);
    free(st->cls_idx);
    free(st->tmp_idx);
    free(st->tmp_cls);
    free(st->perm);
    free(st->users);
    free(st->items);
    free(st->y);
    free(st->gbuf);
    free(st->ibuf);
    free(st->uvals);
    free(st->decay);
    free(st->keep);
    free(st->prior);
    twotower_ws_clear(&st->ws);
    twotower_grad_clear(&st->g);
    twotower_sparse_clear(&st->sp);
}

/* Allocate optimiser state, best copy and learning curve for a fresh run. Does not jump: the
 * caller agrees on rc before the next collective. */
static int train_alloc(const tt_opts *o, tt_train *tr)
{
    const tt_model *m = &tr->m;
    size_t nd = (size_t)m->n_dense, ne = (size_t)(m->n_rows > 0 ? m->n_rows : 1) * m->E;
    int rc = rp_trainer_init(&tr->loop, o->train.epochs, 1, strcmp(o->select, "mae") == 0);
    tr->m_dense = rp_calloc(nd, sizeof(float));
    tr->v_dense = rp_calloc(nd, sizeof(float));
    tr->m_emb = rp_calloc(ne, sizeof(float));
    tr->v_emb = rp_calloc(ne, sizeof(float));
    tr->best_dense = rp_malloc(nd * sizeof(float));
    tr->best_emb = rp_malloc(ne * sizeof(float));
    if (!tr->m_dense || !tr->v_dense || !tr->m_emb || !tr->v_emb || !tr->best_dense ||
        !tr->best_emb) {
        rp_log_error(__FILE__, __LINE__, "optimiser state of %zu + %zu parameters: out of "
                     "memory", nd, ne);
        return RP_ERR_NOMEM;
    }
    memcpy(tr->best_dense, m->dense, nd * sizeof(float));
    memcpy(tr->best_emb, m->emb, (size_t)m->n_rows * m->E * sizeof(float));
    return rc;
}

static void loop_epoch_begin(void *ctx, int64_t epoch, int64_t *n)
{
    tt_loop *l = ctx;
    make_perm((uint64_t)l->o->seed, epoch, &l->d->train, &l->st);
    *n = l->d->train.n;
}

/* Validation reads every user's rows: they come from their owners first (and so are whole
 * for the best copy that may follow). */
static int loop_validate(void *ctx, double *rmse, double *mae)
{
    tt_loop *l = ctx;
    int rc = twotower_sparse_sync_users(l->comm, &l->st.sp, l->tr->m.emb);
    if (rc != RP_OK) return rc;
    return twotower_evaluate_data(l->comm, &l->tr->m, l->d, &l->d->valid, rmse, mae, NULL);
}

static void loop_save_best(void *ctx)
{
    tt_train *tr = ((tt_loop *)ctx)->tr;
    memcpy(tr->best_dense, tr->m.dense, (size_t)tr->m.n_dense * sizeof(float));
    memcpy(tr->best_emb, tr->m.emb, (size_t)tr->m.n_rows * tr->m.E * sizeof(float));
}

static void loop_restore_best(void *ctx)
{
    tt_train *tr = ((tt_loop *)ctx)->tr;
    memcpy(tr->m.dense, tr->best_dense, (size_t)tr->m.n_dense * sizeof(float));
    memcpy(tr->m.emb, tr->best_emb, (size_t)tr->m.n_rows * tr->m.E * sizeof(float));
}

/* Before a checkpoint: the users' id rows and the embedding rows' Adam moments, each current
 * only on its owner. */
static int loop_before_checkpoint(void *ctx)
{
    tt_loop *l = ctx;
    int rc = RP_OK;
    tt_train *tr = l->tr;
    RP_CALL(twotower_sparse_sync_users(l->comm, &l->st.sp, tr->m.emb));
    RP_CALL(twotower_sparse_gather_state(l->comm, &l->st.sp, tr->m.n_rows, tr->m_emb));
    RP_CALL(twotower_sparse_gather_state(l->comm, &l->st.sp, tr->m.n_rows, tr->v_emb));
cleanup:
    return rc;
}

int twotower_train(MPI_Comm comm, const tt_opts *o, const tt_data *d, tt_train *tr)
{
    int rc = RP_OK;
    tt_loop l = {.comm = comm, .o = o, .d = d, .tr = tr};
    const rp_train_ops ops = {&l, loop_epoch_begin, train_step, loop_validate, loop_save_best,
                              loop_restore_best, loop_before_checkpoint};
    rp_train_ckpt ck;
    char cfg[1024];
    RP_MPI(MPI_Comm_rank(comm, &l.rank));
    RP_MPI(MPI_Comm_size(comm, &l.size));
    rc = twotower_model_init(&tr->m, o, d);
    RP_AGREE(comm, rc);
    /* the log target starts at its own mean (init_weights): the bias model is on the other scale */
    if (o->bias && o->bias_init && tr->m.head != TT_HEAD_SIGMOID && !d->log_target)
        RP_CALL(twotower_init_biases(comm, o, d, &tr->m));
    rp_fault_mark("optimiser state");
    rc = train_alloc(o, tr);
    RP_AGREE(comm, rc);
    twotower_checkpoint(o, d, tr, cfg, sizeof cfg, &ck);
    if (o->train.resume) RP_CALL(rp_trainer_ckpt_read(comm, &ck, o->train.epochs, &tr->loop));
    rp_fault_mark("step buffers");
    rc = step_alloc(l.rank, l.size, o, d, tr, &l.st);
    RP_AGREE(comm, rc);
    rp_log_info("%lld train / %lld valid interactions, %lld dense parameters, %lld embedding "
                "rows x %d, batch %d on %d ranks", (long long)d->train.n, (long long)d->valid.n,
                (long long)tr->m.n_dense, (long long)tr->m.n_rows, tr->m.E, o->train.batch,
                l.size);
    rc = rp_trainer_run(comm, &o->train, &tr->loop, &ops, &ck);
    RP_AGREE(comm, rc);
    tr->phase_s[TT_PH_EXCHANGE_MIN] = -tr->phase_s[TT_PH_EXCHANGE];
    RP_MPI(MPI_Allreduce(MPI_IN_PLACE, tr->phase_s, TT_PH_N, MPI_DOUBLE, MPI_MAX, comm));
    tr->phase_s[TT_PH_EXCHANGE_MIN] = -tr->phase_s[TT_PH_EXCHANGE_MIN];
cleanup:
    step_clear(&l.st);
    return rp_mpi_agree(comm, rc);
}

void twotower_train_clear(tt_train *tr)
{
    free(tr->fb_user);
    free(tr->fb_item);
    twotower_model_clear(&tr->m);
    free(tr->best_dense);
    free(tr->best_emb);
    free(tr->m_dense);
    free(tr->v_dense);
    free(tr->m_emb);
    free(tr->v_emb);
    rp_trainer_clear(&tr->loop);
    memset(tr, 0, sizeof *tr);
}
