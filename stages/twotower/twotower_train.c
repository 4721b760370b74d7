/* twotower_train.c - data-parallel training of the two-tower model: a global shuffle per epoch
 * (independent of the rank count), each rank computes the gradient of its share of every global
 * batch; dense gradients are summed with one MPI_Allreduce, embedding rows exchanged sparsely;
 * every replica applies the same Adam update. Validation, early stopping, checkpoints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp_mpi.h"
#include "rp_part.h"
#include "rp_rng.h"
#include "twotower.h"

#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8f

/* Per-step scratch that is not part of the model or the checkpoint. */
typedef struct tt_step {
    uint32_t *perm;
    int32_t *users, *items;
    float *y, *gbuf, *send, *recv;
    int *counts, *displs;
    uint8_t *decay;
    tt_ws ws;
    tt_grad g, sum; /* local gradient; sum of all ranks' sparse rows */
    int64_t local_cap, recv_cap;
} tt_step;

/* The epoch's permutation of the training interactions: Fisher-Yates keyed by (seed, epoch),
 * computed identically on every rank. */
static void make_perm(uint64_t seed, int64_t epoch, int64_t n, uint32_t *perm)
{
    rp_rng r;
    rp_rng_init(&r, seed, rp_rng_stream("twotower.shuffle"), (uint64_t)epoch * (uint64_t)n);
    for (int64_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    for (int64_t i = n - 1; i > 0; i--) {
        uint64_t j = rp_rng_next_below(&r, (uint64_t)i + 1);
        uint32_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

static void adam_update(float *w, float *mo, float *ve, const float *g, int64_t n, double lr_t,
                        double bc2)
{
    float b1 = (float)ADAM_B1, b2 = (float)ADAM_B2, ibc2 = (float)(1.0 / sqrt(bc2));
    float step = (float)lr_t;
    for (int64_t k = 0; k < n; k++) {
        mo[k] = b1 * mo[k] + (1.0f - b1) * g[k];
        ve[k] = b2 * ve[k] + (1.0f - b2) * g[k] * g[k];
        w[k] -= step * mo[k] / (sqrtf(ve[k]) * ibc2 + ADAM_EPS);
    }
}

/* Gather every rank's touched rows (row id bit-cast into the first float of each record) and
 * sum them in rank order into st->sum, so every replica gets the same bits. */
static int exchange_sparse(MPI_Comm comm, int size, const tt_model *m, tt_step *st,
                           double *bytes)
{
    int rc = RP_OK;
    tt_grad *g = &st->g, *u = &st->sum;
    int E = m->E, rec = 1 + E, nloc = 0, total = 0;
    RP_CALL(rp_int_cast(g->nrows * rec, &nloc));
    for (int64_t k = 0; k < g->nrows; k++) {
        memcpy(st->send + k * rec, &g->rows[k], sizeof(int32_t));
        memcpy(st->send + k * rec + 1, g->vals + k * E, (size_t)E * sizeof(float));
    }
    RP_MPI(MPI_Allgather(&nloc, 1, MPI_INT, st->counts, 1, MPI_INT, comm));
    for (int p = 0; p < size; p++) {
        st->displs[p] = total;
        total += st->counts[p];
    }
    RP_REQUIRE(total <= st->recv_cap, RP_ERR_INTERNAL, "sparse exchange overflow");
    RP_MPI(MPI_Allgatherv(st->send, nloc, MPI_FLOAT, st->recv, st->counts, st->displs, MPI_FLOAT,
                          comm));
    *bytes += (double)total * sizeof(float);
    for (int64_t k = 0; k < u->nrows; k++) u->slot[u->rows[k]] = -1;
    u->nrows = 0;
    for (int64_t k = 0; k < total / rec; k++) {
        int32_t row;
        const float *v = st->recv + k * rec;
        memcpy(&row, v, sizeof row);
        int32_t s = u->slot[row];
        if (s < 0) {
            s = (int32_t)u->nrows++;
            u->slot[row] = s;
            u->rows[s] = row;
            memcpy(u->vals + (size_t)s * E, v + 1, (size_t)E * sizeof(float));
        } else {
            for (int q = 0; q < E; q++) u->vals[(size_t)s * E + q] += v[1 + q];
        }
    }
cleanup:
    return rc;
}

/* Coupled L2 weight decay (as torch.optim.Adam's weight_decay) then Adam. Embedding rows are
 * decayed and updated only when a step touched them (lazy, as torch's SparseAdam). */
static void optimizer_step(const tt_opts *o, tt_train *tr, tt_step *st, const tt_grad *rows)
{
    tt_model *m = &tr->m;
    float wd = (float)o->weight_decay;
    int E = m->E;
    tr->t++;
    double bc1 = 1.0 - pow(ADAM_B1, (double)tr->t), bc2 = 1.0 - pow(ADAM_B2, (double)tr->t);
    double lr_t = o->lr / bc1;
    float *gd = st->gbuf;
    if (wd > 0.0f)
        for (int64_t k = 0; k < m->n_dense; k++)
            if (st->decay[k]) gd[k] += wd * m->dense[k];
    adam_update(m->dense, tr->m_dense, tr->v_dense, gd, m->n_dense, lr_t, bc2);
    for (int64_t k = 0; k < rows->nrows; k++) {
        size_t r = (size_t)rows->rows[k] * E;
        float *gv = rows->vals + (size_t)k * E;
        if (wd > 0.0f)
            for (int q = 0; q < E; q++) gv[q] += wd * m->emb[r + q];
        adam_update(m->emb + r, tr->m_emb + r, tr->v_emb + r, gv, E, lr_t, bc2);
    }
}

/* One global step: this rank's share of positions [p0, p0 + gbn) of the permutation.
 * Returns RP_OK; *stop = 1 when any rank saw a signal (carried in the allreduce buffer). */
static int train_step(MPI_Comm comm, int rank, int size, const tt_opts *o, const tt_data *d,
                      tt_train *tr, tt_step *st, int64_t p0, int64_t gbn, int *stop)
{
    int rc = RP_OK;
    tt_model *m = &tr->m;
    int64_t off = 0, cnt = 0;
    rp_part_even(gbn, size, rank, &off, &cnt);
    for (int64_t i = 0; i < cnt; i++) {
        uint32_t k = st->perm[p0 + off + i];
        st->users[i] = d->train.user[k];
        st->items[i] = d->train.item[k];
        st->y[i] = d->train.value[k];
    }
    twotower_grad_reset(&st->g, m);
    double sse = 0.0, sae = 0.0;
    twotower_loss_grad(m, st->users, st->items, st->y, (int)cnt, 1.0f / (float)gbn, &st->ws,
                       &st->g, &sse, &sae);
    int64_t nd = m->n_dense;
    memcpy(st->gbuf, st->g.dense, (size_t)nd * sizeof(float));
    st->gbuf[nd] = (float)sse;
    st->gbuf[nd + 1] = (float)sae;
    st->gbuf[nd + 2] = rp_signal_raised() ? 1.0f : 0.0f;
    int nbuf = 0;
    RP_CALL(rp_int_cast(nd + 3, &nbuf));
    if (size > 1)
        RP_MPI(MPI_Allreduce(MPI_IN_PLACE, st->gbuf, nbuf, MPI_FLOAT, MPI_SUM, comm));
    tr->bytes_dense += (double)nbuf * sizeof(float);
    const tt_grad *rows = &st->g;
    if (size > 1) {
        RP_CALL(exchange_sparse(comm, size, m, st, &tr->bytes_sparse));
        rows = &st->sum;
    }
    optimizer_step(o, tr, st, rows);
    tr->ep_sse += st->gbuf[nd];
    tr->ep_sae += st->gbuf[nd + 1];
    tr->ep_n += (double)gbn;
    *stop = st->gbuf[nd + 2] > 0.0f;
cleanup:
    return rc;
}

int twotower_evaluate(MPI_Comm comm, const tt_model *m, const tt_split *s, double *rmse,
                      double *mae)
{
    int rc = RP_OK;
    int rank = 0, size = 1;
    tt_ws ws;
    const int chunk = 1024;
    double acc[2] = {0.0, 0.0};
    memset(&ws, 0, sizeof ws);
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    int64_t off = 0, cnt = 0;
    rp_part_even(s->n, size, rank, &off, &cnt);
    RP_CALL(twotower_ws_init(&ws, m, chunk));
    for (int64_t i = 0; i < cnt; i += chunk) {
        int c = (int)(cnt - i < chunk ? cnt - i : chunk);
        twotower_predict(m, s->user + off + i, s->item + off + i, c, &ws);
        for (int k = 0; k < c; k++) {
            double p = fmin(fmax(ws.pred[k], 0.0), 1.0), r = p - s->value[off + i + k];
            acc[0] += r * r;
            acc[1] += fabs(r);
        }
    }
cleanup:
    twotower_ws_clear(&ws);
    rc = rp_mpi_agree(comm, rc);
    if (rc == RP_OK) rc = rp_mpi_sum_f64(comm, acc, 2);
    if (rc == RP_OK) {
        *rmse = s->n > 0 ? sqrt(acc[0] / (double)s->n) : NAN;
        *mae = s->n > 0 ? acc[1] / (double)s->n : NAN;
    }
    return rc;
}

static int step_alloc(int size, const tt_opts *o, const tt_data *d, tt_train *tr, tt_step *st)
{
    int rc = RP_OK;
    const tt_model *m = &tr->m;
    memset(st, 0, sizeof *st);
    st->local_cap = (o->batch + size - 1) / size;
    int cap = (int)st->local_cap;
    RP_ALLOC(st->perm = malloc((size_t)d->train.n * sizeof *st->perm));
    RP_ALLOC(st->users = malloc((size_t)cap * sizeof(int32_t)));
    RP_ALLOC(st->items = malloc((size_t)cap * sizeof(int32_t)));
    RP_ALLOC(st->y = malloc((size_t)cap * sizeof(float)));
    RP_ALLOC(st->gbuf = malloc((size_t)(m->n_dense + 3) * sizeof(float)));
    RP_ALLOC(st->decay = calloc((size_t)m->n_dense, 1));
    for (int t = 0; t < 2; t++)
        for (int l = 0; l < m->tw[t].nlayers; l++)
            memset(st->decay + m->tw[t].w_off[l], 1,
                   (size_t)m->tw[t].dims[l] * m->tw[t].dims[l + 1]);
    RP_CALL(twotower_ws_init(&st->ws, m, cap));
    RP_CALL(twotower_grad_init(&st->g, m, cap));
    RP_CALL(twotower_grad_init(&st->sum, m, cap * size));
    st->recv_cap = st->g.cap_rows * size * (1 + m->E);
    RP_ALLOC(st->send = malloc((size_t)(st->g.cap_rows + 1) * (1 + m->E) * sizeof(float)));
    RP_ALLOC(st->recv = malloc((size_t)(st->recv_cap + 1) * sizeof(float)));
    RP_ALLOC(st->counts = malloc((size_t)size * sizeof(int)));
    RP_ALLOC(st->displs = malloc((size_t)size * sizeof(int)));
cleanup:
    return rc;
}

static void step_clear(tt_step *st)
{
    free(st->perm);
    free(st->users);
    free(st->items);
    free(st->y);
    free(st->gbuf);
    free(st->decay);
    free(st->send);
    free(st->recv);
    free(st->counts);
    free(st->displs);
    twotower_ws_clear(&st->ws);
    twotower_grad_clear(&st->g);
    twotower_grad_clear(&st->sum);
}

/* Allocate optimiser state, best copy and history for a fresh run. */
static int train_alloc(const tt_opts *o, tt_train *tr)
{
    int rc = RP_OK;
    const tt_model *m = &tr->m;
    size_t nd = (size_t)m->n_dense, ne = (size_t)(m->n_rows > 0 ? m->n_rows : 1) * m->E;
    size_t ep = (size_t)(o->epochs > 0 ? o->epochs : 1);
    RP_ALLOC(tr->m_dense = calloc(nd, sizeof(float)));
    RP_ALLOC(tr->v_dense = calloc(nd, sizeof(float)));
    RP_ALLOC(tr->m_emb = calloc(ne, sizeof(float)));
    RP_ALLOC(tr->v_emb = calloc(ne, sizeof(float)));
    RP_ALLOC(tr->best_dense = malloc(nd * sizeof(float)));
    RP_ALLOC(tr->best_emb = malloc(ne * sizeof(float)));
    RP_ALLOC(tr->hist.epoch = calloc(ep, sizeof(int64_t)));
    RP_ALLOC(tr->hist.train_rmse = calloc(ep, sizeof(double)));
    RP_ALLOC(tr->hist.train_mae = calloc(ep, sizeof(double)));
    RP_ALLOC(tr->hist.valid_rmse = calloc(ep, sizeof(double)));
    RP_ALLOC(tr->hist.valid_mae = calloc(ep, sizeof(double)));
    RP_ALLOC(tr->hist.seconds = calloc(ep, sizeof(double)));
    memcpy(tr->best_dense, m->dense, nd * sizeof(float));
    memcpy(tr->best_emb, m->emb, (size_t)m->n_rows * m->E * sizeof(float));
    tr->best_epoch = -1;
    tr->best_mae = INFINITY;
cleanup:
    return rc;
}

/* End of an epoch: validation, history, early-stopping bookkeeping. */
static int end_epoch(MPI_Comm comm, const tt_opts *o, const tt_data *d, tt_train *tr)
{
    int rc = RP_OK;
    double vr = NAN, va = NAN;
    RP_CALL(twotower_evaluate(comm, &tr->m, &d->valid, &vr, &va));
    tt_hist *h = &tr->hist;
    int64_t k = h->n++;
    h->epoch[k] = tr->epoch + 1;
    h->train_rmse[k] = sqrt(tr->ep_sse / tr->ep_n);
    h->train_mae[k] = tr->ep_sae / tr->ep_n;
    h->valid_rmse[k] = vr;
    h->valid_mae[k] = va;
    h->seconds[k] = tr->ep_seconds;
    /* Without validation data the last epoch is the best. */
    if (isnan(va) || va < tr->best_mae) {
        tr->best_mae = isnan(va) ? INFINITY : va;
        tr->best_epoch = tr->epoch + 1;
        tr->bad_epochs = 0;
        memcpy(tr->best_dense, tr->m.dense, (size_t)tr->m.n_dense * sizeof(float));
        memcpy(tr->best_emb, tr->m.emb, (size_t)tr->m.n_rows * tr->m.E * sizeof(float));
    } else {
        tr->bad_epochs++;
    }
    rp_log_info("epoch %lld/%d: train_rmse=%.5f train_mae=%.5f valid_rmse=%.5f valid_mae=%.5f "
                "%.1f s", (long long)(tr->epoch + 1), o->epochs, h->train_rmse[k],
                h->train_mae[k], vr, va, tr->ep_seconds);
    tr->epoch++;
    tr->step = 0;
    tr->ep_sse = tr->ep_sae = tr->ep_n = tr->ep_seconds = 0.0;
cleanup:
    return rc;
}

/* Run the remaining steps of the current epoch. *interrupted on a signal or --interrupt-after. */
static int run_epoch(MPI_Comm comm, const tt_opts *o, const tt_data *d, tt_train *tr,
                     tt_step *st, int64_t *run_steps, int *interrupted)
{
    int rc = RP_OK, rank = 0, size = 1;
    RP_MPI(MPI_Comm_rank(comm, &rank));
    RP_MPI(MPI_Comm_size(comm, &size));
    int64_t n = d->train.n, B = o->batch, nsteps = (n + B - 1) / B;
    make_perm((uint64_t)o->seed, tr->epoch, n, st->perm);
    double t0 = MPI_Wtime();
    while (tr->step < nsteps) {
        int64_t p0 = tr->step * B, gbn = n - p0 < B ? n - p0 : B;
        int stop = 0;
        RP_CALL(train_step(comm, rank, size, o, d, tr, st, p0, gbn, &stop));
        tr->step++;
        tr->steps_done++;
        tr->samples_done += (double)gbn;
        ++*run_steps;
        if (stop || (o->interrupt_after > 0 && *run_steps >= o->interrupt_after)) {
            *interrupted = 1;
            break;
        }
    }
    double dt = MPI_Wtime() - t0;
    MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, comm);
    tr->ep_seconds += dt;
    tr->train_seconds += dt;
cleanup:
    return rc;
}

int twotower_train(MPI_Comm comm, const tt_opts *o, const tt_data *d, tt_train *tr)
{
    int rc = RP_OK, size = 1, interrupted = 0;
    tt_step st;
    int64_t run_steps = 0;
    memset(&st, 0, sizeof st);
    RP_MPI(MPI_Comm_size(comm, &size));
    rc = twotower_model_init(&tr->m, o, d);
    if (rc == RP_OK) rc = train_alloc(o, tr);
    RP_AGREE(comm, rc);
    if (o->resume) RP_CALL(twotower_checkpoint_read(comm, o, tr));
    rc = step_alloc(size, o, d, tr, &st);
    RP_AGREE(comm, rc);
    rp_log_info("%lld train / %lld valid interactions, %lld dense parameters, %lld embedding "
                "rows x %d, batch %d on %d ranks", (long long)d->train.n, (long long)d->valid.n,
                (long long)tr->m.n_dense, (long long)tr->m.n_rows, tr->m.E, o->batch, size);
    while (tr->epoch < o->epochs && !(o->early_stop > 0 && tr->bad_epochs >= o->early_stop)) {
        rc = run_epoch(comm, o, d, tr, &st, &run_steps, &interrupted);
        RP_AGREE(comm, rc);
        if (!interrupted) RP_CALL(end_epoch(comm, o, d, tr));
        if (!interrupted) interrupted = rp_signal_pending(comm);
        RP_CALL(twotower_checkpoint_write(comm, o, tr));
        if (interrupted) {
            rp_log_info("interrupted: checkpoint %s written at epoch %lld step %lld",
                        o->checkpoint, (long long)tr->epoch, (long long)tr->step);
            rc = RP_ERR_INTERRUPTED; /* not an error: exit 75 asks for a requeue */
            goto cleanup;
        }
    }
    /* The output is the model of the best validation epoch. */
    memcpy(tr->m.dense, tr->best_dense, (size_t)tr->m.n_dense * sizeof(float));
    memcpy(tr->m.emb, tr->best_emb, (size_t)tr->m.n_rows * tr->m.E * sizeof(float));
cleanup:
    step_clear(&st);
    return rp_mpi_agree(comm, rc);
}

void twotower_train_clear(tt_train *tr)
{
    twotower_model_clear(&tr->m);
    free(tr->best_dense);
    free(tr->best_emb);
    free(tr->m_dense);
    free(tr->v_dense);
    free(tr->m_emb);
    free(tr->v_emb);
    free(tr->hist.epoch);
    free(tr->hist.train_rmse);
    free(tr->hist.train_mae);
    free(tr->hist.valid_rmse);
    free(tr->hist.valid_mae);
    free(tr->hist.seconds);
    memset(tr, 0, sizeof *tr);
}
