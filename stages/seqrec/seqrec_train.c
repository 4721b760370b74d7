/* seqrec_train.c - data-parallel training of rp-seqrec's transformer. Each epoch draws K windows
 * per user (keyed by seed, epoch and user) and shuffles them globally; a step takes the next
 * --batch windows, cut into micro-batches spread over the ranks. Micro-batch gradients are
 * summed in 64-bit fixed point (exact, so identical bits for any rank count): the dense part
 * with one MPI_Allreduce, the touched embedding rows as sparse records (MPI_Allgatherv).
 * Every replica applies the same Adam step. The epoch loop is rp_trainer's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_baseline.h"
#include "rp_fault.h"
#include "rp_fixed.h"
#include "rp_h5.h"
#include "rp_log.h"
#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_rng.h"
#include "rp_trainer.h"
#include "seqrec.h"
#include "seqrec_model.h"

#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8f

/* One epoch's windows: user, start in the history, length (inputs; targets are shifted by 1). */
typedef struct sr_windows {
    int64_t n;
    int32_t *user;
    int64_t *start;
    int *len;
    uint32_t *perm;
} sr_windows;

/* Per-step scratch. */
typedef struct sr_step {
    sr_windows win;
    sr_batch b;
    sr_ws ws;
    sr_grad g;
    int64_t *acc;         /* this rank's fixed-point sum [n] (dense part + its spans) */
    uint64_t *amark;      /* spans of acc (bitset) */
    int64_t *aoff;
    int32_t *alen;
    int64_t naspans, cap_aspans;
    int64_t *send, *recv;
    int64_t cap_send, cap_recv;
    int *counts, *displs;
    float *grad;          /* [n] float gradient of the step */
} sr_step;

/* The stage's side of rp_trainer_run (the ctx of its callbacks). */
typedef struct sr_loop {
    MPI_Comm comm;
    int rank, size;
    const sr_opts *o;
    const sr_data *d;
    sr_train *tr;
    sr_step st;
} sr_loop;

void seqrec_bind(sr_model *m, const sr_data *d)
{
    m->author = d->author;
    m->tags = d->tags;
    m->mu = d->train_mean;
    m->log_target = d->log_target;
}

/* The windows of an epoch and their global order: pure functions of (seed, epoch). */
static void make_windows(const sr_opts *o, const sr_data *d, int64_t epoch, sr_windows *w)
{
    int K = o->windows_per_user, T = o->window;
    uint64_t ws = rp_rng_stream("seqrec.windows");
    int64_t n = 0;
    for (int64_t u = 0; u < d->n_users; u++) {
        int64_t nt = d->ntrain[u];
        if (nt < 2) continue;
        int64_t len = nt - 1 < T ? nt - 1 : T, span = nt - 1 - len + 1; /* starts 0..nt-1-len */
        for (int k = 0; k < K; k++, n++) {
            uint64_t key = ((uint64_t)epoch * (uint64_t)d->n_users + (uint64_t)u) * 1024u + k;
            w->user[n] = (int32_t)u;
            w->start[n] = (int64_t)(rp_rng_hash((uint64_t)o->seed, ws, key) % (uint64_t)span);
            w->len[n] = (int)len;
        }
    }
    w->n = n;
    rp_rng r;
    rp_rng_init(&r, (uint64_t)o->seed, rp_rng_stream("seqrec.shuffle"), (uint64_t)epoch * 1u << 40);
    rp_rng_shuffle_u32(&r, w->perm, n);
}

static int64_t count_windows(const sr_opts *o, const sr_data *d)
{
    int64_t n = 0;
    for (int64_t u = 0; u < d->n_users; u++) n += d->ntrain[u] >= 2 ? o->windows_per_user : 0;
    return n;
}

/* Fill st->b with windows perm[q0 .. q0 + n) (rows weighted 1 / rows of the whole step). */
static void fill_batch(const sr_data *d, sr_step *st, int64_t epoch, int64_t q0, int n,
                       float weight)
{
    sr_batch *b = &st->b;
    int64_t r = 0;
    for (int k = 0; k < n; k++) {
        uint32_t w = st->win.perm[q0 + k];
        int32_t u = st->win.user[w];
        int64_t h = d->hoff[u] + st->win.start[w];
        b->user[k] = u;
        b->len[k] = st->win.len[w];
        b->start[k] = r;
        b->drop_key[k] = ((uint64_t)epoch << 40) | (uint64_t)(q0 + k);
        for (int t = 0; t < st->win.len[w]; t++, r++) {
            b->item[r] = d->hitem[h + t];
            b->bucket[r] = d->hbucket[h + t];
            b->target[r] = d->hitem[h + t + 1];
            b->y[r] = d->hval[h + t + 1];
            b->weight[r] = weight;
            if (d->log_target) { /* only the kept views are targets of the log loss */
                float lw = d->hlog[h + t + 1];
                b->y[r] = isnan(lw) ? 0.0f : lw;
                b->weight[r] = isnan(lw) ? 0.0f : weight;
            }
        }
    }
    b->nwin = n;
    b->nrows = r;
}

typedef float v4f __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4l __attribute__((vector_size(32)));

/* The integer of seqrec_fix_add (seqrec.h) for one entry: the integer comes from adding
 * 1.5 * 2^52 in double, which vector registers do four at a time, where rp_fix_of's truncating
 * conversion is a scalar instruction per entry (it was a tenth of a training step). Lanes and
 * tail give the same value for the same x, so the sums stay exact and rank-count independent. */
static inline int64_t fix_one(float x)
{
    double v = (double)x * RP_FIX_SCALE, lim = 2251799813685248.0, magic = 6755399441055744.0;
    int64_t b, bm;
    v = v == v ? v : 0.0;
    v = v > lim ? lim : v < -lim ? -lim : v;
    v += magic;
    memcpy(&b, &v, sizeof b);
    memcpy(&bm, &magic, sizeof bm);
    return b - bm;
}

void seqrec_fix_add(int64_t *acc, const float *x, int64_t n)
{
    const v4d lim = {2251799813685248.0, 2251799813685248.0, 2251799813685248.0,
                     2251799813685248.0};
    const v4d magic = {6755399441055744.0, 6755399441055744.0, 6755399441055744.0,
                       6755399441055744.0};
    int64_t q = 0;
    for (; q + 4 <= n; q += 4) {
        v4f f;
        v4l a;
        memcpy(&f, x + q, sizeof f);
        v4d v = __builtin_convertvector(f, v4d) * RP_FIX_SCALE;
        v = (v4d)((v4l)v & (v == v));
        v4l hi = v > lim, lo = v < -lim;
        v = (v4d)(((v4l)v & ~(hi | lo)) | ((v4l)lim & hi) | ((v4l)(-lim) & lo));
        memcpy(&a, acc + q, sizeof a);
        a += (v4l)(v + magic) - (v4l)magic;
        memcpy(acc + q, &a, sizeof a);
    }
    for (; q < n; q++) acc[q] += fix_one(x[q]);
}

/* Add the micro-batch gradient (float, in st->g) to this rank's fixed-point sum. */
static void accumulate(const sr_model *m, sr_step *st)
{
    sr_grad *g = &st->g;
    seqrec_fix_add(st->acc + m->l.dense0, g->g + m->l.dense0, m->l.n - m->l.dense0);
    for (int64_t s = 0; s < g->nspans; s++) {
        int64_t off = g->span_off[s];
        if (!seqrec_bit_set(st->amark, off)) {
            st->aoff[st->naspans] = off;
            st->alen[st->naspans++] = g->span_len[s];
        }
        seqrec_fix_add(st->acc + off, g->g + off, g->span_len[s]);
    }
    seqrec_grad_reset(g, m);
}

/* The summed spans of acc into st->grad (float), acc emptied; the span list stays, now that of
 * grad's nonzero spans (grad_spans_clear forgets it). */
static void spans_to_grad(sr_step *st)
{
    for (int64_t s = 0; s < st->naspans; s++) {
        for (int32_t q = 0; q < st->alen[s]; q++) {
            int64_t j = st->aoff[s] + q;
            st->grad[j] = (float)rp_fix_to(st->acc[j]);
            st->acc[j] = 0;
        }
        seqrec_bit_clear(st->amark, st->aoff[s]);
    }
}

/* Zero grad's sparse spans after the step (a memset of every sparse row cost more). */
static void grad_spans_clear(sr_step *st)
{
    for (int64_t s = 0; s < st->naspans; s++)
        memset(st->grad + st->aoff[s], 0, (size_t)st->alen[s] * sizeof(float));
    st->naspans = 0;
}

/* Sum the sparse spans of all ranks into st->grad (float), then forget them in acc. */
static int exchange_sparse(MPI_Comm comm, int size, sr_step *st, double *bytes)
{
    int rc = RP_OK;
    int64_t k = 0, total = 0;
    if (size == 1) { /* the sums are this rank's: nothing to pack and rebuild */
        spans_to_grad(st);
        return RP_OK;
    }
    for (int64_t s = 0; s < st->naspans; s++) {
        st->send[k++] = st->aoff[s];
        st->send[k++] = st->alen[s];
        for (int32_t q = 0; q < st->alen[s]; q++) st->send[k++] = st->acc[st->aoff[s] + q];
    }
    if (size > 1) {
        RP_CALL(rp_train_allgather(comm, st->send, k, st->recv, st->cap_recv, st->counts,
                                   st->displs, &total, bytes));
    } else {
        memcpy(st->recv, st->send, (size_t)k * sizeof *st->send);
        total = k;
    }
    /* rebuild the summed spans in acc (exact integer sums: order does not matter) */
    for (int64_t s = 0; s < st->naspans; s++) {
        memset(st->acc + st->aoff[s], 0, (size_t)st->alen[s] * sizeof(int64_t));
        seqrec_bit_clear(st->amark, st->aoff[s]);
    }
    st->naspans = 0;
    for (int64_t p = 0; p < total;) {
        int64_t off = st->recv[p], len = st->recv[p + 1];
        if (!seqrec_bit_set(st->amark, off)) {
            st->aoff[st->naspans] = off;
            st->alen[st->naspans++] = (int32_t)len;
        }
        for (int64_t q = 0; q < len; q++) st->acc[off + q] += st->recv[p + 2 + q];
        p += 2 + len;
    }
    spans_to_grad(st);
cleanup:
    return rc;
}

/* adam_range - Adam (as torch.optim.Adam, no weight decay) over parameters [k0, k1). */
static void adam_range(const sr_opts *o, sr_train *tr, const float *g, int64_t k0, int64_t k1)
{
    int64_t t = tr->loop.t;
    double bc1 = 1.0 - pow(ADAM_B1, (double)t), bc2 = 1.0 - pow(ADAM_B2, (double)t);
    float b1 = (float)ADAM_B1, b2 = (float)ADAM_B2, c1 = 1.0f - b1, c2 = 1.0f - b2;
    float step = (float)(o->train.lr / bc1), ibc2 = (float)(1.0 / sqrt(bc2));
    float *w = tr->m.w, *mo = tr->am, *ve = tr->av;
    for (int64_t k = k0; k < k1; k++) {
        mo[k] = b1 * mo[k] + c1 * g[k];
        ve[k] = b2 * ve[k] + c2 * g[k] * g[k];
        w[k] -= step * mo[k] / (__builtin_sqrtf(ve[k]) * ibc2 + ADAM_EPS);
    }
}

/* One Adam step over every parameter but the frozen ranges (--init --freeze-init). */
static void adam_step(const sr_opts *o, sr_train *tr, const float *g)
{
    int64_t fr[SR_FROZEN_MAX][2], k = 0;
    int nf = 0;
    tr->loop.t++;
    seqrec_frozen_ranges(o, &tr->m, fr, &nf);
    for (int j = 0; j <= nf; j++) { /* ranges are disjoint and in increasing order */
        int64_t end = j < nf ? fr[j][0] : tr->m.l.n;
        if (end > k) adam_range(o, tr, g, k, end);
        if (j < nf) k = fr[j][1];
    }
    seqrec_frozen_fixup(o, &tr->m, tr->k_init);
}

/* One global step over windows [p0, p0 + gbn) of the epoch's order. */
static int train_step(void *ctx, int64_t p0, int64_t gbn, int *stop)
{
    sr_loop *l = ctx;
    sr_train *tr = l->tr;
    sr_step *st = &l->st;
    int rc = RP_OK, size = l->size;
    sr_model *m = &tr->m;
    int64_t M = l->o->train.micro_batch, nmb = (gbn + M - 1) / M, c0 = 0, cc = 0, rows = 0;
    int64_t nd = m->l.n - m->l.dense0;
    for (int64_t k = 0; k < gbn; k++) rows += st->win.len[st->win.perm[p0 + k]];
    rp_part_even(nmb, size, l->rank, &c0, &cc);
    int64_t *ctl = st->acc + m->l.n; /* 3 control words after the parameters */
    ctl[0] = ctl[1] = ctl[2] = 0;
    for (int64_t c = c0; c < c0 + cc; c++) {
        int64_t q0 = c * M, n = gbn - q0 < M ? gbn - q0 : M;
        double sse = 0.0, cnt = 0.0;
        fill_batch(l->d, st, tr->loop.epoch, p0 + q0, (int)n, 1.0f / (float)rows);
        if (isnan(seqrec_loss_grad(m, &st->b, &st->ws, &st->g, (uint64_t)l->o->seed, 1, &sse,
                                   &cnt))) {
            rp_log_error(__FILE__, __LINE__, "training loss is NaN (a refused layer product, "
                         "logged above, or a diverged model: lower --lr)");
            rc = RP_ERR_INTERNAL;
            break;
        }
        accumulate(m, st);
        ctl[0] += rp_fix_of(sse);
        ctl[1] += (int64_t)cnt;
    }
    RP_AGREE(l->comm, rc); /* a local failure must not leave the others in the allreduce */
    ctl[2] = rp_signal_raised() ? 1 : 0;
    int nbuf = 0;
    RP_CALL(rp_int_cast(nd + 3, &nbuf));
    if (size > 1)
        RP_MPI(MPI_Allreduce(MPI_IN_PLACE, st->acc + m->l.dense0, nbuf, MPI_INT64_T, MPI_SUM,
                             l->comm));
    tr->bytes_reduced += (double)nbuf * sizeof(int64_t);
    for (int64_t k = m->l.dense0; k < m->l.n; k++) {
        st->grad[k] = (float)rp_fix_to(st->acc[k]);
        st->acc[k] = 0;
    }
    RP_CALL(exchange_sparse(l->comm, size, st, &tr->bytes_reduced));
    adam_step(l->o, tr, st->grad);
    grad_spans_clear(st);
    tr->loop.ep_sse += rp_fix_to(ctl[0]);
    tr->loop.ep_n += (double)ctl[1];
    /* samples = predicted positions (every row of a window has a next view), also those the log
     * target leaves out of the loss: the forward and backward work, as PyTorch counts it */
    tr->loop.samples_done += (double)rows;
    *stop = ctl[2] > 0;
cleanup:
    return rc;
}

static int step_alloc(int size, const sr_opts *o, const sr_data *d, sr_train *tr, sr_step *st)
{
    int rc = RP_OK;
    const sr_model *m = &tr->m;
    int64_t nw = count_windows(o, d), M = o->train.micro_batch, T = o->window, rows = M * T;
    int64_t nmb_local = ((o->train.batch + M - 1) / M + size - 1) / size;
    memset(st, 0, sizeof *st);
    int64_t nw1 = nw > 0 ? nw : 1;
    RP_ALLOC(st->win.user = malloc((size_t)nw1 * sizeof *st->win.user));
    RP_ALLOC(st->win.start = malloc((size_t)nw1 * sizeof *st->win.start));
    RP_ALLOC(st->win.len = malloc((size_t)nw1 * sizeof *st->win.len));
    RP_ALLOC(st->win.perm = malloc((size_t)nw1 * sizeof *st->win.perm));
    RP_ALLOC(st->b.user = malloc((size_t)M * sizeof *st->b.user));
    RP_ALLOC(st->b.len = malloc((size_t)M * sizeof *st->b.len));
    RP_ALLOC(st->b.start = malloc((size_t)M * sizeof *st->b.start));
    RP_ALLOC(st->b.drop_key = malloc((size_t)M * sizeof *st->b.drop_key));
    RP_ALLOC(st->b.item = malloc((size_t)rows * sizeof *st->b.item));
    RP_ALLOC(st->b.target = malloc((size_t)rows * sizeof *st->b.target));
    RP_ALLOC(st->b.bucket = malloc((size_t)rows));
    RP_ALLOC(st->b.y = malloc((size_t)rows * sizeof *st->b.y));
    RP_ALLOC(st->b.weight = malloc((size_t)rows * sizeof *st->b.weight));
    RP_CALL(seqrec_ws_init(&st->ws, m, rows));
    RP_CALL(seqrec_grad_init(&st->g, m, rows));
    RP_ALLOC(st->acc = calloc((size_t)m->l.n + 3, sizeof *st->acc));
    RP_ALLOC(st->amark = calloc((size_t)SR_BITS_WORDS(m->l.n), sizeof *st->amark));
    /* spans of this rank's micro-batches; after the exchange, of every rank's */
    st->cap_aspans = st->g.cap_spans * nmb_local;
    RP_ALLOC(st->aoff = malloc((size_t)(st->cap_aspans * size) * sizeof *st->aoff));
    RP_ALLOC(st->alen = malloc((size_t)(st->cap_aspans * size) * sizeof *st->alen));
    int64_t span_words = 2 + (m->c.d > 1 ? m->c.d : 1);
    st->cap_send = st->cap_aspans * span_words;
    st->cap_recv = st->cap_send * size;
    RP_ALLOC(st->send = malloc((size_t)st->cap_send * sizeof *st->send));
    RP_ALLOC(st->recv = malloc((size_t)st->cap_recv * sizeof *st->recv));
    RP_ALLOC(st->counts = malloc((size_t)size * sizeof(int)));
    RP_ALLOC(st->displs = malloc((size_t)size * sizeof(int)));
    RP_ALLOC(st->grad = calloc((size_t)m->l.n, sizeof *st->grad));
cleanup:
    return rc;
}

static void step_clear(sr_step *st)
{
    free(st->win.user);
    free(st->win.start);
    free(st->win.len);
    free(st->win.perm);
    free(st->b.user);
    free(st->b.len);
    free(st->b.start);
    free(st->b.drop_key);
    free(st->b.item);
    free(st->b.target);
    free(st->b.bucket);
    free(st->b.y);
    free(st->b.weight);
    seqrec_ws_clear(&st->ws);
    seqrec_grad_clear(&st->g);
    free(st->acc);
    free(st->amark);
    free(st->aoff);
    free(st->alen);
    free(st->send);
    free(st->recv);
    free(st->counts);
    free(st->displs);
    free(st->grad);
    memset(st, 0, sizeof *st);
}

/* Adam moments, best copy and learning curve for a fresh run. Does not jump: the caller agrees
 * on rc before the next collective. */
static int train_alloc(const sr_opts *o, sr_train *tr)
{
    size_t n = (size_t)tr->m.l.n;
    int rc = rp_trainer_init(&tr->loop, o->train.epochs, 0, 0);
    tr->am = rp_calloc(n, sizeof(float));
    tr->av = rp_calloc(n, sizeof(float));
    tr->best = rp_malloc(n * sizeof(float));
    if (!tr->am || !tr->av || !tr->best) {
        rp_log_error(__FILE__, __LINE__, "optimiser state of %zu parameters: out of memory", n);
        return RP_ERR_NOMEM;
    }
    memcpy(tr->best, tr->m.w, n * sizeof(float));
    return rc;
}

static void loop_epoch_begin(void *ctx, int64_t epoch, int64_t *n)
{
    sr_loop *l = ctx;
    make_windows(l->o, l->d, epoch, &l->st.win);
    *n = l->st.win.n;
}

static int loop_validate(void *ctx, double *rmse, double *mae)
{
    sr_loop *l = ctx;
    return seqrec_eval_valid_gain(l->comm, &l->tr->m, l->d, rmse, mae, &l->tr->gamma);
}

static void loop_save_best(void *ctx)
{
    sr_train *tr = ((sr_loop *)ctx)->tr;
    memcpy(tr->best, tr->m.w, (size_t)tr->m.l.n * sizeof(float));
    tr->best_gamma = tr->gamma; /* of the validation that made this epoch the best */
    tr->have_gamma = 1;
}

static void loop_restore_best(void *ctx)
{
    sr_train *tr = ((sr_loop *)ctx)->tr;
    memcpy(tr->m.w, tr->best, (size_t)tr->m.l.n * sizeof(float));
}

/* Start the user and item biases and mu at the bias model's fit (rp_baseline_bias, the model
 * seqrec must beat): the transformer then learns what the biases miss, instead of spending
 * epochs on 18k rarely-updated scalars. rp_baseline_bias is rank-count independent. */
static int init_biases(MPI_Comm comm, const sr_opts *o, sr_model *m)
{
    int rc = RP_OK;
    rp_model *bm = NULL;
    const double *U = NULL, *V = NULL;
    double mu = 0.0;
    RP_CALL(rp_baseline_bias_terms(comm, o->train.shards, o->train.bias_reg, &bm, &U, &V, &mu));
    RP_REQUIRE(bm->n_users == m->c.n_users && bm->n_items == m->c.n_items, RP_ERR_INTERNAL,
               "bias model of another size");
    for (int64_t u = 0; u < m->c.n_users; u++) m->w[m->l.user_bias + u] = (float)U[2 * u];
    for (int64_t i = 0; i < m->c.n_items; i++) m->w[m->l.item_bias + i] = (float)V[2 * i + 1];
    m->mu = mu;
cleanup:
    rp_model_destroy(&bm);
    return rp_mpi_agree(comm, rc);
}

int seqrec_train(MPI_Comm comm, const sr_opts *o, const sr_data *d, sr_train *tr)
{
    int rc = RP_OK;
    sr_loop l = {.comm = comm, .o = o, .d = d, .tr = tr};
    const rp_train_ops ops = {&l, loop_epoch_begin, train_step, loop_validate, loop_save_best,
                              loop_restore_best, NULL};
    rp_train_ckpt ck;
    sr_config c;
    char cfg[1024];
    RP_MPI(MPI_Comm_rank(comm, &l.rank));
    RP_MPI(MPI_Comm_size(comm, &l.size));
    seqrec_config(o, d, &c);
    rc = seqrec_model_init(&tr->m, &c, (uint64_t)o->seed);
    if (rc == RP_OK) seqrec_bind(&tr->m, d);
    RP_AGREE(comm, rc);
    /* the log target starts at its own mean with zero biases: the bias model is on the other
     * scale (its terms enter through the calibration instead) */
    if (!d->log_target) RP_CALL(init_biases(comm, o, &tr->m));
    RP_CALL(seqrec_init_from_als(comm, o, d, &tr->m, &tr->k_init));
    tr->m.frozen_static = o->init != NULL && o->freeze_init;
    rp_fault_mark("optimiser state");
    rc = train_alloc(o, tr);
    RP_AGREE(comm, rc);
    seqrec_checkpoint(o, d, tr, cfg, sizeof cfg, &ck);
    if (o->train.resume) RP_CALL(rp_trainer_ckpt_read(comm, &ck, o->train.epochs, &tr->loop));
    rp_fault_mark("step buffers");
    rc = step_alloc(l.size, o, d, tr, &l.st);
    RP_AGREE(comm, rc);
    rp_log_info("%lld users, %lld train / %lld valid views, %lld windows per epoch, %lld "
                "parameters, batch %d windows on %d ranks", (long long)d->n_users,
                (long long)d->n_train, (long long)d->n_valid, (long long)count_windows(o, d),
                (long long)tr->m.l.n, o->train.batch, l.size);
    rc = rp_trainer_run(comm, &o->train, &tr->loop, &ops, &ck);
cleanup:
    step_clear(&l.st);
    return rp_mpi_agree(comm, rc);
}

int seqrec_final_gamma(MPI_Comm comm, const sr_data *d, sr_train *tr, double *gamma)
{
    double rmse = 0.0, mae = 0.0;
    *gamma = 1.0;
    if (!d->log_target) return RP_OK;
    if (tr->have_gamma) {
        *gamma = tr->best_gamma;
        return RP_OK;
    }
    /* resumed after the best epoch: its gain was not checkpointed, so it is fitted again */
    return seqrec_eval_valid_gain(comm, &tr->m, d, &rmse, &mae, gamma);
}

void seqrec_train_clear(sr_train *tr)
{
    seqrec_model_clear(&tr->m);
    free(tr->best);
    free(tr->am);
    free(tr->av);
    rp_trainer_clear(&tr->loop);
    memset(tr, 0, sizeof *tr);
}
