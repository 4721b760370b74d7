/* seqrec_infer.c - user states from the transformer: the state after view j of a user's history
 * is the output at j of one canonical window (so a pair's prediction never depends on which
 * other pairs are scored or on the rank count). Validation, final states and time-aware test
 * predictions. rp-seqrec only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rp_mpi.h"
#include "rp_part.h"
#include "seqrec.h"

#define SR_EVAL_WINDOWS 32 /* windows per forward batch */

void seqrec_state_window(int64_t j, int64_t n, int T, int64_t *s, int *len)
{
    int64_t S = T / 2 > 0 ? T / 2 : 1, st;
    /* The last view: the last T views. Any other: windows start at multiples of S, and j sits
     * at position >= T - S of its window (at least T/2 views of context when it has them). */
    if (j >= n - 1) st = n - T > 0 ? n - T : 0;
    else st = j < T ? 0 : ((j - T) / S + 1) * S;
    *s = st;
    *len = (int)(n - st < T ? n - st : T);
}

/* One prediction request: the state after view j (-1: none) of user u, dotted with target. */
typedef struct sr_req {
    int32_t u, target;
    int64_t j, out;
    int win; /* index of its window in the chunk, -1 when j < 0 */
} sr_req;

typedef struct sr_eval {
    const sr_model *m;
    const sr_data *d;
    sr_req *req;
    int64_t nreq, cap_req;
    int32_t *wu;
    int64_t *ws0;
    int *wlen;
    int nwin, cap_win;
    sr_ws ws;
    sr_batch b;
    const float *ivec; /* [I, d] item content vectors */
    float *state;      /* [cap_req, d]: the state of each request */
} sr_eval;

static int eval_init(sr_eval *e, const sr_model *m, const sr_data *d, const float *ivec)
{
    int rc = RP_OK;
    int T = m->c.T;
    int64_t cap = (int64_t)SR_EVAL_WINDOWS * T;
    memset(e, 0, sizeof *e);
    e->m = m;
    e->d = d;
    e->ivec = ivec;
    RP_CALL(seqrec_ws_init(&e->ws, m, cap));
    RP_ALLOC(e->b.user = malloc(SR_EVAL_WINDOWS * sizeof *e->b.user));
    RP_ALLOC(e->b.len = malloc(SR_EVAL_WINDOWS * sizeof *e->b.len));
    RP_ALLOC(e->b.start = malloc(SR_EVAL_WINDOWS * sizeof *e->b.start));
    RP_ALLOC(e->b.drop_key = calloc(SR_EVAL_WINDOWS, sizeof *e->b.drop_key));
    RP_ALLOC(e->b.item = malloc((size_t)cap * sizeof *e->b.item));
    RP_ALLOC(e->b.target = malloc((size_t)cap * sizeof *e->b.target));
    RP_ALLOC(e->b.bucket = malloc((size_t)cap));
    for (int64_t r = 0; r < cap; r++) e->b.target[r] = -1;
cleanup:
    return rc;
}

static void eval_clear(sr_eval *e)
{
    seqrec_ws_clear(&e->ws);
    free(e->b.user);
    free(e->b.len);
    free(e->b.start);
    free(e->b.drop_key);
    free(e->b.item);
    free(e->b.target);
    free(e->b.bucket);
    free(e->req);
    free(e->wu);
    free(e->ws0);
    free(e->wlen);
    free(e->state);
    memset(e, 0, sizeof *e);
}

static int add_req(sr_eval *e, int32_t u, int64_t j, int32_t target, int64_t out)
{
    int rc = RP_OK;
    const sr_data *d = e->d;
    int64_t n = d->hoff[u + 1] - d->hoff[u];
    if (e->nreq == e->cap_req) {
        int64_t nc = e->cap_req ? 2 * e->cap_req : 1024;
        sr_req *r2 = realloc(e->req, (size_t)nc * sizeof *r2);
        RP_ALLOC(r2);
        e->req = r2;
        e->cap_req = nc;
    }
    sr_req *r = &e->req[e->nreq++];
    r->u = u;
    r->j = j;
    r->target = target;
    r->out = out;
    r->win = -1;
    if (j < 0) return RP_OK;
    int64_t s;
    int len;
    seqrec_state_window(j, n, e->m->c.T, &s, &len);
    if (e->nwin > 0 && e->wu[e->nwin - 1] == u && e->ws0[e->nwin - 1] == s) {
        r->win = e->nwin - 1;
        return RP_OK;
    }
    if (e->nwin == e->cap_win) {
        int nc = e->cap_win ? 2 * e->cap_win : 256;
        int32_t *a = realloc(e->wu, (size_t)nc * sizeof *a);
        RP_ALLOC(a);
        e->wu = a;
        int64_t *b = realloc(e->ws0, (size_t)nc * sizeof *b);
        RP_ALLOC(b);
        e->ws0 = b;
        int *c = realloc(e->wlen, (size_t)nc * sizeof *c);
        RP_ALLOC(c);
        e->wlen = c;
        e->cap_win = nc;
    }
    e->wu[e->nwin] = u;
    e->ws0[e->nwin] = s;
    e->wlen[e->nwin] = len;
    r->win = e->nwin++;
cleanup:
    return rc;
}

/* The state of a user before any view: the user's vector (0 without one). */
static void no_view_state(const sr_model *m, int32_t u, float *st)
{
    int D = m->c.d;
    if (m->c.user_vec) memcpy(st, m->w + m->l.user + (int64_t)u * D, (size_t)D * sizeof *st);
    else memset(st, 0, (size_t)D * sizeof *st);
}

/* Forward every window of the chunk in batches of SR_EVAL_WINDOWS, copying each request's
 * state (no_view_state for requests without history). */
static int run_windows(sr_eval *e)
{
    int rc = RP_OK;
    const sr_model *m = e->m;
    const sr_data *d = e->d;
    int D = m->c.d;
    float *st = realloc(e->state, (size_t)(e->nreq > 0 ? e->nreq : 1) * D * sizeof *st);
    RP_ALLOC(st);
    e->state = st;
    int64_t q = 0;
    for (int64_t k = 0; k < e->nreq; k++)
        if (e->req[k].win < 0) no_view_state(m, e->req[k].u, st + k * D);
    for (int w0 = 0; w0 < e->nwin; w0 += SR_EVAL_WINDOWS) {
        int nw = e->nwin - w0 < SR_EVAL_WINDOWS ? e->nwin - w0 : SR_EVAL_WINDOWS;
        int64_t r = 0;
        for (int w = 0; w < nw; w++) {
            int64_t h = d->hoff[e->wu[w0 + w]] + e->ws0[w0 + w];
            e->b.user[w] = e->wu[w0 + w];
            e->b.len[w] = e->wlen[w0 + w];
            e->b.start[w] = r;
            for (int t = 0; t < e->wlen[w0 + w]; t++, r++) {
                e->b.item[r] = d->hitem[h + t];
                e->b.bucket[r] = d->hbucket[h + t];
            }
        }
        e->b.nwin = nw;
        e->b.nrows = r;
        RP_CALL(seqrec_forward(m, &e->b, &e->ws, 0, 0));
        for (; q < e->nreq && (e->req[q].win < 0 || e->req[q].win < w0 + nw); q++) {
            const sr_req *rq = &e->req[q];
            if (rq->win < 0) continue;
            int w = rq->win - w0;
            int64_t row = e->b.start[w] + (rq->j - e->ws0[rq->win]);
            memcpy(st + q * D, e->ws.o + row * D, (size_t)D * sizeof *st);
        }
    }
cleanup:
    return rc;
}

/* Unclamped prediction of a request from its state. */
static double req_pred(const sr_eval *e, int64_t k)
{
    const sr_model *m = e->m;
    const sr_req *r = &e->req[k];
    int D = m->c.d;
    const float *s = e->state + k * D, *v = e->ivec + (int64_t)r->target * D;
    double dot = 0.0;
    for (int q = 0; q < D; q++) dot += (double)s[q] * v[q];
    return dot + m->w[m->l.user_bias + r->u] + m->w[m->l.item_bias + r->target] + m->mu;
}

static double clamp01(double x)
{
    return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x;
}

static int item_vectors(const sr_model *m, float **out)
{
    int rc = RP_OK;
    float *v = NULL;
    RP_ALLOC(v = malloc((size_t)m->c.n_items * m->c.d * sizeof *v));
    for (int64_t i = 0; i < m->c.n_items; i++) seqrec_item_vector(m, (int32_t)i, v + i * m->c.d);
    *out = v;
cleanup:
    return rc;
}

/* The even block of user chunks of this rank. */
static int my_chunks(MPI_Comm comm, int64_t n_users, int64_t *c0, int64_t *cn)
{
    int rc = RP_OK, rank = 0, size = 1;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    rp_part_even((n_users + SR_EVAL_USERS - 1) / SR_EVAL_USERS, size, rank, c0, cn);
cleanup:
    return rc;
}

/* The validation predictions of this rank's requests, kept for the log target's two passes:
 * the bias model's prediction, the interaction, the observed value. */
typedef struct sr_vrows {
    double *base, *g, *y;
    int64_t n, cap;
} sr_vrows;

static int vrows_add(sr_vrows *v, double base, double g, double y)
{
    if (v->n == v->cap) {
        int64_t nc = v->cap ? 2 * v->cap : 4096;
        double *b = realloc(v->base, (size_t)nc * sizeof *b);
        if (b) v->base = b;
        double *gg = b ? realloc(v->g, (size_t)nc * sizeof *gg) : NULL;
        if (gg) v->g = gg;
        double *yy = gg ? realloc(v->y, (size_t)nc * sizeof *yy) : NULL;
        if (yy == NULL) return RP_ERR_NOMEM;
        v->y = yy;
        v->cap = nc;
    }
    v->base[v->n] = base;
    v->g[v->n] = g;
    v->y[v->n++] = y;
    return RP_OK;
}

static void vrows_clear(sr_vrows *v)
{
    free(v->base);
    free(v->g);
    free(v->y);
    memset(v, 0, sizeof *v);
}

/* Fixed-point (2^-32) sums of the calibrated errors of the kept rows: the gain first (exact
 * sums, so the same for any rank count), then the clamped errors into acc. Collective. */
static int calibrated_errors(MPI_Comm comm, const sr_vrows *v, int64_t acc[2], double *gamma)
{
    int rc = RP_OK;
    int64_t s[2] = {0, 0};
    for (int64_t k = 0; k < v->n; k++) {
        s[0] += llrint(v->g[k] * (v->y[k] - v->base[k]) * 4294967296.0);
        s[1] += llrint(v->g[k] * v->g[k] * 4294967296.0);
    }
    RP_CALL(rp_mpi_sum_i64(comm, s, 2));
    *gamma = rp_log_gain((double)s[0], (double)s[1]);
    for (int64_t k = 0; k < v->n; k++) {
        double r = clamp01(v->base[k] + *gamma * v->g[k]) - v->y[k];
        acc[0] += llrint(r * r * 4294967296.0);
        acc[1] += llrint(fabs(r) * 4294967296.0);
    }
cleanup:
    return rc;
}

/* One chunk's validation requests: plain errors into acc, or (log target) rows into v. */
static int valid_chunk(sr_eval *e, int64_t u0, int64_t u1, int64_t acc[2], sr_vrows *v)
{
    int rc = RP_OK;
    const sr_data *d = e->d;
    int D = e->m->c.d;
    e->nreq = 0;
    e->nwin = 0;
    for (int64_t u = u0; u < u1; u++)
        for (int64_t h = d->hoff[u] + d->ntrain[u]; h < d->hoff[u + 1]; h++)
            RP_CALL(add_req(e, (int32_t)u, h - d->hoff[u] - 1, d->hitem[h], h));
    RP_CALL(run_windows(e));
    for (int64_t k = 0; k < e->nreq; k++) {
        const sr_req *q = &e->req[k];
        if (d->log_target) {
            double g = seqrec_interaction(e->m, q->u, q->target, e->state + k * D,
                                          e->ivec + (int64_t)q->target * D);
            RP_CALL(vrows_add(v, seqrec_base(d, q->u, q->target), g, d->hval[q->out]));
            continue;
        }
        double r = clamp01(req_pred(e, k)) - d->hval[q->out];
        acc[0] += llrint(r * r * 4294967296.0);
        acc[1] += llrint(fabs(r) * 4294967296.0);
    }
cleanup:
    return rc;
}

int seqrec_eval_valid_gain(MPI_Comm comm, const sr_model *m, const sr_data *d, double *rmse,
                           double *mae, double *gamma)
{
    int rc = RP_OK;
    sr_eval e;
    sr_vrows v = {0};
    float *ivec = NULL;
    double gm = 1.0;
    int64_t acc[2] = {0, 0}, c0 = 0, cn = 0; /* fixed point 2^-32: exact sums */
    memset(&e, 0, sizeof e);
    RP_CALL(item_vectors(m, &ivec));
    RP_CALL(eval_init(&e, m, d, ivec));
    RP_CALL(my_chunks(comm, d->n_users, &c0, &cn));
    for (int64_t c = c0; c < c0 + cn; c++) {
        int64_t u1 = (c + 1) * SR_EVAL_USERS < d->n_users ? (c + 1) * SR_EVAL_USERS : d->n_users;
        RP_CALL(valid_chunk(&e, c * SR_EVAL_USERS, u1, acc, &v));
    }
cleanup:
    eval_clear(&e);
    free(ivec);
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK && d->log_target) rc = calibrated_errors(comm, &v, acc, &gm);
    vrows_clear(&v);
    if (rc == RP_OK) rc = rp_mpi_sum_i64(comm, acc, 2);
    if (rc == RP_OK) {
        double n = (double)d->n_valid;
        *rmse = n > 0 ? sqrt((double)acc[0] / 4294967296.0 / n) : NAN;
        *mae = n > 0 ? (double)acc[1] / 4294967296.0 / n : NAN;
        if (gamma) *gamma = gm;
    }
    return rc;
}

int seqrec_eval_valid(MPI_Comm comm, const sr_model *m, const sr_data *d, double *rmse,
                      double *mae)
{
    return seqrec_eval_valid_gain(comm, m, d, rmse, mae, NULL);
}

/* History views of user u strictly before time ts (NaN ts: all). History rows are in time order
 * with unknown times last; a view of unknown time is never "before" a known time. */
static int64_t views_before(const sr_data *d, int64_t u, double ts)
{
    int64_t a = d->hoff[u], n = d->hoff[u + 1] - a;
    if (isnan(ts)) return n;
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        double t = d->htime[a + mid];
        if (!isnan(t) && t < ts) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Final states of a chunk's users (request j = n - 1) and its test pairs. */
static int score_chunk(sr_eval *e, int64_t u0, int64_t u1, double gamma, sr_scores *sc)
{
    int rc = RP_OK;
    const sr_data *d = e->d;
    int D = e->m->c.d, W = D + 2;
    e->nreq = 0;
    e->nwin = 0;
    for (int64_t u = u0; u < u1; u++) {
        int64_t n = d->hoff[u + 1] - d->hoff[u];
        RP_CALL(add_req(e, (int32_t)u, n - 1, 0, -1 - u));
        for (int64_t r = d->toff[u]; r < d->toff[u + 1]; r++)
            RP_CALL(add_req(e, (int32_t)u, views_before(d, u, d->ttime[r]) - 1, d->titem[r], r));
    }
    RP_CALL(run_windows(e));
    for (int64_t k = 0; k < e->nreq; k++) {
        const sr_req *r = &e->req[k];
        const float *s = e->state + k * D;
        double bu = e->m->w[e->m->l.user_bias + r->u];
        if (r->out < 0) {
            float *row = sc->user + (int64_t)r->u * W;
            /* log target: [gamma e^(b_u) o, c_u, 1] (the item rows carry e^(b_i), c_i) */
            double f = d->log_target ? gamma * exp(bu) : 1.0;
            /* + 0.0f: -0 becomes +0, as the allreduce below (-0 + 0) makes it on more ranks */
            for (int q = 0; q < D; q++) row[q] = (float)(f * s[q]) + 0.0f;
            for (int q = 0; q < D; q++) sc->state[(int64_t)r->u * D + q] = s[q] + 0.0f;
            row[D] = d->log_target ? (float)d->cu[r->u] : (float)bu;
            row[D + 1] = 1.0f;
        } else if (d->log_target) {
            double g = seqrec_interaction(e->m, r->u, r->target, s,
                                          e->ivec + (int64_t)r->target * D);
            sc->test_pred[r->out] =
                (float)clamp01(seqrec_base(d, r->u, r->target) + gamma * g) + 0.0f;
        } else {
            sc->test_pred[r->out] = (float)clamp01(req_pred(e, k)) + 0.0f;
        }
    }
cleanup:
    return rc;
}

int seqrec_score(MPI_Comm comm, const sr_model *m, const sr_data *d, double gamma,
                 sr_scores *sc)
{
    int rc = RP_OK;
    sr_eval e;
    float *ivec = NULL;
    int D = m->c.d, W = D + 2;
    int64_t c0 = 0, cn = 0, nu = 0, nt = 0;
    memset(&e, 0, sizeof e);
    memset(sc, 0, sizeof *sc);
    RP_CALL(item_vectors(m, &ivec));
    RP_ALLOC(sc->user = calloc((size_t)d->n_users * W, sizeof *sc->user));
    RP_ALLOC(sc->state = calloc((size_t)d->n_users * D, sizeof *sc->state));
    RP_ALLOC(sc->item = malloc((size_t)d->n_items * W * sizeof *sc->item));
    RP_ALLOC(sc->test_pred = calloc((size_t)(d->n_test > 0 ? d->n_test : 1), sizeof(float)));
    for (int64_t i = 0; i < d->n_items; i++) {
        double bi = m->w[m->l.item_bias + i], f = d->log_target ? exp(bi) : 1.0;
        for (int q = 0; q < D; q++) sc->item[i * W + q] = (float)(f * ivec[i * D + q]);
        sc->item[i * W + D] = 1.0f;
        sc->item[i * W + D + 1] = d->log_target ? (float)d->ci[i] : (float)bi;
    }
    sc->shift = d->log_target ? d->cmu : m->mu;
    sc->gamma = gamma;
    RP_CALL(eval_init(&e, m, d, ivec));
    RP_CALL(my_chunks(comm, d->n_users, &c0, &cn));
    for (int64_t c = c0; c < c0 + cn; c++) {
        int64_t u1 = (c + 1) * SR_EVAL_USERS < d->n_users ? (c + 1) * SR_EVAL_USERS : d->n_users;
        RP_CALL(score_chunk(&e, c * SR_EVAL_USERS, u1, gamma, sc));
    }
cleanup:
    eval_clear(&e);
    free(ivec);
    rc = rp_mpi_agree(comm, rc);
    /* Each entry was written by exactly one rank, the others hold 0: the sums are exact. */
    nu = d->n_users * W;
    nt = d->n_test;
    if (rc == RP_OK && MPI_Allreduce(MPI_IN_PLACE, sc->state, (int)(d->n_users * D), MPI_FLOAT,
                                     MPI_SUM, comm) != MPI_SUCCESS)
        rp_die(comm, RP_ERR_MPI, "seqrec_score: MPI_Allreduce failed");
    for (int64_t k = 0; rc == RP_OK && k < nu; k += 1 << 24) {
        int n = (int)(nu - k < (1 << 24) ? nu - k : 1 << 24);
        if (MPI_Allreduce(MPI_IN_PLACE, sc->user + k, n, MPI_FLOAT, MPI_SUM, comm) != MPI_SUCCESS)
            rp_die(comm, RP_ERR_MPI, "seqrec_score: MPI_Allreduce failed");
    }
    for (int64_t k = 0; rc == RP_OK && k < nt; k += 1 << 24) {
        int n = (int)(nt - k < (1 << 24) ? nt - k : 1 << 24);
        if (MPI_Allreduce(MPI_IN_PLACE, sc->test_pred + k, n, MPI_FLOAT, MPI_SUM, comm) !=
            MPI_SUCCESS)
            rp_die(comm, RP_ERR_MPI, "seqrec_score: MPI_Allreduce failed");
    }
    return rc;
}

void seqrec_scores_clear(sr_scores *sc)
{
    free(sc->state);
    free(sc->user);
    free(sc->item);
    free(sc->test_pred);
    memset(sc, 0, sizeof *sc);
}
